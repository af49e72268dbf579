"""THE agent's path of issue 5 in a real browser (headless Chromium), nothing faked.

A small centre is loaded with the catalog loader: a customer whose number the caller uses,
a queue with a reason tree that is open around the clock. ``hotline serve`` runs in a
subprocess; ``hotline simulate`` (another subprocess) plays Asterisk over real TCP: the
caller, and the agent's phone, which answers after 3 s. The agent signs in, picks a seat,
goes on air; the call rings and the status line shows the waiting time; the call connects
and the Active call form opens by itself with the matched customer; the agent picks a reason
down to its code, types an RT number with a letter (refused with the message), corrects it,
saves, and is on air again. From going on air to the end the page is never reloaded.
No sleeping: WebDriverWait polls the page.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from db.catalog import load_catalog
from db.models import Call
from tests.support.browser import (
    artifacts_dir,
    browser_tests,
    chromium,
    click,
    sign_in,
    waiting,
)
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
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

WAIT_S = 30
Condition = Callable[[Any], bool]  # what WebDriverWait.until polls
PASSWORD = "correct horse"
CENTRE_YAML = f"""
settings: {{time_zone: Europe/Prague, country_prefix: '420'}}
locations:
  - {{code: BRNO, name: Brno}}
customers:
  - contract_number: BR-10042
    name: Pekařství Novák s.r.o.
    location: BRNO
    address: Masarykova 5, Brno
    phones: ['+420 777 123 456']
pause_types:
  - {{position: 1, name: Personal, paid: true}}
  - {{position: 9, name: Missed call}}
phone_seats:
  - {{name: '101', dial_string: PJSIP/101}}
agents:
  - {{login: eva, name: Eva Nováková, password: '{PASSWORD}', seats: ['101']}}
queues:
  - code: SUPPORT
    name: Technical support
    ring_timeout_s: 20
    overflow_enabled: false
    callback_offer_after_s: null
    closed_on_weekends: false
    locations: [BRNO]
    agents: [eva]
    hours:
{ALL_WEEK_HOURS}    reasons:
      in:
        - label: Internet
          children:
            - label: No connection
              children:
                - {{label: Outage in the area, code: T-101}}
                - {{label: Router fault, code: T-102}}
            - {{label: Wi-Fi set-up, code: T-121}}
        - {{label: Other, code: X-1}}
dids:
  - {{number: '222111001', name: Support direct, queue: SUPPORT}}
"""
# The caller talks 8 s once connected; the agent's phone answers after ringing 3 s.
SCENARIO_YAML = """
duration_s: 300
phones:
  PJSIP/101: {answer_after_s: 3, talk_s: null}
callers:
  - {did: '222111001', caller_id_num: '777123456', start_at_s: 0, talk_s: 8}
sounds:
  default_duration_s: 1.0
"""
# Every text the status line shows, kept by the page itself, so that a message that was
# there for a moment is not missed between two polls of the test.
RECORD_STATUS_LINE = """
window.hotlineSamePage = true;
window.statusTexts = [];
var line = document.getElementById("status-line");
new MutationObserver(function () { window.statusTexts.push(line.textContent); })
  .observe(line, {childList: true, characterData: true, subtree: true});
"""


@pytest.fixture
def centre(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        load_catalog(session, CENTRE_YAML, source="agent-path.yaml")


@pytest.fixture
def ports() -> dict[str, int]:
    return {"web": free_port(), "agi": free_port()}


@pytest.fixture
def server(db_url: str, centre: None, ports: dict[str, int], tmp_path: Path) -> Iterator[str]:
    env = hotline_env(
        HOTLINE_DATABASE_URL=db_url,
        HOTLINE_WEB_LISTEN=f"tcp:{ports['web']}:interface=127.0.0.1",
        HOTLINE_AGI_LISTEN=f"tcp:{ports['agi']}:interface=127.0.0.1",
    )
    with serving(env, tmp_path):
        yield f"http://127.0.0.1:{ports['web']}"


@pytest.fixture
def simulator() -> Iterator[list[subprocess.Popen[bytes]]]:
    """The ``hotline simulate`` processes the test starts (when the agent is on air)."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        stop(proc)


def start_simulator(
    started: list[subprocess.Popen[bytes]],
    agi_port: int,
    tmp_path: Path,
    scenario_yaml: str = SCENARIO_YAML,
) -> Path:
    scenario = tmp_path / "one-caller.yaml"
    scenario.write_text(scenario_yaml, encoding="utf-8")
    log = tmp_path / "simulate.log"
    args = [str(scenario), *switch_args(agi_port, tmp_path / "sim-spool")]
    started.append(simulate(args, tmp_path, log))
    return log


