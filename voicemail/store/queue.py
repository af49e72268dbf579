"""The back office's queue in the database: list, detail, claiming, actions, resolution (R-3.x).

What the "Calls in voicemail" pages and the call flows call, one transaction each (through
``DBRunner.run``). The rules of claiming are the pure state machine in
``voicemail.claims``; this module loads an item's row (locked on PostgreSQL, SQLite's
single writer serialises with ``BEGIN IMMEDIATE``), applies an event, and writes the new
state back with a guarded ``UPDATE ... WHERE claimed_by_id IS NULL OR claim_expires_at <=
now OR claimed_by_id = agent``, so of two staff racing for one item exactly one wins even
without the lock. Every action leaves a history row (who, when) and a live event.

Rights (R-3.2, R-7.4): back-office staff and agents see and work only the boxes they hold a
``BoxRight`` to; supervisors and admins see every box.

Matching a customer's calls (R-3.1, R-3.6): calls carry the caller's number as Asterisk
gave it, customers carry international digits (``420777123456``). A call belongs to a
customer when it carries their ``customer_id`` or its number is one of theirs written in
any form the number rules of ``domain.numbers`` read back to the same digits.

Also here: the KPI figures of R-5.4 (``kpi_for_calls``, documented in ``docs/kpi.md``) and
the database side of the e-mail report of R-3.5 (``voicemail_report``, ``mark_emailed``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from db.events import emit
from db.models import (
    Agent,
    BoxRight,
    Call,
    Customer,
    QueueRight,
    Recording,
    VoicemailBox,
    VoicemailItem,
    VoicemailItemHistory,
)
from domain.enums import Direction, ItemKind, ItemState, Role
from domain.refusals import BadInputError, ForbiddenError, NotFoundError
from domain.texts import N_
from voicemail import claims
from voicemail.claims import CLAIM_TTL_S
from voicemail.store.parties import Party, centre_prefix, item_prefix, known_prefixes, party_of

PAGE_SIZE_MAX = 200
DETAIL_CALLS_MAX = 100
# the warning shown when the customer has more than one unprocessed item.
BUSY_WARNING = "{n} calls are being processed"


NO_SUCH_ITEM = N_("There is no such item in the back office.")
NO_ACCESS = N_("You have no access to the back office.")
NO_BOX_RIGHT = N_("You have no right to this box.")
BAD_FILTER = N_("The filter of the list is not valid.")


class ItemNotFoundError(NotFoundError):
    """No back-office item with that id."""


class BoxAccessError(ForbiddenError):
    """The person has no right to this box (R-3.2); ``str()`` is the message they see."""


class ListFilterError(BadInputError):
    """A filter of the list that makes no sense (R-7.2: a clear error, not a crash)."""


# --------------------------------------------------------------------------- views


@dataclass(frozen=True)
class ItemRow:
    """One line of "Calls in voicemail" (R-3.1)."""

    id: int
    box_id: int
    box_name: str  # tells a message box from a callback box
    box_kind: str
    kind: str  # "message" | "callback"
    state: str  # "open" | "done" | "resolved_by_contact"
    customer_id: int | None
    customer_name: str
    caller_number: str
    shown_as: str  # the customer's name, or the number when the caller is unknown
    call_count: int  # inbound calls of this customer over all their numbers
    last_call_at: datetime | None
    created_at: datetime
    duration_s: int | None
    has_recording: bool
    claimed_by_id: int | None  # only while the claim runs
    claimed_by_name: str
    claim_expires_at: datetime | None
    resolved_by_call_id: int | None
    closed_at: datetime | None


@dataclass(frozen=True)
class ItemPage:
    rows: tuple[ItemRow, ...]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


@dataclass(frozen=True)
class CallEntry:
    """A call of the item's customer or number, with what can be played (R-3.2)."""

    call_id: int
    started_at: datetime
    direction: str
    number: str  # the other party: the caller inbound, the called number outbound
    state: str
    answered_at: datetime | None
    ended_at: datetime | None
    item_id: int | None  # the back-office item this call left, if any
    item_kind: str
    item_recording_path: str  # the message left, relative to HOTLINE_RECORDINGS_DIR
    # The call's recorded conversations in order; a deleted one stays in
    # its place as "" so that it says "not available" and the others keep their index.
    recording_paths: tuple[str, ...]
    # May this person play those conversations: rights are per queue, see
    # ``may_play_call``. The message the call left goes by the right to its box instead.
    may_play: bool


