"""Waiting costs the database almost nothing (R-1.5; issue 12): the waiting callers of a
process share one first-come-first-served matching per moment instead of each computing
the whole of it at every poll (O(N²) in all), and still go to agents in arrival order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import RingAttempt
from simulator.switch import CallerScript, PhoneBehaviour
from tests.support.e2e_world import make_e2e_world

SUPPORT = "222111001"
SALES = "222111002"
CALLERS = 30


def test_thirty_callers_waiting_a_minute_cost_a_few_transactions_each(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(db_url, tmp_path)
    for i in range(CALLERS):
        world.call(
            CallerScript(
                did=SUPPORT, caller_id_num=f"7770000{i:02d}", start_at_s=i * 0.1, talk_s=None
            )
        )
    world.run(20)
    assert [c["state"] for c in world.calls()] == ["waiting"] * CALLERS
    world.db.transactions.clear()
    world.run(60)
    spent = world.db.transactions
    assert spent["offer_next"] == 0  # each caller computing the whole matching: 1,200
    assert spent["read_offer_plan"] + spent["offer_plan"] <= 60  # about one a second, for all
    # With the heartbeat and the janitor (twelve a minute each, whatever the number of
    # callers): under three a minute per caller here, and fewer the more callers wait.
    assert sum(spent.values()) <= 3 * CALLERS, spent


def test_callers_sharing_a_matching_still_reach_agents_in_arrival_order(
    db_url: str, tmp_path: Path
) -> None:
    phones = {f"PJSIP/10{i}": PhoneBehaviour(answer_after_s=1, talk_s=30) for i in (1, 2, 3)}
    world = make_e2e_world(db_url, tmp_path, phones)
    for i in range(6):
        world.call(
            CallerScript(did=SUPPORT, caller_id_num=f"77700010{i}", start_at_s=i * 0.3, talk_s=None)
        )
    world.run(10)
    for login in ("eva", "jan", "petr"):
        world.log_in(login)
    world.run(10)
    states = [c["state"] for c in world.calls()]
    assert states == ["talking"] * 3 + ["waiting"] * 3  # the first three, no one overtaken


def _rung_after_s(world: Any) -> list[float]:
    """For each call that was rung: seconds from entering the queue to its first ring."""
    delays = []
    for call in world.calls():
        with Session(world.engine) as s:
            first = s.scalars(
                select(RingAttempt.started_at)
                .where(RingAttempt.call_id == call["id"])
                .order_by(RingAttempt.id)
            ).first()
        if first is not None:
            delays.append((first - call["queue_entered_at"]).total_seconds())
    return delays


def test_a_caller_entering_the_queue_while_an_agent_is_free_is_rung_at_once(
    db_url: str, tmp_path: Path
) -> None:
    """Issue 12: callers waiting elsewhere keep a matching fresh, but it was made before
    this caller came; the caller's own arrival plans afresh instead of waiting a poll."""
    phones = {f"PJSIP/10{i}": PhoneBehaviour(answer_after_s=15, talk_s=30) for i in (1, 2, 3)}
    world = make_e2e_world(db_url, tmp_path, phones)
    for i in range(4):  # nobody serves Sales: these wait and poll the whole time
        world.call(
            CallerScript(did=SALES, caller_id_num=f"77700020{i}", start_at_s=i * 0.25, talk_s=None)
        )
    world.run(3)
    for login in ("eva", "jan", "petr"):
        world.log_in(login)
    for at in (4.13, 5.37, 6.71):
        world.call(CallerScript(did=SUPPORT, caller_id_num="777000300", start_at_s=at, talk_s=None))
    world.run(10)
    delays = _rung_after_s(world)
    assert len(delays) == 3, delays
    assert max(delays) < 0.05, delays  # waiting for a poll took up to a second


def test_an_agent_going_on_air_is_offered_at_the_next_poll_not_a_matching_later(
    db_url: str, tmp_path: Path
) -> None:
    """Issue 12: the committed change (the agent on air) makes the next caller asking plan
    afresh, instead of reading a matching up to a second old that has nobody free."""
    phones = {"PJSIP/101": PhoneBehaviour(answer_after_s=15, talk_s=30)}
    world = make_e2e_world(db_url, tmp_path, phones)
    for i in range(3):
        world.call(
            CallerScript(did=SUPPORT, caller_id_num=f"77700040{i}", start_at_s=i * 0.3, talk_s=None)
        )
    world.run(5.45)
    on_air = world.now()
    world.log_in("eva")
    world.run(3)
    with Session(world.engine) as s:
        first = s.scalars(select(RingAttempt.started_at).order_by(RingAttempt.id)).first()
    assert first is not None
    assert (first - on_air).total_seconds() <= 1.0  # one poll at most (1 s in this world)
