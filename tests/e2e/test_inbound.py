"""Inbound calls end to end over the AGI wire (issue 4's scenarios, R-1.1 .. R-1.11, R-1.15).

Every scenario runs twice (the ``network`` fixture): over the in-memory network and over real
loopback TCP, Hotline's FastAGI server on a port of the kernel's choosing. Time is a Clock
both ways."""

from __future__ import annotations

from pathlib import Path

import pytest_twisted

from simulator.switch import CallerScript, PhoneBehaviour
from tests.support.e2e_world import E2EWorld, NetworkKind, make_e2e_world

SUPPORT = "222111001"
NEVER = PhoneBehaviour(answer_after_s=None)


def answers(after_s: float = 3, talk_s: float = 30) -> PhoneBehaviour:
    return PhoneBehaviour(answer_after_s=after_s, talk_s=talk_s)


@pytest_twisted.ensureDeferred
async def test_answered_by_the_first_agent(
    db_url: str, tmp_path: Path, network: NetworkKind
) -> None:
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": answers(3, 30)}, network=network)
    world.log_in("eva")
    world.call(CallerScript(did=SUPPORT, talk_s=None))
    await world.run(60)
    [call] = world.calls()
    assert call["state"] == "answered"
    waited = (call["answered_at"] - call["queue_entered_at"]).total_seconds()
    assert 3 <= waited < 5  # rang 3 s (plus the answer of the trunk leg)
    assert world.attempts(call["id"]) == [("eva", "PJSIP/101", "answered", False)]
    # Two AGI sessions, each its own connection: the caller's flow and the answer hook.
    assert world.net.connections_made == 2
    # the agent was told "waiting time was mm:ss" at the moment of answer
    from sqlalchemy.orm import Session

    from db.events import events_after

    with Session(world.engine) as s:
        notices = [
            (e.payload["notice"], e.payload["waiting_s"], e.at)
            for e in events_after(s, 0)
            if e.kind == "agent.notice"
        ]
    assert [n[:2] for n in notices] == [("incoming", 0), ("connected", int(waited))]
    assert notices[1][2] == call["answered_at"]
    # after the conversation the agent processes the call: off-air until Save
    assert world.agent_state("eva") == ("off_air", "processing", None)
    assert call["processing"] == "pending"


@pytest_twisted.ensureDeferred
async def test_ring_out_escalates_to_the_next_agent_and_pauses_the_first(
    db_url: str, tmp_path: Path, network: NetworkKind
) -> None:
    world = make_e2e_world(
        db_url, tmp_path, {"PJSIP/101": NEVER, "PJSIP/102": answers(2)}, network=network
    )
    world.log_in("eva")  # idle longest: rung first
    await world.run(5)
    world.log_in("jan")
    world.call(CallerScript(did=SUPPORT, talk_s=None))
    await world.run(90)
    [call] = world.calls()
    assert call["state"] == "answered"
    assert world.attempts(call["id"]) == [
        ("eva", "PJSIP/101", "no_answer", False),
        ("jan", "PJSIP/102", "answered", False),
    ]
    waited = (call["answered_at"] - call["queue_entered_at"]).total_seconds()
    assert 22 <= waited < 26  # the 20 s ring timeout, then 2 s at jan's desk
    assert world.agent_state("eva") == ("off_air", "paused", "Missed call")


@pytest_twisted.ensureDeferred
async def test_nobody_free_the_callers_wait_and_are_served_first_come_first_served(
    db_url: str, tmp_path: Path, network: NetworkKind
) -> None:
    world = make_e2e_world(
        db_url,
        tmp_path,
        {"PJSIP/101": answers(2, 20), "PJSIP/102": answers(2, 20)},
        network=network,
    )
    world.log_in("eva", on_air=False)
    world.log_in("jan", on_air=False)
    world.call(CallerScript(did=SUPPORT, caller_id_num="777000001", talk_s=None))
    world.call(CallerScript(did=SUPPORT, caller_id_num="777000002", start_at_s=5, talk_s=None))
    await world.run(40)
    assert [c["state"] for c in world.calls()] == ["waiting", "waiting"]
    world.go_on_air("eva")
    await world.run(10)
    first, second = world.calls()
    assert first["state"] == "talking" and second["state"] == "waiting"
    world.go_on_air("jan")
    await world.run(60)
    first, second = world.calls()
    assert first["state"] == second["state"] == "answered"
    assert first["answered_at"] < second["answered_at"]
    assert world.attempts(first["id"])[0][0] == "eva"
    assert world.attempts(second["id"])[0][0] == "jan"


