"""Transfers from the desktop end to end (R-1.12): Hotline's AMI client redirects the caller's
channel on the simulated switch, the old AGI session lets go, the ``transfer`` script serves
the call in its new queue, and the agents see who sent it (R-2.5)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from db.models import Call, Queue, Recording
from dialplan.services.transfers import transfer_call
from dialplan.store.transfers import TransferError, settle_transfer
from domain.enums import CallState
from simulator.switch import CallerScript, PhoneBehaviour
from tests.support.e2e_world import E2EWorld, make_e2e_world, notices

SUPPORT = "222111001"
NEVER = PhoneBehaviour(answer_after_s=None)


def answers(after_s: float = 2, talk_s: float | None = 30) -> PhoneBehaviour:
    return PhoneBehaviour(answer_after_s=after_s, talk_s=talk_s)


def outcome(d: Deferred[Any]) -> Any:
    """What a Deferred the world's clock has run fired with (a Failure is returned)."""
    results: list[Any] = []
    d.addBoth(results.append)
    assert results, "not finished"
    return results[0]


def legs(world: E2EWorld) -> list[dict[str, Any]]:
    """Every call record with the transfer columns, oldest first."""
    with Session(world.engine) as s:
        return [
            {
                "id": c.id,
                "uniqueid": c.uniqueid,
                "state": c.state.value,
                "queue": c.queue_id,
                "agent": c.agent_id,
                "from_queue": c.transferred_from_queue_id,
                "by_agent": c.transferred_by_agent_id,
                "preferred": c.preferred_agent_id,
                "queue_entered_at": c.queue_entered_at,
                "answered_at": c.answered_at,
                "ended_at": c.ended_at,
                "processing": c.processing_state.value,
                "channel": c.channel,
            }
            for c in s.scalars(select(Call).order_by(Call.id))
        ]


def queue_id(world: E2EWorld, code: str) -> int:
    with Session(world.engine) as s:
        return int(s.scalar(select(Queue.id).where(Queue.code == code)))


def transfer(world: E2EWorld, ami: Any, login: str, call_id: int, target: str) -> Deferred[Any]:
    return Deferred.fromCoroutine(
        transfer_call(
            ami,
            world.db,
            world.clock,
            agent_id=world.agent_id(login),
            call_id=call_id,
            target=target,
        )
    )


def talking_with_eva(world: E2EWorld) -> dict[str, Any]:
    world.call(CallerScript(did=SUPPORT, caller_id_num="777123456", talk_s=None))
    world.run(10)
    [call] = legs(world)
    assert call["state"] == "talking" and call["agent"] == world.agent_id("eva")
    assert call["channel"].startswith("PJSIP/trunk-")  # what the transfer redirects
    return call


