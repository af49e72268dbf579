"""A call's life in a queue (R-1.3 .. R-1.9, R-1.15, R-2.5) as the state machine sees it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialplan.escalation import (
    AgentBusy,
    AnnounceCallbackOption,
    Answered,
    CallerHungUp,
    CallStatus,
    CloseCall,
    ConversationEnded,
    EndRing,
    KeyPressed,
    MarkOverflowed,
    NotifyAgent,
    Offered,
    PauseAgent,
    Phase,
    QueuePolicy,
    RangOut,
    RecordVoicemail,
    RegisterCallback,
    RingAgent,
    Tick,
    TransitionError,
    transition,
)
from domain.enums import AgentNotice, CallState
from tests.support.time import T0, t

POLICY = QueuePolicy(
    ring_timeout_s=20,
    overflow_after_s=120,
    callback_offer_after_s=60,
    callback_offer_repeat_s=45,
    voicemail_box="Support voicemail",
    callback_box="Support callbacks",
)


def test_offer_rings_the_agent_for_the_ring_timeout_and_tells_the_waiting_time() -> None:
    status = CallStatus.entering_queue(T0)
    status, effects = transition(status, Offered(7), POLICY, t(75))
    assert status.phase is Phase.RINGING and status.ringing_agent_id == 7
    assert effects == (
        RingAgent(7, 20, overflow=False),
        NotifyAgent(7, AgentNotice.INCOMING, waiting_s=75),
    )


def test_ring_out_pauses_the_agent_and_parks_the_call_again() -> None:
    status, _ = transition(CallStatus.entering_queue(T0), Offered(7), POLICY, t(1))
    status, effects = transition(status, RangOut(someone_else_free=False), POLICY, t(21))
    assert status.phase is Phase.WAITING and status.tried_agent_ids == {7}
    assert effects == (
        EndRing(7, "no_answer"),
        PauseAgent(7, "missed_call"),
        NotifyAgent(7, AgentNotice.WILL_BE_HANDED),
    )


def test_missed_call_pause_can_be_switched_off() -> None:
    policy = QueuePolicy(pause_on_missed_call=False)
    status, _ = transition(CallStatus.entering_queue(T0), Offered(7), policy, t(1))
    _, effects = transition(status, RangOut(someone_else_free=True), policy, t(21))
    assert effects == (EndRing(7, "no_answer"), NotifyAgent(7, AgentNotice.HANDED_TO_ANOTHER))


def test_answer_then_conversation_end_is_an_answered_call() -> None:
    status, _ = transition(CallStatus.entering_queue(T0), Offered(7), POLICY, t(10))
    status, effects = transition(status, Answered(), POLICY, t(14))
    assert status.phase is Phase.TALKING and status.agent_id == 7
    assert NotifyAgent(7, AgentNotice.CONNECTED, waiting_s=14) in effects
    status, effects = transition(status, ConversationEnded(), POLICY, t(200))
    assert status.outcome is CallState.ANSWERED and effects == (CloseCall(CallState.ANSWERED),)


def test_hash_while_ringing_frees_the_agent_and_records_a_message() -> None:
    status, _ = transition(CallStatus.entering_queue(T0), Offered(7), POLICY, t(10))
    status, effects = transition(status, KeyPressed("#"), POLICY, t(12))
    assert status.outcome is CallState.VOICEMAIL
    assert effects == (
        EndRing(7, "cancelled"),
        NotifyAgent(7, AgentNotice.MOVED_TO_BOX, box_name="Support voicemail"),
        RecordVoicemail("Support voicemail"),
        CloseCall(CallState.VOICEMAIL),
    )


def test_zero_while_waiting_registers_a_callback() -> None:
    status, effects = transition(CallStatus.entering_queue(T0), KeyPressed("0"), POLICY, t(5))
    assert status.outcome is CallState.CALLBACK
    assert effects == (RegisterCallback("Support callbacks"), CloseCall(CallState.CALLBACK))


def test_keys_without_a_box_and_other_keys_are_ignored() -> None:
    status = CallStatus.entering_queue(T0)
    no_boxes = QueuePolicy()
    for digit in "#0":
        assert transition(status, KeyPressed(digit), no_boxes, t(5)) == (status, ())
    assert transition(status, KeyPressed("5"), POLICY, t(5)) == (status, ())


@pytest.mark.parametrize(
    ("offer", "outcome"),
    [(False, CallState.ABANDONED_QUEUE), (True, CallState.ABANDONED_RINGING)],
)
def test_caller_hang_up_is_abandoned_in_the_right_place(offer: bool, outcome: CallState) -> None:
    status = CallStatus.entering_queue(T0)
    if offer:
        status, _ = transition(status, Offered(7), POLICY, t(3))
    status, effects = transition(status, CallerHungUp(), POLICY, t(9))
    assert status.outcome is outcome
    if offer:
        assert NotifyAgent(7, AgentNotice.CALLER_HUNG_UP) in effects
        assert EndRing(7, "caller_hung_up") in effects


def test_overflow_is_marked_once_after_the_overflow_time() -> None:
    status = CallStatus.entering_queue(T0)
    status, effects = transition(status, Tick(), QueuePolicy(overflow_after_s=120), t(119))
    assert effects == () and not status.overflowed
    status, effects = transition(status, Tick(), QueuePolicy(overflow_after_s=120), t(120))
    assert effects == (MarkOverflowed(),) and status.overflowed
    status, effects = transition(status, Tick(), QueuePolicy(overflow_after_s=120), t(500))
    assert effects == ()
    status, effects = transition(status, Offered(3), QueuePolicy(), t(501))
    assert RingAgent(3, 20, overflow=True) in effects


def test_overflow_can_be_disabled() -> None:
    policy = QueuePolicy(overflow_enabled=False)
    status, effects = transition(CallStatus.entering_queue(T0), Tick(), policy, t(10_000))
    assert effects == () and not status.overflowed


def test_callback_option_is_announced_after_the_threshold_then_repeated() -> None:
    policy = QueuePolicy(
        overflow_enabled=False,
        callback_offer_after_s=60,
        callback_offer_repeat_s=45,
        callback_box="cb",
    )
    status = CallStatus.entering_queue(T0)
    announced = []
    for second in range(0, 200, 5):
        status, effects = transition(status, Tick(), policy, t(second))
        if AnnounceCallbackOption() in effects:
            announced.append(second)
    assert announced == [60, 105, 150, 195]


def test_an_ended_call_takes_no_more_events() -> None:
    status, _ = transition(CallStatus.entering_queue(T0), CallerHungUp(), POLICY, t(1))
    with pytest.raises(TransitionError):
        transition(status, Offered(1), POLICY, t(2))


def test_impossible_events_are_refused() -> None:
    waiting = CallStatus.entering_queue(T0)
    for event in (RangOut(False), AgentBusy(), Answered(), ConversationEnded()):
        with pytest.raises(TransitionError):
            transition(waiting, event, POLICY, t(1))
    ringing, _ = transition(waiting, Offered(1), POLICY, t(1))
    with pytest.raises(TransitionError):
        transition(ringing, Offered(2), POLICY, t(2))


events_st = st.lists(
    st.one_of(
        st.builds(Offered, st.integers(1, 4)),
        st.builds(RangOut, st.booleans()),
        st.just(AgentBusy()),
        st.just(Answered()),
        st.builds(KeyPressed, st.sampled_from("#0123*")),
        st.just(CallerHungUp()),
        st.just(ConversationEnded()),
        st.just(Tick()),
    ),
    max_size=40,
)


@given(events_st, st.booleans())
def test_invariants_over_any_sequence_of_events(events: list[object], overflow: bool) -> None:
    policy = QueuePolicy(
        overflow_enabled=overflow, overflow_after_s=30, voicemail_box="vm", callback_box="cb"
    )
    status = CallStatus.entering_queue(T0)
    live_ring: int | None = None
    overflow_marks = 0
    closes = 0
    for i, event in enumerate(events):
        try:
            status, effects = transition(status, event, policy, t(i * 7))  # type: ignore[arg-type]
        except TransitionError:
            continue
        for effect in effects:
            if isinstance(effect, RingAgent):
                assert live_ring is None, "a second ring while one is live"
                live_ring = effect.agent_id
            elif isinstance(effect, EndRing):
                assert effect.agent_id == live_ring
                live_ring = None
            elif isinstance(effect, MarkOverflowed):
                overflow_marks += 1
            elif isinstance(effect, CloseCall):
                closes += 1
                assert live_ring is None, "a call closed with an agent still reserved"
        assert (status.ringing_agent_id is not None) == (status.phase is Phase.RINGING)
    assert overflow_marks <= 1 and closes <= 1
    assert (closes == 1) == (status.phase is Phase.ENDED)
