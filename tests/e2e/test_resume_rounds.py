"""A Hotline server that needs a few seconds to come back still gets its waiting callers
(R-1.16): the shipped dialplan's resume chain tries again, with music on hold between the
rounds, before it gives the call to the fallback."""

from __future__ import annotations

from pathlib import Path

from simulator.switch import CallerScript, PhoneBehaviour
from tests.support.e2e_world import make_e2e_world

SUPPORT = "222111001"


def test_a_server_back_after_five_seconds_still_gets_the_call_with_its_waiting_start(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(
        db_url, tmp_path, {"PJSIP/101": PhoneBehaviour(answer_after_s=2, talk_s=10)}
    )
    sim_call = world.call(CallerScript(did=SUPPORT, talk_s=None))
    world.run(20)
    [call] = world.calls()
    assert call["state"] == "waiting"
    waiting_since = call["queue_entered_at"]

    world.servers[4573].kill()  # nothing listens now: every resume attempt fails at once
    world.run(5)
    world.start_server(4573, node="hotline-restarted")
    world.log_in("eva")
    world.run(40)

    [call] = world.calls()
    assert call["state"] == "answered"
    assert call["queue_entered_at"] == waiting_since
    assert world.attempts(call["id"]) == [("eva", "PJSIP/101", "answered", False)]
    record = sim_call.record
    assert record is not None
    steps = "\n".join(record.steps)
    assert "hotline-fallback" not in steps  # no ring group, no Asterisk voicemail
    assert any(  # music while the server was away
        step.startswith("hotline-resume,s,") and " MusicOnHold(" in step for step in record.steps
    )
    resumes = [run.status for run in record.agi_runs if run.url.endswith("/resume")]
    assert resumes[0] == "FAILURE" and resumes[-1] != "FAILURE"


def test_a_server_that_stays_away_hands_the_call_to_the_fallback_after_the_rounds(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(
        db_url, tmp_path, {"PJSIP/101": PhoneBehaviour(answer_after_s=2, talk_s=10)}
    )
    sim_call = world.call(CallerScript(did=SUPPORT, talk_s=None))
    world.run(20)
    world.servers[4573].kill()
    world.run(11)
    record = sim_call.record
    assert record is not None
    assert not any("hotline-fallback" in step for step in record.steps)  # still trying
    world.run(30)
    assert any(step.startswith("hotline-fallback,s,3 Dial(") for step in record.steps)
    resumes = [run.status for run in record.agi_runs if run.url.endswith("/resume")]
    assert resumes == ["FAILURE"] * 10  # 5 rounds of both servers (one server here)
