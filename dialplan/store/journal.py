"""Replaying the calls' journal into the database (issue 11, item 3; R-7.3, R-7.6).

A journal entry (``dialplan.call_journal``) holds one call's changes that the database
could not take when they happened. :func:`replay_entry` applies them in order in one
transaction; each change is skipped when the database has it already, so replaying an entry
a second time (a server that died between the commit and the file's removal) changes
nothing: exactly once.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Call
from dialplan.call_journal import CallArrival, CallEnd, JournalEntry
from dialplan.store import calls
from domain.enums import CallState, Direction


def replay_entry(session: Session, entry: JournalEntry) -> list[str]:
    """Apply ``entry``'s changes; what was done, for the log (empty: all there already)."""
    done: list[str] = []
    for change in entry.changes:
        if isinstance(change, CallArrival):
            opened = calls.open_call(
                session,
                uniqueid=change.uniqueid,
                linkedid=change.linkedid,
                direction=Direction.INBOUND,
                now=change.at,
                did=change.did,
                caller_number=change.caller_number,
                caller_name=change.caller_name,
                channel=change.channel,
                only_new=True,
            )
            if opened is not None:
                done.append("recorded its arrival")
        elif isinstance(change, CallEnd):
            if _end(session, change):
                done.append(f"ended it as {change.state}")
    return done


def _end(session: Session, change: CallEnd) -> bool:
    call = session.scalars(select(Call).where(Call.uniqueid == change.uniqueid)).one_or_none()
    if call is None:
        return False  # nothing to end: the arrival was never journalled nor written
    before = (call.state, call.ended_at)
    state = CallState(change.state)
    if state is CallState.FALLBACK:
        view = calls.fail_to_fallback(session, call.id, change.at, change.cause)
    else:
        view = calls.close_call(session, call.id, state, change.at, cause=change.cause)
    return (CallState(view.state), view.ended_at) != before
