"""Calls whose Hotline server is gone: kept alive by heartbeats, closed when they stop (R-7.6).

Every server refreshes ``calls.heartbeat_at`` of the calls it has an AGI session for
(:func:`touch_calls`, every ``HEARTBEAT_INTERVAL_S``). A call that is resumed on another
server (R-1.16) is touched there under the same uniqueid. Only a call touched lately is
offered an agent (``calls.waiting_calls``). One that nobody touches any more lost its
server and was not resumed: the caller went to the dialplan's fallback or hung up.
:func:`close_stale_calls` (run by every server) gives it a final state and frees its agent,
who would otherwise stay "in a call" for ever and could neither save it (R-2.12) nor log
out (R-2.1):

- a call in the IVR or waiting is closed as handed to the fallback as soon as the
  dialplan's resume window has passed (``orphan_after_s``: a beat, the window, a margin):
  the caller is in the fallback by then, or gone;
- a call whose agent's phone rang, that was in a conversation or whose caller was leaving
  a message waits ``STALE_AFTER_S``: Asterisk goes on with a Dial or a recording after the
  server that started it died, and the resume that follows it tells what happened;
- a conversation that was going on ends as answered, and the agent processes it;
- a caller who was in a box ends in that box (the message, if any, comes from the spool);
- an outbound call ends as failed, and its agent goes back off air;
- anything else ends as handed to the fallback, its ringing offer is ended and the agent
  is free again.

Closing is idempotent and row-locked (``close_call`` skips a call already final), so two
servers sweeping at once do no harm.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from db.models import Call
from dialplan.store import calls, outbound
from dialplan.store.calls import BOX_CALLBACK
from domain.enums import FINAL_STATES, CallState, Direction

HEARTBEAT_INTERVAL_S = calls.HEARTBEAT_INTERVAL_S
STALE_AFTER_S = 180.0
# The shipped dialplan's resume chain: HOTLINE_RESUME_ROUNDS x HOTLINE_RESUME_WAIT_S.
RESUME_WINDOW_S = 15.0
# Between a call's last beat and the dialplan's first resume attempt: the next beat that
# did not come, and the wait for a digit (or prompt) that runs when the server dies.
_ORPHAN_MARGIN_S = 10.0
# States in which Asterisk may still be running something the dead server started.
_LONG_RUNNING = (CallState.RINGING, CallState.TALKING, CallState.IN_BOX)


def orphan_after_s(resume_window_s: float = RESUME_WINDOW_S) -> float:
    """How long an untouched call in the IVR or waiting may still be resumed."""
    return HEARTBEAT_INTERVAL_S + resume_window_s + _ORPHAN_MARGIN_S


LOST = calls.LOST
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
    session: Session,
    now: datetime,
    stale_after_s: float = STALE_AFTER_S,
    resume_window_s: float = RESUME_WINDOW_S,
) -> list[int]:
    """Close the open calls nobody has touched for long enough (see the module); their ids."""
    long_cutoff = now - timedelta(seconds=stale_after_s)
    short_cutoff = now - timedelta(seconds=orphan_after_s(resume_window_s))
    last_touch = func.coalesce(Call.heartbeat_at, Call.started_at)
    stale = session.scalars(
        select(Call.id)
        .where(
            Call.state.not_in(FINAL_STATES),
            or_(
                last_touch < long_cutoff,
                (last_touch < short_cutoff)
                & Call.state.not_in(_LONG_RUNNING)
                & (Call.direction != Direction.OUTBOUND),
            ),
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
        long_running = call.state in _LONG_RUNNING or call.direction is Direction.OUTBOUND
        cutoff = long_cutoff if long_running else short_cutoff
        if last >= cutoff:
            continue  # touched meanwhile by the server that runs it
        if call.direction is Direction.OUTBOUND:
            state = CallState.ANSWERED if call.answered_at is not None else CallState.FAILED
            outbound.finish_outbound(session, call_id, None, state, now, cause=LOST)
        elif call.state is CallState.TALKING:
            calls.close_call(session, call_id, CallState.ANSWERED, now, cause=LOST)
        elif call.state is CallState.IN_BOX:
            # The caller chose the box; a message recorded meanwhile comes in from the
            # recording server's spool (voicemail.intake, issue 10 defect 4).
            box = CallState.CALLBACK if call.flow_step == BOX_CALLBACK else CallState.VOICEMAIL
            calls.close_call(session, call_id, box, now, cause=LOST)
        else:
            calls.close_call(session, call_id, CallState.FALLBACK, now, cause=LOST)
        closed.append(call_id)
    return closed
