"""A caller is never dropped and a request never lost (R-1.16, R-7.3), end to end."""

from __future__ import annotations

from pathlib import Path

import pytest_twisted
from twisted.internet.defer import Deferred

from simulator.switch import CallerScript, PhoneBehaviour
from tests.support.e2e_world import NetworkKind, make_e2e_world
from voicemail.intake import import_spool

SUPPORT = "222111001"


@pytest_twisted.ensureDeferred
async def test_server_killed_mid_wait_the_call_resumes_and_reaches_an_agent(
    db_url: str, tmp_path: Path, network: NetworkKind
) -> None:
    world = make_e2e_world(
        db_url,
        tmp_path,
        {"PJSIP/101": PhoneBehaviour(answer_after_s=2, talk_s=10)},
        servers=(4573, 4574),
        network=network,
    )
    world.call(CallerScript(did=SUPPORT, talk_s=None))
    await world.run(30)
    [call] = world.calls()
    assert call["state"] == "waiting"
    waiting_since = call["queue_entered_at"]

    await world.servers[4573].kill()  # SIGKILL: no goodbye on the wire, nothing more written
    await world.run(5)
    [call] = world.calls()
    assert call["state"] == "waiting" and call["ended_at"] is None  # not closed as abandoned

    world.log_in("eva")
    await world.run(6)
    [call] = world.calls()
    assert call["state"] == "talking"  # the answer hook reached the second server at once
    await world.run(30)
    [call] = world.calls()
    assert call["state"] == "answered"
    assert call["queue_entered_at"] == waiting_since  # the original waiting start
    waited = (call["answered_at"] - waiting_since).total_seconds()
    assert waited > 35
    assert world.attempts(call["id"]) == [("eva", "PJSIP/101", "answered", False)]
    # The second server drove it: the first one was gone.
    assert world.servers[4574].factory.protocols


@pytest_twisted.ensureDeferred
async def test_server_restarted_on_the_same_port_resumes_the_call(
    db_url: str, tmp_path: Path, network: NetworkKind
) -> None:
    world = make_e2e_world(
        db_url, tmp_path, {"PJSIP/101": PhoneBehaviour(answer_after_s=2)}, network=network
    )
    world.call(CallerScript(did=SUPPORT, talk_s=None))
    await world.run(20)
    [call] = world.calls()
    assert call["state"] == "waiting"
    waiting_since = call["queue_entered_at"]
    killed = world.servers[4573]
    await killed.kill()
    # Back on the very same port before Asterisk retries (on TCP: the port the kernel gave).
    restarted = world.start_server(4573, node="hotline-restarted")
    assert restarted.port_number == killed.port_number
    world.log_in("eva")
    await world.run(40)
    [call] = world.calls()
    assert call["state"] == "answered"
    assert call["queue_entered_at"] == waiting_since  # the original waiting start
    assert [p.request.script for p in restarted.factory.protocols if p.request] == [
        "resume",
        "answered",
    ]


@pytest_twisted.ensureDeferred
async def test_no_server_at_all_the_dialplan_falls_back_to_a_ring_group(
    db_url: str, tmp_path: Path, network: NetworkKind
) -> None:
    world = make_e2e_world(
        db_url,
        tmp_path,
        {"PJSIP/101": PhoneBehaviour(answer_after_s=2, talk_s=10)},
        network=network,
    )
    await world.servers[4573].kill()
    sim_call = world.call(CallerScript(did=SUPPORT, talk_s=None))
    await world.run(60)
    record = sim_call.record
    assert record is not None
    lines = "\n".join(str(entry) for entry in record.lines)
    assert "hotline-fallback" in lines
    assert "PJSIP/101" in lines  # the fallback group answered
    assert world.calls() == []  # Hotline never saw it


@pytest_twisted.ensureDeferred
async def test_database_down_when_the_caller_presses_zero_request_imported_later(
    db_url: str, tmp_path: Path, network: NetworkKind
) -> None:
    world = make_e2e_world(db_url, tmp_path, network=network)
    world.call(CallerScript(did=SUPPORT, caller_id_num="777123456", keys=((20.0, "0"),)))
    await world.run(10)
    world.db.go_down(tmp_path)
    await world.run(50)
    spooled = list(world.servers[4573].ctx.spool.entries())
    assert len(spooled) == 1 and spooled[0][1] is not None
    assert spooled[0][1].kind == "callback" and spooled[0][1].caller_number == "777123456"
    world.db.come_back()
    assert world.items() == []
    imported: list[tuple[int, int]] = []
    Deferred.fromCoroutine(import_spool(world.db, world.servers[4573].ctx.spool)).addCallback(
        imported.append
    )
    assert imported == [(1, 0)]  # the database work runs inline: done at once
    [item] = world.items()
    assert (item["kind"], item["caller"]) == ("callback", "777123456")
    [call] = world.calls()
    assert call["state"] == "callback"  # closed by the import, as the flow could not
    assert list(world.servers[4573].ctx.spool.entries()) == []