@dataclass(frozen=True)
class HistoryEntry:
    """A history row: what happened (a code), the call it was about, and its parameters."""

    at: datetime
    agent_id: int | None
    agent_name: str
    action: str
    call_id: int | None
    params: Mapping[str, Any]


@dataclass(frozen=True)
class ItemDetail:
    """The process form of R-3.3 with the call list of R-3.2."""

    item: ItemRow
    customer_number: str  # the customer's number in the system (contract number), or ""
    customer_name: str
    caller_number: str
    created_at: datetime  # when the message or request was taken
    duration_s: int | None
    open_items: int  # unprocessed items of this customer (or number)
    warning: str  # "N calls are being processed" when open_items > 1, else ""
    customer_reached: bool  # a call back connected: a callback request may be done
    calls: tuple[CallEntry, ...]
    history: tuple[HistoryEntry, ...]


@dataclass(frozen=True)
class ClaimView:
    """The item after an action."""

    item_id: int
    state: str
    claimed_by_id: int | None
    claim_expires_at: datetime | None
    customer_reached: bool


# --------------------------------------------------------------------------- numbers


# --------------------------------------------------------------------------- rights


def _agent(session: Session, agent_id: int) -> Agent:
    agent = session.get(Agent, agent_id)
    if agent is None or not agent.active:
        raise BoxAccessError(NO_ACCESS)
    return agent


def _visible_boxes(session: Session, agent_id: int) -> set[int] | None:
    """The boxes this person may see and work; None means every box."""
    agent = _agent(session, agent_id)
    if agent.role in (Role.SUPERVISOR, Role.ADMIN):
        return None
    return set(session.scalars(select(BoxRight.box_id).where(BoxRight.agent_id == agent_id)))


def may_work_box(session: Session, agent_id: int, box_id: int) -> bool:
    """May this person see and work the items of ``box_id`` (R-3.2, R-7.4)?"""
    try:
        boxes = _visible_boxes(session, agent_id)
    except BoxAccessError:
        return False
    return boxes is None or box_id in boxes


def check_box_right(session: Session, agent_id: int, box_id: int) -> None:
    if not may_work_box(session, agent_id, box_id):
        raise BoxAccessError(NO_BOX_RIGHT)


def load_item_for(
    session: Session, item_id: int, agent_id: int, *, lock: bool = False
) -> VoicemailItem:
    """The item, for someone with the right to its box (R-3.2, R-7.4). Without that right
    it is "not found", as for an id that does not exist: an item id in a URL must not
    tell a stranger which items exist (issue 11, item 6)."""
    item = load_item(session, item_id, lock=lock)
    if not may_work_box(session, agent_id, item.box_id):
        raise ItemNotFoundError(NO_SUCH_ITEM)
    return item


def _playable_calls(session: Session, agent_id: int, calls: Collection[Call]) -> set[int]:
    """Of these calls, those whose recorded conversations this person may play (R-7.4).

    Rights are per queue: the right to the box of one item does not open every recording
    of that customer. One may play a call of a queue one holds a right to, a call that left
    an item in a box one may work (that call is what the box is about), and a call one was
    in oneself (a call back). Supervisors and admins may play all, as they see every box:
    the back office has no department of a queue to narrow them by.
    """
    visible = _visible_boxes(session, agent_id)
    if visible is None:
        return {c.id for c in calls}
    queues = set(
        session.scalars(select(QueueRight.queue_id).where(QueueRight.agent_id == agent_id))
    )
    ids = [c.id for c in calls]
    by_box: set[int | None] = set()
    if ids and visible:
        by_box = set(
            session.scalars(
                select(VoicemailItem.call_id).where(
                    VoicemailItem.call_id.in_(ids), VoicemailItem.box_id.in_(visible)
                )
            )
        )
    return {
        c.id
        for c in calls
        if c.agent_id == agent_id
        or (c.queue_id is not None and c.queue_id in queues)
        or c.id in by_box
    }


