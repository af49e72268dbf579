"""Which waiting call gets which free agent: first come, first served (R-1.3, R-1.5, R-1.6).

Pure. Every server process computes the same matching from the same database state, so the
order holds across processes (the database then makes the reservation itself atomic).

Rules, in the order a call is served (longest waiting first, ties by call id):
- a transferred call with a preferred agent waits for that agent only (R-1.12); the flow
  drops the preference when that agent goes off-air, and the call is then its queue's;
- an overflowed call may take ANY free agent, chosen at random (R-1.6);
- otherwise a free member agent of the call's queue, longest idle first (R-1.3), preferring
  agents this call has not rung yet (escalation goes to the NEXT agent, R-1.4);
- a call that finds nobody leaves the agents for the calls behind it only if none of those
  agents could have served it: nobody overtakes.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class WaitingCall:
    call_id: int
    queue_id: int
    waiting_since: datetime
    overflowed: bool = False
    preferred_agent_id: int | None = None
    tried_agent_ids: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True)
class FreeAgent:
    """An agent who can take a call now: logged in, on-air, idle and not reserved."""

    agent_id: int
    queue_ids: frozenset[int]
    idle_since: datetime


def serving_order(calls: Sequence[WaitingCall]) -> list[WaitingCall]:
    return sorted(calls, key=lambda c: (c.waiting_since, c.call_id))


def can_serve(agent: FreeAgent, call: WaitingCall) -> bool:
    if call.preferred_agent_id is not None:
        return agent.agent_id == call.preferred_agent_id
    return call.overflowed or call.queue_id in agent.queue_ids


def _pick(call: WaitingCall, candidates: list[FreeAgent], rng: random.Random) -> FreeAgent:
    if call.preferred_agent_id is not None:
        return candidates[0]  # can_serve left only the preferred agent
    fresh = [a for a in candidates if a.agent_id not in call.tried_agent_ids] or candidates
    members = [a for a in fresh if call.queue_id in a.queue_ids]
    if call.overflowed:
        # any on-air agent of any queue, at random. Sorting first makes the choice
        # depend only on the seed, not on the order the database returned rows in.
        return rng.choice(sorted(fresh, key=lambda a: a.agent_id))
    return min(members, key=lambda a: (a.idle_since, a.agent_id))


def match(
    calls: Sequence[WaitingCall], agents: Sequence[FreeAgent], rng: random.Random
) -> dict[int, int]:
    """Map call id -> agent id for every call that can be offered now."""
    free = {a.agent_id: a for a in agents}
    offers: dict[int, int] = {}
    for call in serving_order(calls):
        candidates = [a for a in free.values() if can_serve(a, call)]
        if not candidates:
            continue
        chosen = _pick(call, candidates, rng)
        offers[call.call_id] = chosen.agent_id
        del free[chosen.agent_id]
    return offers


def queue_position(calls: Sequence[WaitingCall], call_id: int) -> int | None:
    """1-based place of ``call_id`` among the calls of its queue (for announcements)."""
    ordered = serving_order(calls)
    mine = next((c for c in ordered if c.call_id == call_id), None)
    if mine is None:
        return None
    same_queue = [c for c in ordered if c.queue_id == mine.queue_id]
    return same_queue.index(mine) + 1
