"""What the supervisor's screen does through the AMI, over the real routes and Hotline's
AMI client talking to the simulator's AMI on an in-memory network: listen, whisper and
barge (R-4.7: ChanSpy originated to the supervisor's seat on the agent's leg, the answer
naming the channel to stop, every start and stop audited, what is not the supervisor's
refused), and each agent's phone state from Asterisk's device states (R-4.2)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from twisted.internet.task import Clock

from ami.device_states import phone_state
from db.models import Agent, AuditLog
from hotline.web import WebRoot
from tests.supervisor.test_live_panels import answer, cell, hang_up, ring, table_row
from tests.supervisor.test_live_screen import (
    agent_id,
    on_air,
    organise,
    screens,
    waiting_call,
)
from tests.support.centre import StaffCentre
from tests.support.db import InlineDBRunner
from tests.support.web import PumpingBrowser, Telephony, tick
from tests.support.web_fixtures import START
from web.request import ProcessInfo

JSON = "application/json"


@pytest.fixture
def telephony(clock: Clock) -> Telephony:
    return Telephony(clock, ring_s=0)  # the supervisor's phone answers at once


@pytest.fixture
def phone_web(db: InlineDBRunner, clock: Clock, telephony: Telephony) -> Iterator[WebRoot]:
    root = WebRoot(db, ProcessInfo(), clock=clock, ami=telephony.client)
    yield root
    root.stop()


@pytest.fixture
def sup(phone_web: WebRoot, clock: Clock) -> PumpingBrowser:
    return PumpingBrowser(phone_web.resource(), clock)


def talking_call(db: InlineDBRunner, centre: StaffCentre, login: str, seat: str) -> int:
    who = agent_id(db, login)
    on_air(db, centre, login, seat, START - timedelta(minutes=5))
    queue = centre.support if login != "olga" else centre.billing
    call = waiting_call(db, queue, START - timedelta(seconds=30), f"c-{login}")
    ring(db, call, who, f"PJSIP/{seat}", START - timedelta(seconds=20))
    answer(db, call, who, START - timedelta(seconds=15))
    return call


def test_a_supervisor_listens_from_their_seat_and_stops(
    sup: PumpingBrowser, centre: StaffCentre, db: InlineDBRunner, telephony: Telephony
) -> None:
    organise(db, centre)
    call = talking_call(db, centre, "eva", "101")
    sup.signed_in("sue")
    detail = sup.get(f"/supervisor/calls/{call}?part=1")
    assert 'id="sv-spy-form"' in detail.text and "Whisper to the agent" in detail.text
    assert 'value="101"' not in detail.text.split('id="sv-spy-seat"')[1]  # Eva sits there
    started = sup.post(
        f"/supervisor/calls/{call}/spy",
        {"mode": "listen", "seat_id": str(centre.seats["103"])},
        accept=JSON,
    )
    assert started.status == 200, started.text
    answer_ = json.loads(started.text)
    assert answer_["mode"] == "listen" and answer_["label"] == "Listening"
    assert answer_["channel"].startswith("PJSIP/103-")
    [(fields, _)] = telephony.actions("originate")
    assert (fields["Channel"], fields["Application"], fields["Data"]) == (
        "PJSIP/103",
        "ChanSpy",
        "PJSIP/101-,qE",  # the agent's leg by its channel-name prefix; q: no beep, E: ends with it
    )
    stopped = sup.post("/supervisor/spy/stop", {"channel": answer_["channel"]}, accept=JSON)
    assert stopped.status == 200
    assert [c for c, _ in telephony.actions("hangup")] == [answer_["channel"]]
    audit = db.run_sync(lambda s: [(a.action, a.target) for a in s.query(AuditLog).order_by("id")])
    assert audit == [
        ("supervisor.listen", f"calls:{call}"),
        ("supervisor.spy_stop", answer_["channel"]),
    ]


@pytest.mark.parametrize(("mode", "options"), [("whisper", "qwE"), ("barge", "qBE")])
def test_whisper_and_barge_are_chanspy_options(
    sup: PumpingBrowser,
    centre: StaffCentre,
    db: InlineDBRunner,
    telephony: Telephony,
    mode: str,
    options: str,
) -> None:
    organise(db, centre)
    call = talking_call(db, centre, "eva", "101")
    sup.signed_in("sue")
    sup.get("/supervisor")
    started = sup.post(
        f"/supervisor/calls/{call}/spy",
        {"mode": mode, "seat_id": str(centre.seats["103"])},
        accept=JSON,
    )
    assert started.status == 200
    [(fields, _)] = telephony.actions("originate")
    assert fields["Data"] == f"PJSIP/101-,{options}"


def test_listening_is_refused_where_it_is_not_the_supervisors(
    sup: PumpingBrowser, centre: StaffCentre, db: InlineDBRunner, telephony: Telephony
) -> None:
    organise(db, centre)
    call = talking_call(db, centre, "eva", "101")
    foreign = talking_call(db, centre, "olga", "102")
    waiting = waiting_call(db, centre.support, START, "c-waiting")
    seat = str(centre.seats["103"])
    sup.signed_in("eva")
    sup.get("/desktop")
    as_agent = sup.post(f"/supervisor/calls/{call}/spy", {"mode": "listen", "seat_id": seat})
    assert as_agent.status == 403
    sup.signed_in("sue")
    sup.get("/supervisor")

    def spy(call_id: int, **fields: str) -> int:
        data = {"mode": "listen", "seat_id": seat, **fields}
        return sup.post(f"/supervisor/calls/{call_id}/spy", data, accept=JSON).status

    assert spy(foreign) == 404  # Sales: not sue's
    assert spy(waiting) == 409  # nobody talks yet
    assert spy(call, seat_id=str(centre.seats["101"])) == 400  # Eva's seat, not sue's
    assert spy(call, mode="record") == 400
    eva_leg = sup.post("/supervisor/spy/stop", {"channel": "PJSIP/101-00000001"}, accept=JSON)
    assert eva_leg.status == 400  # only a call on a seat of her own
    assert telephony.actions("originate") == [] and telephony.actions("hangup") == []
    assert db.run_sync(lambda s: s.query(AuditLog).count()) == 0


def test_the_agents_panel_shows_each_phones_device_state_live(
    sup: PumpingBrowser,
    centre: StaffCentre,
    db: InlineDBRunner,
    telephony: Telephony,
    clock: Clock,
) -> None:
    """R-4.2: the phone state is Asterisk's device state of the agent's seat, as the AMI
    reports it (``DeviceStateChange``), and a change re-sends the panels at once."""
    organise(db, centre)
    eva = agent_id(db, "eva")
    on_air(db, centre, "eva", "101", START)
    sup.signed_in("sue")
    page = sup.get("/supervisor")
    assert cell(table_row(page.text, f"sv-agent-{eva}"), "phone") == "–"  # nothing heard yet
    last = page.text.split('data-last-id="', 1)[1].split('"', 1)[0]
    stream = sup.open_stream(f"/supervisor/events?last_id={last}")
    tick(sup, clock, 0)
    before = len(screens(stream))

    def device(name: str, state: str) -> None:
        telephony.backend.emit({"Event": "DeviceStateChange", "Device": name, "State": state})
        tick(sup, clock, 0)

    device("PJSIP/999", "INUSE")  # nobody's phone on this screen: nothing re-sent
    assert len(screens(stream)) == before
    for state, shown in (("INUSE", "Busy"), ("RINGING", "Ringing"), ("NOT_INUSE", "Online")):
        device("PJSIP/101", state)
        html = json.loads(screens(stream)[-1]["data"])["html"]
        assert cell(table_row(html, f"sv-agent-{eva}"), "phone") == shown, state
    device("PJSIP/101", "UNAVAILABLE")
    page = sup.get("/supervisor")
    assert cell(table_row(page.text, f"sv-agent-{eva}"), "phone") == "Unavailable"


def test_phone_states_are_said_in_four_words() -> None:
    assert [
        phone_state(s)
        for s in ("NOT_INUSE", "INUSE", "BUSY", "ONHOLD", "RINGING", "RINGINUSE", "UNAVAILABLE")
    ] == ["online", "busy", "busy", "busy", "ringing", "ringing", "unavailable"]
    assert phone_state("UNKNOWN") == "" and phone_state(None) == ""


def spy_bar(html: str) -> str:
    found = re.search(r'<div class="alert sv-spy-bar".*?</ul>', html, re.S)
    assert found, "no spy bar"
    return found.group(0)


def running(html: str) -> list[tuple[str, str, str]]:
    """(channel, mode shown, call shown) of each running spy call in the bar."""
    return [
        (channel, " ".join(mode.split()), " ".join(target.split()))
        for channel, mode, target in re.findall(
            r'<li class="sv-spy-call" data-channel="([^"]+)".*?'
            r'<span class="sv-spy-mode">(.*?)</span>\s*'
            r'<span class="sv-spy-target">(.*?)</span>\s*'
            r'<button type="button" class="small sv-spy-stop"',
            html,
            re.S,
        )
    ]


def spy_frames(stream: Any) -> list[str]:
    return [json.loads(m["data"])["html"] for m in stream.messages() if m.get("event") == "spy"]


def test_a_running_listen_shows_after_a_reload_and_in_a_second_tab_until_stopped(
    sup: PumpingBrowser,
    phone_web: WebRoot,
    centre: StaffCentre,
    db: InlineDBRunner,
    telephony: Telephony,
    clock: Clock,
) -> None:
    """R-4.7: the server knows the supervisor's running spy calls (from the AMI, as every
    process hears them): a reload or a second tab shows the mode, the call and Stop, and
    Stop there ends it everywhere."""
    organise(db, centre)
    call = talking_call(db, centre, "eva", "101")
    sup.signed_in("sue")
    page = sup.get("/supervisor")
    assert running(spy_bar(page.text)) == [] and 'id="sv-spy-bar" role="status" hidden' in page.text
    seat = str(centre.seats["103"])
    started = sup.post(
        f"/supervisor/calls/{call}/spy", {"mode": "whisper", "seat_id": seat}, accept=JSON
    )
    channel = json.loads(started.text)["channel"]
    [(fields, _)] = telephony.actions("originate")
    assert fields["Variable"] == f"HOTLINE_SPY={agent_id(db, 'sue')}-{call}-whisper"
    shown = [(channel, "Whispering to the agent", "call from 777123456")]
    assert running(json.loads(started.text)["html"]) == shown

    reloaded = sup.get("/supervisor")
    assert running(spy_bar(reloaded.text)) == shown
    assert 'id="sv-spy-bar" role="status" hidden' not in reloaded.text
    tab = PumpingBrowser(phone_web.resource(), clock)  # a second tab: a session of its own
    tab.signed_in("sue")
    second = tab.get("/supervisor")
    assert running(spy_bar(second.text)) == shown
    last = second.text.split('data-last-id="', 1)[1].split('"', 1)[0]
    stream = tab.open_stream(f"/supervisor/events?last_id={last}")
    tick(tab, clock, 0)
    assert running(spy_frames(stream)[-1]) == shown
    eva = PumpingBrowser(phone_web.resource(), clock)
    eva.signed_in("eva")
    assert "sv-spy-call" not in eva.get("/supervisor").text  # an agent: no screen at all

    stopped = tab.post("/supervisor/spy/stop", {"channel": channel}, accept=JSON)
    assert stopped.status == 200 and running(json.loads(stopped.text)["html"]) == []
    assert [c for c, _ in telephony.actions("hangup")] == [channel]
    tick(tab, clock, 0)
    assert running(spy_frames(stream)[-1]) == []  # the other tab follows
    assert running(spy_bar(sup.get("/supervisor").text)) == []


@pytest.mark.parametrize("ends", ["the call", "the supervisor's phone"])
def test_the_mark_goes_when_the_spied_call_or_the_spy_phone_ends(
    sup: PumpingBrowser,
    centre: StaffCentre,
    db: InlineDBRunner,
    telephony: Telephony,
    clock: Clock,
    ends: str,
) -> None:
    organise(db, centre)
    call = talking_call(db, centre, "eva", "101")
    sup.signed_in("sue")
    page = sup.get("/supervisor")
    last = page.text.split('data-last-id="', 1)[1].split('"', 1)[0]
    stream = sup.open_stream(f"/supervisor/events?last_id={last}")
    tick(sup, clock, 0)
    started = sup.post(
        f"/supervisor/calls/{call}/spy",
        {"mode": "barge", "seat_id": str(centre.seats["103"])},
        accept=JSON,
    )
    channel = json.loads(started.text)["channel"]
    tick(sup, clock, 0)
    assert running(spy_frames(stream)[-1]) == [(channel, "Barging in", "call from 777123456")]
    if ends == "the call":
        hang_up(db, call, agent_id(db, "eva"), START + timedelta(seconds=5))
        tick(sup, clock, 0)
        # ChanSpy's E ends the spy call with the spied leg; the screen makes sure of it.
        assert [c for c, _ in telephony.actions("hangup")] == [channel]
    else:
        telephony.backend.hangup(channel, 16)  # the supervisor put the phone down
        tick(sup, clock, 0)
    assert running(spy_frames(stream)[-1]) == []
    assert running(spy_bar(sup.get("/supervisor").text)) == []


def test_a_czech_supervisor_sees_the_running_listen_in_czech(
    sup: PumpingBrowser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    organise(db, centre)
    call = talking_call(db, centre, "eva", "101")
    db.run_sync(lambda s: setattr(s.get(Agent, agent_id(db, "sue")), "language", "cs"))
    sup.signed_in("sue")
    sup.get("/supervisor")
    started = sup.post(
        f"/supervisor/calls/{call}/spy",
        {"mode": "listen", "seat_id": str(centre.seats["103"])},
        accept=JSON,
    )
    channel = json.loads(started.text)["channel"]
    page = sup.get("/supervisor")
    assert running(spy_bar(page.text)) == [(channel, "Odposlech", "hovor od 777123456")]
    assert ">Ukončit</button>" in spy_bar(page.text)


def test_another_process_knows_the_spy_call_and_stops_it(
    sup: PumpingBrowser,
    db: InlineDBRunner,
    centre: StaffCentre,
    telephony: Telephony,
    clock: Clock,
) -> None:
    """R-7.1: web processes share no memory; each hears the AMI's events itself, so a page
    served by another process than the one that started the listen shows it, and its Stop
    ends it."""
    organise(db, centre)
    call = talking_call(db, centre, "eva", "101")
    other = WebRoot(db, ProcessInfo(), clock=clock, ami=telephony.another_client())
    try:
        sup.signed_in("sue")
        sup.get("/supervisor")
        started = sup.post(
            f"/supervisor/calls/{call}/spy",
            {"mode": "listen", "seat_id": str(centre.seats["103"])},
            accept=JSON,
        )
        channel = json.loads(started.text)["channel"]
        there = PumpingBrowser(other.resource(), clock)
        there.signed_in("sue")
        page = there.get("/supervisor")
        assert running(spy_bar(page.text)) == [(channel, "Listening", "call from 777123456")]
        stopped = there.post("/supervisor/spy/stop", {"channel": channel}, accept=JSON)
        assert stopped.status == 200
        tick(sup, clock, 0)
        assert running(spy_bar(sup.get("/supervisor").text)) == []
        assert running(spy_bar(there.get("/supervisor").text)) == []
    finally:
        other.stop()
