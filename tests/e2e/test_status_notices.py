"""The agent's live status line end to end (R-2.5): the ``agent.notice`` events the real
call flow writes, over the AGI wire, for the agent concerned and nobody else.

The pure state machine (tests/dialplan/test_escalation.py) and the rendering are tested on
their own; here the flow, the database's "is someone else free?" check and the notices meet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator.switch import CallerScript, PhoneBehaviour
from tests.support.e2e_world import E2EWorld, make_e2e_world, notices

SUPPORT = "222111001"
MAIN_LINE = "222111000"  # the IVR: 1 = Technical support
QUEUE = "Technical support"
NEVER = PhoneBehaviour(answer_after_s=None)


def answers(after_s: float = 3, talk_s: float | None = 30) -> PhoneBehaviour:
    return PhoneBehaviour(answer_after_s=after_s, talk_s=talk_s)


def kinds(world: E2EWorld, login: str) -> list[str]:
    return [n["notice"] for n in notices(world, login)]


def only(world: E2EWorld, login: str, kind: str) -> dict[str, Any]:
    [notice] = [n for n in notices(world, login) if n["notice"] == kind]
    return notice


def test_caller_hangs_up_while_the_agents_phone_rings(db_url: str, tmp_path: Path) -> None:
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": NEVER, "PJSIP/102": answers()})
    world.log_in("eva")  # idle longest: rung first
    world.run(5)
    world.log_in("jan")
    world.call(CallerScript(did=SUPPORT, hangup_at_s=8))
    world.run(60)
    [call] = world.calls()
    assert call["state"] == "abandoned_ringing"
    assert world.attempts(call["id"]) == [("eva", "PJSIP/101", "caller_hung_up", False)]
    assert kinds(world, "eva") == ["incoming", "caller_hung_up"]
    gone = only(world, "eva", "caller_hung_up")
    assert (gone["call_id"], gone["queue"], gone["box_name"]) == (call["id"], QUEUE, "")
    assert notices(world, "jan") == []  # jan's phone never rang
    assert world.agent_state("eva") == ("on_air", "idle", None)  # not blamed


def test_zero_while_the_agents_phone_rings_moves_the_call_to_the_callback_box(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": NEVER, "PJSIP/102": answers()})
    world.log_in("eva")
    world.run(5)
    world.log_in("jan")
    world.call(CallerScript(did=SUPPORT, caller_id_num="777123456", keys=((6.0, "0"),)))
    world.run(60)
    [call] = world.calls()
    assert call["state"] == "callback"
    assert world.attempts(call["id"]) == [("eva", "PJSIP/101", "cancelled", False)]
    [item] = world.items()
    assert (item["kind"], item["call"]) == ("callback", call["id"])
    # "call was transferred to: Support callbacks"
    assert kinds(world, "eva") == ["incoming", "moved_to_box"]
    moved = only(world, "eva", "moved_to_box")
    assert (moved["call_id"], moved["box_name"], moved["queue"]) == (
        call["id"],
        "Support callbacks",
        QUEUE,
    )
    assert notices(world, "jan") == []
    assert world.agent_state("eva") == ("on_air", "idle", None)


def test_hash_while_the_agents_phone_rings_moves_the_call_to_the_voicemail_box(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": NEVER})
    world.log_in("eva")
    world.call(CallerScript(did=SUPPORT, keys=((6.0, "#"),), speech_s=4))
    world.run(90)
    [call] = world.calls()
    assert call["state"] == "voicemail"
    [item] = world.items()
    assert (item["kind"], item["call"]) == ("message", call["id"])
    assert kinds(world, "eva") == ["incoming", "moved_to_box"]
    moved = only(world, "eva", "moved_to_box")
    assert (moved["call_id"], moved["box_name"]) == (call["id"], "Support voicemail")


def test_ring_timeout_with_another_agent_free_hands_the_call_over(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": NEVER, "PJSIP/102": answers(2)})
    world.log_in("eva")  # idle longest: rung first
    world.run(5)
    world.log_in("jan")  # on air and free while eva's phone rings
    world.call(CallerScript(did=SUPPORT, talk_s=None))
    world.run(60)
    [call] = world.calls()
    assert world.attempts(call["id"]) == [
        ("eva", "PJSIP/101", "no_answer", False),
        ("jan", "PJSIP/102", "answered", False),
    ]
    # eva: "call was handed to another agent"
    assert kinds(world, "eva") == ["incoming", "handed_to_another"]
    handed = only(world, "eva", "handed_to_another")
    assert (handed["call_id"], handed["queue"]) == (call["id"], QUEUE)
    # jan's phone rang next, with the waiting time counted from the queue entry (20 s ring)
    assert kinds(world, "jan") == ["incoming", "connected"]
    assert 19 <= only(world, "jan", "incoming")["waiting_s"] <= 22
    assert world.agent_state("eva") == ("off_air", "paused", "Missed call")


def test_ring_timeout_with_nobody_else_free_parks_the_call(db_url: str, tmp_path: Path) -> None:
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": NEVER, "PJSIP/102": answers(2)})
    world.log_in("eva")
    world.log_in("jan", on_air=False)  # a queue member, but off air
    world.log_in("olga")  # free, but Sales only: not free for a support call (no overflow yet)
    world.call(CallerScript(did=SUPPORT, talk_s=None))
    world.run(40)
    [call] = world.calls()
    assert call["state"] == "waiting" and not call["overflowed"]
    assert world.attempts(call["id"]) == [("eva", "PJSIP/101", "no_answer", False)]
    # eva: "call will be handed to another agent"
    assert kinds(world, "eva") == ["incoming", "will_be_handed"]
    parked = only(world, "eva", "will_be_handed")
    assert (parked["call_id"], parked["queue"]) == (call["id"], QUEUE)
    assert notices(world, "olga") == [] and notices(world, "jan") == []
    # The parked call waits for the next free agent of the queue.
    world.go_on_air("jan")
    world.run(10)
    [call] = world.calls()
    assert call["state"] == "talking" and call["agent"] == world.agent_id("jan")
    assert kinds(world, "jan") == ["incoming", "connected"]
    assert kinds(world, "eva") == ["incoming", "will_be_handed"]  # nothing more for eva


def test_ring_timeout_of_an_overflowed_call_counts_other_queues_agents_as_free(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": NEVER, "PJSIP/104": answers(2)})
    world.log_in("eva", on_air=False)
    world.log_in("olga", on_air=False)  # Sales only
    world.call(CallerScript(did=SUPPORT, talk_s=None))
    world.run(125)  # past the 120 s overflow time
    [call] = world.calls()
    assert call["state"] == "waiting" and call["overflowed"]
    world.go_on_air("eva")
    world.run(3)
    world.go_on_air("olga")  # free while eva's phone rings; the call is open to her now
    world.run(30)
    [call] = world.calls()
    assert world.attempts(call["id"]) == [
        ("eva", "PJSIP/101", "no_answer", False),
        ("olga", "PJSIP/104", "answered", True),
    ]
    assert kinds(world, "eva") == ["incoming", "handed_to_another"]
    assert kinds(world, "olga") == ["incoming", "connected"]


def test_once_connected_the_agent_sees_the_waiting_time_since_queue_entry(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/102": answers(4)})
    world.log_in("eva", on_air=False)
    world.log_in("jan", on_air=False)
    called_at = world.now()
    # Some seconds in the IVR first: they are not waiting time.
    world.call(CallerScript(did=MAIN_LINE, keys=((6.0, "1"),), talk_s=None))
    world.run(40)
    [call] = world.calls()
    assert call["state"] == "waiting"
    ivr_s = (call["queue_entered_at"] - called_at).total_seconds()
    assert ivr_s >= 5
    world.go_on_air("jan")
    world.run(20)
    [call] = world.calls()
    assert call["state"] == "talking" and call["agent"] == world.agent_id("jan")
    waited = (call["answered_at"] - call["queue_entered_at"]).total_seconds()
    assert 36 <= waited <= 42  # about 35 s parked, then 4 s of ringing
    assert kinds(world, "jan") == ["incoming", "connected"]
    # at the ring: "new incoming call, waiting mm:ss" (jan's phone then rang 4 s)
    assert abs(only(world, "jan", "incoming")["waiting_s"] - (waited - 4)) <= 1
    # "waiting time was mm:ss": since the queue entry, not since the call began (IVR)
    connected = only(world, "jan", "connected")
    assert abs(connected["waiting_s"] - waited) < 1
    assert (connected["call_id"], connected["queue"]) == (call["id"], QUEUE)
    assert notices(world, "eva") == []  # off air: told nothing
