"""What one whole inbound call costs the database (issue 12): a caller rung through to an
agent who answers, talks and hangs up is a handful of transactions, each step of the call
one, not a transaction per thing written."""

from __future__ import annotations

from pathlib import Path

from simulator.switch import CallerScript, PhoneBehaviour
from tests.support.e2e_world import make_e2e_world

SUPPORT = "222111001"
# The janitor's and the heartbeat's rounds: the process's, not the call's.
BACKGROUND = {"touch_calls", "close_stale_calls", "import_journal", "end_journalled_calls"}


def test_an_answered_call_costs_one_transaction_per_step(db_url: str, tmp_path: Path) -> None:
    world = make_e2e_world(
        db_url, tmp_path, {"PJSIP/101": PhoneBehaviour(answer_after_s=3, talk_s=30)}
    )
    world.log_in("eva")
    world.run(1)
    world.db.transactions.clear()
    world.db.writes.clear()
    world.call(CallerScript(did=SUPPORT, talk_s=None))
    world.run(60)
    [call] = world.calls()
    assert call["state"] == "answered"
    assert world.attempts(call["id"]) == [("eva", "PJSIP/101", "answered", False)]
    spent = {k: n for k, n in world.db.transactions.items() if k not in BACKGROUND}
    assert spent == {
        "open_call": 1,  # the call's row
        "did_route": 1,  # its DID and queue, one read (was two writes)
        "enter_queue": 1,  # into the queue, with its recording's row (was two)
        "read_offer_plan": 1,  # the matching
        "offer_planned": 1,  # the agent reserved, the ring opened
        "notify_agent": 1,  # "incoming call, waited mm:ss" on the agent's status line
        "answered": 1,  # the answer hook, at the moment of answer
        "end_conversation": 1,  # answer checked, recording's length, the end (was three)
    }
    writes = {k: n for k, n in world.db.writes.items() if k not in BACKGROUND}
    assert "did_route" not in writes and "read_offer_plan" not in writes
    # What the call left is whole: its recording has its length, the agent processes it.
    assert world.agent_state("eva") == ("off_air", "processing", None)