def test_transfer_to_another_queue_answered_there_with_a_new_waiting_start(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(
        db_url, tmp_path, {"PJSIP/101": answers(2, None), "PJSIP/104": answers(3, 30)}
    )
    ami = world.connect_ami()
    world.log_in("eva")
    world.log_in("olga")  # Sales only
    first = talking_with_eva(world)
    world.run(20)  # they talk a while
    transferred_at = world.now()
    done = transfer(world, ami, "eva", first["id"], f"queue-{queue_id(world, 'SALES')}")
    world.run(1)
    assert outcome(done).exten == "sales"
    # The first leg is over for eva, who processes it now; the caller waits in Sales.
    old, new = legs(world)
    assert (old["state"], old["agent"], old["processing"]) == (
        "transferred",
        world.agent_id("eva"),
        "pending",
    )
    assert old["uniqueid"] == f"{first['uniqueid']}/t{old['id']}"
    assert world.agent_state("eva") == ("off_air", "processing", None)
    assert new["uniqueid"] == first["uniqueid"] and new["channel"] == first["channel"]
    assert new["queue"] == queue_id(world, "SALES")
    assert new["from_queue"] == queue_id(world, "SUPPORT")
    assert new["by_agent"] == world.agent_id("eva") and new["preferred"] is None
    # waiting counts from the transfer, not from the first queue entry.
    assert abs(new["queue_entered_at"] - transferred_at) < timedelta(seconds=1)
    world.run(10)
    _, new = legs(world)
    assert new["state"] == "talking" and new["agent"] == world.agent_id("olga")
    waited = (new["answered_at"] - new["queue_entered_at"]).total_seconds()
    assert 3 <= waited < 5  # olga's phone rang 3 s; the 30 s with eva do not count
    assert world.attempts(new["id"]) == [("olga", "PJSIP/104", "answered", False)]
    # olga's status line: "transferred from queue Technical support by Eva Novakova"
    incoming = [n for n in notices(world, "olga") if n["notice"] == "incoming"]
    assert [(n["from_queue"], n["by_agent"], n["queue"]) for n in incoming] == [
        ("Technical support", "Eva Novakova", "Sales")
    ]
    assert incoming[0]["waiting_s"] < 2
    world.run(40)  # olga's phone hangs up after 30 s
    old, new = legs(world)
    assert (old["state"], new["state"]) == ("transferred", "answered")
    assert world.agent_state("olga") == ("off_air", "processing", None)
    # Each leg has its own recording, the first one ended at the transfer.
    with Session(world.engine) as s:
        recordings = {r.call_id: r for r in s.scalars(select(Recording))}
    assert set(recordings) == {old["id"], new["id"]}
    assert recordings[old["id"]].path != recordings[new["id"]].path
    # MixMonitor of the first leg stopped at the transfer (30 s in), not with the call.
    assert 28 <= world.wav_seconds(recordings[old["id"]].path) <= 31
    assert world.wav_seconds(recordings[new["id"]].path) >= 30


def test_transfer_to_a_preferred_agent_rings_that_agent_first(db_url: str, tmp_path: Path) -> None:
    world = make_e2e_world(
        db_url,
        tmp_path,
        {"PJSIP/101": answers(2, None), "PJSIP/102": answers(2), "PJSIP/103": answers(2)},
    )
    ami = world.connect_ami()
    world.log_in("eva")
    world.run(1)
    world.log_in("petr")  # idle longer than jan: the queue alone would ring petr
    world.run(1)
    world.log_in("jan")
    first = talking_with_eva(world)
    done = transfer(world, ami, "eva", first["id"], f"agent-{world.agent_id('jan')}")
    world.run(10)
    assert outcome(done).exten == f"agent-{world.agent_id('jan')}"
    _, new = legs(world)
    assert new["preferred"] == world.agent_id("jan")
    assert new["queue"] == queue_id(world, "SUPPORT")
    assert world.attempts(new["id"]) == [("jan", "PJSIP/102", "answered", False)]
    assert world.agent_state("petr") == ("on_air", "idle", None)
    [incoming] = [n for n in notices(world, "jan") if n["notice"] == "incoming"]
    assert (incoming["from_queue"], incoming["by_agent"]) == ("Technical support", "Eva Novakova")


def test_preferred_agent_off_air_meanwhile_the_call_goes_to_the_queue(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(
        db_url,
        tmp_path,
        {"PJSIP/101": answers(2, None), "PJSIP/102": answers(2), "PJSIP/103": answers(2)},
    )
    ami = world.connect_ami()
    world.log_in("eva")
    world.log_in("jan")
    world.log_in("petr")
    first = talking_with_eva(world)
    done = transfer(world, ami, "eva", first["id"], f"agent-{world.agent_id('jan')}")
    world.pause("jan", 1)  # jan takes a pause before the transfer reaches Asterisk
    world.run(10)
    assert not isinstance(outcome(done), Failure)
    _, new = legs(world)
    assert new["preferred"] is None and new["queue"] == queue_id(world, "SUPPORT")
    assert world.attempts(new["id"]) == [("petr", "PJSIP/103", "answered", False)]


def test_preferred_agent_already_off_air_at_the_click_the_call_goes_to_their_queue(
    db_url: str, tmp_path: Path
) -> None:
    """R-1.12: the dialog listed olga (Sales only) on air, but she paused before eva
    clicked: the call is redirected to Sales without preference, and the plan says so
    (the dialog tells eva)."""
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": answers(2, None)})
    ami = world.connect_ami()
    world.log_in("eva")
    world.log_in("olga")
    world.pause("olga", 1)
    first = talking_with_eva(world)
    done = transfer(world, ami, "eva", first["id"], f"agent-{world.agent_id('olga')}")
    world.run(5)
    plan = outcome(done)
    assert not isinstance(plan, Failure), plan
    assert (plan.exten, plan.to_queue) == ("sales", "Sales") and plan.off_air_agent
    old, new = legs(world)
    assert old["state"] == "transferred"
    assert (new["queue"], new["preferred"], new["state"]) == (
        queue_id(world, "SALES"),
        None,
        "waiting",
    )
    assert world.agent_state("olga")[:2] == ("off_air", "paused")  # nobody rang her


def test_a_preferred_agent_who_lets_it_ring_out_loses_the_preference(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(
        db_url,
        tmp_path,
        {"PJSIP/101": answers(2, None), "PJSIP/102": NEVER, "PJSIP/103": answers(2)},
    )
    ami = world.connect_ami()
    world.log_in("eva")
    world.log_in("jan")
    world.log_in("petr")
    first = talking_with_eva(world)
    transfer(world, ami, "eva", first["id"], f"agent-{world.agent_id('jan')}")
    world.run(40)
    _, new = legs(world)
    assert world.attempts(new["id"]) == [
        ("jan", "PJSIP/102", "no_answer", False),
        ("petr", "PJSIP/103", "answered", False),
    ]
    assert world.agent_state("jan") == ("off_air", "paused", "Missed call")


def test_a_transferred_call_can_be_transferred_again(db_url: str, tmp_path: Path) -> None:
    world = make_e2e_world(
        db_url,
        tmp_path,
        {"PJSIP/101": answers(2, None), "PJSIP/104": answers(2, None), "PJSIP/102": answers(2)},
    )
    ami = world.connect_ami()
    world.log_in("eva")
    world.log_in("olga")
    first = talking_with_eva(world)
    transfer(world, ami, "eva", first["id"], f"queue-{queue_id(world, 'SALES')}")
    world.run(10)
    world.log_in("jan")
    second = legs(world)[1]
    assert second["state"] == "talking" and second["agent"] == world.agent_id("olga")
    # The second transfer lands in the same [hotline-transfer] context: only the marker
    # variable tells the old session it was moved.
    done = transfer(world, ami, "olga", second["id"], f"queue-{queue_id(world, 'SUPPORT')}")
    world.run(10)
    assert not isinstance(outcome(done), Failure)
    one, two, three = legs(world)
    assert (one["state"], two["state"], three["state"]) == ("transferred", "transferred", "talking")
    assert three["uniqueid"] == first["uniqueid"]
    assert (three["from_queue"], three["by_agent"], three["agent"]) == (
        queue_id(world, "SALES"),
        world.agent_id("olga"),
        world.agent_id("jan"),
    )
    assert world.agent_state("olga") == ("off_air", "processing", None)
    # The caller hangs up at last: the live leg ends answered, the others stay transferred.
    [caller] = [c for c in world.switch.channels_by_name.values() if c.name.startswith("PJSIP/t")]
    world.switch.hangup(caller.name, 16)
    world.run(5)
    assert [c["state"] for c in legs(world)] == ["transferred", "transferred", "answered"]


def test_a_caller_gone_before_the_redirect_is_refused_and_the_call_ends_answered(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": answers(2, None)})
    ami = world.connect_ami()
    world.log_in("eva")
    first = talking_with_eva(world)
    # The caller hangs up at the moment eva clicks: the database still says "talking",
    # but Asterisk has no such channel any more and refuses the AMI actions.
    world.switch.hangup(first["channel"], 16)
    done = transfer(world, ami, "eva", first["id"], f"queue-{queue_id(world, 'SALES')}")
    world.run(3)
    failure = outcome(done)
    assert isinstance(failure, Failure) and failure.check(TransferError)
    world.run(10)
    [call] = legs(world)
    assert call["state"] == "answered"
    assert world.agent_state("eva") == ("off_air", "processing", None)


def test_a_redirect_nobody_takes_over_is_settled_so_the_agent_is_free(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": answers(2, None)})
    world.log_in("eva")
    first = talking_with_eva(world)
    # As if the caller vanished between the redirect and the transfer session.
    settled = world.db.run_sync(settle_transfer, first["id"], world.now(), CallState.TRANSFERRED)
    assert settled is True
    [call] = legs(world)
    assert call["state"] == "transferred"
    assert world.agent_state("eva") == ("off_air", "processing", None)
    again = world.db.run_sync(settle_transfer, first["id"], world.now(), CallState.TRANSFERRED)
    assert again is False


@pytest.mark.parametrize("target", ["queue-999", "agent-999", "nonsense", "queue-x"])
def test_a_transfer_to_nowhere_is_refused_and_the_call_stays(
    db_url: str, tmp_path: Path, target: str
) -> None:
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": answers(2, None)})
    ami = world.connect_ami()
    world.log_in("eva")
    first = talking_with_eva(world)
    done = transfer(world, ami, "eva", first["id"], target)
    world.run(3)
    failure = outcome(done)
    assert isinstance(failure, Failure) and failure.check(TransferError)
    [call] = legs(world)
    assert call["state"] == "talking"
    assert world.agent_state("eva") == ("off_air", "in_call", None)
