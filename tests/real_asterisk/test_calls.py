"""Real calls through the shipped dialplan on a real Asterisk 22 (R-1.5, R-1.7, R-1.8,
R-1.14, R-6.1): answered, rung out and escalated, `#` and `0` while waiting and while ringing."""

from __future__ import annotations

import itertools
import re
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.catalog import load_catalog
from db.models import Queue, Recording, RingAttempt, VoicemailItem
from tests.real_asterisk.conftest import ROTA_DID, SUPPORT_DID, Tier
from tests.support.real_asterisk import place_call, wait_until


def _attempts(tier: Tier, call_id: int) -> list[RingAttempt]:
    with Session(tier.engine) as s:
        return list(
            s.scalars(
                select(RingAttempt).where(RingAttempt.call_id == call_id).order_by(RingAttempt.id)
            )
        )


def _items(tier: Tier) -> list[VoicemailItem]:
    with Session(tier.engine) as s:
        return list(s.scalars(select(VoicemailItem)))


def test_answered_call_talk_time_is_the_conversation_and_the_recording_has_a_row(
    tier: Tier,
) -> None:
    """R-1.8, R-1.14, issue 10 defect 6: talk time runs from the answer to the hang-up, not
    the caller's whole time on the line (Asterisk's ANSWEREDTIME)."""
    tier.seat_phone("101", "talk-2-4")
    caller = place_call(tier.ami, tier.pbx, SUPPORT_DID)
    tier.call_where(lambda c: c.state.value == "waiting")
    tier.on_air("eva", "101")
    call = tier.call_where(lambda c: c.ended_at is not None)
    assert call.state.value == "answered"
    assert call.answered_at is not None
    talk_s = (call.ended_at - call.answered_at).total_seconds()
    assert 3 <= talk_s <= 6, talk_s  # the phone talks 4 s
    (attempt,) = _attempts(tier, call.id)
    assert attempt.outcome.value == "answered"
    with Session(tier.engine) as s:
        (recording,) = s.scalars(select(Recording).where(Recording.call_id == call.id))
    assert (tier.recordings / recording.path).stat().st_size > 1000
    assert not caller.is_up()


def test_a_phone_that_rings_out_is_left_for_the_next_agent_who_answers(tier: Tier) -> None:
    """R-1.4: Eva's phone rings the queue's ring timeout (4 s) unanswered; Jan's answers."""
    tier.seat_phone("101", "never")
    tier.seat_phone("102", "talk-1-2")
    caller = place_call(tier.ami, tier.pbx, SUPPORT_DID)
    tier.on_air("eva", "101")
    first = tier.call_where(lambda c: c.state.value == "ringing")
    tier.on_air("jan", "102")
    call = tier.call_where(lambda c: c.ended_at is not None)
    assert call.state.value == "answered"
    outcomes = [(a.dial_string, a.outcome.value) for a in _attempts(tier, first.id)]
    assert outcomes == [
        ("Local/never@hotline-test-phones", "no_answer"),
        ("Local/talk-1-2@hotline-test-phones", "answered"),
    ]
    assert not caller.is_up()


def test_hash_while_waiting_leaves_a_message_and_frees_the_queue_at_once(tier: Tier) -> None:
    """R-1.7, issue 10 defect 1: the caller recording a message is out of the queue: a
    second caller is put through to the free agent while the first still records."""
    tier.seat_phone("101", "talk-1-2")
    recorder = place_call(tier.ami, tier.pbx, SUPPORT_DID, number="777000001")
    tier.call_where(lambda c: c.state.value == "waiting")
    recorder.press("#")
    tier.call_where(lambda c: c.state.value == "in_box")
    tier.pbx.wait_for_log("AGI Rx << RECORD FILE")
    second = place_call(tier.ami, tier.pbx, SUPPORT_DID, number="777000002")
    tier.on_air("eva", "101")
    wait_until(
        "the second caller was put through", lambda: True if not second.is_up() else None, 30
    )
    first = tier.call()
    assert first is not None and first.state.value == "in_box"  # still recording
    assert recorder.is_up()
    recorder.hang_up()
    tier.call_where(lambda c: c.state.value == "voicemail")
    (item,) = wait_until("the message is an item", lambda: _items(tier) or None, 20)
    assert item.kind.value == "message" and item.caller_number == "777000001"
    assert (tier.recordings / item.recording_path).stat().st_size > 1000


