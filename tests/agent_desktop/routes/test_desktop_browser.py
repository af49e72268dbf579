"""One real-browser smoke test of the agent's main path (headless Chromium).

``hotline serve`` runs in a subprocess on a loopback port against the test database. The
browser signs in, picks a seat, goes on-air and sees the badge turn on-air; then events
written straight into the events table (as the call flows write them) show up in the status
line and the badge WITHOUT a reload. No sleeping: WebDriverWait polls the page.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from agent_desktop import agent_state as core
from agent_desktop.store import agent_sessions
from db.events import emit
from tests.support.browser import (
    artifacts_dir,
    browser_tests,
    chromium,
    csp_violations,
    sign_in,
    waiting,
)
from tests.support.centre import PASSWORD, StaffCentre, build_staff_centre
from tests.support.processes import (
    free_port,
    hotline_env,
    serving,
)

pytestmark = browser_tests()  # skipped without Chromium; fails in CI (tests/support/browser.py)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

WAIT_S = 20


@pytest.fixture
def centre_db(engine: Engine) -> StaffCentre:
    with Session(engine) as session, session.begin():
        return build_staff_centre(session, datetime.now(UTC))


@pytest.fixture
def server(db_url: str, centre_db: StaffCentre, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = hotline_env(
        HOTLINE_DATABASE_URL=db_url,
        HOTLINE_WEB_LISTEN=f"tcp:{port}:interface=127.0.0.1",
        HOTLINE_AGI_LISTEN=f"tcp:{free_port()}:interface=127.0.0.1",
    )
    with serving(env, tmp_path):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    with chromium(tmp_path) as driver:
        yield driver


def write(engine: Engine, fn: object, *args: object) -> None:
    with Session(engine) as session, session.begin():
        fn(session, *args)  # type: ignore[operator]


def test_an_agent_signs_in_goes_on_air_and_sees_live_events(
    server: str, browser: webdriver.Chrome, engine: Engine, centre_db: StaffCentre, tmp_path: Path
) -> None:
    wait = waiting(browser, WAIT_S)
    sign_in(browser, server, "eva", PASSWORD)
    wait.until(EC.text_to_be_present_in_element((By.ID, "badge"), "Not logged in"))
    assert browser.current_url.endswith("/desktop")

    Select(browser.find_element(By.ID, "seat_id")).select_by_visible_text("101")
    browser.find_element(By.ID, "seat-login").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "badge"), "Off air"))
    browser.find_element(By.ID, "go-on-air").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "badge"), "On air"))
    assert "Seat 101" in browser.find_element(By.TAG_NAME, "header").text

    # From here on, no reload: mark the page to prove it stays the same document.
    browser.execute_script("window.hotlineSamePage = true;")
    eva = centre_db.agents["eva"]

    def ring(session: Session) -> None:
        now = datetime.now(UTC)
        agent_sessions.apply_event(session, eva, core.Offered(), now, "call 7")
        emit(
            session,
            "agent.notice",
            now,
            call_id=7,
            agent_id=eva,
            notice="incoming",
            waiting_s=5,
            box_name="",
            queue="Technical support",
        )

    write(engine, ring)
    line = (By.ID, "status-line")
    wait.until(EC.text_to_be_present_in_element(line, "New incoming call (Technical support)"))
    wait.until(EC.text_to_be_present_in_element((By.ID, "badge"), "Ringing"))
    first = browser.find_element(*line).text
    wait.until(lambda d: d.find_element(*line).text != first)  # the waiting time counts on
    assert browser.execute_script("return window.hotlineSamePage === true;")
    browser.save_screenshot(str(artifacts_dir(tmp_path) / "desktop-incoming-call.png"))

    def caller_hung_up(session: Session) -> None:
        now = datetime.now(UTC)
        agent_sessions.apply_event(session, eva, core.RingEnded(), now, "caller hung up")
        emit(session, "agent.notice", now, call_id=7, agent_id=eva, notice="caller_hung_up")

    write(engine, caller_hung_up)
    wait.until(EC.text_to_be_present_in_element(line, "The caller hung up while ringing."))
    badge = browser.find_element(By.ID, "badge")
    assert "On air" in badge.text and "Ringing" not in badge.text
    assert browser.execute_script("return window.hotlineSamePage === true;")


def test_the_desktop_satisfies_its_content_security_policy(
    server: str, browser: webdriver.Chrome, centre_db: StaffCentre
) -> None:
    """R-7.4: the pages carry a CSP that keeps out foreign origins and have nothing inline it
    would block: the desktop with its seat, live stream and call form loads with no
    violation on the console, while a foreign image put into it is refused."""
    wait = waiting(browser, WAIT_S)
    sign_in(browser, server, "eva", PASSWORD)
    wait.until(EC.text_to_be_present_in_element((By.ID, "badge"), "Not logged in"))
    Select(browser.find_element(By.ID, "seat_id")).select_by_visible_text("101")
    browser.find_element(By.ID, "seat-login").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "badge"), "Off air"))
    browser.find_element(By.ID, "go-on-air").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "badge"), "On air"))
    assert csp_violations(browser) == []

    browser.execute_script(
        "document.addEventListener('securitypolicyviolation',"
        " e => { window.cspRefused = e.blockedURI; });"
        "const img = document.createElement('img');"
        "img.src = 'http://203.0.113.9/tracker.png'; document.body.append(img);"
    )
    wait.until(lambda d: d.execute_script("return window.cspRefused || null;"))
    assert "203.0.113.9" in browser.execute_script("return window.cspRefused;")
