"""What the real-browser tests share: headless Chromium from Debian's packages (the
``hotline serve`` / ``hotline simulate`` they talk to are in :mod:`tests.support.processes`).

Nothing here installs anything: ``.ci/run`` puts Chromium and chromedriver on the machine.
Each browser test module starts with ``pytestmark = browser_tests()``: where Chromium,
chromedriver or selenium is missing (a developer's laptop) the module is skipped, but with
``HOTLINE_REQUIRE_BROWSER=1`` (set by ``.ci/run``) a missing part FAILS the tests, saying
what is missing, so CI can never pass by skipping them. Screenshots go to
``HOTLINE_TEST_ARTIFACTS`` (outside the repository). No sleeping: the tests poll the page
with WebDriverWait.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
HAVE_CHROMIUM = CHROMIUM.exists() and CHROMEDRIVER.exists()
NO_CHROMIUM = "headless Chromium and chromedriver are not installed"
REQUIRE_BROWSER_VARIABLE = "HOTLINE_REQUIRE_BROWSER"


def missing_browser_parts() -> list[str]:
    """What the real-browser tests need and this machine lacks."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if importlib.util.find_spec("selenium") is None:
        missing.append("the selenium package")
    return missing


def browser_required() -> bool:
    """CI's promise that the browser tests run here (``HOTLINE_REQUIRE_BROWSER=1``)."""
    return os.environ.get(REQUIRE_BROWSER_VARIABLE, "") == "1"


def _missing_text(missing: list[str]) -> str:
    return f"{REQUIRE_BROWSER_VARIABLE}=1 but the browser tests lack: {', '.join(missing)}"


def browser_tests() -> list[pytest.MarkDecorator]:
    """The ``pytestmark`` of a browser test module, called before it imports selenium.

    All parts there: no mark. Something missing: the module is skipped, unless
    ``HOTLINE_REQUIRE_BROWSER=1``: then without selenium the module cannot even be
    collected (a collection error naming what is missing), and without Chromium or its
    driver each test fails in :func:`chromium` with that message."""
    missing = missing_browser_parts()
    if not missing:
        return []
    if not browser_required():
        pytest.skip(f"not installed: {', '.join(missing)}", allow_module_level=True)
    if "the selenium package" in missing:
        pytest.fail(_missing_text(missing), pytrace=False)
    return []


@contextmanager
def chromium(tmp_path: Path, *extra_flags: str) -> Iterator[Any]:
    """A headless Chromium at 1366x768 in British English, with its own profile (a later
    ``--window-size`` in ``extra_flags`` wins)."""
    missing = missing_browser_parts()
    if missing:  # only reached with HOTLINE_REQUIRE_BROWSER=1 (browser_tests skips else)
        pytest.fail(_missing_text(missing), pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1366,768",
        "--lang=en-GB",
        *extra_flags,
    ):
        options.add_argument(flag)
    # The console (driver.get_log("browser")): where Chromium reports CSP violations.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def artifacts_dir(tmp_path: Path) -> Path:
    """Where screenshots go: HOTLINE_TEST_ARTIFACTS, else the test's own temporary folder
    (never the repository)."""
    folder = Path(os.environ.get("HOTLINE_TEST_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def waiting(driver: Any, timeout_s: float) -> Any:
    """A WebDriverWait that keeps polling while the page is re-rendered under it.

    A live update (Server-Sent Events) or a navigation can replace the element a condition
    reads between two of chromedriver's steps. Chromium reports that stale node either as
    StaleElementReferenceException or as a plain WebDriverException ("Node with given id
    does not belong to the document"); both mean "look again". A condition that never
    holds still ends in a TimeoutException."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout_s, ignored_exceptions=(WebDriverException,))


def click(driver: Any, locator: tuple[str, str], timeout_s: float = 30) -> None:
    """Click the element at ``locator`` as a person does once the page holds still: found
    afresh, and clicked again if a live update replaced it in between (see :func:`waiting`)."""

    def clicked(d: Any) -> bool:
        d.find_element(*locator).click()
        return True

    waiting(driver, timeout_s).until(clicked)


def sign_in(driver: Any, base: str, login: str, password: str, page: str = "/desktop") -> None:
    """Open ``page``, be sent to the sign-in form, sign in and land back on ``page``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    driver.get(base + page)
    waiting(driver, 30).until(EC.url_contains("/sign-in"))
    driver.find_element(By.ID, "login").send_keys(login)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit].primary").click()
    waiting(driver, 30).until(lambda d: "/sign-in" not in d.current_url)


def csp_violations(driver: Any) -> list[str]:
    """The Content-Security-Policy violations Chromium logged on its console since the last
    call (the log is read once)."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if "Content Security Policy" in entry.get("message", "")
    ]
