"""Calls whose Hotline server is gone (R-1.16, R-7.6): heartbeats keep a running call alive on
whichever server runs it; one nobody runs any more is closed and its agent freed, so that
the agent is not left "in a call" for ever (R-2.1, R-2.12)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred

from db.models import Call
from dialplan.services.janitor import JanitorService
from dialplan.store import janitor
from simulator.switch import CallerScript, PhoneBehaviour
from tests.e2e.test_outbound import CUSTOMER_LINE, answers, place, world_with
from tests.support.e2e_world import E2EWorld, make_e2e_world

SUPPORT = "222111001"


def beat(world: E2EWorld, *dead: int) -> list[int]:
    """One heartbeat of every server still alive, as ``hotline serve`` runs it (its
    JanitorService, on the e2e world's Clock and inline database runner): touch its own
    running calls, then close the stale ones. ``dead``: servers that were killed."""
    closed: list[int] = []
    for port, server in world.servers.items():
        if port not in dead:
            janitor_service = JanitorService(
                world.db, world.clock, server.factory.running_uniqueids
            )
            done = Deferred.fromCoroutine(janitor_service.beat())
            assert done.called
            closed += done.result
    return closed


def run_beating(world: E2EWorld, seconds: int, *dead: int) -> list[int]:
    closed: list[int] = []
    for _ in range(int(seconds // janitor.HEARTBEAT_INTERVAL_S)):
        world.run(janitor.HEARTBEAT_INTERVAL_S)
        closed += beat(world, *dead)
    return closed


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
    closed = run_beating(world, 30)
    [call] = world.calls()
    assert call["state"] == "talking" and closed == []
    world.servers[4573].kill()
    # Its server is gone and nobody touches the row: until the stale time has passed,
    # it is left alone (a resume on another server would touch it again).
    closed = run_beating(world, 120, 4573)
    assert closed == [] and world.calls()[0]["state"] == "talking"
    assert world.agent_state("eva")[1] == "in_call"
    closed = run_beating(world, 120, 4573)
    assert closed == [call["id"]]
    [call] = world.calls()
    assert call["state"] == "answered" and call["ended_at"] is not None
    assert cause_of(world, call["id"]) == janitor.LOST
    assert world.agent_state("eva")[1] == "processing"  # the form can be saved now


def test_a_long_conversation_on_a_live_server_is_never_closed(db_url: str, tmp_path: Path) -> None:
    phones = {"PJSIP/101": PhoneBehaviour(answer_after_s=2, talk_s=None)}
    world = make_e2e_world(db_url, tmp_path, phones)
    world.log_in("eva")
    world.call(CallerScript(did=SUPPORT, talk_s=900))
    assert run_beating(world, 600) == []  # ten minutes, far beyond the stale time
    [call] = world.calls()
    assert call["state"] == "talking"
    assert world.agent_state("eva")[1] == "in_call"


def test_a_waiting_call_whose_server_died_goes_to_the_fallback_state(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": PhoneBehaviour(answer_after_s=2)})
    world.call(CallerScript(did=SUPPORT, talk_s=None, hangup_at_s=60))  # nobody on air
    world.run(20)
    [call] = world.calls()
    assert call["state"] == "waiting"
    world.servers[4573].kill()
    # Asterisk knows no other server: the caller goes to the dialplan's plain fallback.
    # A server started elsewhere later (another node) finds the row nobody runs.
    world.start_server(4574, node="hotline-b")
    closed = run_beating(world, 240, 4573)
    assert closed == [call["id"]]
    [call] = world.calls()
    assert call["state"] == "fallback"


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
    world.start_server(4574, node="hotline-b")
    assert run_beating(world, 240, 4573) == [call["id"]]
    [call] = world.calls()
    assert call["state"] == "answered" and call["ended_at"] is not None
    assert world.agent_state("eva")[1] == "processing"
    # When the stuck flow finally ends the call, nothing changes any more.
    world.run(600)
    assert world.calls()[0]["ended_at"] == call["ended_at"]
    assert world.agent_state("eva")[1] == "processing"