@pytest_twisted.ensureDeferred
async def test_overflow_after_the_overflow_time_goes_to_another_queues_agent(
    db_url: str, tmp_path: Path, network: NetworkKind
) -> None:
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/104": answers(2)}, network=network)
    world.log_in("olga")  # Sales only
    world.call(CallerScript(did=SUPPORT, talk_s=None))
    await world.run(100)
    [call] = world.calls()
    assert call["state"] == "waiting" and not call["overflowed"]
    await world.run(60)
    [call] = world.calls()
    assert call["state"] == "answered" and call["overflowed"]
    assert world.attempts(call["id"]) == [("olga", "PJSIP/104", "answered", True)]
    waited = (call["answered_at"] - call["queue_entered_at"]).total_seconds()
    assert 120 <= waited < 125  # offered once the 120 s overflow time had passed


@pytest_twisted.ensureDeferred
async def test_hash_while_waiting_leaves_a_voicemail_with_a_real_recording(
    db_url: str, tmp_path: Path, network: NetworkKind
) -> None:
    world = make_e2e_world(db_url, tmp_path, network=network)
    world.call(CallerScript(did=SUPPORT, keys=((8.0, "#"),), speech_s=7))
    await world.run(90)
    [call] = world.calls()
    assert call["state"] == "voicemail"
    [item] = world.items()
    assert item["kind"] == "message" and item["call"] == call["id"]
    assert item["recording"].startswith("voicemail/2026/11/23/") and item["recording"].endswith(
        ".wav"
    )
    assert 6 <= world.wav_seconds(item["recording"]) <= 13  # speech, then silence detection


@pytest_twisted.ensureDeferred
async def test_hash_while_an_agent_rings_frees_the_agent_and_records(
    db_url: str, tmp_path: Path, network: NetworkKind
) -> None:
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": NEVER}, network=network)
    world.log_in("eva")
    world.call(CallerScript(did=SUPPORT, keys=((6.0, "#"),), speech_s=4))
    await world.run(90)
    [call] = world.calls()
    assert call["state"] == "voicemail"
    assert world.attempts(call["id"]) == [("eva", "PJSIP/101", "cancelled", False)]
    assert world.agent_state("eva") == ("on_air", "idle", None)  # no blame, no pause
    [item] = world.items()
    assert world.wav_seconds(item["recording"]) >= 4


@pytest_twisted.ensureDeferred
async def test_zero_registers_a_callback_request(
    db_url: str, tmp_path: Path, network: NetworkKind
) -> None:
    world = make_e2e_world(db_url, tmp_path, network=network)
    world.call(CallerScript(did=SUPPORT, caller_id_num="777123456", keys=((5.0, "0"),)))
    await world.run(60)
    [call] = world.calls()
    assert call["state"] == "callback"
    [item] = world.items()
    assert (item["kind"], item["caller"], item["recording"]) == ("callback", "777123456", "")


@pytest_twisted.ensureDeferred
async def test_caller_hangs_up_in_ivr_waiting_and_ringing(
    db_url: str, tmp_path: Path, network: NetworkKind
) -> None:
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": NEVER}, network=network)
    world.call(CallerScript(did="222111000", caller_id_num="777000001", hangup_at_s=2))
    world.call(CallerScript(did=SUPPORT, caller_id_num="777000002", hangup_at_s=15))
    await world.run(30)
    world.log_in("eva")
    world.call(CallerScript(did=SUPPORT, caller_id_num="777000003", hangup_at_s=6))
    await world.run(60)
    ivr, waiting, ringing = world.calls()
    assert ivr["state"] == "abandoned_ivr"
    assert waiting["state"] == "abandoned_queue"
    assert ringing["state"] == "abandoned_ringing"
    assert world.attempts(ringing["id"]) == [("eva", "PJSIP/101", "caller_hung_up", False)]
    assert world.agent_state("eva") == ("on_air", "idle", None)