def may_play_call(session: Session, agent_id: int, call_id: int) -> bool:
    """May this person play the recorded conversations of this call (R-7.4)?"""
    call = session.get(Call, call_id)
    return call is not None and call.id in _playable_calls(session, agent_id, [call])


# --------------------------------------------------------------------------- list


def _row(
    session: Session,
    item: VoicemailItem,
    box: VoicemailBox,
    customer_name: str,
    holder_name: str,
    now: datetime,
    counts: dict[Party, tuple[int, datetime | None]],
    party: Party,
) -> ItemRow:
    if party not in counts:
        found_count, found_last = session.execute(
            select(func.count(Call.id), func.max(Call.started_at)).where(
                party.calls(inbound_only=True)
            )
        ).one()
        counts[party] = (int(found_count or 0), found_last)
    count, last = counts[party]
    status = item_status(item, holder_name, customer_reached=False)
    holder = status.holder_at(now)
    return ItemRow(
        id=item.id,
        box_id=box.id,
        box_name=box.name,
        box_kind=box.kind.value,
        kind=item.kind.value,
        state=item.state.value,
        customer_id=item.customer_id,
        customer_name=customer_name,
        caller_number=item.caller_number,
        shown_as=customer_name or item.caller_number or "?",
        call_count=count,
        last_call_at=last,
        created_at=item.created_at,
        duration_s=item.duration_s,
        has_recording=item.kind is ItemKind.MESSAGE and bool(item.recording_path),
        claimed_by_id=holder,
        claimed_by_name=holder_name if holder is not None else "",
        claim_expires_at=item.claim_expires_at if holder is not None else None,
        resolved_by_call_id=item.resolved_by_call_id,
        closed_at=item.closed_at,
    )


def _parse_states(states: Iterable[str] | None) -> list[ItemState]:
    if states is None:
        return [ItemState.OPEN]
    parsed = []
    for value in states:
        try:
            parsed.append(ItemState(value))
        except ValueError:
            raise ListFilterError(BAD_FILTER, {"state": value}) from None
    return parsed


