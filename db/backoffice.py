"""Back-office items (voicemail messages and callback requests) as the call flows create them.

``create_item`` is what a flow calls, and also what brings back an entry kept on disk while
the database was down (R-7.3): the unique ``spool_key`` makes a second import a no-op, so an
entry is imported exactly once even if the process dies between commit and file removal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.calls import close_call
from db.events import emit
from db.models import (
    Call,
    CallState,
    CustomerPhone,
    ItemKind,
    VoicemailItem,
    VoicemailItemHistory,
)
from voicemail.spool import SpooledRequest


@dataclass(frozen=True)
class ItemView:
    id: int
    box_id: int
    kind: str
    caller_number: str
    customer_id: int | None
    recording_path: str
    created_at: datetime


def _customer_for(session: Session, digits: str) -> int | None:
    """The customer whose number this is, when exactly one active customer has it."""
    if not digits:
        return None
    ids = set(
        session.scalars(select(CustomerPhone.customer_id).where(CustomerPhone.digits == digits))
    )
    return ids.pop() if len(ids) == 1 else None


def create_item(session: Session, request: SpooledRequest) -> ItemView | None:
    """Insert the item; None when this spool key was imported already."""
    call = session.scalars(select(Call).where(Call.uniqueid == request.call_uniqueid)).first()
    call_id = call.id if call is not None else None
    item = VoicemailItem(
        box_id=request.box_id,
        kind=ItemKind(request.kind),
        call_id=call_id,
        customer_id=_customer_for(session, request.caller_digits),
        caller_number=request.caller_number,
        created_at=request.created,
        recording_path=request.recording_path,
        duration_s=request.duration_s,
        spool_key=request.spool_key,
    )
    try:
        with session.begin_nested():
            session.add(item)
            session.flush()
    except IntegrityError:
        return None
    session.add(
        VoicemailItemHistory(item_id=item.id, at=request.created, action="created", detail="")
    )
    if call is not None and call.ended_at is None:
        # Spooled while the database was down, the call could not be closed then.
        state = CallState.VOICEMAIL if item.kind is ItemKind.MESSAGE else CallState.CALLBACK
        close_call(session, call.id, state, request.created)
    emit(
        session,
        "backoffice.new",
        request.created,
        call_id=call_id,
        item_id=item.id,
        box_id=item.box_id,
        item_kind=item.kind.value,
    )
    return ItemView(
        item.id,
        item.box_id,
        item.kind.value,
        item.caller_number,
        item.customer_id,
        item.recording_path,
        item.created_at,
    )
