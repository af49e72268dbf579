"""What the real-browser tests share: headless Chromium from Debian's packages, and
``hotline serve`` / ``hotline simulate`` as subprocesses on loopback ports.

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
import selectors
import socket
import subprocess
import sys
import threading
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
AMI_USER, AMI_SECRET = "hotline", "sim-secret"  # the simulated switch's AMI login
# Catalog YAML hours (under a queue's "hours:") open around the clock every day: the tests
# run whenever CI does.
ALL_WEEK_HOURS = "".join(
    f"      - {{weekday: {day}, opens: '00:00', closes: '23:59:59'}}\n"
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
)


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hotline_env(**values: str) -> dict[str, str]:
    """This process's environment without any HOTLINE_* setting of the developer's, plus
    ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(values)
    return env


def wait_for_line(proc: subprocess.Popen[bytes], needle: str, timeout_s: float = 60) -> None:
    """Read the unbuffered log until a line holds ``needle``: no hidden buffer, so select
    never waits on lines that were already read."""
    assert proc.stdout is not None
    seen: list[str] = []
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while True:
            if not sel.select(timeout_s):
                raise AssertionError(f"no {needle!r} within {timeout_s}s: {''.join(seen)}")
            line = proc.stdout.readline().decode("utf-8", "replace")
            if not line:
                raise AssertionError(f"the server ended: {''.join(seen)}")
            seen.append(line)
            if needle in line:
                return


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def serving(env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``hotline serve`` with ``env``, from the moment it says it serves until stopped."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hotline", "serve"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        bufsize=0,
    )
    try:
        wait_for_line(proc, "Hotline is serving")
        assert proc.stdout is not None  # keep reading: never a full pipe
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield proc
    finally:
        stop(proc)


def simulate(
    args: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``hotline simulate ARGS`` in the background, its output in ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "hotline", "simulate", *args],
            cwd=cwd,
            env=env if env is not None else hotline_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def ami_url(ami_port: int) -> str:
    """HOTLINE_AMI_URL for the switch of :func:`switch_args`."""
    return f"ami://{AMI_USER}:{AMI_SECRET}@127.0.0.1:{ami_port}"


def switch_args(agi_port: int, spool_dir: Path, ami_port: int | None = None) -> list[str]:
    """``hotline simulate`` options: dial Hotline's FastAGI port and, with ``ami_port``,
    serve the fake AMI that Hotline's client logs in to (:func:`ami_url`)."""
    args = ["--agi", f"tcp:127.0.0.1:{agi_port}", "--spool-dir", str(spool_dir)]
    if ami_port is not None:
        args += ["--ami-listen", f"tcp:{ami_port}:interface=127.0.0.1"]
        args += ["--ami-user", AMI_USER, "--ami-secret", AMI_SECRET]
    return args


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