def list_items(
    session: Session,
    agent_id: int,
    box_ids: Iterable[int] | None = None,
    states: Iterable[str] | None = None,
    page: int = 1,
    page_size: int = 25,
    *,
    now: datetime,
    newest_first: bool = False,
) -> ItemPage:
    """A page of "Calls in voicemail" for this person (R-3.1), oldest first by default.

    Only boxes the person has a right to; ``box_ids`` narrows further, ``states`` filters
    (default: open items). ``now`` decides which claims still run.
    """
    if page < 1 or not 1 <= page_size <= PAGE_SIZE_MAX:
        raise ListFilterError(BAD_FILTER)
    wanted_states = _parse_states(states)
    visible = _visible_boxes(session, agent_id)
    boxes: set[int] | None = visible
    if box_ids is not None:
        asked = set(box_ids)
        boxes = asked if visible is None else asked & visible
    where: list[ColumnElement[bool]] = [VoicemailItem.state.in_(wanted_states)]
    if boxes is not None:
        where.append(VoicemailItem.box_id.in_(boxes) if boxes else false())
    total = session.scalar(select(func.count(VoicemailItem.id)).where(*where)) or 0
    order = (
        (VoicemailItem.created_at.desc(), VoicemailItem.id.desc())
        if newest_first
        else (VoicemailItem.created_at, VoicemailItem.id)
    )
    holder = aliased(Agent, name="holder")
    found = session.execute(
        select(VoicemailItem, VoicemailBox, Customer.name, holder.name)
        .join(VoicemailBox, VoicemailBox.id == VoicemailItem.box_id)
        .outerjoin(Customer, Customer.id == VoicemailItem.customer_id)
        .outerjoin(holder, holder.id == VoicemailItem.claimed_by_id)
        .where(*where)
        .order_by(*order)
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    centre = centre_prefix(session)
    prefixes = known_prefixes(session)
    counts: dict[Party, tuple[int, datetime | None]] = {}
    rows = []
    for item, box, customer_name, holder_name in found:
        party = party_of(
            session,
            item.customer_id,
            item.caller_number,
            item_prefix(session, item, centre),
            prefixes,
        )
        rows.append(
            _row(session, item, box, customer_name or "", holder_name or "", now, counts, party)
        )
    return ItemPage(tuple(rows), int(total), page, page_size)


# --------------------------------------------------------------------------- detail (R-3.2, 3.3)


def load_item(session: Session, item_id: int, *, lock: bool = False) -> VoicemailItem:
    query = select(VoicemailItem).where(VoicemailItem.id == item_id)
    if lock:
        query = query.with_for_update()
    item = session.scalars(query.execution_options(populate_existing=True)).one_or_none()
    if item is None:
        raise ItemNotFoundError(NO_SUCH_ITEM)
    return item


def _holder_name(session: Session, item: VoicemailItem) -> str:
    if item.claimed_by_id is None:
        return ""
    return session.scalar(select(Agent.name).where(Agent.id == item.claimed_by_id)) or ""


def _customer_reached(session: Session, item_id: int) -> bool:
    found = session.scalar(
        select(VoicemailItemHistory.id)
        .where(
            VoicemailItemHistory.item_id == item_id,
            VoicemailItemHistory.action == "callback_connected",
        )
        .limit(1)
    )
    return found is not None


def item_detail(session: Session, item_id: int, agent_id: int, *, now: datetime) -> ItemDetail:
    """The process form of one item: the customer, their calls, the history (R-3.2, R-3.3)."""
    item = load_item_for(session, item_id, agent_id)
    box = session.get(VoicemailBox, item.box_id)
    assert box is not None
    customer = session.get(Customer, item.customer_id) if item.customer_id is not None else None
    centre = centre_prefix(session)
    party = party_of(
        session,
        item.customer_id,
        item.caller_number,
        item_prefix(session, item, centre),
        known_prefixes(session),
    )
    holder_name = _holder_name(session, item)
    row = _row(session, item, box, customer.name if customer else "", holder_name, now, {}, party)
    open_items = session.scalar(
        select(func.count(VoicemailItem.id)).where(
            VoicemailItem.state == ItemState.OPEN,
            or_(party.items(), VoicemailItem.id == item.id),
        )
    )
    open_items = int(open_items or 0)
    return ItemDetail(
        item=row,
        customer_number=customer.contract_number if customer else "",
        customer_name=customer.name if customer else "",
        caller_number=item.caller_number,
        created_at=item.created_at,
        duration_s=item.duration_s,
        open_items=open_items,
        warning=BUSY_WARNING.format(n=open_items) if open_items > 1 else "",
        customer_reached=_customer_reached(session, item.id),
        calls=tuple(_calls_of(session, party, item.call_id, agent_id)),
        history=tuple(_history(session, item.id)),
    )


def _calls_of(
    session: Session, party: Party, own_call_id: int | None, agent_id: int
) -> list[CallEntry]:
    condition = party.calls(inbound_only=False)
    if own_call_id is not None:
        condition = or_(condition, Call.id == own_call_id)  # a hidden number still has its call
    found = session.scalars(
        select(Call).where(condition).order_by(Call.started_at.desc(), Call.id.desc())
    ).all()[:DETAIL_CALLS_MAX]
    ids = [c.id for c in found]
    items: dict[int, VoicemailItem] = {}
    recordings: dict[int, list[str]] = {}
    if ids:
        for it in session.scalars(
            select(VoicemailItem).where(VoicemailItem.call_id.in_(ids)).order_by(VoicemailItem.id)
        ):
            items.setdefault(it.call_id or 0, it)
        for rec in session.scalars(
            select(Recording)
            .where(Recording.call_id.in_(ids))
            .order_by(Recording.started_at, Recording.id)
        ):
            # A deleted recording keeps its row and its place, without a file to play.
            kept = rec.path if rec.deleted_at is None else ""
            recordings.setdefault(rec.call_id, []).append(kept)
    playable = _playable_calls(session, agent_id, found)
    entries = []
    for call in found:
        left = items.get(call.id)
        entries.append(
            CallEntry(
                call_id=call.id,
                started_at=call.started_at,
                direction=call.direction.value,
                number=call.callee_number
                if call.direction is Direction.OUTBOUND
                else call.caller_number,
                state=call.state.value,
                answered_at=call.answered_at,
                ended_at=call.ended_at,
                item_id=left.id if left else None,
                item_kind=left.kind.value if left else "",
                item_recording_path=left.recording_path if left else "",
                recording_paths=tuple(recordings.get(call.id, ())),
                may_play=call.id in playable,
            )
        )
    return entries


def _history(session: Session, item_id: int) -> list[HistoryEntry]:
    rows = session.execute(
        select(VoicemailItemHistory, Agent.name)
        .outerjoin(Agent, Agent.id == VoicemailItemHistory.agent_id)
        .where(VoicemailItemHistory.item_id == item_id)
        .order_by(VoicemailItemHistory.at, VoicemailItemHistory.id)
    ).all()
    return [
        HistoryEntry(h.at, h.agent_id, name or "", h.action, h.call_id, json.loads(h.params))
        for h, name in rows
    ]


def recording_for(session: Session, item_id: int, agent_id: int) -> str | None:
    """The message's recording, relative to HOTLINE_RECORDINGS_DIR, for someone with the right
    to its box (R-3.2); None for a callback request or a message without a file."""
    item = load_item_for(session, item_id, agent_id)
    if item.kind is not ItemKind.MESSAGE or not item.recording_path:
        return None
    return item.recording_path


PLAYED_EVERY_S = 60  # one "played" history row per person and item per minute at most


def record_played(
    session: Session, item_id: int, agent_id: int, now: datetime, call_id: int | None = None
) -> bool:
    """Keep in the item's history that this person played a recording of it (R-3.3);
    True when a row was written.

    A browser's player fetches one recording in many range requests, and seeks with more:
    within ``PLAYED_EVERY_S`` of this person's last "played" row of the item, nothing new.
    """
    load_item_for(session, item_id, agent_id)
    recent = session.scalar(
        select(VoicemailItemHistory.id)
        .where(
            VoicemailItemHistory.item_id == item_id,
            VoicemailItemHistory.agent_id == agent_id,
            VoicemailItemHistory.action == "played",
            VoicemailItemHistory.at > now - timedelta(seconds=PLAYED_EVERY_S),
        )
        .limit(1)
    )
    if recent is not None:
        return False
    session.add(
        VoicemailItemHistory(
            item_id=item_id, at=now, agent_id=agent_id, action="played", call_id=call_id
        )
    )
    return True


# --------------------------------------------------------------------------- actions


def item_status(
    item: VoicemailItem, holder_name: str, *, customer_reached: bool
) -> claims.ItemStatus:
    return claims.ItemStatus(
        phase=item.state,
        kind=item.kind,
        holder_id=item.claimed_by_id,
        holder_name=holder_name,
        claim_expires_at=item.claim_expires_at,
        customer_reached=customer_reached,
        closed_by_id=item.closed_by_id,
        closed_at=item.closed_at,
        resolved_by_call_id=item.resolved_by_call_id,
    )


def _columns(status: claims.ItemStatus) -> dict[str, Any]:
    return {
        "state": status.phase,
        "claimed_by_id": status.holder_id,
        "claim_expires_at": status.claim_expires_at,
        "closed_by_id": status.closed_by_id,
        "closed_at": status.closed_at,
        "resolved_by_call_id": status.resolved_by_call_id,
    }


def apply_item_event(
    session: Session,
    item_id: int,
    event: claims.Event,
    now: datetime,
    agent_id: int | None,
) -> tuple[VoicemailItem, claims.ItemStatus]:
    """Load and lock the item, run the state machine, write the result with a guard."""
    for _attempt in range(2):
        item = (
            load_item(session, item_id, lock=True)
            if agent_id is None
            else load_item_for(session, item_id, agent_id, lock=True)
        )
        old = item_status(
            item,
            _holder_name(session, item),
            customer_reached=_customer_reached(session, item.id),
        )
        new, effects = claims.transition(old, event, now)
        before, after = _columns(old), _columns(new)
        changes = {k: v for k, v in after.items() if before[k] != v}
        if changes:
            guard: list[ColumnElement[bool]] = [
                VoicemailItem.id == item.id,
                VoicemailItem.state == item.state,
            ]
            if agent_id is not None:
                # The race of decided by the database itself: the item is taken only
                # if it is still free, its claim has expired, or it is already ours.
                guard.append(
                    or_(
                        VoicemailItem.claimed_by_id.is_(None),
                        VoicemailItem.claim_expires_at <= now,
                        VoicemailItem.claimed_by_id == agent_id,
                    )
                )
            result = session.execute(
                update(VoicemailItem)
                .where(*guard)
                .values(**changes)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                session.expire(item)
                continue  # someone changed it meanwhile: judge again on what is there now
            session.expire(item)
        _execute(session, item, effects, now, new)
        return item, new
    raise claims.ItemActionError(claims.CHANGED_MEANWHILE)


def _execute(
    session: Session,
    item: VoicemailItem,
    effects: list[claims.Effect],
    now: datetime,
    new: claims.ItemStatus,
) -> None:
    for effect in effects:
        if isinstance(effect, claims.RecordHistory):
            session.add(
                VoicemailItemHistory(
                    item_id=item.id,
                    at=now,
                    agent_id=effect.agent_id,
                    action=effect.action,
                    call_id=effect.call_id,
                    params=json.dumps(dict(effect.params), sort_keys=True),
                )
            )
        elif isinstance(effect, claims.Announce):
            emit(
                session,
                f"backoffice.{effect.what}",
                now,
                call_id=item.call_id,
                agent_id=effect.agent_id,
                item_id=item.id,
                box_id=item.box_id,
                state=new.phase.value,
                claimed_by=new.holder_id,
            )


def claim_view(item_id: int, status: claims.ItemStatus) -> ClaimView:
    return ClaimView(
        item_id=item_id,
        state=status.phase.value,
        claimed_by_id=status.holder_id,
        claim_expires_at=status.claim_expires_at,
        customer_reached=status.customer_reached,
    )


def person_name(session: Session, agent_id: int) -> str:
    return session.scalar(select(Agent.name).where(Agent.id == agent_id)) or ""


def claim(
    session: Session, item_id: int, agent_id: int, now: datetime, ttl_s: int = CLAIM_TTL_S
) -> ClaimView:
    """Take the item to work on it, or renew one's own claim (R-3.3).

    Raises ``ItemClaimedError`` naming the holder while someone else's claim runs,
    ``ItemActionError`` for a closed item, ``BoxAccessError`` without the right.
    """
    event = claims.Claim(agent_id, person_name(session, agent_id), ttl_s)
    item, status = apply_item_event(session, item_id, event, now, agent_id)
    return claim_view(item.id, status)


def release(session: Session, item_id: int, agent_id: int, now: datetime) -> ClaimView:
    """Let go of the item quietly (the form was closed); it is free for anyone."""
    item, status = apply_item_event(session, item_id, claims.Release(agent_id), now, agent_id)
    return claim_view(item.id, status)


def cancel(session: Session, item_id: int, agent_id: int, now: datetime) -> ClaimView:
    """The Cancel button: the item stays in the queue, open, for anyone (R-3.3)."""
    item, status = apply_item_event(session, item_id, claims.Cancel(agent_id), now, agent_id)
    return claim_view(item.id, status)


def mark_done(session: Session, item_id: int, agent_id: int, now: datetime) -> ClaimView:
    """The Done button. A callback request needs a call back that connected first."""
    event = claims.MarkDone(agent_id, person_name(session, agent_id))
    item, status = apply_item_event(session, item_id, event, now, agent_id)
    return claim_view(item.id, status)


# ---------------------------------------------------------------------------


# --------------------------------------------------------------------------- e-mail


# --------------------------------------------------------------------------- KPI
