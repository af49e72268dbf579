"""`hotline serve` killed with SIGKILL mid-wait, mid-ring, mid-conversation and mid-message
on a real Asterisk 22 (R-1.16, R-7.3; issue 10 defects 2 to 5): the shipped resume chain
brings the caller back to the restarted server, which reads what Asterisk did meanwhile."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Call, Recording, RingAttempt, VoicemailItem
from tests.real_asterisk.conftest import SUPPORT_DID, Tier
from tests.support.real_asterisk import place_call, wait_until


def _attempts(tier: Tier, call_id: int) -> list[tuple[str, str]]:
    with Session(tier.engine) as s:
        rows = s.scalars(
            select(RingAttempt).where(RingAttempt.call_id == call_id).order_by(RingAttempt.id)
        )
        return [(a.dial_string.split("/")[1].split("@")[0], a.outcome.value) for a in rows]


def _recordings(tier: Tier, call_id: int) -> list[Recording]:
    with Session(tier.engine) as s:
        return list(s.scalars(select(Recording).where(Recording.call_id == call_id)))


def _mixmonitors(tier: Tier) -> int:
    return tier.pbx.new_log().count("Executing Application: (MixMonitor)")


def test_killed_mid_wait_the_caller_is_put_through_by_the_restarted_server(tier: Tier) -> None:
    tier.seat_phone("101", "talk-1-2")
    caller = place_call(tier.ami, tier.pbx, SUPPORT_DID)
    waiting = tier.call_where(lambda c: c.state.value == "waiting")
    tier.kill_server()
    tier.start_server()
    tier.on_air("eva", "101")
    call = tier.call_where(lambda c: c.ended_at is not None)
    assert call.state.value == "answered"
    assert call.queue_entered_at == waiting.queue_entered_at  # the original waiting start
    assert _attempts(tier, call.id) == [("talk-1-2", "answered")]
    assert _mixmonitors(tier) == 1  # issue 10 defect 5: one recorder, not one per session
    assert not caller.is_up()


def test_killed_mid_ring_the_conversation_is_kept_and_the_caller_not_queued_again(
    tier: Tier,
) -> None:
    """Defect 3: the Dial goes on inside Asterisk, the answer hook cannot reach Hotline; the
    resumed session reads DIALSTATUS and stores the conversation instead of re-queueing."""
    tier.seat_phone("101", "talk-1-4")
    caller = place_call(tier.ami, tier.pbx, SUPPORT_DID)
    tier.on_air("eva", "101")
    tier.call_where(lambda c: c.state.value == "ringing")
    tier.kill_server()
    tier.pbx.wait_for_log("hotline-answered")  # answered while no Hotline runs
    tier.start_server()
    call = tier.call_where(lambda c: c.ended_at is not None)
    assert call.state.value == "answered"
    assert _attempts(tier, call.id) == [("talk-1-4", "answered")]
    assert call.answered_at is not None and call.ended_at is not None
    talk_s = (call.ended_at - call.answered_at).total_seconds()
    assert 2 <= talk_s <= 8, talk_s
    assert tier.pbx.new_log().count("EXEC Dial") == 1  # rung once, never again
    assert not caller.is_up()


def test_killed_mid_conversation_the_recording_gets_its_row(tier: Tier) -> None:
    """Defect 4, first half; defect 6: the talk time is the conversation."""
    tier.seat_phone("101", "talk-1-5")
    place_call(tier.ami, tier.pbx, SUPPORT_DID)
    tier.on_air("eva", "101")
    tier.call_where(lambda c: c.state.value == "talking")
    tier.kill_server()
    tier.start_server()
    call = tier.call_where(lambda c: c.ended_at is not None)
    assert call.state.value == "answered"
    (recording,) = _recordings(tier, call.id)
    assert (tier.recordings / recording.path).stat().st_size > 1000
    assert call.answered_at is not None and call.ended_at is not None
    assert 4 <= (call.ended_at - call.answered_at).total_seconds() <= 8
    assert _mixmonitors(tier) == 1


@pytest.mark.parametrize("stop", ["SIGKILL", "SIGTERM"])
def test_stopped_mid_message_the_message_becomes_a_voicemail_item(tier: Tier, stop: str) -> None:
    """Defect 4, second half (R-7.3; issue 11, item 2): the half-recorded message is a real
    file; a crash or a graceful stop never cuts it short, it is taken in whole, and the
    caller is not queued again."""
    caller = place_call(tier.ami, tier.pbx, SUPPORT_DID, number="777000009")
    tier.call_where(lambda c: c.state.value == "waiting")
    caller.press("#")
    tier.pbx.wait_for_log("AGI Rx << RECORD FILE")
    time.sleep(1)
    if stop == "SIGKILL":
        tier.kill_server()
    else:
        tier.stop_server()
    time.sleep(2)  # the caller goes on speaking into the recording
    tier.start_server()
    caller.hang_up()
    call = tier.call_where(lambda c: c.ended_at is not None)
    assert call.state.value == "voicemail"

    def items() -> list[VoicemailItem] | None:
        with Session(tier.engine) as s:
            return list(s.scalars(select(VoicemailItem))) or None

    (item,) = wait_until("the message is an item", items, 40)
    assert item.kind.value == "message" and item.caller_number == "777000009"
    # About four seconds of the caller's voice (8 kHz, 16 bit): recorded on after the stop.
    assert (tier.recordings / item.recording_path).stat().st_size > 3 * 16000
    assert "EXEC Dial" not in tier.pbx.new_log()


@pytest.fixture
def short_resume(tier: Tier) -> Iterator[None]:
    """The dialplan's resume chain shortened to 2 rounds 2 s apart, and the server's resume
    window to match (HOTLINE_RESUME_WINDOW_S = rounds x wait)."""
    tier.ami.action("Setvar", Variable="HOTLINE_RESUME_ROUNDS", Value="2")
    tier.ami.action("Setvar", Variable="HOTLINE_RESUME_WAIT_S", Value="2")
    tier.env["HOTLINE_RESUME_WINDOW_S"] = "4"
    try:
        yield
    finally:
        tier.ami.action("Setvar", Variable="HOTLINE_RESUME_ROUNDS", Value="5")
        tier.ami.action("Setvar", Variable="HOTLINE_RESUME_WAIT_S", Value="3")


def test_a_waiting_call_given_to_the_fallback_never_holds_up_the_next_caller(
    tier: Tier, short_resume: None
) -> None:
    """Defect 2: with no Hotline for longer than the resume window, the caller goes to the
    fallback; after the restart the dead call is not offered, the next caller is."""
    tier.stop_server()
    tier.start_server()  # with the short resume window
    tier.seat_phone("101", "talk-1-2")
    first = place_call(tier.ami, tier.pbx, SUPPORT_DID, number="777000010")
    tier.call_where(lambda c: c.state.value == "waiting")
    tier.kill_server()
    tier.pbx.wait_for_log("TIER: fallback phone answered")
    wait_until("the fallback is over", lambda: True if not first.is_up() else None, 20)
    tier.start_server()
    tier.pbx.mark_log()
    second = place_call(tier.ami, tier.pbx, SUPPORT_DID, number="777000011")
    tier.on_air("eva", "101")
    wait_until("the second caller is put through", lambda: True if not second.is_up() else None, 30)

    def calls() -> dict[str, Call]:
        with Session(tier.engine) as s:
            return {c.caller_number: c for c in s.scalars(select(Call))}

    assert calls()["777000011"].state.value == "answered"
    dead = wait_until(
        "the dead call is closed",
        lambda: calls()["777000010"] if calls()["777000010"].ended_at is not None else None,
        30,
    )
    assert dead.state.value != "answered"
    assert not _attempts(tier, dead.id)  # never offered to Eva
