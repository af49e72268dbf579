"""Callback requests in the database (R-1.8, R-3.3, R-3.6): call backs placed from a
request and how they went, and requests resolved by a later answered call.

A request is worked in the one back office with the voicemails (``voicemail.store.queue``
and its state machine ``voicemail.claims``); what is particular to it lives here:

- the call back (R-3.3): ``dialplan.services.outbound_calls.start_outbound_call`` names the
  item in the call's ``call.outbound`` event, the one durable link between the two; when the
  call ends its outcome is recorded on the item (``callback_connected`` lets the request be
  done, ``callback_not_connected`` keeps it open), by the outbound flow at once and again,
  idempotently, by the back-office page as a safety net;
- resolution by contact (R-3.6): a later answered call of the same customer, in either
  direction, marks their open requests resolved (shown, never deleted), in the very
  transaction that records the answer.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from db.models import Call, Event, Queue, VoicemailItem, VoicemailItemHistory
from domain.enums import FINAL_STATES, CallState, Direction, ItemKind, ItemState
from domain.numbers import is_country_prefix
from domain.refusals import CallNotFoundError
from voicemail import claims
from voicemail.claims import CLAIM_TTL_S
from voicemail.store.call_backs import OUTBOUND_EVENT, item_named
from voicemail.store.parties import centre_prefix, digits_of, known_prefixes, only_owner, party_of
from voicemail.store.queue import (
    BoxAccessError,
    ClaimView,
    ItemNotFoundError,
    apply_item_event,
    claim_view,
    item_status,
    load_item,
    load_item_for,
    person_name,
)

CALL_BACK_OUTCOMES = ("callback_connected", "callback_not_connected")


def record_callback_attempt(
    session: Session,
    item_id: int,
    agent_id: int,
    call_id: int | None,
    connected: bool,
    now: datetime,
    ttl_s: int = CLAIM_TTL_S,
) -> ClaimView:
    """Record a call back made from the item (the call itself goes through AMI).

    Connected: the customer was reached and the agent may mark the item done. Not
    connected: the item stays open and claimed; Cancel puts it back in the queue.
    """
    event = claims.CallbackAttempt(
        agent_id, call_id, connected, person_name(session, agent_id), ttl_s
    )
    item, status = apply_item_event(session, item_id, event, now, agent_id)
    return claim_view(item.id, status)


def settle_call_back(session: Session, item_id: int, call_id: int, now: datetime) -> bool:
    """Record on the item how an ended call back went (R-3.3), once; True if recorded now.

    Called by the outbound flow the moment the call ends, and again (harmlessly) by the
    back-office page as a safety net: a history row naming the call means it is known.
    Never raises for the item's sake: the call is over whatever became of the item (done
    meanwhile, the box right withdrawn), and the caller's flow must go on.
    """
    call = session.get(Call, call_id)
    if call is None or call.state not in FINAL_STATES or call.agent_id is None:
        return False
    known = session.scalar(
        select(func.count())
        .select_from(VoicemailItemHistory)
        .where(
            VoicemailItemHistory.item_id == item_id,
            VoicemailItemHistory.action.in_(CALL_BACK_OUTCOMES),
            VoicemailItemHistory.call_id == call_id,
        )
    )
    if known:
        return False
    connected = call.answered_at is not None
    try:
        with session.begin_nested():
            record_callback_attempt(session, item_id, call.agent_id, call_id, connected, now)
    except (ItemNotFoundError, BoxAccessError, claims.ItemActionError):
        return False
    return True


def resolve_by_contact(session: Session, call_id: int, now: datetime) -> list[int]:
    """A call was answered: the customer's open callback requests are resolved by it (R-3.6).

    Matches by the call's customer, any of that customer's numbers, or the bare number of
    an unknown caller; only requests taken before the answer. A request the agent on this
    very call is holding is left to them (they called back from it and will mark it done).
    Items are marked, never deleted. Returns the ids resolved.
    """
    call = session.get(Call, call_id)
    if call is None:
        raise CallNotFoundError()
    if call.answered_at is None and call.state not in (CallState.TALKING, CallState.ANSWERED):
        return []
    if call.direction is Direction.INTERNAL:
        return []
    answered_at = call.answered_at or now
    number = call.callee_number if call.direction is Direction.OUTBOUND else call.caller_number
    centre = centre_prefix(session)
    prefix = centre
    if call.queue_id is not None:
        queue_prefix = session.scalar(select(Queue.country_prefix).where(Queue.id == call.queue_id))
        prefix = queue_prefix if queue_prefix and is_country_prefix(queue_prefix) else centre
    customer_id = call.customer_id
    if customer_id is None:
        customer_id = only_owner(session, digits_of(number, prefix))
    party = party_of(session, customer_id, number, prefix, known_prefixes(session))
    candidates = session.scalars(
        select(VoicemailItem.id)
        .where(
            VoicemailItem.state == ItemState.OPEN,
            VoicemailItem.kind == ItemKind.CALLBACK,
            VoicemailItem.created_at <= answered_at,
            or_(VoicemailItem.call_id.is_(None), VoicemailItem.call_id != call.id),
            party.items(),
        )
        .order_by(VoicemailItem.id)
    ).all()
    resolved = []
    for item_id in candidates:
        item = load_item(session, item_id, lock=True)
        status = item_status(item, "", customer_reached=False)
        if call.agent_id is not None and status.holder_at(now) == call.agent_id:
            continue
        _, new = apply_item_event(session, item_id, claims.ResolvedByContact(call.id), now, None)
        if new.phase is ItemState.RESOLVED_BY_CONTACT:
            resolved.append(item_id)
    return resolved


def _call_backs(session: Session, item_id: int) -> list[int]:
    """The outbound calls placed from this item (R-3.3), oldest first.

    Only the events since the item was taken are read.
    """
    created_at = session.scalar(select(VoicemailItem.created_at).where(VoicemailItem.id == item_id))
    if created_at is None:
        return []
    rows = session.execute(
        select(Event.call_id, Event.payload)
        .where(Event.kind == OUTBOUND_EVENT, Event.at >= created_at, Event.call_id.is_not(None))
        .order_by(Event.id)
    ).all()
    found: list[int] = []
    for call_id, payload in rows:
        if item_named(payload) == item_id and call_id is not None and call_id not in found:
            found.append(call_id)
    return found


def settle_call_backs(
    session: Session, item_id: int, now: datetime, *, agent_id: int
) -> tuple[int, ...]:
    """Make sure each ended call back from the item has its outcome recorded (R-3.3); the
    ones still running. The page of ``agent_id`` asks, so their right to the item's box is
    checked first, before anything is written.

    The outbound flow records the outcome when the call ends
    (:func:`settle_call_back`); this safety net catches a call whose
    server stopped before it could, and is a no-op for calls known already.
    """
    load_item_for(session, item_id, agent_id)
    placed = _call_backs(session, item_id)
    if not placed:
        return ()
    running: list[int] = []
    states = session.execute(select(Call.id, Call.state).where(Call.id.in_(placed))).all()
    for call_id, state in sorted(states):
        if state not in FINAL_STATES:
            running.append(call_id)
        else:
            settle_call_back(session, item_id, call_id, now)
    return tuple(running)
