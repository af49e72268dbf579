"""Calls whose Hotline server is gone (R-1.16, R-7.6): heartbeats keep a running call alive on
whichever server runs it; one nobody runs any more is closed and its agent freed, so that
the agent is not left "in a call" for ever (R-2.1, R-2.12)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Call
from dialplan.store import janitor
from simulator.switch import CallerScript, PhoneBehaviour
from tests.e2e.test_outbound import CUSTOMER_LINE, answers, place, world_with
from tests.support.e2e_world import E2EWorld, make_e2e_world

SUPPORT = "222111001"


def cause_of(world: E2EWorld, call_id: int) -> str:
    with Session(world.engine) as s:
        return str(s.scalar(select(Call.hangup_cause).where(Call.id == call_id)))


def test_a_call_whose_server_died_mid_conversation_is_closed_and_the_agent_can_save(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(
        db_url,
        tmp_path,
        {"PJSIP/101": PhoneBehaviour(answer_after_s=2, talk_s=None)},
        servers=(4573, 4574),
    )
    world.log_in("eva")
    world.call(CallerScript(did=SUPPORT, talk_s=600))
    world.run(30)
    [call] = world.calls()
    assert call["state"] == "talking"
    world.servers[4573].kill()
    # Its server is gone and nobody touches the row, but Asterisk goes on with the Dial
    # a dead server started: until the stale time has passed, the call is left alone (the
    # resume after the conversation tells what happened).
    world.run(120)
    assert world.calls()[0]["state"] == "talking"
    assert world.agent_state("eva")[1] == "in_call"
    world.run(120)
    [call] = world.calls()
    assert call["state"] == "answered" and call["ended_at"] is not None
    assert cause_of(world, call["id"]) == janitor.LOST
    assert world.agent_state("eva")[1] == "processing"  # the form can be saved now


def test_a_long_conversation_on_a_live_server_is_never_closed(db_url: str, tmp_path: Path) -> None:
    phones = {"PJSIP/101": PhoneBehaviour(answer_after_s=2, talk_s=None)}
    world = make_e2e_world(db_url, tmp_path, phones)
    world.log_in("eva")
    world.call(CallerScript(did=SUPPORT, talk_s=900))
    world.run(600)  # ten minutes, far beyond the stale time
    [call] = world.calls()
    assert call["state"] == "talking"
    assert world.agent_state("eva")[1] == "in_call"


def test_a_waiting_call_whose_server_died_is_closed_once_it_cannot_come_back(
    db_url: str, tmp_path: Path
) -> None:
    """Closed as soon as the dialplan's resume window has passed (issue 10, defect 2), not
    minutes later; never while a restarted server could still get it back."""
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": PhoneBehaviour(answer_after_s=2)})
    world.call(CallerScript(did=SUPPORT, talk_s=None, hangup_at_s=120))  # nobody on air
    world.run(20)
    [call] = world.calls()
    assert call["state"] == "waiting"
    world.servers[4573].kill()
    # Asterisk knows no other server: the caller goes to the dialplan's plain fallback.
    # A server started elsewhere (another node) finds the row nobody runs.
    world.start_server(4574, node="hotline-b")
    world.run(janitor.RESUME_WINDOW_S)
    assert world.calls()[0]["state"] == "waiting"  # a resume may still come
    world.run(janitor.orphan_after_s() - janitor.RESUME_WINDOW_S + janitor.HEARTBEAT_INTERVAL_S)
    [call] = world.calls()
    assert call["state"] == "fallback"
    assert cause_of(world, call["id"]) == janitor.LOST


def test_an_outbound_call_nobody_runs_any_more_is_closed_and_its_agent_processes_it(
    db_url: str, tmp_path: Path
) -> None:
    """The e2e world's kill lets a flow see its channel close (a real SIGKILL does not), so
    here the server that runs the call simply stops beating, as a frozen process would."""
    world = world_with(
        db_url,
        tmp_path,
        {"PJSIP/101": PhoneBehaviour(answer_after_s=2, talk_s=None), CUSTOMER_LINE: answers(3)},
    )
    place(world, world.connect_ami(), "777123456")
    world.run(20)
    [call] = world.calls()
    assert call["state"] == "talking" and world.agent_state("eva")[1] == "outbound"
    world.servers[4573].janitor.stopService()  # frozen: it beats no more
    world.start_server(4574, node="hotline-b")
    world.run(240)
    [call] = world.calls()
    assert call["state"] == "answered" and call["ended_at"] is not None
    assert cause_of(world, call["id"]) == janitor.LOST
    assert world.agent_state("eva")[1] == "processing"
    # When the stuck flow finally ends the call, nothing changes any more.
    world.run(600)
    assert world.calls()[0]["ended_at"] == call["ended_at"]
    assert world.agent_state("eva")[1] == "processing"
