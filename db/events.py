"""The change feed live views follow: one row per state change of a call or an agent.

Written in the same transaction as the change itself, so a view never sees a change without
its event or an event without its change. Ids increase; a Server-Sent Events stream resumes
from the last id a browser saw.
"""

from __future__ import annotations

import json
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
    return [
        EventView(r.id, r.at, r.kind, r.call_id, r.agent_id, r.queue_id, json.loads(r.payload))
        for r in rows
    ]
