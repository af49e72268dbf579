"""Waiting costs the database almost nothing (R-1.5; issue 12): the waiting callers of a
process share one first-come-first-served matching per moment instead of each computing
the whole of it at every poll (O(N²) in all), and still go to agents in arrival order."""

from __future__ import annotations

from pathlib import Path

from simulator.switch import CallerScript, PhoneBehaviour
from tests.support.e2e_world import make_e2e_world

SUPPORT = "222111001"
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