@pytest.fixture
def chrome(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    with chromium(tmp_path) as driver:
        yield driver


def text_is(locator: tuple[str, str], expected: str) -> Condition:
    """The element's text is exactly ``expected`` (re-found each poll: parts get swapped)."""

    def check(driver: Any) -> bool:
        found = driver.find_elements(*locator)
        return bool(found) and found[0].text.strip() == expected

    return check


def choose(driver: webdriver.Chrome, wait: WebDriverWait, level: int, label: str) -> None:
    locator = (By.ID, f"cf-reason-{level}")
    wait.until(EC.element_to_be_clickable(locator))
    Select(driver.find_element(*locator)).select_by_visible_text(label)


def test_an_agent_takes_a_call_fills_the_form_and_is_on_air_again(
    server: str,
    chrome: webdriver.Chrome,
    simulator: list[subprocess.Popen[bytes]],
    ports: dict[str, int],
    engine: Engine,
    tmp_path: Path,
) -> None:
    wait = waiting(chrome, WAIT_S)
    shots = artifacts_dir(tmp_path)
    badge = (By.ID, "badge")

    # Sign in, pick the seat, go on air.
    sign_in(chrome, server, "eva", PASSWORD, page="/desktop/call")
    wait.until(EC.text_to_be_present_in_element(badge, "Not logged in"))
    assert chrome.current_url.endswith("/desktop/call")
    Select(chrome.find_element(By.ID, "seat_id")).select_by_visible_text("101")
    chrome.find_element(By.ID, "seat-login").click()
    wait.until(EC.text_to_be_present_in_element(badge, "Off air"))
    wait.until(EC.presence_of_element_located((By.ID, "cf-recover")))
    chrome.find_element(By.ID, "go-on-air").click()
    wait.until(EC.text_to_be_present_in_element(badge, "On air"))
    wait.until(EC.invisibility_of_element_located((By.ID, "cf-recover")))  # off air only

    # From here on the page is never reloaded: the marker would be gone.
    chrome.execute_script(RECORD_STATUS_LINE)
    log = start_simulator(simulator, ports["agi"], tmp_path)

    # The call rings: the status line shows the waiting time, live.
    incoming = re.compile(r"New incoming call \(Technical support\), waiting time \d\d:\d\d")

    def shown(pattern: re.Pattern[str]) -> Condition:
        def check(driver: Any) -> bool:
            texts = driver.execute_script("return window.statusTexts;") or []
            return any(pattern.search(t) for t in texts)

        return check

    try:
        wait.until(shown(incoming))
    except TimeoutException:
        log_tail = log.read_text(errors="replace")[-3000:]
        raise AssertionError(f"no ringing call; the simulator said: {log_tail}") from None

    # It connects: the form opens by itself with the matched customer.
    wait.until(text_is((By.ID, "cf-name"), "Pekařství Novák s.r.o."))
    assert chrome.find_element(By.ID, "cf-queue").text == "Technical support"
    assert "In a call" in chrome.find_element(*badge).text

    # A search by address finds the customer; picking them swaps the customer part only.
    chrome.find_element(By.ID, "cf-q").send_keys("Masarykova")
    chrome.find_element(By.ID, "cf-search-button").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "cf-results"), "BR-10042"))
    results = chrome.find_element(By.ID, "cf-results")
    results.find_element(By.TAG_NAME, "button").click()
    wait.until(EC.staleness_of(results))  # the customer part was swapped
    wait.until(text_is((By.ID, "cf-name"), "Pekařství Novák s.r.o."))

    # A follow-up process, listed with this call.
    chrome.find_element(By.ID, "cf-title").send_keys("Technician visit")
    chrome.find_element(By.ID, "cf-create-process").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "cf-processes"), "Technician visit"))
    assert "777 123 456" in chrome.find_element(By.ID, "cf-processes").text

    # The reason, level by level down to the code (each level loads the next).
    choose(chrome, wait, 0, "Internet")
    choose(chrome, wait, 1, "No connection")
    choose(chrome, wait, 2, "Outage in the area (T-101)")
    wait.until(text_is((By.ID, "cf-reason-code"), "Reason code: T-101"))
    chrome.find_element(By.ID, "cf-note").send_keys("No internet since the morning.")
    chrome.find_element(By.ID, "cf-rt").send_keys("12a4")

    # The caller hangs up: the form says so; Save refuses the RT number next to it.
    wait.until(text_is((By.ID, "cf-status"), "The call has ended."))
    chrome.find_element(By.ID, "cf-save-button").click()
    wait.until(text_is((By.ID, "cf-rt-error"), "The RT number is not a number"))
    assert chrome.find_element(By.ID, "cf-rt").get_attribute("value") == "12a4"
    assert chrome.find_element(By.ID, "cf-note").get_attribute("value") == (
        "No internet since the morning."
    )
    kept = Select(chrome.find_element(By.ID, "cf-reason-2")).first_selected_option.text
    assert kept == "Outage in the area (T-101)"
    chrome.execute_script(
        "document.getElementById('call-form-panel').scrollIntoView({block: 'start'});"
    )
    chrome.save_screenshot(str(shots / "call-form-rt-refused.png"))

    # Corrected, saved: processing is over and the agent is on air again.
    rt = chrome.find_element(By.ID, "cf-rt")
    rt.clear()
    rt.send_keys("1234")
    chrome.find_element(By.ID, "cf-save-button").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "cf-saved"), "The call was saved."))
    wait.until(EC.text_to_be_present_in_element(badge, "On air"))
    assert chrome.execute_script("return window.hotlineSamePage === true;")
    chrome.save_screenshot(str(shots / "call-form-saved.png"))

    with Session(engine) as session:
        [call] = session.scalars(select(Call)).all()
        assert (call.caller_number, call.state.value, call.processing_state.value) == (
            "777123456",
            "answered",
            "done",
        )
        assert (call.reason_code, call.rt_number, call.note) == (
            "T-101",
            "1234",
            "No internet since the morning.",
        )


