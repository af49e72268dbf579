"""The supervisor's Activities and Agents panels and the actions in a real browser
(headless Chromium), over real sockets, nothing faked (R-4.1, R-4.2, R-4.7, R-4.8).

``hotline serve`` runs in a subprocess with its AMI client pointed at ``hotline simulate``,
which plays the switch: a caller, Eva's phone and Pavel's, over real FastAGI and AMI. Two
browsers: Pavel the supervisor on ``/supervisor``, Eva the agent on her desktop. The caller
waits (nobody is on air); Pavel puts Eva on a pause from his screen and her desktop
follows; Pavel sets her on air; his screen, never reloaded, shows the call ringing Eva,
then talking; from the call's detail (its ring attempts) Pavel listens from seat 109, and
the switch runs ChanSpy on Eva's leg, until he stops; the caller hangs up and the call is
processing until Eva saves the form, when it leaves the Activities panel. Every action is
in the audit trail. Screenshots of both screens go to HOTLINE_TEST_ARTIFACTS. No sleeping:
WebDriverWait polls the pages."""

from __future__ import annotations

import re
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from db.catalog import load_catalog
from db.models import AuditLog, Call
from tests.support.browser import artifacts_dir, browser_tests, chromium, sign_in, waiting
from tests.support.processes import (
    ALL_WEEK_HOURS,
    ami_url,
    free_port,
    hotline_env,
    serving,
    simulate,
    stop,
    switch_args,
)

pytestmark = browser_tests()  # skipped without Chromium; fails in CI (tests/support/browser.py)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import (  # noqa: E402
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

WAIT_S = 30
PASSWORD = "watch them all"

CENTRE = f"""
settings: {{time_zone: Europe/Prague, country_prefix: '420', service_level_s: 20}}
locations:
  - {{code: BRNO, name: Brno}}
customers:
  - contract_number: BR-10042
    name: Pekařství Novák s.r.o.
    location: BRNO
    phones: ['+420 777 123 456']
departments:
  - {{name: Support}}
pause_types:
  - {{position: 1, name: Personal, paid: true}}
  - {{position: 9, name: Missed call}}
phone_seats:
  - {{name: '101', dial_string: PJSIP/101}}
  - {{name: '109', dial_string: PJSIP/109}}
agents:
  - {{login: eva, name: Eva Agent, password: '{PASSWORD}', department: Support, seats: ['101']}}
  - {{login: pavel, name: Pavel Supervisor, password: '{PASSWORD}', role: supervisor,
      supervises: [Support]}}
queues:
  - code: SUPPORT
    name: Technical support
    ring_timeout_s: 20
    callback_offer_after_s: null
    overflow_enabled: false
    closed_on_weekends: false
    locations: [BRNO]
    agents: [eva]
    hours:
{ALL_WEEK_HOURS}    reasons:
      in:
        - {{label: Other, code: X-1}}
dids:
  - {{number: '222111001', name: Support direct, queue: SUPPORT}}
"""

# Eva's phone answers after ringing 4 s; the caller talks 20 s once connected; Pavel's
# phone (seat 109) answers the listening call after 1 s.
CALLER = """
duration_s: 300
phones:
  PJSIP/101: {answer_after_s: 4, talk_s: null}
  PJSIP/109: {answer_after_s: 1, talk_s: null}
callers:
  - {did: '222111001', caller_id_num: '777123456', start_at_s: 0, talk_s: 20}
sounds:
  default_duration_s: 1.0
"""

# Every picture of the Activities panel the page showed: the phases of its rows, kept by
# the page itself so that a phase shown for a moment is not missed between two polls.
RECORD_PHASES = """
window.hotlineSamePage = true;
window.phasesSeen = [];
var panels = document.getElementById("sv-panels");
function note() {
  var rows = panels.querySelectorAll("#sv-activity-table tbody tr");
  window.phasesSeen.push(Array.from(rows).map(function (r) { return r.dataset.phase; }).join(","));
}
new MutationObserver(note).observe(panels, {childList: true});
note();
"""


