"""Calls whose Hotline server is gone: kept alive by heartbeats, closed when they stop (R-7.6).

Every server refreshes ``calls.heartbeat_at`` of the calls it has an AGI session for
(:func:`touch_calls`, every ``HEARTBEAT_INTERVAL_S``). A call that is resumed on another
server (R-1.16) is touched there under the same uniqueid. A call that nobody has touched
for ``STALE_AFTER_S`` lost its server and was not resumed: the caller went to the
dialplan's fallback or hung up. :func:`close_stale_calls` (run by every server) gives it
a final state and frees its agent, who would otherwise stay "in a call" for ever and could
neither save it (R-2.12) nor log out (R-2.1):

- a conversation that was going on ends as answered, and the agent processes it;
- an outbound call ends as failed, and its agent goes back off air;
- anything else (IVR, waiting, ringing) ends as handed to the fallback, its ringing
  offer is ended and the agent is free again.

Closing is idempotent and row-locked (``close_call`` skips a call already final), so two
servers sweeping at once do no harm.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db.models import Call
from dialplan.store import calls, outbound
from domain.enums import FINAL_STATES, CallState, Direction

HEARTBEAT_INTERVAL_S = 30.0
STALE_AFTER_S = 180.0
LOST = "hotline server lost"
SWEEP_LIMIT = 200


def touch_calls(session: Session, uniqueids: Collection[str], now: datetime) -> int:
    """The calls this server runs an AGI session for are alive; returns how many rows."""
    if not uniqueids:
        return 0
    result = session.execute(
        update(Call)
        .where(Call.uniqueid.in_(list(uniqueids)), Call.state.not_in(FINAL_STATES))
        .values(heartbeat_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def close_stale_calls(
    session: Session, now: datetime, stale_after_s: float = STALE_AFTER_S
) -> list[int]:
    """Close the open calls nobody has touched for ``stale_after_s``; their ids."""
    cutoff = now - timedelta(seconds=stale_after_s)
    stale = session.scalars(
        select(Call.id)
        .where(
            Call.state.not_in(FINAL_STATES),
            func.coalesce(Call.heartbeat_at, Call.started_at) < cutoff,
        )
        .order_by(Call.id)
        .limit(SWEEP_LIMIT)
    ).all()
    closed: list[int] = []
    for call_id in stale:
        call = session.get(Call, call_id, with_for_update=True)
        if call is None or call.state in FINAL_STATES:
            continue
        last = call.heartbeat_at or call.started_at
        if last >= cutoff:
            continue  # touched meanwhile by the server that runs it
        if call.direction is Direction.OUTBOUND:
            state = CallState.ANSWERED if call.answered_at is not None else CallState.FAILED
            outbound.finish_outbound(session, call_id, None, state, now, cause=LOST)
        elif call.state is CallState.TALKING:
            calls.close_call(session, call_id, CallState.ANSWERED, now, cause=LOST)
        else:
            calls.close_call(session, call_id, CallState.FALLBACK, now, cause=LOST)
        closed.append(call_id)
    return closed
