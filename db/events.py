"""The change feed live views follow: one row per state change of a call or an agent.

Written in the same transaction as the change itself, so a view never sees a change without
its event or an event without its change. Ids increase; a Server-Sent Events stream resumes
from the last id a browser saw.

Push, not poll (R-4.8, R-7.1): a transaction that wrote an event tells who follows the feed
once it has committed. In the writing process, :func:`on_commit` callbacks of the engine run
right after the commit (on the committing thread); on PostgreSQL the transaction also sends
``NOTIFY hotline_events``, which PostgreSQL delivers to every listening process only when
the transaction commits (``db.notify_listener`` listens). The payload stays empty: a woken
feed reads the table, which is the truth, so a lost or doubled wake-up costs nothing but a
read.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, event, insert, select, text
from sqlalchemy.orm import Session
from twisted.logger import Logger

from db.models import Event

_log = Logger()

NOTIFY_CHANNEL = "hotline_events"
# session.info key: this transaction wrote at least one event (its NOTIFY is already queued).
_EMITTED = "hotline.events_emitted"

Committed = Callable[[], None]
_commit_callbacks: dict[int, tuple[Engine, list[Committed]]] = {}
_callbacks_lock = threading.Lock()


@dataclass(frozen=True)
class EventView:
    id: int
    at: datetime
    kind: str
    call_id: int | None
    agent_id: int | None
    queue_id: int | None
    payload: dict[str, Any]


def emit(
    session: Session,
    kind: str,
    now: datetime,
    *,
    call_id: int | None = None,
    agent_id: int | None = None,
    queue_id: int | None = None,
    **payload: Any,
) -> None:
    # A Core insert built once, not an ORM object: nobody reads an event back in the
    # transaction that writes it, and the unit of work cost more than the row (issue 12).
    session.connection().execute(
        _INSERT_EVENT,
        {
            "at": now,
            "kind": kind,
            "call_id": call_id,
            "agent_id": agent_id,
            "queue_id": queue_id,
            "payload": json.dumps(payload, default=str, sort_keys=True),
        },
    )
    if not session.info.get(_EMITTED):
        session.info[_EMITTED] = True
        if session.get_bind().dialect.name == "postgresql":
            # Transactional: PostgreSQL sends it at COMMIT and drops it on ROLLBACK, so a
            # listener never wakes for an event it cannot read yet.
            session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))


_INSERT_EVENT = insert(Event.__table__)  # type: ignore[arg-type]


def on_commit(engine: Engine, callback: Committed) -> Callable[[], None]:
    """Call ``callback`` after each commit on ``engine`` that wrote an event; returns the
    function that stops it. The callback runs on the committing thread (a DB pool thread in
    a serving process) and must hand its work to the reactor itself."""
    with _callbacks_lock:
        _commit_callbacks.setdefault(id(engine), (engine, []))[1].append(callback)

    def remove() -> None:
        with _callbacks_lock:
            entry = _commit_callbacks.get(id(engine))
            if entry is not None and callback in entry[1]:
                entry[1].remove(callback)
                if not entry[1]:
                    del _commit_callbacks[id(engine)]

    return remove


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if not session.info.pop(_EMITTED, False):
        return
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    with _callbacks_lock:
        entry = _commit_callbacks.get(id(engine))
        callbacks = list(entry[1]) if entry is not None and entry[0] is engine else []
    for callback in callbacks:
        try:
            callback()
        except Exception:  # the commit stands; a lost wake-up is caught by the safety poll
            _log.failure("events: a commit callback failed")


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_EMITTED, None)  # nothing was written: nobody to wake


def events_after(session: Session, last_id: int, limit: int = 500) -> list[EventView]:
    rows = session.scalars(
        select(Event).where(Event.id > last_id).order_by(Event.id).limit(limit)
    ).all()
    return [_view(r) for r in rows]


@dataclass(frozen=True)
class EventRead:
    events: tuple[EventView, ...]
    late: tuple[EventView, ...]


def read_events(session: Session, after_id: int, gap_ids: Sequence[int], limit: int) -> EventRead:
    """The events after ``after_id`` and those of ``gap_ids`` that are visible by now."""
    events = tuple(events_after(session, after_id, limit))
    late: tuple[EventView, ...] = ()
    if gap_ids:
        rows = session.scalars(
            select(Event).where(Event.id.in_(list(gap_ids))).order_by(Event.id)
        ).all()
        late = tuple(_view(r) for r in rows)
    return EventRead(events, late)


def newest_id(session: Session) -> int:
    row = session.scalars(select(Event.id).order_by(Event.id.desc()).limit(1)).first()
    return int(row or 0)


def _view(row: Event) -> EventView:
    return EventView(
        row.id, row.at, row.kind, row.call_id, row.agent_id, row.queue_id, json.loads(row.payload)
    )
