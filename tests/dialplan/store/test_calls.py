"""Call records, offers and agent sessions in the database (R-1.3, R-1.4, R-1.15, R-2.1)."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from agent_desktop.agent_state import AgentStateError, LogOut, Pause
from agent_desktop.store import agent_sessions
from db.events import events_after
from db.models import AgentStateChange, Call, PauseRecord, RingAttempt
from dialplan.store import calls
from domain.enums import CallState, Direction, RingOutcome
from tests.support.centre import build_agents_centre, log_in_on_air
from tests.support.time import T0, t


def new_call(session: Session, uniqueid: str, queue_id: int, at: datetime) -> int:
    view = calls.open_call(
        session, uniqueid=uniqueid, direction=Direction.INBOUND, now=at, caller_number="777123456"
    )
    calls.enter_queue(session, view.id, queue_id, at, keep_waiting_start=False)
    return view.id


def test_a_whole_answered_call(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        centre = build_agents_centre(s)
        log_in_on_air(s, centre, "eva", T0)
        call_id = new_call(s, "1.1", centre.support, t(1))
        offer = calls.offer(s, call_id, centre.agents["eva"], t(2))
        assert offer is not None and offer.dial_string == "PJSIP/101"
        view = calls.answered(s, offer.attempt_id, t(9))
        assert view.state == "talking" and view.agent_id == centre.agents["eva"]
        assert agent_sessions.open_session_row(s, centre.agents["eva"]).activity.value == "in_call"
        done = calls.close_call(s, call_id, CallState.ANSWERED, t(100))
        assert done.state == "answered" and done.ended_at == t(100)
        row = agent_sessions.open_session_row(s, centre.agents["eva"])
        assert (row.state.value, row.activity.value) == ("off_air", "processing")
        stored = s.get(Call, call_id)
        assert stored.within_service_level and stored.reached  # answered 8 s after queue entry
        kinds = [e.kind for e in events_after(s, 0)]
        assert kinds.count("call.answered") == 1 and kinds[-1] == "call.ended"


def test_an_agent_who_is_not_free_is_not_offered(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        centre = build_agents_centre(s)
        log_in_on_air(s, centre, "eva", T0)
        agent_sessions.apply_event(s, centre.agents["eva"], Pause(centre.missed_pause), t(1))
        call_id = new_call(s, "1.1", centre.support, t(2))
        assert calls.offer(s, call_id, centre.agents["eva"], t(3)) is None
        assert calls.offer(s, call_id, centre.agents["jan"], t(3)) is None  # not logged in
        assert calls.free_agents(s) == []


def test_ring_out_pauses_the_agent_with_missed_call_and_the_call_waits_again(
    engine: Engine,
) -> None:
    with Session(engine) as s, s.begin():
        centre = build_agents_centre(s)
        log_in_on_air(s, centre, "eva", T0)
        log_in_on_air(s, centre, "jan", t(5))
        call_id = new_call(s, "1.1", centre.support, t(10))
        offer = calls.offer(s, call_id, centre.agents["eva"], t(11))
        calls.end_offer(
            s,
            offer.attempt_id,
            RingOutcome.NO_ANSWER,
            t(31),
            missed=True,
            missed_pause_type_id=centre.missed_pause,
        )
        assert calls.get_call(s, call_id).state == "waiting"
        eva = agent_sessions.open_session_row(s, centre.agents["eva"])
        assert (eva.state.value, eva.pause_type_id) == ("off_air", centre.missed_pause)
        assert s.scalar(select(func.count()).select_from(PauseRecord)) == 1
        [waiting] = calls.waiting_calls(s)
        assert waiting.tried_agent_ids == {centre.agents["eva"]}
        assert [a.agent_id for a in calls.free_agents(s)] == [centre.agents["jan"]]


def test_closing_a_ringing_call_frees_the_agent_without_blame(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        centre = build_agents_centre(s)
        log_in_on_air(s, centre, "eva", T0)
        call_id = new_call(s, "1.1", centre.support, t(1))
        calls.offer(s, call_id, centre.agents["eva"], t(2))
        calls.close_call(s, call_id, CallState.ABANDONED_RINGING, t(5), cause="16")
        attempt = s.scalars(select(RingAttempt)).one()
        assert attempt.outcome is RingOutcome.CALLER_HUNG_UP
        eva = agent_sessions.open_session_row(s, centre.agents["eva"])
        assert (eva.state.value, eva.activity.value) == ("on_air", "idle")
        assert eva.idle_since == T0  # keeps their place in the longest-idle order


def test_resuming_finds_the_same_call_and_keeps_the_waiting_start(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        centre = build_agents_centre(s)
        call_id = new_call(s, "1.1", centre.support, t(1))
        again = calls.open_call(s, uniqueid="1.1", direction=Direction.INBOUND, now=t(60))
        assert again.id == call_id
        view = calls.enter_queue(s, call_id, centre.support, t(61), keep_waiting_start=True)
        assert view.queue_entered_at == t(1)


def test_a_final_state_is_final(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        centre = build_agents_centre(s)
        call_id = new_call(s, "1.1", centre.support, t(1))
        calls.close_call(s, call_id, CallState.ABANDONED_QUEUE, t(2))
        assert calls.close_call(s, call_id, CallState.ANSWERED, t(3)).state == "abandoned_queue"
        log_in_on_air(s, centre, "eva", t(4))
        assert calls.offer(s, call_id, centre.agents["eva"], t(5)) is None


def test_seat_rules(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        centre = build_agents_centre(s)
        eva, jan = centre.agents["eva"], centre.agents["jan"]
        agent_sessions.log_in(s, eva, centre.seats["eva"], T0)
        with pytest.raises(agent_sessions.SeatError, match="already logged in at seat 101"):
            agent_sessions.log_in(s, eva, centre.seats["jan"], t(1))
        with pytest.raises(agent_sessions.SeatError, match="taken"):
            agent_sessions.log_in(s, jan, centre.seats["eva"], t(1))
        # logging in again at the same seat is harmless
        assert agent_sessions.log_in(s, eva, centre.seats["eva"], t(2)).seat_name == "101"
        assert agent_sessions.apply_event(s, eva, LogOut(), t(3)) is None
        assert agent_sessions.log_in(s, jan, centre.seats["eva"], t(4)).seat_name == "101"
        assert s.scalar(select(func.count()).select_from(AgentStateChange)) >= 3


def test_logout_is_refused_during_a_call(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        centre = build_agents_centre(s)
        log_in_on_air(s, centre, "eva", T0)
        call_id = new_call(s, "1.1", centre.support, t(1))
        offer = calls.offer(s, call_id, centre.agents["eva"], t(2))
        calls.answered(s, offer.attempt_id, t(3))
        with pytest.raises(AgentStateError, match="cannot log out during a call"):
            agent_sessions.apply_event(s, centre.agents["eva"], LogOut(), t(4))


def _race(engine: Engine, work: list[tuple[int, int]]) -> list[object]:
    """Run each (call, agent) offer in its own thread and transaction, all at once."""
    make = sessionmaker(engine)
    barrier = threading.Barrier(len(work))
    results: list[object] = [None] * len(work)

    def run(i: int, call_id: int, agent_id: int) -> None:
        barrier.wait()
        try:
            with make.begin() as s:
                results[i] = calls.offer(s, call_id, agent_id, t(10))
        except Exception as exc:  # the assertion below reports it
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, c, a)) for i, (c, a) in enumerate(work)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    return results


def test_two_processes_offering_one_agent_at_once_only_one_wins(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        centre = build_agents_centre(s)
        log_in_on_air(s, centre, "eva", T0)
        first = new_call(s, "1.1", centre.support, t(1))
        second = new_call(s, "1.2", centre.support, t(2))
    eva = centre.agents["eva"]
    results = _race(engine, [(first, eva), (second, eva)])
    assert not any(isinstance(r, Exception) for r in results), results
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    with Session(engine) as s:
        live = s.scalars(select(RingAttempt).where(RingAttempt.outcome == "ringing")).all()
        assert [a.agent_id for a in live] == [eva]
        states = sorted(s.scalars(select(Call.state)).all())
        assert states == [CallState.RINGING, CallState.WAITING]


def test_many_concurrent_offers_never_ring_an_agent_twice(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        centre = build_agents_centre(s, logins=("a1", "a2", "a3"))
        for login in ("a1", "a2", "a3"):
            log_in_on_air(s, centre, login, T0)
        call_ids = [new_call(s, f"2.{i}", centre.support, t(i)) for i in range(6)]
    agents = list(centre.agents.values())
    work = [(c, agents[i % 3]) for i, c in enumerate(call_ids)]
    results = _race(engine, work)
    assert not any(isinstance(r, Exception) for r in results), results
    winners = [r for r in results if r is not None]
    assert sorted(w.agent_id for w in winners) == sorted(agents)
