"""The supervisor's live screen in a real browser (headless Chromium), over real sockets.

``hotline serve`` runs in a subprocess against the test database; ``hotline simulate``
plays a caller into the support queue over real FastAGI while nobody is on air. The
supervisor's screen, loaded once, shows the caller waiting with the longest wait ticking in
the browser, then, when the caller gives up, the call gone from the queue and counted as
lost and not yet called back in Today: all without a reload. Screenshots of the screen and
of the wall-board go to HOTLINE_TEST_ARTIFACTS. No sleeping: WebDriverWait polls the page.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.catalog import load_catalog
from tests.support.browser import artifacts_dir, browser_tests, chromium, sign_in, waiting
from tests.support.processes import (
    ALL_WEEK_HOURS,
    free_port,
    hotline_env,
    serving,
    simulate,
    stop,
    switch_args,
)

pytestmark = browser_tests()  # skipped without Chromium; fails in CI (tests/support/browser.py)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

WAIT_S = 30
PASSWORD = "watch them all"

CENTRE = f"""
settings: {{time_zone: Europe/Prague, country_prefix: '420', service_level_s: 5}}
departments:
  - {{name: Support}}
  - {{name: Sales}}
phone_seats:
  - {{name: '101', dial_string: PJSIP/101}}
agents:
  - {{login: eva, name: Eva Agent, password: '{PASSWORD}', department: Support, seats: ['101']}}
  - {{login: olga, name: Olga Sales, password: '{PASSWORD}', department: Sales}}
  - {{login: pavel, name: Pavel Supervisor, password: '{PASSWORD}', role: supervisor,
      supervises: [Support]}}
queues:
  - code: SUPPORT
    name: Technical support
    callback_offer_after_s: null
    overflow_enabled: false
    closed_on_weekends: false
    agents: [eva]
    hours:
{ALL_WEEK_HOURS}  - code: SALES
    name: Sales line
    closed_on_weekends: false
    agents: [olga]
    hours:
{ALL_WEEK_HOURS}dids:
  - {{number: '222111001', name: Support direct, queue: SUPPORT}}
"""

# Nobody is on air: the caller waits in the queue and hangs up after a while.
CALLER = """
duration_s: 60
phones:
  default: {answer_after_s: 1, talk_s: 4}
callers:
  - did: '222111001'
    caller_id_num: '777123456'
    start_at_s: 0
    hangup_at_s: 14
"""


@pytest.fixture
def web(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[tuple[str, int]]:
    with Session(engine) as session, session.begin():
        load_catalog(session, CENTRE, source="supervisor-browser.yaml")
    web_port, agi_port = free_port(), free_port()
    env = hotline_env(
        HOTLINE_DATABASE_URL=db_url,
        HOTLINE_WEB_LISTEN=f"tcp:{web_port}:interface=127.0.0.1",
        HOTLINE_AGI_LISTEN=f"tcp:{agi_port}:interface=127.0.0.1",
    )
    with serving(env, tmp_path):
        yield f"http://127.0.0.1:{web_port}", agi_port


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    with chromium(tmp_path) as driver:
        yield driver


def texts(driver: webdriver.Chrome, css: str) -> list[str]:
    """The text of what ``css`` finds, read in one step: the panels are replaced live."""
    script = (
        "return Array.from(document.querySelectorAll(arguments[0]))"
        ".map(function (n) { return n.textContent.trim(); });"
    )
    return list(driver.execute_script(script, css))


def figure(driver: webdriver.Chrome, css: str) -> str:
    found = texts(driver, css)
    return found[0].split()[0] if found and found[0] else ""


def test_a_supervisor_watches_a_caller_wait_and_give_up_without_a_reload(
    web: tuple[str, int], browser: webdriver.Chrome, tmp_path: Path
) -> None:
    base, agi_port = web
    wait = waiting(browser, WAIT_S)
    sign_in(browser, base, "pavel", PASSWORD, page="/supervisor")
    wait.until(lambda d: texts(d, "#sv-queue-table tbody tr th"))
    assert texts(browser, "#sv-queue-table tbody tr th") == ["Technical support"]  # not Sales
    browser.execute_script("window.hotlineSamePage = true;")

    scenario = tmp_path / "caller.yaml"
    scenario.write_text(CALLER, encoding="utf-8")
    caller = simulate(
        [str(scenario), *switch_args(agi_port, tmp_path / "sim-caller")],
        tmp_path,
        tmp_path / "caller.log",
        hotline_env(),
    )
    try:
        waiting_cell = "#sv-queue-table tbody tr td[data-field=waiting]"
        wait.until(lambda d: figure(d, waiting_cell) == "1")
        timer = "#sv-queue-table td[data-field=longest_wait] .js-timer"
        first = wait.until(lambda d: texts(d, timer))
        wait.until(lambda d: texts(d, timer) not in ([], first))  # it ticks in the browser
        over = "#sv-queue-table tbody tr.sv-over"  # past the 5 s threshold: in colour
        wait.until(lambda d: texts(d, over))
        browser.save_screenshot(str(artifacts_dir(tmp_path) / "supervisor-screen.png"))
        lost = "#sv-today dd[data-field=lost_not_recovered]"
        waiting(browser, 60).until(lambda d: figure(d, lost) == "1")
        assert figure(browser, waiting_cell) == "0"
    finally:
        stop(caller)
    assert browser.execute_script("return window.hotlineSamePage === true;")  # no reload

    browser.get(base + "/supervisor/wallboard")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#sv-wallboard #sv-today"))
    assert not browser.find_elements(By.CSS_SELECTOR, "header.top")[0].is_displayed()
    assert not browser.find_elements(By.CSS_SELECTOR, "#sv-wallboard button, #sv-wallboard select")
    assert figure(browser, "#sv-today dd[data-field=lost_not_recovered]") == "1"
    browser.save_screenshot(str(artifacts_dir(tmp_path) / "supervisor-wallboard.png"))
