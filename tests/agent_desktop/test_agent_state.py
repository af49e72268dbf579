"""The agent's on-air/off-air states and their refusals (R-2.1, R-2.2, R-2.4, R-2.12)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_desktop.agent_state import (
    FINISH_FIRST,
    NO_LOGOUT_IN_CALL,
    AgentStateError,
    AgentStatus,
    Answered,
    CallBackEnded,
    CallEnded,
    EndWork,
    GoOffAir,
    GoOnAir,
    LogOut,
    Offered,
    Pause,
    RingEnded,
    Saved,
    StartWork,
    desk_controls,
    transition,
)
from domain.enums import Activity, AgentState

# Not the suite's T0 (tests/support/time.py) but an hour before it, as these tests were
# written: the state machine only compares instants, so any value does, and keeping this
# one keeps every idle_since/since they check exactly as it was.
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def t(s: int) -> datetime:
    return T0 + timedelta(seconds=s)


def on_air() -> AgentStatus:
    status = transition(AgentStatus.logged_in(T0), GoOnAir(), t(1))
    assert status is not None
    return status


def step(status: AgentStatus, event: object, s: int) -> AgentStatus:
    nxt = transition(status, event, t(s))  # type: ignore[arg-type]
    assert nxt is not None
    return nxt


def test_login_is_off_air_until_the_agent_goes_on_air() -> None:
    fresh = AgentStatus.logged_in(T0)
    assert fresh.state is AgentState.OFF_AIR and not fresh.can_take_calls
    assert on_air().can_take_calls


def test_a_whole_call_returns_the_agent_on_air_after_save() -> None:
    status = step(on_air(), Offered(), 10)
    assert status.state is AgentState.ON_AIR and not status.can_take_calls  # reserved
    status = step(status, Answered(), 14)
    assert (status.state, status.activity) == (AgentState.OFF_AIR, Activity.IN_CALL)
    status = step(status, CallEnded(), 200)
    assert (status.state, status.activity) == (AgentState.OFF_AIR, Activity.PROCESSING)
    status = step(status, Saved(), 260)
    assert status.can_take_calls and status.idle_since == t(260)


@pytest.mark.parametrize("event", [GoOnAir(), Pause(3), GoOffAir(), StartWork(Activity.OUTBOUND)])
def test_no_state_change_while_processing(event: object) -> None:
    processing = step(step(step(on_air(), Offered(), 1), Answered(), 2), CallEnded(), 3)
    with pytest.raises(AgentStateError, match=FINISH_FIRST):
        transition(processing, event, t(4))  # type: ignore[arg-type]


def test_logout_is_refused_during_a_call_and_allowed_when_free() -> None:
    in_call = step(step(on_air(), Offered(), 1), Answered(), 2)
    with pytest.raises(AgentStateError, match=NO_LOGOUT_IN_CALL):
        transition(in_call, LogOut(), t(3))
    assert transition(on_air(), LogOut(), t(3)) is None


def test_ringing_out_gives_the_missed_call_pause() -> None:
    status = step(step(on_air(), Offered(), 1), RingEnded(missed=True, pause_type_id=7), 21)
    assert (status.state, status.activity, status.pause_type_id) == (
        AgentState.OFF_AIR,
        Activity.PAUSED,
        7,
    )


def test_a_caller_who_hangs_up_does_not_cost_the_agent_their_place() -> None:
    before = on_air()
    status = step(step(before, Offered(), 5), RingEnded(), 9)
    assert status.can_take_calls and status.idle_since == before.idle_since


def test_off_air_without_a_pause_type_ends_a_pause_and_keeps_the_idle_place() -> None:
    paused = step(on_air(), Pause(2), 5)
    off = step(paused, GoOffAir(), 6)
    assert (off.state, off.activity, off.pause_type_id) == (
        AgentState.OFF_AIR,
        Activity.PAUSED,
        None,
    )
    assert off.since == t(6) and off.idle_since == t(1)
    assert step(off, GoOffAir(), 9) == off  # already off air: nothing changes
    with pytest.raises(AgentStateError, match=FINISH_FIRST):
        transition(step(step(off, GoOnAir(), 10), Offered(), 11), GoOffAir(), t(12))


def test_pause_and_back_office_work_are_off_air() -> None:
    paused = step(on_air(), Pause(2), 5)
    assert (paused.state, paused.pause_type_id) == (AgentState.OFF_AIR, 2)
    working = step(paused, StartWork(Activity.BACKOFFICE), 6)
    assert working.activity is Activity.BACKOFFICE
    assert step(working, EndWork(), 7).state is AgentState.OFF_AIR


def test_a_call_back_ends_in_back_office_work_not_processing() -> None:
    """R-3.3, issue 16: the item's Done is a call back's after-call work; a call back left
    processing (which back-office staff cannot save) is brought back to the item too."""
    on_item = step(AgentStatus.logged_in(T0), StartWork(Activity.BACKOFFICE), 1)
    working = step(on_item, StartWork(Activity.OUTBOUND), 2)
    back = step(working, CallBackEnded(), 3)
    assert (back.state, back.activity) == (AgentState.OFF_AIR, Activity.BACKOFFICE)
    stranded = step(working, CallEnded(), 3)
    assert stranded.activity is Activity.PROCESSING
    assert step(stranded, CallBackEnded(), 4).activity is Activity.BACKOFFICE
    assert transition(step(back, EndWork(), 5), LogOut(), t(6)) is None
    with pytest.raises(AgentStateError):
        step(on_air(), CallBackEnded(), 3)


def test_an_off_air_agent_cannot_be_offered_a_call() -> None:
    with pytest.raises(AgentStateError):
        transition(AgentStatus.logged_in(T0), Offered(), t(1))


events = st.lists(
    st.one_of(
        st.just(GoOnAir()),
        st.builds(Pause, st.integers(1, 9)),
        st.just(GoOffAir()),
        st.just(Offered()),
        st.builds(RingEnded, st.booleans(), st.none() | st.integers(1, 9)),
        st.just(Answered()),
        st.just(CallEnded()),
        st.just(Saved()),
        st.builds(StartWork, st.sampled_from([Activity.OUTBOUND, Activity.BACKOFFICE])),
        st.just(EndWork()),
        st.just(CallBackEnded()),
    ),
    max_size=50,
)


@given(events)
def test_only_an_on_air_idle_agent_is_ever_offered_a_call(seq: list[object]) -> None:
    status = AgentStatus.logged_in(T0)
    for i, event in enumerate(seq):
        before = status
        try:
            nxt = transition(status, event, t(i))  # type: ignore[arg-type]
        except AgentStateError:
            continue
        assert nxt is not None
        if isinstance(event, Offered):
            assert before.can_take_calls
        if nxt.activity in (Activity.IN_CALL, Activity.PROCESSING):
            assert nxt.state is AgentState.OFF_AIR
        status = nxt


@pytest.mark.parametrize(
    ("state", "activity", "on_air", "can_call_out"),
    [
        ("on_air", "idle", True, False),  # outbound calls are placed from off-air
        ("on_air", "ringing", True, False),
        ("off_air", "in_call", False, False),
        ("off_air", "processing", False, False),
        ("off_air", "outbound", False, False),  # one call out at a time
        ("off_air", "paused", False, True),
        ("off_air", "backoffice", False, True),
    ],
)
def test_desk_controls_follow_state_and_activity(
    state: str, activity: str, on_air: bool, can_call_out: bool
) -> None:
    controls = desk_controls(state, activity, pause_type_id=4)
    assert (controls.on_air, controls.can_call_out) == (on_air, can_call_out)
    assert controls.pause_type_id == (4 if activity == "paused" else None)
