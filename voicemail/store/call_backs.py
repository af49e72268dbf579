"""Which back-office item an outbound call was placed from (R-3.3).

``dialplan.services.outbound_calls.start_outbound_call`` names the item in the call's
``call.outbound`` event, the one durable link between the two. The back office's own work
(``voicemail.store.work``) asks it to tell a call back's after-call work, which is the
item's, from an agent's; ``callbacks.store`` to record how a call back went.
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Event

OUTBOUND_EVENT = "call.outbound"  # names the item a call back was placed from


def item_named(payload: str) -> int | None:
    """The item a ``call.outbound`` event's payload names, if any."""
    try:
        named = json.loads(payload).get("item_id")
    except (ValueError, AttributeError):
        return None
    return named if isinstance(named, int) else None


def call_back_item(session: Session, call_id: int) -> int | None:
    """The back-office item an outbound call was placed from, if any (R-3.3)."""
    payloads = session.scalars(
        select(Event.payload)
        .where(Event.kind == OUTBOUND_EVENT, Event.call_id == call_id)
        .order_by(Event.id)
    ).all()
    return next((item for item in map(item_named, payloads) if item is not None), None)
