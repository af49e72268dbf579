"""A call that ends in a box (R-1.7, R-1.8, R-7.3): the caller left a message or asked for a
call back, and the item the back office works is stored with the call's end, in one
transaction.

The flow normally closes the call itself right after handing the request in; when the
database was down then, the request waited in the disk spool and the call could not be
closed: it is closed here when the request is imported, with the time it was made.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from db.models import Call
from dialplan.store.calls import close_call
from domain.enums import CallState, ItemKind
from voicemail.spool import SpooledRequest
from voicemail.store.intake import ItemView, create_item


def take_request(session: Session, request: SpooledRequest) -> ItemView | None:
    """Store the item and close its call if still open; None when already imported."""
    view = create_item(session, request)
    if view is None or view.call_id is None:
        return view
    call = session.get(Call, view.call_id)
    if call is not None and call.ended_at is None:
        state = CallState.VOICEMAIL if view.kind == ItemKind.MESSAGE else CallState.CALLBACK
        close_call(session, call.id, state, request.created)
    return view
