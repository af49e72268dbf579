"""Back-office items (voicemail messages and callback requests) as the call flows hand them in.

``create_item`` stores one; its customer is matched as the call form would (R-2.6). It is
what a flow's request becomes, and also what brings back an entry kept on disk while the
database was down (R-7.3): the unique ``spool_key`` makes a second import a no-op, so an
entry is imported exactly once even if the process dies between commit and file removal.
The call the item came from is closed in the same transaction by
``dialplan.store.boxes.take_request``, which the intake runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.events import emit
from db.fit import fit
from db.models import (
    Call,
    ContactPerson,
    Customer,
    CustomerPhone,
    Queue,
    QueueLocation,
    VoicemailItem,
    VoicemailItemHistory,
)
from domain.enums import ItemKind
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
    call_id: int | None


def _queue_location_ids(session: Session, call: Call | None, box_id: int) -> set[int]:
    """The locations whose customers the item may belong to (R-1.2): those of the call's
    queue; without a queue, those of every queue that uses the box."""
    if call is not None and call.queue_id is not None:
        queue_ids = {call.queue_id}
    else:
        queue_ids = set(
            session.scalars(
                select(Queue.id).where(
                    or_(Queue.voicemail_box_id == box_id, Queue.callback_box_id == box_id)
                )
            )
        )
    if not queue_ids:
        return set()
    return set(
        session.scalars(
            select(QueueLocation.location_id).where(QueueLocation.queue_id.in_(sorted(queue_ids)))
        )
    )


def _customer_for(session: Session, digits: str, call: Call | None, box_id: int) -> int | None:
    """The customer of a voicemail/callback item, by the call form's matching rules (R-2.6):
    only customers of the queue's locations (their own numbers and their contact persons'),
    an active one before inactive ones. Several active customers with that number (no agent
    to pick one) -> no match; no active but one inactive customer -> that one (the back
    office can re-activate it)."""
    if not digits:
        return None
    location_ids = sorted(_queue_location_ids(session, call, box_id))
    if not location_ids:
        return None  # a queue without locations matches nobody
    in_locations = Customer.location_id.in_(location_ids)
    own = (
        select(Customer.id, Customer.active)
        .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
        .where(CustomerPhone.digits == digits, in_locations)
    )
    via_contact = (
        select(Customer.id, Customer.active)
        .join(ContactPerson, ContactPerson.customer_id == Customer.id)
        .where(ContactPerson.phone_digits == digits, in_locations)
    )
    found = {(row[0], row[1]) for query in (own, via_contact) for row in session.execute(query)}
    active = {customer_id for customer_id, is_active in found if is_active}
    if active:
        return active.pop() if len(active) == 1 else None
    inactive = {customer_id for customer_id, _ in found}
    return inactive.pop() if len(inactive) == 1 else None


def create_item(session: Session, request: SpooledRequest) -> ItemView | None:
    """Insert the item; None when this spool key was imported already."""
    call = session.scalars(select(Call).where(Call.uniqueid == request.call_uniqueid)).first()
    call_id = call.id if call is not None else None
    item = VoicemailItem(
        box_id=request.box_id,
        kind=ItemKind(request.kind),
        call_id=call_id,
        customer_id=_customer_for(session, request.caller_digits, call, request.box_id),
        # As the caller's side sent it, cut to the column: a trunk may send any length.
        caller_number=fit(VoicemailItem, "caller_number", request.caller_number),
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
    session.add(VoicemailItemHistory(item_id=item.id, at=request.created, action="created"))
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
        call_id,
    )
