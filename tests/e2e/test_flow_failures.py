"""A call flow that breaks -- not a hang-up -- still gives the call its final state (issue 3:
"every flow is wrapped once"; issue 4, R-1.15), frees the agent it rang, and never drops the
caller: the dialplan hands them to its plain fallback (a ring group, then Asterisk's
voicemail, R-1.16). The next caller is served. During a shutdown the call stays open for the
dialplan's resume.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from db.models import Call, VoicemailItem
from dialplan.flows.router import build_router
from simulator.switch import CallerScript, PhoneBehaviour
from tests.support.e2e_world import E2EWorld, make_e2e_world
from tests.support.full_disk import fill, small_disk

SUPPORT = "222111001"


class FailNextStatement:
    """Makes the database driver fail the next statement that starts with ``prefix``: the
    driver's own error class (``error``, a DB-API exception name), raised where the driver
    would, so it takes SQLAlchemy's real error path (rollback, ``sqlalchemy.exc.<error>``).
    An OperationalError reads as an outage to a waiting caller (it rides it out); any other
    kind is a fault."""

    def __init__(
        self,
        engine: Engine,
        prefix: str,
        error: str = "OperationalError",
        message: str = "disk I/O error",
    ) -> None:
        self.prefix = prefix.upper()
        self.error = error
        self.message = message
        self.armed = False
        self.fired = 0
        event.listen(engine, "before_cursor_execute", self)

    def __call__(
        self,
        conn: Any,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        if self.armed and statement.lstrip().upper().startswith(self.prefix):
            self.armed = False
            self.fired += 1
            raise getattr(conn.dialect.loaded_dbapi, self.error)(self.message)


def dialplan_lines(sim_call: Any) -> str:
    assert sim_call.record is not None, "the simulated call has not ended"
    return "\n".join(str(line) for line in sim_call.record.lines)


def causes(world: E2EWorld) -> list[tuple[str, str]]:
    with Session(world.engine) as s:
        return [(c.state.value, c.hangup_cause) for c in s.scalars(select(Call).order_by(Call.id))]


def test_an_agi_command_error_hands_the_caller_to_the_fallback_and_the_next_is_served(
    db_url: str, tmp_path: Path
) -> None:
    # The voicemail folder cannot be created (a file is in the way): RECORD FILE answers
    # "writefile", which the channel raises as an AGICommandError.
    (tmp_path / "recordings").mkdir()
    (tmp_path / "recordings" / "voicemail").write_text("not a folder")
    world = make_e2e_world(
        db_url, tmp_path, {"PJSIP/101": PhoneBehaviour(answer_after_s=2, talk_s=10)}
    )
    first = world.call(CallerScript(did=SUPPORT, keys=((5.0, "#"),), talk_s=None))
    world.run(40)
    [(state, cause)] = causes(world)
    assert state == "fallback"
    assert cause.startswith("AGICommandError") and "writefile" in cause
    assert first.ended.called
    lines = dialplan_lines(first)
    assert "hotline-fallback" in lines  # not dropped: the fallback group took the caller
    assert "/resume" not in lines  # straight there: no resume session, no music rounds

    world.log_in("eva")
    world.call(CallerScript(did=SUPPORT, caller_id_num="777000002", talk_s=None))
    world.run(60)
    assert [c["state"] for c in world.calls()] == ["fallback", "answered"]


def test_a_database_fault_while_an_agent_rings_frees_the_agent_and_the_caller_falls_back(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(
        db_url,
        tmp_path,
        {"PJSIP/101": PhoneBehaviour(answer_after_s=25), "PJSIP/102": PhoneBehaviour(2)},
    )
    fault = FailNextStatement(
        world.engine, "UPDATE ring_attempts", "IntegrityError", "CHECK constraint failed"
    )
    world.log_in("eva")
    world.call(CallerScript(did=SUPPORT, talk_s=None))
    world.run(5)
    [call] = world.calls()
    assert call["state"] == "ringing"
    fault.armed = True  # the ring-out's write of the attempt fails
    world.run(20)
    assert fault.fired == 1
    [(state, cause)] = causes(world)
    assert state == "fallback" and cause.startswith("IntegrityError")
    assert world.attempts(call["id"]) == [("eva", "PJSIP/101", "failed", False)]
    assert world.agent_state("eva") == ("on_air", "idle", None)  # not stuck ringing

    world.log_in("jan")
    world.call(CallerScript(did=SUPPORT, caller_id_num="777000002", talk_s=None))
    world.run(80)
    assert [c["state"] for c in world.calls()][1] == "answered"


def test_a_database_error_in_the_ivr_hands_the_caller_to_the_fallback(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": PhoneBehaviour(answer_after_s=2)})
    fault = FailNextStatement(world.engine, "INSERT INTO ivr_key_presses")
    fault.armed = True
    sim_call = world.call(CallerScript(did="222111000", keys=((1.0, "1"),)))
    world.run(20)
    assert fault.fired == 1
    [(state, cause)] = causes(world)
    assert state == "fallback" and "disk I/O error" in cause
    assert "hotline-fallback" in dialplan_lines(sim_call)


def test_a_failure_during_shutdown_leaves_the_call_for_resume(db_url: str, tmp_path: Path) -> None:
    world = make_e2e_world(
        db_url,
        tmp_path,
        {"PJSIP/101": PhoneBehaviour(answer_after_s=25), "PJSIP/102": PhoneBehaviour(2)},
    )
    # The flows as `hotline serve` runs them: told when the process is stopping
    # (HotlineServices.stop sets the flag the context reads).
    server = world.servers[4573]
    stopping = [False]
    server.factory.router = build_router(replace(server.ctx, stopping=lambda: stopping[0]))
    fault = FailNextStatement(
        world.engine, "UPDATE ring_attempts", "IntegrityError", "CHECK constraint failed"
    )
    world.log_in("eva")
    world.call(CallerScript(did=SUPPORT, talk_s=None))
    world.run(5)
    [call] = world.calls()
    waiting_since = call["queue_entered_at"]
    stopping[0] = True
    fault.armed = True
    world.run(20)  # eva's ring ends, its write fails: the session ends, the call stays open
    assert fault.fired == 1
    [call] = world.calls()
    assert call["state"] not in ("failed", "abandoned_ringing") and call["ended_at"] is None
    stopping[0] = False
    world.log_in("jan")
    world.run(60)
    [call] = world.calls()
    assert call["state"] == "answered"  # the resume chain brought the caller back
    assert call["queue_entered_at"] == waiting_since


def test_an_outbound_call_whose_flow_fails_ends_as_failed_and_releases_the_agent(
    db_url: str, tmp_path: Path
) -> None:
    from tests.e2e.test_outbound import CUSTOMER_LINE, outcome, place, world_with

    world = world_with(
        db_url,
        tmp_path,
        {"PJSIP/101": PhoneBehaviour(answer_after_s=2), CUSTOMER_LINE: PhoneBehaviour(3)},
    )
    ami = world.connect_ami()
    fault = FailNextStatement(world.engine, "INSERT INTO ring_attempts")
    fault.armed = True  # the customer's ring attempt cannot be written
    placed = place(world, ami, "777 123 456")
    world.run(20)
    outcome(placed)
    assert fault.fired == 1
    [(state, cause)] = causes(world)
    assert state == "failed" and cause.startswith("OperationalError")
    assert world.agent_state("eva")[1] != "outbound"  # released, can work again
    # Hotline told the dialplan it was done: Asterisk did not dial the customer by itself.
    steps = [step for record in world.switch.calls for step in record.steps]
    assert any("hotline-outbound" in step for step in steps)
    assert not any("Dial(PJSIP/${EXTEN}@${HOTLINE_TRUNK},60)" in step for step in steps)


def test_a_disk_filling_up_while_a_message_is_recorded_keeps_what_was_said(
    db_url: str, tmp_path: Path
) -> None:
    """Asterisk stops a recording it cannot write (`writefile`); the caller is not sent to
    the fallback as if nothing had happened: what the file holds is stored as their message,
    with their number, and they hear that it was saved."""
    with small_disk(tmp_path / "disk", size_mb=8) as disk:
        world = make_e2e_world(db_url, disk)  # nobody on air: the caller presses #
        caller = world.call(CallerScript(did=SUPPORT, keys=((5.0, "#"),), speech_s=20))
        world.run(12)  # recording
        free = fill(disk)
        world.run(30)
        free()
        world.run(300)
        [(state, _)] = causes(world)
        assert state == "voicemail"
        with Session(world.engine) as s:
            [item] = s.scalars(select(VoicemailItem)).all()
            assert item.caller_number and (disk / "recordings" / item.recording_path).exists()
        lines = dialplan_lines(caller)
        assert "hotline/message-saved" in lines and "hotline-fallback" not in lines