def test_zero_while_waiting_registers_a_callback(tier: Tier) -> None:
    """R-1.8: `0` while waiting leaves a callback request; the caller hears it confirmed."""
    caller = place_call(tier.ami, tier.pbx, SUPPORT_DID, number="777000003")
    tier.call_where(lambda c: c.state.value == "waiting")
    caller.press("0")
    call = tier.call_where(lambda c: c.ended_at is not None)
    assert call.state.value == "callback"
    (item,) = _items(tier)
    assert item.kind.value == "callback" and item.caller_number == "777000003"
    wait_until("the caller is let go", lambda: True if not caller.is_up() else None, 20)


def test_hash_while_the_agent_rings_cancels_the_ring_and_takes_the_message(tier: Tier) -> None:
    """R-1.7 with the Dial's exit keys (option d, [hotline-exit])."""
    tier.seat_phone("101", "never")
    caller = place_call(tier.ami, tier.pbx, SUPPORT_DID, number="777000004")
    tier.on_air("eva", "101")
    ringing = tier.call_where(lambda c: c.state.value == "ringing")
    caller.press("#")
    tier.call_where(lambda c: c.state.value == "in_box")
    (attempt,) = _attempts(tier, ringing.id)
    assert attempt.outcome.value == "cancelled"
    tier.pbx.wait_for_log("AGI Rx << RECORD FILE")
    time.sleep(2)  # the caller speaks for two seconds after the beep
    caller.hang_up()
    tier.call_where(lambda c: c.state.value == "voicemail")
    (item,) = wait_until("the message is an item", lambda: _items(tier) or None, 20)
    assert item.kind.value == "message"


def test_zero_while_the_agent_rings_cancels_the_ring_and_registers_a_callback(
    tier: Tier,
) -> None:
    """R-1.8 with the Dial's exit keys: the key ends the ring at once, the agent is free."""
    tier.seat_phone("101", "never")
    caller = place_call(tier.ami, tier.pbx, SUPPORT_DID, number="777000005")
    tier.on_air("eva", "101")
    ringing = tier.call_where(lambda c: c.state.value == "ringing")
    caller.press("0")
    call = tier.call_where(lambda c: c.ended_at is not None)
    assert call.state.value == "callback"
    (attempt,) = _attempts(tier, ringing.id)
    assert attempt.outcome.value == "cancelled"
    (item,) = _items(tier)
    assert item.kind.value == "callback" and item.caller_number == "777000005"
    wait_until("the caller is let go", lambda: True if not caller.is_up() else None, 30)


# Modules that read the shipped files; what they log about them must be clean.
SHIPPED_READERS = (
    "pbx_config.c",
    "app_voicemail.c",
    "manager.c",
    "res_musiconhold.c",
    "res_agi.c",
    "app_dial.c",
    "app_mixmonitor.c",
    "config.c",
    "pbx.c",
)


def test_the_shipped_configuration_loads_without_a_warning(tier: Tier) -> None:
    """Issue 10 defect 10: voicemail.conf made Asterisk warn "maxsilence should be less than
    minsecs"; every context Hotline ships is loaded."""
    boot = tier.pbx.log().split("Asterisk Ready")[0]
    complaints = [
        line
        for line in boot.splitlines()
        if ("WARNING[" in line or "ERROR[" in line)
        and any(f"] {m}:" in line for m in SHIPPED_READERS)
    ]
    assert complaints == []
    loaded = tier.pbx.cli("dialplan show")
    for context in (
        "from-trunk",
        "hotline-inbound",
        "hotline-resume",
        "hotline-hangup",
        "hotline-fallback",
        "hotline-exit",
        "hotline-answered",
        "hotline-transfer",
        "hotline-outbound",
    ):
        assert f"Context '{context}'" in loaded