@pytest_twisted.ensureDeferred
async def test_ivr_choice_leads_to_the_queue_and_every_key_is_stored(
    db_url: str, tmp_path: Path, network: NetworkKind
) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from db.models import IvrKeyPress

    world = make_e2e_world(db_url, tmp_path, {"PJSIP/104": answers(2)}, network=network)
    world.log_in("olga")
    world.call(CallerScript(did="222111000", keys=((1.0, "7"), (4.0, "2")), talk_s=None))
    await world.run(60)
    [call] = world.calls()
    assert call["state"] == "answered"
    assert world.attempts(call["id"])[0][0] == "olga"
    with Session(world.engine) as s:
        presses = [(k.digit, k.outcome.value) for k in s.scalars(select(IvrKeyPress)).all()]
    assert presses == [("7", "invalid"), ("2", "option")]


AFTER_HOURS = "\n".join(
    [
        "holidays:",
        "  - {day: 2026-11-24, name: Test holiday}",
    ]
)


@pytest_twisted.ensureDeferred
async def test_after_hours_the_caller_can_press_zero_for_a_callback(
    db_url: str, tmp_path: Path, network: NetworkKind
) -> None:
    from datetime import UTC, datetime

    evening = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)  # 20:00 in Prague
    world = make_e2e_world(db_url, tmp_path, start=evening, network=network)
    world.log_in("eva")  # logged in, but the queue is closed
    world.call(CallerScript(did=SUPPORT, keys=((2.0, "0"),)))
    await world.run(60)
    [call] = world.calls()
    assert call["state"] == "callback"
    assert world.attempts(call["id"]) == []
    assert [i["kind"] for i in world.items()] == ["callback"]


@pytest_twisted.ensureDeferred
async def test_a_holiday_closes_the_queue(
    db_url: str, tmp_path: Path, network: NetworkKind
) -> None:
    from datetime import UTC, datetime

    holiday_morning = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # Tuesday 10:00, a holiday
    world = make_e2e_world(
        db_url, tmp_path, start=holiday_morning, extra_yaml=AFTER_HOURS, network=network
    )
    world.log_in("eva")
    world.call(CallerScript(did=SUPPORT))
    await world.run(60)
    [call] = world.calls()
    assert call["state"] == "closed"
    assert world.items() == [] and world.attempts(call["id"]) == []


@pytest_twisted.ensureDeferred
async def test_support_turn_rings_the_rota_in_priority_order(
    db_url: str, tmp_path: Path, network: NetworkKind
) -> None:
    from datetime import UTC, datetime

    evening = datetime(2026, 11, 23, 17, 30, tzinfo=UTC)  # Monday 18:30, after the rota hours
    world = make_e2e_world(
        db_url,
        tmp_path,
        {"PJSIP/420603111222@trunk": NEVER, "PJSIP/102": answers(4), "PJSIP/103": answers(1)},
        start=evening,
        network=network,
    )
    world.log_in("jan", on_air=False)  # an operator's phone rings even when off-air
    world.call(CallerScript(did="222111003", talk_s=None))
    await world.run(120)
    [call] = world.calls()
    assert call["state"] == "answered"
    assert world.attempts(call["id"]) == [
        ("", "PJSIP/420603111222@trunk", "no_answer", False),
        ("jan", "PJSIP/102", "answered", False),
    ]  # priority 5, then 3; petr has priority 0 and is never rung


@pytest_twisted.ensureDeferred
async def test_a_later_answered_call_resolves_the_callers_callback_request(
    db_url: str, tmp_path: Path, network: NetworkKind
) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from db.models import VoicemailItem

    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": answers(2)}, network=network)
    world.call(CallerScript(did=SUPPORT, caller_id_num="777123456", keys=((5.0, "0"),)))
    await world.run(30)
    world.log_in("eva")
    world.call(CallerScript(did=SUPPORT, caller_id_num="777123456", talk_s=20))
    await world.run(60)
    first, second = world.calls()
    assert (first["state"], second["state"]) == ("callback", "answered")
    with Session(world.engine) as s:
        item = s.scalars(select(VoicemailItem)).one()
        assert (item.state.value, item.resolved_by_call_id) == ("resolved_by_contact", second["id"])


CALLBACK_OFFER = """
queues:
  - code: SUPPORT
    name: Technical support
    callback_offer_after_s: 30
    callback_offer_repeat_s: 20
"""


