"""First come, first served matching of waiting calls and free agents (R-1.3, R-1.5, R-1.6)."""

from __future__ import annotations

import random
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from dialplan.matching import FreeAgent, WaitingCall, can_serve, match, queue_position
from tests.support.time import T0


def call(cid: int, queue: int, waited_s: int, **kw: object) -> WaitingCall:
    return WaitingCall(cid, queue, T0 - timedelta(seconds=waited_s), **kw)  # type: ignore[arg-type]


def agent(aid: int, queues: set[int], idle_s: int) -> FreeAgent:
    return FreeAgent(aid, frozenset(queues), T0 - timedelta(seconds=idle_s))


def test_the_longest_waiting_call_gets_the_longest_idle_member() -> None:
    calls = [call(1, 10, 30), call(2, 10, 90)]
    agents = [agent(7, {10}, 5), agent(8, {10}, 600), agent(9, {20}, 9999)]
    assert match(calls, agents, random.Random(1)) == {2: 8, 1: 7}


def test_a_call_waits_when_no_member_is_free() -> None:
    assert match([call(1, 10, 30)], [agent(9, {20}, 100)], random.Random(1)) == {}


def test_an_overflowed_call_may_take_an_agent_of_another_queue() -> None:
    offers = match([call(1, 10, 300, overflowed=True)], [agent(9, {20}, 1)], random.Random(1))
    assert offers == {1: 9}


def test_overflow_picks_at_random_among_all_free_agents() -> None:
    agents = [agent(a, {20}, 10) for a in range(1, 6)]
    chosen = {
        match([call(1, 10, 300, overflowed=True)], agents, random.Random(seed))[1]
        for seed in range(60)
    }
    assert chosen == {1, 2, 3, 4, 5}


def test_escalation_prefers_an_agent_the_call_has_not_rung() -> None:
    agents = [agent(7, {10}, 900), agent(8, {10}, 5)]
    offers = match([call(1, 10, 60, tried_agent_ids=frozenset({7}))], agents, random.Random(1))
    assert offers == {1: 8}
    # ...but rings them again rather than leave the caller waiting with a free agent
    offers = match([call(1, 10, 60, tried_agent_ids=frozenset({7}))], agents[:1], random.Random(1))
    assert offers == {1: 7}


def test_a_transferred_call_waits_for_its_preferred_agent_only() -> None:
    transferred = call(1, 10, 5, preferred_agent_id=8)
    assert match([transferred], [agent(7, {10}, 900)], random.Random(1)) == {}
    assert match([transferred], [agent(7, {10}, 900), agent(8, {20}, 1)], random.Random(1)) == {
        1: 8
    }


def test_queue_position_counts_calls_of_the_same_queue() -> None:
    calls = [call(1, 10, 30), call(2, 20, 90), call(3, 10, 60)]
    assert queue_position(calls, 1) == 2
    assert queue_position(calls, 3) == 1
    assert queue_position(calls, 99) is None


calls_st = st.lists(
    st.builds(
        lambda cid, q, w, o: call(cid, q, w, overflowed=o),
        st.integers(1, 10_000),
        st.integers(1, 3),
        st.integers(0, 3600),
        st.booleans(),
    ),
    max_size=25,
    unique_by=lambda c: c.call_id,
)
agents_st = st.lists(
    st.builds(
        lambda aid, qs, idle: agent(aid, qs, idle),
        st.integers(1, 500),
        st.sets(st.integers(1, 3), max_size=3),
        st.integers(0, 3600),
    ),
    max_size=15,
    unique_by=lambda a: a.agent_id,
)


@given(calls_st, agents_st, st.integers(0, 2**32))
def test_matching_invariants(calls: list[WaitingCall], agents: list[FreeAgent], seed: int) -> None:
    offers = match(calls, agents, random.Random(seed))
    by_id = {a.agent_id: a for a in agents}
    calls_by_id = {c.call_id: c for c in calls}
    # never two calls at one agent
    assert len(set(offers.values())) == len(offers)
    # only free agents who may serve the call
    for cid, aid in offers.items():
        assert aid in by_id and can_serve(by_id[aid], calls_by_id[cid])
    # nobody overtakes: a call left waiting could not have used any agent given to a later call
    for waiting in (c for c in calls if c.call_id not in offers):
        for cid, aid in offers.items():
            later = calls_by_id[cid]
            if (later.waiting_since, later.call_id) > (waiting.waiting_since, waiting.call_id):
                assert not can_serve(by_id[aid], waiting)
    # no agent left idle while a call they could serve waits
    idle = [a for a in agents if a.agent_id not in offers.values()]
    for waiting in (c for c in calls if c.call_id not in offers):
        assert not any(can_serve(a, waiting) for a in idle)