@pytest.fixture
def web(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[tuple[str, int, int]]:
    with Session(engine) as session, session.begin():
        load_catalog(session, CENTRE, source="supervisor-actions.yaml")
    web_port, agi_port, ami_port = free_port(), free_port(), free_port()
    env = hotline_env(
        HOTLINE_DATABASE_URL=db_url,
        HOTLINE_WEB_LISTEN=f"tcp:{web_port}:interface=127.0.0.1",
        HOTLINE_AGI_LISTEN=f"tcp:{agi_port}:interface=127.0.0.1",
        HOTLINE_AMI_URL=ami_url(ami_port),
    )
    with serving(env, tmp_path):
        yield f"http://127.0.0.1:{web_port}", agi_port, ami_port


@pytest.fixture
def pavel(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    (tmp_path / "pavel").mkdir()
    with chromium(tmp_path / "pavel", "--window-size=1366,1500") as driver:
        yield driver


@pytest.fixture
def eva(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    (tmp_path / "eva").mkdir()
    with chromium(tmp_path / "eva") as driver:
        yield driver


def telephony_ready(base: str) -> bool:
    """The status page (public) says Hotline's AMI client is logged in."""
    with urllib.request.urlopen(base + "/status") as answer:
        return '<td id="telephony">ready</td>' in answer.read().decode()


def clicked(driver: webdriver.Chrome, locator: tuple[str, str]) -> bool:
    """Click the element if it is there and still the one on the page (a live redraw may
    replace it between finding and clicking: then the wait tries again)."""
    try:
        driver.find_element(*locator).click()
    except (StaleElementReferenceException, NoSuchElementException):
        return False
    return True


def phases(driver: webdriver.Chrome) -> list[str]:
    return list(driver.execute_script("return window.phasesSeen;") or [])


def set_state(driver: webdriver.Chrome, action: str, pause: str | None = None) -> None:
    """Open "Set state…" on Eva's row (in one step: the panels are replaced live), choose,
    and set; the dialog closes when the server took it."""
    driver.execute_script("document.querySelector('#sv-agent-table button.sv-set-state').click();")
    dialog = driver.find_element(By.ID, "sv-state-dialog")
    waiting(driver, WAIT_S).until(lambda d: dialog.get_attribute("open") is not None)
    dialog.find_element(By.CSS_SELECTOR, f"input[name=action][value={action}]").click()
    if pause is not None:
        Select(dialog.find_element(By.ID, "sv-state-pause")).select_by_visible_text(pause)
    dialog.find_element(By.ID, "sv-state-set").click()
    error = dialog.find_element(By.ID, "sv-state-error")
    waiting(driver, WAIT_S).until(
        lambda d: dialog.get_attribute("open") is None or error.is_displayed()
    )
    assert dialog.get_attribute("open") is None, (error.text, driver.get_log("browser"))


def agent_status(driver: webdriver.Chrome) -> str:
    script = (
        "var n = document.querySelector('#sv-agent-table td[data-field=status]');"
        "return n ? n.textContent.trim() : '';"
    )
    return str(driver.execute_script(script))


def test_a_supervisor_watches_a_call_through_and_sets_the_agents_state(
    web: tuple[str, int, int],
    pavel: webdriver.Chrome,
    eva: webdriver.Chrome,
    engine: Engine,
    tmp_path: Path,
) -> None:
    base, agi_port, ami_port = web
    shots = artifacts_dir(tmp_path)
    wait_eva, wait_pavel = waiting(eva, WAIT_S), waiting(pavel, WAIT_S)

    # Eva logs in at her seat (off air) with the call form page open.
    sign_in(eva, base, "eva", PASSWORD, page="/desktop/call")
    Select(eva.find_element(By.ID, "seat_id")).select_by_visible_text("101")
    eva.find_element(By.ID, "seat-login").click()
    badge = (By.ID, "badge")
    wait_eva.until(EC.text_to_be_present_in_element(badge, "Off air"))
    eva.execute_script("window.hotlineSamePage = true;")

    # The switch starts, its AMI serves Hotline, and a caller comes: nobody is on air.
    scenario = tmp_path / "caller.yaml"
    scenario.write_text(CALLER, encoding="utf-8")
    switch_log = tmp_path / "switch.log"
    caller = simulate(
        [str(scenario), *switch_args(agi_port, tmp_path / "sim", ami_port)],
        tmp_path,
        switch_log,
        hotline_env(),
    )
    waiting(eva, WAIT_S).until(lambda _: telephony_ready(base))

    # Pavel watches; from here on his page is never reloaded.
    sign_in(pavel, base, "pavel", PASSWORD, page="/supervisor")
    wait_pavel.until(lambda d: agent_status(d) == "Off air")
    pavel.execute_script(RECORD_PHASES)

    # Pavel puts Eva on a pause: her desktop follows without her doing anything.
    set_state(pavel, "pause", "Personal")
    wait_eva.until(EC.text_to_be_present_in_element(badge, "Personal"))
    wait_pavel.until(lambda d: agent_status(d) == "Paused: Personal")
    wait_pavel.until(lambda d: "Personal" in d.find_element(By.ID, "sv-pause-table").text)
    eva.save_screenshot(str(shots / "agent-paused-by-supervisor.png"))

    try:
        # Nobody is on air: the caller waits, with the waiting time ticking.
        wait_pavel.until(lambda d: phases(d)[-1:] == ["waiting"])
        timer = "#sv-activity-table td[data-field=waiting] .js-timer"
        first = pavel.find_element(By.CSS_SELECTOR, timer).text
        wait_pavel.until(
            lambda d: (
                d.execute_script(
                    "var n = document.querySelector(arguments[0]); return n && n.textContent;",
                    timer,
                )
                not in (None, first)
            )
        )

        # Pavel sets Eva on air: the call rings her, she answers, they talk.
        set_state(pavel, "on_air")
        wait_pavel.until(lambda d: "ringing" in phases(d))
        wait_pavel.until(lambda d: "talking" in phases(d))
        wait_pavel.until(lambda d: agent_status(d) == "In a call")
        pavel.save_screenshot(str(shots / "supervisor-activities-talking.png"))

        # Pavel listens from seat 109: the switch's AMI gets ChanSpy on Eva's leg.
        pavel.execute_script("document.querySelector('#sv-activity-table a.sv-detail').click();")
        wait_pavel.until(EC.element_to_be_clickable((By.ID, "sv-spy-start")))
        assert "Pekařství Novák" in pavel.find_element(By.ID, "sv-call-detail").text
        rings = pavel.find_elements(By.CSS_SELECTOR, "#sv-ring-table tbody tr")
        assert [r.get_attribute("data-outcome") for r in rings] == ["answered"]
        pavel.save_screenshot(str(shots / "supervisor-call-detail.png"))
        pavel.find_element(By.ID, "sv-spy-start").click()
        stop_button = (By.CSS_SELECTOR, "#sv-spy-list button.sv-spy-stop")
        mode = (By.CSS_SELECTOR, "#sv-spy-list .sv-spy-mode")
        wait_pavel.until(EC.visibility_of_element_located(stop_button))  # "Calling your phone…"
        wait_pavel.until(EC.text_to_be_present_in_element(mode, "Listening"))  # it answered
        pavel.save_screenshot(str(shots / "supervisor-listening.png"))
        # A second tab of Pavel's (the same session) shows the running listen too, from
        # the server: the mode, the call and Stop (a reload is a page like it).
        pavel.switch_to.new_window("tab")
        pavel.get(f"{base}/supervisor")
        wait_pavel.until(EC.visibility_of_element_located(stop_button))
        # (the live stream may redraw the bar at any moment: read it through waits)
        wait_pavel.until(EC.text_to_be_present_in_element(mode, "Listening"))
        pavel.close()
        pavel.switch_to.window(pavel.window_handles[0])
        wait_pavel.until(lambda driver: clicked(driver, stop_button))
        wait_pavel.until(EC.text_to_be_present_in_element((By.ID, "sv-spy-status"), "Stopped."))
        wait_pavel.until(EC.invisibility_of_element_located(stop_button))
        # The switch ran ChanSpy on Pavel's answered phone, found Eva's live leg, and hung
        # Pavel's phone up at Stop (the switch writes a call's record when it is over).
        spying = re.compile(r"PJSIP/109-\S+ +spy +spying on PJSIP/101-\w+")
        wait_pavel.until(lambda _: spying.search(switch_log.read_text(errors="replace")))
        assert phases(pavel)[-1] == "talking"  # stopped while the call went on
        # The customer Eva's form matched shows on Pavel's row.
        wait_pavel.until(
            lambda d: (
                "Pekařství Novák"
                in d.execute_script(
                    "var t = document.getElementById('sv-activity-table');"
                    "return t ? t.textContent : '';"
                )
            )
        )

        # The caller hangs up: the call is processed on Eva's form until she saves it.
        wait_pavel.until(lambda d: phases(d)[-1:] == ["processing"])
        wait_eva.until(EC.element_to_be_clickable((By.ID, "cf-reason-0")))
        Select(eva.find_element(By.ID, "cf-reason-0")).select_by_visible_text("Other (X-1)")
        wait_eva.until(
            lambda d: d.find_element(By.ID, "cf-status").text.strip() == "The call has ended."
        )
        pavel.save_screenshot(str(shots / "supervisor-activities-processing.png"))
        eva.find_element(By.ID, "cf-save-button").click()
        wait_eva.until(EC.text_to_be_present_in_element((By.ID, "cf-saved"), "The call was saved."))
        wait_pavel.until(lambda d: phases(d)[-1:] == [""])  # saved: no open call
        wait_pavel.until(lambda d: agent_status(d) == "Free")
    finally:
        stop(caller)
        shutil.copy(switch_log, shots / "supervisor-switch.log")

    shown = phases(pavel)
    seen = [p for i, p in enumerate(shown) if i == 0 or p != shown[i - 1]]
    if seen[0] == "":
        seen = seen[1:]  # the caller came after the page was up
    assert seen == ["waiting", "ringing", "talking", "processing", ""]
    assert pavel.execute_script("return window.hotlineSamePage === true;")  # no reload
    assert eva.execute_script("return window.hotlineSamePage === true;")
    pavel.save_screenshot(str(shots / "supervisor-activities-saved.png"))

    with Session(engine) as session:
        [call] = session.scalars(select(Call)).all()
        assert (call.state.value, call.processing_state.value) == ("answered", "done")
        audited = session.scalars(select(AuditLog.action)).all()
        assert audited == [
            "supervisor.agent_state",
            "supervisor.agent_state",
            "supervisor.listen",
            "supervisor.spy_stop",
        ]
