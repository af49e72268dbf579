"""Call records (R-5.1) and recordings (R-5.2) in a real browser (headless Chromium) against
``hotline serve`` over real sockets: a caller played by ``hotline simulate`` leaves a
message, and the call is in ``/calls`` at once; the supervisor filters by the number in
another format, opens the call's timeline, and plays a recorded conversation (the
``<audio>`` element loads it with a range request: the server's answer is 206).
Screenshots go to HOTLINE_TEST_ARTIFACTS.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from db.catalog import load_catalog
from db.models import Agent, Call, Queue, Recording
from domain.enums import CallState, Direction, RingOutcome
from tests.reports.records.calls import add_call, write_wav
from tests.support.browser import artifacts_dir, browser_tests, chromium, sign_in, waiting
from tests.support.processes import (
    ALL_WEEK_HOURS,
    free_port,
    hotline_env,
    serve_env,
    serving,
    simulate,
    stop,
    switch_args,
)

pytestmark = browser_tests()  # skipped without Chromium; fails in CI (tests/support/browser.py)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402

WAIT_S = 30
PASSWORD = "records in a browser"

CENTRE = f"""
settings: {{time_zone: Europe/Prague, country_prefix: '420'}}
locations:
  - {{code: BRNO, name: Brno}}
voicemail_boxes:
  - {{code: VM, name: Support voicemail, kind: voicemail, max_message_s: 30, silence_s: 1}}
agents:
  - {{login: sue, name: Sue Visor, password: '{PASSWORD}', role: supervisor}}
  - {{login: eva, name: Eva Dvořák, password: '{PASSWORD}'}}
queues:
  - code: SUPPORT
    name: Technical support
    callback_offer_after_s: null
    voicemail_box: VM
    closed_on_weekends: false
    locations: [BRNO]
    agents: [eva]
    hours:
{ALL_WEEK_HOURS}dids:
  - {{number: '222111001', name: Support direct, queue: SUPPORT}}
"""

CALLER = """
duration_s: 60
callers:
  - did: '222111001'
    caller_id_num: '777123456'
    caller_id_name: Jan Novak
    start_at_s: 0
    keys: [[3, '#']]
    speech_s: 2
phones:
  default: {answer_after_s: 1, talk_s: 4}
"""


@dataclass(frozen=True)
class Servers:
    web: str
    agi_port: int
    recordings: Path


@pytest.fixture
def recorded_call(engine: Engine, tmp_path: Path) -> int:
    """An earlier conversation of the support queue with its recording on disk."""
    with Session(engine) as session, session.begin():
        load_catalog(session, CENTRE, source="records-browser.yaml")
        queue = session.scalars(select(Queue).where(Queue.code == "SUPPORT")).one()
        eva = session.scalars(select(Agent).where(Agent.login == "eva")).one()
        started = datetime.now(UTC) - timedelta(hours=1)
        call_id = add_call(
            session,
            queue.id,
            started,
            caller="602111222",
            agent_id=eva.id,
            rings=((eva.id, 6, 24, RingOutcome.ANSWERED),),
            did="222111001",
        )
        session.add(
            Recording(
                call_id=call_id,
                path="calls/earlier.wav",
                started_at=started + timedelta(seconds=30),
                duration_s=3,
            )
        )
    write_wav(tmp_path / "recordings" / "calls" / "earlier.wav", 3.0)
    return call_id


@pytest.fixture
def servers(db_url: str, recorded_call: int, tmp_path: Path) -> Iterator[Servers]:
    agi_port, web_port = free_port(), free_port()
    env = serve_env(tmp_path, web_port=web_port, agi_port=agi_port, HOTLINE_DATABASE_URL=db_url)
    with serving(env, tmp_path):
        yield Servers(f"http://127.0.0.1:{web_port}", agi_port, tmp_path / "recordings")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    with chromium(tmp_path, "--autoplay-policy=no-user-gesture-required", "--mute-audio") as driver:
        yield driver


def test_a_supervisor_filters_calls_opens_a_timeline_and_plays_a_recording(
    servers: Servers,
    browser: webdriver.Chrome,
    engine: Engine,
    recorded_call: int,
    tmp_path: Path,
) -> None:
    wait = waiting(browser, WAIT_S)
    shots = artifacts_dir(tmp_path)
    # A caller waits in the support queue, presses # and leaves a message.
    scenario = tmp_path / "caller.yaml"
    scenario.write_text(CALLER, encoding="utf-8")
    caller = simulate(
        [str(scenario), *switch_args(servers.agi_port, tmp_path / "sim-caller")],
        tmp_path,
        tmp_path / "caller.log",
        hotline_env(),
    )
    try:
        sign_in(browser, servers.web, "sue", PASSWORD, page="/calls")
        # The call is in the records as soon as it is over: no export, no nightly job.
        voicemail_row = (By.CSS_SELECTOR, '#calls tr[data-state="voicemail"]')

        def shown(driver: webdriver.Chrome) -> bool:
            driver.get(servers.web + "/calls")
            return bool(driver.find_elements(*voicemail_row))

        waiting(browser, 60).until(shown)
    finally:
        stop(caller)
    assert "777 123 456" in browser.find_element(*voicemail_row).text
    browser.save_screenshot(str(shots / "records-list.png"))

    # Filter by the number as a person types it: the earlier, recorded call only.
    field = browser.find_element(By.NAME, "number")
    field.clear()
    field.send_keys("+420 602 111 222")
    browser.find_element(By.ID, "calls-show").click()
    wait.until(EC.url_contains("number="))
    rows = browser.find_elements(By.CSS_SELECTOR, "#calls tbody tr")
    assert [r.get_attribute("id") for r in rows] == [f"call-{recorded_call}"]
    browser.save_screenshot(str(shots / "records-filtered.png"))

    # The timeline: queue entry, the ring, the answer; and the recording plays.
    rows[0].find_element(By.CSS_SELECTOR, "td a").click()
    wait.until(EC.presence_of_element_located((By.ID, "timeline")))
    timeline = browser.find_element(By.ID, "timeline").text
    assert "Rang Eva Dvořák for 24 s: answered" in timeline
    assert "Answered by Eva Dvořák" in timeline
    audio = "document.querySelector('#recordings audio')"
    wait.until(lambda d: d.execute_script(f"var a = {audio}; return a && a.duration > 0;"))
    assert 2.5 <= browser.execute_script(f"return {audio}.duration;") <= 3.5
    browser.execute_script(f"{audio}.play();")
    wait.until(lambda d: d.execute_script(f"return {audio}.currentTime > 0;"))
    statuses = browser.execute_script(
        "return performance.getEntriesByType('resource')"
        ".filter(e => e.name.includes('/recordings/')).map(e => e.responseStatus);"
    )
    assert 206 in statuses, statuses  # the audio element asked for a byte range
    browser.save_screenshot(str(shots / "records-timeline-playing.png"))

    # The message's call has its timeline too: the caller chose # .
    with Session(engine) as session:
        message_call = session.scalars(
            select(Call.id).where(
                Call.state == CallState.VOICEMAIL, Call.direction == Direction.INBOUND
            )
        ).one()
    browser.get(f"{servers.web}/calls/{message_call}")
    wait.until(EC.presence_of_element_located((By.ID, "timeline")))
    assert "The caller chose # and left a message in Support voicemail" in (
        browser.find_element(By.ID, "timeline").text
    )
    browser.save_screenshot(str(shots / "records-voicemail-timeline.png"))