def test_a_rota_number_is_dialled_through_the_trunk_the_dialplan_names(tier: Tier) -> None:
    """R-1.11, issue 10 defects 8 and 9: external numbers leave through HOTLINE_TRUNK_TECH
    and HOTLINE_TRUNK of the dialplan's [globals] (here Local/<number>@hotline-test-trunk);
    a number the trunk cannot reach (CHANUNAVAIL) is a failed ring, not a missed one."""
    caller = place_call(tier.ami, tier.pbx, ROTA_DID)
    call = tier.call_where(lambda c: c.ended_at is not None)
    assert call.state.value == "answered"
    assert "TIER: trunk dialled 420603111222" in tier.pbx.new_log()
    assert [(a.dial_string, a.outcome.value) for a in _attempts(tier, call.id)] == [
        ("Local/421905000000@hotline-test-trunk", "failed"),
        ("Local/420603111222@hotline-test-trunk", "answered"),
    ]
    assert not caller.is_up()


def test_on_a_holiday_a_rota_queue_rings_the_rota_although_an_operator_is_in(
    tier: Tier,
) -> None:
    """Issue 10 defect 7: a holiday is outside the standard hours all day, so the rota is
    rung (here the trunk), not the queue of the operator who is logged in."""
    tier.seat_phone("101", "talk-1-2")
    tier.on_air("eva", "101")
    today = datetime.now(ZoneInfo("Europe/Prague")).date().isoformat()
    with Session(tier.engine) as s, s.begin():
        load_catalog(s, f"holidays:\n  - {{day: '{today}', name: Tier day}}\n", source="h.yaml")
    caller = place_call(tier.ami, tier.pbx, ROTA_DID)
    call = tier.call_where(lambda c: c.ended_at is not None)
    assert call.state.value == "answered"
    assert [a.dial_string for a in _attempts(tier, call.id)] == [
        "Local/421905000000@hotline-test-trunk",
        "Local/420603111222@hotline-test-trunk",
    ]
    assert "talk-1-2@hotline-test-phones" not in tier.pbx.new_log()  # Eva was not rung
    assert not caller.is_up()


def test_zero_during_the_callback_offer_and_the_log_lines_of_a_call(tier: Tier) -> None:
    """Issue 10 defects 9 and 10: `0` during the offer does not restart the music only to
    stop it; Hotline logs one line when the call starts and one when it ends."""
    with Session(tier.engine) as s, s.begin():
        s.execute(update(Queue).where(Queue.code == "SUPPORT").values(callback_offer_after_s=1))
    caller = place_call(tier.ami, tier.pbx, SUPPORT_DID)
    tier.pbx.wait_for_log("STREAM FILE hotline/press-0-for-callback")
    caller.press("0")
    call = tier.call_where(lambda c: c.ended_at is not None)
    assert call.state.value == "callback"
    commands = re.findall(r"AGI Rx << (.*)", tier.pbx.new_log())
    pairs = list(itertools.pairwise(commands))
    assert not any("StartMusicOnHold" in a and "StopMusicOnHold" in b for a, b in pairs), commands
    wait_until(
        "the end is logged",
        lambda: True if f"call {call.uniqueid} ended" in tier.output else None,
        10,
    )
    lines = [line for line in tier.output.splitlines() if f"call {call.uniqueid} " in line]
    assert any("started: from 777123456 to DID 222111001" in line for line in lines), lines
    assert any("ended: callback (DID 222111001, queue SUPPORT)" in line for line in lines), lines


def test_the_shipped_manager_user_may_list_the_phones_device_states(tier: Tier) -> None:
    """The supervisor's Agents panel shows each phone's state (R-4.2): Hotline's AMI user of
    the shipped manager.conf may ask for the whole list at login (DeviceStateList, privilege
    call or reporting) and hears changes (DeviceStateChange, class call)."""
    reply = tier.ami.action("DeviceStateList")
    assert (reply.get("Response"), reply.get("EventList")) == ("Success", "start"), reply
    assert "no DeviceStateList" not in tier.output  # Hotline's own login asked for it too
