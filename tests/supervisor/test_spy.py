"""What the supervisor's screen does through the AMI, over the real routes and Hotline's
AMI client talking to the simulator's AMI on an in-memory network: listen, whisper and
barge (R-4.7: ChanSpy originated to the supervisor's seat on the agent's leg, the answer
naming the channel to stop, every start and stop audited, what is not the supervisor's
refused), and each agent's phone state from Asterisk's device states (R-4.2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from twisted.internet.task import Clock

from ami.device_states import phone_state
from db.models import AuditLog
from hotline.web import WebRoot
from tests.supervisor.test_live_panels import answer, cell, ring, table_row
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
        "PJSIP/101-,q",  # the agent's leg, by its channel-name prefix; q: no beep
    )
    stopped = sup.post("/supervisor/spy/stop", {"channel": answer_["channel"]}, accept=JSON)
    assert stopped.status == 200
    assert [c for c, _ in telephony.actions("hangup")] == [answer_["channel"]]
    audit = db.run_sync(lambda s: [(a.action, a.target) for a in s.query(AuditLog).order_by("id")])
    assert audit == [
        ("supervisor.listen", f"calls:{call}"),
        ("supervisor.spy_stop", answer_["channel"]),
    ]


@pytest.mark.parametrize(("mode", "options"), [("whisper", "qw"), ("barge", "qB")])
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