# What a tab opened before the state changed still sends: the form of "Go on air".
SEND_GO_ON_AIR = 'document.getElementById("go-on-air").form.submit();'


def test_messages_follow_the_call_and_a_reload_keeps_the_form(
    server: str,
    chrome: webdriver.Chrome,
    simulator: list[subprocess.Popen[bytes]],
    ports: dict[str, int],
    tmp_path: Path,
) -> None:
    """Issue 16, item 2: Save while connected is refused, and that refusal goes when the call
    ends; "Go on air" is not offered, and refused, while the call waits to be saved, and that
    refusal goes when the state changes; a reload keeps the picked reason and the typed note."""
    wait = waiting(chrome, WAIT_S)
    badge = (By.ID, "badge")
    still_connected = "The call is still connected: save it when it has ended."
    sign_in(chrome, server, "eva", PASSWORD, page="/desktop/call")
    Select(chrome.find_element(By.ID, "seat_id")).select_by_visible_text("101")
    chrome.find_element(By.ID, "seat-login").click()
    wait.until(EC.text_to_be_present_in_element(badge, "Off air"))
    chrome.find_element(By.ID, "go-on-air").click()
    wait.until(EC.text_to_be_present_in_element(badge, "On air"))
    start_simulator(
        simulator, ports["agi"], tmp_path, SCENARIO_YAML.replace("talk_s: 8", "talk_s: 12")
    )

    wait.until(text_is((By.ID, "cf-name"), "Pekařství Novák s.r.o."))
    choose(chrome, wait, 0, "Other (X-1)")
    wait.until(text_is((By.ID, "cf-reason-code"), "Reason code: X-1"))
    chrome.find_element(By.ID, "cf-note").send_keys("Asked about the invoice.")
    chrome.find_element(By.ID, "cf-save-button").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "call-form-panel"), still_connected))

    # The caller hangs up: the refusal of the moment before goes with it.
    wait.until(text_is((By.ID, "cf-status"), "The call has ended."))
    panel = chrome.find_element(By.ID, "call-form-panel")
    assert still_connected not in panel.text
    # "Go on air" is not offered while the call waits to be saved; a stale tab that still
    # sends it is refused.
    assert not chrome.find_element(By.ID, "go-on-air").is_displayed()
    chrome.execute_script(SEND_GO_ON_AIR)
    wait.until(text_is((By.ID, "refusal"), "Finish processing the call with Save first."))

    # A reload keeps what the agent chose and typed.
    chrome.refresh()
    wait.until(text_is((By.ID, "cf-reason-code"), "Reason code: X-1"))
    assert chrome.find_element(By.ID, "cf-note").get_attribute("value") == (
        "Asked about the invoice."
    )
    assert still_connected not in chrome.find_element(By.ID, "call-form-panel").text
    assert not chrome.find_element(By.ID, "go-on-air").is_displayed()
    chrome.execute_script(SEND_GO_ON_AIR)
    wait.until(text_is((By.ID, "refusal"), "Finish processing the call with Save first."))

    # Saved: on air, and the refusal about processing is gone with the state it was about.
    # (The refused page loads its call form by fetch: the button is waited for.)
    click(chrome, (By.ID, "cf-save-button"))
    wait.until(EC.text_to_be_present_in_element((By.ID, "cf-saved"), "The call was saved."))
    wait.until(EC.text_to_be_present_in_element(badge, "On air"))
    wait.until(EC.invisibility_of_element_located((By.ID, "refusal")))
