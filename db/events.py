"""The change feed live views follow: one row per state change of a call or an agent.

Written in the same transaction as the change itself, so a view never sees a change without
its event or an event without its change. Ids increase; a Server-Sent Events stream resumes
from the last id a browser saw.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Event


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
    session.add(
        Event(
            at=now,
            kind=kind,
            call_id=call_id,
            agent_id=agent_id,
            queue_id=queue_id,
            payload=json.dumps(payload, default=str, sort_keys=True),
        )
    )


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
