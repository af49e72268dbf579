"""A call that ends in a box (R-1.7, R-1.8, R-7.3): the caller left a message or asked for a
call back, and the item the back office works is stored with the call's end, in one
transaction.

The flow normally closes the call itself right after handing the request in; when the
database was down then, the request waited in the disk spool and the call could not be
closed: it is closed here when the request is imported, with the time it was made.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from db.events import emit
from db.models import Call
from dialplan.store.calls import close_call, guessed_lost
from domain.enums import CallState, ItemKind
from reports.store.kpi import record_box_choice
from voicemail.spool import SpooledRequest
from voicemail.store.intake import ItemView, create_item


def take_request(session: Session, request: SpooledRequest) -> ItemView | None:
    """Store the item and close its call if still open; None when already imported.

    A call the janitor closed as lost (its server held no session for it any more: the
    caller had been served while the database was down, and the flow could not write the
    end) gets the end the request tells instead: the janitor only guessed."""
    view = create_item(session, request)
    if view is None or view.call_id is None:
        return view
    call = session.get(Call, view.call_id, with_for_update=True)
    if call is None:
        return view
    state = CallState.VOICEMAIL if view.kind == ItemKind.MESSAGE else CallState.CALLBACK
    if call.ended_at is None:
        close_call(session, call.id, state, request.created)
    elif guessed_lost(call):
        call.state, call.hangup_cause = state, ""
        call.ended_at = max(request.created, call.started_at)
        record_box_choice(session, call, call.ended_at)
        emit(
            session,
            "call.ended",
            call.ended_at,
            call_id=call.id,
            agent_id=call.agent_id,
            queue_id=call.queue_id,
            state=state.value,
        )
    return view