@pytest_twisted.ensureDeferred
async def test_waiting_callers_hear_the_callback_option_and_can_take_it(
    db_url: str, tmp_path: Path, network: NetworkKind
) -> None:
    from sqlalchemy.orm import Session

    from db.catalog import load_catalog

    world = make_e2e_world(db_url, tmp_path, network=network)
    with Session(world.engine) as s, s.begin():
        load_catalog(s, CALLBACK_OFFER, source="offer.yaml")
    patient = world.call(CallerScript(did=SUPPORT, caller_id_num="777000001", hangup_at_s=75))
    await world.run(90)
    record = patient.record
    assert record is not None
    offers = [
        round(line.at_s)
        for line in record.lines
        if "STREAM FILE hotline/press-0-for-callback" in line.text
    ]
    # after 30 s of waiting, then every 20 s
    assert offers == [30, 50, 70], offers
    # A caller who presses 0 during the announcement gets the callback.
    world.call(CallerScript(did=SUPPORT, caller_id_num="777000002", keys=((31.5, "0"),)))
    await world.run(60)
    assert [c["state"] for c in world.calls()] == ["abandoned_queue", "callback"]


# Monday evening the SUPPORT queue is closed (Mon-Fri 08:00-17:00). Until 22:00 a closed
# SUPPORT sends callers to its voicemail box; from 22:00 it announces the opening hours.
CLOSED_RULES = """
queues:
  - code: SUPPORT
    name: Technical support
    closed_action: announce
    closed_rules:
      - {starts: '17:00', ends: '22:00', action: voicemail}
      - {starts: '22:00', ends: '06:00', action: announce}
"""


def _closed_world(db_url: str, tmp_path: Path, prague_hour: int, network: NetworkKind) -> E2EWorld:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from sqlalchemy.orm import Session

    from db.catalog import load_catalog

    start = datetime(2026, 11, 23, prague_hour, 0, tzinfo=ZoneInfo("Europe/Prague"))
    world = make_e2e_world(
        db_url, tmp_path, {"PJSIP/101": answers(1)}, start=start.astimezone(UTC), network=network
    )
    with Session(world.engine) as s, s.begin():
        load_catalog(s, CLOSED_RULES, source="closed.yaml")
    world.log_in("eva")  # on-air and free: only the closed queue keeps the call from her
    return world


@pytest_twisted.ensureDeferred
async def test_closed_with_a_voicemail_rule_the_caller_goes_straight_to_voicemail(
    db_url: str, tmp_path: Path, network: NetworkKind
) -> None:
    world = _closed_world(
        db_url, tmp_path, prague_hour=20, network=network
    )  # Monday 20:00: voicemail window
    caller = world.call(CallerScript(did=SUPPORT, caller_id_num="777123456", speech_s=6))
    await world.run(90)
    [call] = world.calls()
    assert call["state"] == "voicemail"
    assert world.attempts(call["id"]) == []  # never offered to an agent
    assert world.agent_state("eva") == ("on_air", "idle", None)
    [item] = world.items()
    assert (item["kind"], item["call"], item["caller"]) == ("message", call["id"], "777123456")
    assert item["recording"].startswith("voicemail/2026/11/23/")
    assert item["recording"].endswith(".wav")
    assert 6 <= world.wav_seconds(item["recording"]) <= 13  # the caller's speech, then silence
    assert caller.record is not None
    heard = [line.text for line in caller.record.lines]
    assert any("STREAM FILE hotline/leave-message" in text for text in heard)  # the greeting
    assert not any("hotline/opening-hours" in text for text in heard)  # no announcement first
    assert not any("Dial" in text for text in heard)  # no phone rang


@pytest_twisted.ensureDeferred
async def test_closed_outside_the_voicemail_window_the_rule_announces_the_hours(
    db_url: str, tmp_path: Path, network: NetworkKind
) -> None:
    world = _closed_world(
        db_url, tmp_path, prague_hour=23, network=network
    )  # Monday 23:00: announce window
    caller = world.call(CallerScript(did=SUPPORT, caller_id_num="777123456", speech_s=6))
    await world.run(90)
    [call] = world.calls()
    assert call["state"] == "closed"
    assert world.attempts(call["id"]) == [] and world.items() == []
    assert caller.record is not None
    heard = [line.text for line in caller.record.lines]
    assert any("STREAM FILE hotline/opening-hours" in text for text in heard)
    assert not any("RECORD FILE" in text for text in heard)
    # the caller is told how to get a callback and hears a goodbye, not silence.
    offer = [i for i, text in enumerate(heard) if "STREAM FILE hotline/closed-press-0" in text]
    goodbye = [i for i, text in enumerate(heard) if "STREAM FILE hotline/goodbye" in text]
    assert offer and goodbye and offer[0] < goodbye[0]
