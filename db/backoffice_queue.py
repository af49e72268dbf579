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
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from db.calls import SERVICE_LEVEL_S, CallNotFoundError
from db.events import emit
from db.models import (
    Agent,
    BoxRight,
    Call,
    Customer,
    CustomerPhone,
    Event,
    Queue,
    QueueRight,
    Recording,
    RingAttempt,
    Setting,
    VoicemailBox,
    VoicemailItem,
    VoicemailItemHistory,
)
from domain.enums import FINAL_STATES, CallState, Direction, ItemKind, ItemState, RingOutcome, Role
from domain.numbers import NATIONAL_DIGITS_MAX, is_country_prefix, normalise_number
from voicemail import claims
from voicemail.claims import CLAIM_TTL_S

DEFAULT_COUNTRY_PREFIX = "420"
PAGE_SIZE_MAX = 200
DETAIL_CALLS_MAX = 100
# the warning shown when the customer has more than one unprocessed item.
BUSY_WARNING = "{n} calls are being processed"


class ItemNotFoundError(LookupError):
    """No back-office item with that id."""


class BoxAccessError(PermissionError):
    """The person has no right to this box (R-3.2); ``str()`` is the message they see."""


class ListFilterError(ValueError):
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
    at: datetime
    agent_id: int | None
    agent_name: str
    action: str
    detail: str


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


@dataclass(frozen=True)
class VoicemailReport:
    """What the e-mail of R-3.5 says about a new item."""

    item_id: int
    email_to: tuple[str, ...]
    box_name: str
    kind: str
    caller_number: str
    customer_name: str
    created_at: datetime
    duration_s: int | None
    recording_path: str


@dataclass(frozen=True)
class KpiSummary:
    """R-5.4 figures for inbound calls handed to a queue in ``[since, until)``."""

    since: datetime
    until: datetime
    service_level_s: int
    calls: int  # the population both rates divide by
    answered: int
    voicemail: int
    callback: int
    abandoned: int  # hung up while waiting or ringing
    closed: int  # reached a closed queue and left no request
    other: int
    reached: int
    within_service_level: int
    lost: int
    lost_not_recovered: int  # lost, and not connected later in either direction
    in_progress: int  # not counted: still live
    transferred: int  # not counted: the call carries on as another leg
    fallback: int  # not counted: handed to the dialplan's fallback, outcome unknown

    @property
    def reachability(self) -> float | None:
        return self.reached / self.calls if self.calls else None

    @property
    def service_level(self) -> float | None:
        return self.within_service_level / self.calls if self.calls else None


# --------------------------------------------------------------------------- numbers


def _centre_prefix(session: Session) -> str:
    stored = session.get(Setting, "country_prefix")
    if stored is not None and is_country_prefix(stored.value):
        return stored.value
    return DEFAULT_COUNTRY_PREFIX


def _known_prefixes(session: Session) -> set[str]:
    prefixes = {_centre_prefix(session)}
    prefixes.update(p for p in session.scalars(select(Queue.country_prefix).distinct()) if p)
    return {p for p in prefixes if is_country_prefix(p)}


def _digits_of(raw: str, prefix: str) -> str:
    """International digits of ``raw``, or "" for a hidden or unreadable number."""
    if not raw or raw.strip().lower() in ("unknown", "anonymous"):
        return ""
    try:
        return normalise_number(raw, prefix)
    except ValueError:
        return ""


def _written_forms(digits: Iterable[str], prefixes: Collection[str]) -> set[str]:
    """Every way a caller ID may write these numbers that normalises back to them."""
    forms: set[str] = set()
    for d in digits:
        if not d:
            continue
        forms.update((d, "+" + d, "00" + d))
        for prefix in prefixes:
            national = d[len(prefix) :]
            if d.startswith(prefix) and national and len(national) <= NATIONAL_DIGITS_MAX:
                forms.update((national, "0" + national))
    return forms


@dataclass(frozen=True)
class _Party:
    """Who an item or a call is about: a customer and their numbers, or a bare number."""

    customer_id: int | None
    forms: frozenset[str]

    def calls(self, *, inbound_only: bool) -> ColumnElement[bool]:
        parts: list[ColumnElement[bool]] = []
        if self.customer_id is not None:
            by_customer = Call.customer_id == self.customer_id
            if inbound_only:
                # "How many times this customer called": a call back is not one.
                by_customer = by_customer & (Call.direction == Direction.INBOUND)
            parts.append(by_customer)
        if self.forms:
            inbound = (Call.direction == Direction.INBOUND) & Call.caller_number.in_(self.forms)
            parts.append(inbound)
            if not inbound_only:
                parts.append(
                    (Call.direction == Direction.OUTBOUND) & Call.callee_number.in_(self.forms)
                )
        return or_(*parts) if parts else false()

    def items(self) -> ColumnElement[bool]:
        parts: list[ColumnElement[bool]] = []
        if self.customer_id is not None:
            parts.append(VoicemailItem.customer_id == self.customer_id)
        if self.forms:
            parts.append(VoicemailItem.caller_number.in_(self.forms))
        return or_(*parts) if parts else false()


def _party(
    session: Session, customer_id: int | None, number: str, prefix: str, prefixes: set[str]
) -> _Party:
    digits = {_digits_of(number, prefix)}
    if customer_id is not None:
        digits.update(
            session.scalars(
                select(CustomerPhone.digits).where(CustomerPhone.customer_id == customer_id)
            )
        )
    return _Party(customer_id, frozenset(_written_forms(digits - {""}, prefixes)))


def _only_owner(session: Session, digits: str) -> int | None:
    """The customer this number belongs to, when exactly one has it (as ``create_item``)."""
    if not digits:
        return None
    owners = set(
        session.scalars(select(CustomerPhone.customer_id).where(CustomerPhone.digits == digits))
    )
    return owners.pop() if len(owners) == 1 else None


def _item_prefix(session: Session, item: VoicemailItem, centre: str) -> str:
    """The country prefix of the queue the item's call came through, else the centre's."""
    if item.call_id is None:
        return centre
    prefix = session.scalar(
        select(Queue.country_prefix)
        .join(Call, Call.queue_id == Queue.id)
        .where(Call.id == item.call_id)
    )
    return prefix if prefix and is_country_prefix(prefix) else centre


# --------------------------------------------------------------------------- rights


def _agent(session: Session, agent_id: int) -> Agent:
    agent = session.get(Agent, agent_id)
    if agent is None or not agent.active:
        raise BoxAccessError("You have no access to the back office.")
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


def _check_right(session: Session, agent_id: int, box_id: int) -> None:
    if not may_work_box(session, agent_id, box_id):
        raise BoxAccessError("You have no right to this box.")


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
    counts: dict[_Party, tuple[int, datetime | None]],
    party: _Party,
) -> ItemRow:
    if party not in counts:
        found_count, found_last = session.execute(
            select(func.count(Call.id), func.max(Call.started_at)).where(
                party.calls(inbound_only=True)
            )
        ).one()
        counts[party] = (int(found_count or 0), found_last)
    count, last = counts[party]
    status = _status_of(item, holder_name, customer_reached=False)
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
            known = ", ".join(s.value for s in ItemState)
            raise ListFilterError(f"unknown item state {value!r} (use {known})") from None
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
        raise ListFilterError(f"page must be 1 or more and page size 1-{PAGE_SIZE_MAX}")
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
    centre = _centre_prefix(session)
    prefixes = _known_prefixes(session)
    counts: dict[_Party, tuple[int, datetime | None]] = {}
    rows = []
    for item, box, customer_name, holder_name in found:
        party = _party(
            session,
            item.customer_id,
            item.caller_number,
            _item_prefix(session, item, centre),
            prefixes,
        )
        rows.append(
            _row(session, item, box, customer_name or "", holder_name or "", now, counts, party)
        )
    return ItemPage(tuple(rows), int(total), page, page_size)


# --------------------------------------------------------------------------- detail (R-3.2, 3.3)


def _load(session: Session, item_id: int, *, lock: bool = False) -> VoicemailItem:
    query = select(VoicemailItem).where(VoicemailItem.id == item_id)
    if lock:
        query = query.with_for_update()
    item = session.scalars(query.execution_options(populate_existing=True)).one_or_none()
    if item is None:
        raise ItemNotFoundError(f"no back-office item {item_id}")
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
    item = _load(session, item_id)
    _check_right(session, agent_id, item.box_id)
    box = session.get(VoicemailBox, item.box_id)
    assert box is not None
    customer = session.get(Customer, item.customer_id) if item.customer_id is not None else None
    centre = _centre_prefix(session)
    party = _party(
        session,
        item.customer_id,
        item.caller_number,
        _item_prefix(session, item, centre),
        _known_prefixes(session),
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
    session: Session, party: _Party, own_call_id: int | None, agent_id: int
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
    return [HistoryEntry(h.at, h.agent_id, name or "", h.action, h.detail) for h, name in rows]


def recording_for(session: Session, item_id: int, agent_id: int) -> str | None:
    """The message's recording, relative to HOTLINE_RECORDINGS_DIR, for someone with the right
    to its box (R-3.2); None for a callback request or a message without a file."""
    item = _load(session, item_id)
    _check_right(session, agent_id, item.box_id)
    if item.kind is not ItemKind.MESSAGE or not item.recording_path:
        return None
    return item.recording_path


PLAYED_EVERY_S = 60  # one "played" history row per person and item per minute at most


def record_played(
    session: Session, item_id: int, agent_id: int, now: datetime, detail: str = ""
) -> bool:
    """Keep in the item's history that this person played a recording of it (R-3.3);
    True when a row was written.

    A browser's player fetches one recording in many range requests, and seeks with more:
    within ``PLAYED_EVERY_S`` of this person's last "played" row of the item, nothing new.
    """
    item = _load(session, item_id)
    _check_right(session, agent_id, item.box_id)
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
            item_id=item_id, at=now, agent_id=agent_id, action="played", detail=detail
        )
    )
    return True


# --------------------------------------------------------------------------- actions


def _status_of(
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


def _apply(
    session: Session,
    item_id: int,
    event: claims.Event,
    now: datetime,
    agent_id: int | None,
) -> tuple[VoicemailItem, claims.ItemStatus]:
    """Load and lock the item, run the state machine, write the result with a guard."""
    for _attempt in range(2):
        item = _load(session, item_id, lock=True)
        if agent_id is not None:
            _check_right(session, agent_id, item.box_id)
        old = _status_of(
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
    raise claims.ItemActionError("This item was changed by someone else meanwhile; try again.")


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
                    detail=effect.detail,
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


def _view(item_id: int, status: claims.ItemStatus) -> ClaimView:
    return ClaimView(
        item_id=item_id,
        state=status.phase.value,
        claimed_by_id=status.holder_id,
        claim_expires_at=status.claim_expires_at,
        customer_reached=status.customer_reached,
    )


def _name(session: Session, agent_id: int) -> str:
    return session.scalar(select(Agent.name).where(Agent.id == agent_id)) or ""


def claim(
    session: Session, item_id: int, agent_id: int, now: datetime, ttl_s: int = CLAIM_TTL_S
) -> ClaimView:
    """Take the item to work on it, or renew one's own claim (R-3.3).

    Raises ``ItemClaimedError`` naming the holder while someone else's claim runs,
    ``ItemActionError`` for a closed item, ``BoxAccessError`` without the right.
    """
    event = claims.Claim(agent_id, _name(session, agent_id), ttl_s)
    item, status = _apply(session, item_id, event, now, agent_id)
    return _view(item.id, status)


def release(session: Session, item_id: int, agent_id: int, now: datetime) -> ClaimView:
    """Let go of the item quietly (the form was closed); it is free for anyone."""
    item, status = _apply(session, item_id, claims.Release(agent_id), now, agent_id)
    return _view(item.id, status)


def cancel(session: Session, item_id: int, agent_id: int, now: datetime) -> ClaimView:
    """The Cancel button: the item stays in the queue, open, for anyone (R-3.3)."""
    item, status = _apply(session, item_id, claims.Cancel(agent_id), now, agent_id)
    return _view(item.id, status)


def mark_done(session: Session, item_id: int, agent_id: int, now: datetime) -> ClaimView:
    """The Done button. A callback request needs a call back that connected first."""
    event = claims.MarkDone(agent_id, _name(session, agent_id))
    item, status = _apply(session, item_id, event, now, agent_id)
    return _view(item.id, status)


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
    event = claims.CallbackAttempt(agent_id, call_id, connected, _name(session, agent_id), ttl_s)
    item, status = _apply(session, item_id, event, now, agent_id)
    return _view(item.id, status)


CALL_BACK_OUTCOMES = ("callback_connected", "callback_not_connected")
OUTBOUND_EVENT = "call.outbound"  # names the item a call back was placed from


def call_back_item(session: Session, call_id: int) -> int | None:
    """The back-office item an outbound call was placed from, if any (R-3.3).

    ``start_outbound_call`` names the item in the call's ``call.outbound`` event, the one
    durable link between the two.
    """
    payloads = session.scalars(
        select(Event.payload)
        .where(Event.kind == OUTBOUND_EVENT, Event.call_id == call_id)
        .order_by(Event.id)
    ).all()
    for payload in payloads:
        try:
            named = json.loads(payload).get("item_id")
        except (ValueError, AttributeError):
            continue
        if isinstance(named, int):
            return named
    return None


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
            VoicemailItemHistory.detail == f"call {call_id}",
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


# ---------------------------------------------------------------------------


def resolve_by_contact(session: Session, call_id: int, now: datetime) -> list[int]:
    """A call was answered: the customer's open callback requests are resolved by it (R-3.6).

    Matches by the call's customer, any of that customer's numbers, or the bare number of
    an unknown caller; only requests taken before the answer. A request the agent on this
    very call is holding is left to them (they called back from it and will mark it done).
    Items are marked, never deleted. Returns the ids resolved.
    """
    call = session.get(Call, call_id)
    if call is None:
        raise CallNotFoundError(f"no call {call_id}")
    if call.answered_at is None and call.state not in (CallState.TALKING, CallState.ANSWERED):
        return []
    if call.direction is Direction.INTERNAL:
        return []
    answered_at = call.answered_at or now
    number = call.callee_number if call.direction is Direction.OUTBOUND else call.caller_number
    centre = _centre_prefix(session)
    prefix = centre
    if call.queue_id is not None:
        queue_prefix = session.scalar(select(Queue.country_prefix).where(Queue.id == call.queue_id))
        prefix = queue_prefix if queue_prefix and is_country_prefix(queue_prefix) else centre
    customer_id = call.customer_id
    if customer_id is None:
        customer_id = _only_owner(session, _digits_of(number, prefix))
    party = _party(session, customer_id, number, prefix, _known_prefixes(session))
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
        item = _load(session, item_id, lock=True)
        status = _status_of(item, "", customer_reached=False)
        if call.agent_id is not None and status.holder_at(now) == call.agent_id:
            continue
        _, new = _apply(session, item_id, claims.ResolvedByContact(call.id), now, None)
        if new.phase is ItemState.RESOLVED_BY_CONTACT:
            resolved.append(item_id)
    return resolved


# --------------------------------------------------------------------------- e-mail


def _addresses(email_to: str) -> tuple[str, ...]:
    return tuple(a.strip() for a in email_to.replace(";", ",").split(",") if a.strip())


def voicemail_report(session: Session, item_id: int) -> VoicemailReport | None:
    """What to e-mail about this item; None when its box sends no e-mail or it was sent."""
    found = session.execute(
        select(VoicemailItem, VoicemailBox, Customer.name)
        .join(VoicemailBox, VoicemailBox.id == VoicemailItem.box_id)
        .outerjoin(Customer, Customer.id == VoicemailItem.customer_id)
        .where(VoicemailItem.id == item_id)
    ).one_or_none()
    if found is None:
        return None
    item, box, customer_name = found
    addresses = _addresses(box.email_to)
    if not addresses or item.emailed_at is not None:
        return None
    return VoicemailReport(
        item_id=item.id,
        email_to=addresses,
        box_name=box.name,
        kind=item.kind.value,
        caller_number=item.caller_number,
        customer_name=customer_name or "",
        created_at=item.created_at,
        duration_s=item.duration_s,
        recording_path=item.recording_path,
    )


def mark_emailed(session: Session, item_id: int, now: datetime) -> None:
    """The report of R-3.5 was delivered; history keeps when and to whom."""
    item = session.get(VoicemailItem, item_id)
    if item is None or item.emailed_at is not None:
        return
    item.emailed_at = now
    box = session.get(VoicemailBox, item.box_id)
    session.add(
        VoicemailItemHistory(
            item_id=item.id,
            at=now,
            agent_id=None,
            action="emailed",
            detail=box.email_to if box else "",
        )
    )


def mark_email_failed(
    session: Session, item_id: int, addresses: Iterable[str], now: datetime
) -> None:
    """The mailer gave up on the report of R-3.5: say so in the item's history, with whom it
    did not reach, so that staff know nobody was told (the log is not where they look)."""
    if session.get(VoicemailItem, item_id) is None:
        return
    session.add(
        VoicemailItemHistory(
            item_id=item_id,
            at=now,
            agent_id=None,
            action="email_failed",
            detail=", ".join(addresses)[:300],
        )
    )


def items_awaiting_email(session: Session, since: datetime) -> list[int]:
    """Items since ``since`` whose box sends e-mail and whose report was not delivered yet
    (for a restart: the mailer's queue lives in memory)."""
    return list(
        session.scalars(
            select(VoicemailItem.id)
            .join(VoicemailBox, VoicemailBox.id == VoicemailItem.box_id)
            .where(
                VoicemailItem.emailed_at.is_(None),
                VoicemailItem.created_at >= since,
                VoicemailBox.email_to != "",
            )
            .order_by(VoicemailItem.id)
        )
    )


# --------------------------------------------------------------------------- KPI


def service_level_threshold_s(session: Session) -> int:
    """The centre's service-level threshold (R-5.4): the ``service_level_s`` setting of the
    contact-centre data (``docs/catalog-yaml.md``), else 20 s."""
    stored = session.get(Setting, "service_level_s")
    if stored is not None and stored.value.isdigit() and int(stored.value) > 0:
        return int(stored.value)
    return SERVICE_LEVEL_S


def record_box_choice(session: Session, call: Call, now: datetime) -> None:
    """Store on the call what choosing voicemail or a callback means for R-5.4.

    Called by ``db.calls.close_call`` when the call ends in a box, which the flows do right
    after storing the message or request: reached, always; within the service level when
    the choice came within the threshold in force now, counted from ``queue_entered_at``
    (when the caller chose: ``_box_chosen_at``). A call never handed to a queue has no wait
    to measure and is not within it.
    """
    call.reached = True
    waited_from = call.queue_entered_at
    if waited_from is None:
        call.within_service_level = False
        return
    chosen = _box_chosen_at(session, [call]).get(call.id, now)
    call.within_service_level = chosen - waited_from <= timedelta(
        seconds=service_level_threshold_s(session)
    )


_ABANDONED = (CallState.ABANDONED_QUEUE, CallState.ABANDONED_RINGING)


def kpi_for_calls(
    session: Session,
    since: datetime,
    until: datetime,
    *,
    queue_id: int | None = None,
    service_level_s: int | None = None,
) -> KpiSummary:
    """Reachability and service level (R-5.4) of inbound calls handed to a queue.

    The definitions, with the choices made, are in ``docs/kpi.md``. Without
    ``service_level_s`` the figures are what the flows stored on each call when it was
    answered or chose a box (``Call.reached``, ``Call.within_service_level``, with the
    threshold in force then); ``service_level_s`` given recomputes the service level with
    that threshold from the same moments (a "what if" for a report).
    """
    stored = service_level_s is None
    threshold_s = (
        service_level_s if service_level_s is not None else service_level_threshold_s(session)
    )
    limit = timedelta(seconds=threshold_s)
    where: list[ColumnElement[bool]] = [
        Call.direction == Direction.INBOUND,
        Call.queue_entered_at.is_not(None),
        Call.started_at >= since,
        Call.started_at < until,
    ]
    if queue_id is not None:
        where.append(Call.queue_id == queue_id)
    found = session.scalars(select(Call).where(*where).order_by(Call.started_at, Call.id)).all()
    counted = []
    in_progress = transferred = fallback = 0
    for call in found:
        if call.state not in FINAL_STATES:
            in_progress += 1
        elif call.state is CallState.TRANSFERRED:
            transferred += 1
        elif call.state is CallState.FALLBACK:
            fallback += 1
        else:
            counted.append(call)
    chosen = (
        {} if stored else _box_chosen_at(session, [c for c in counted if c.state in _BOX_STATES])
    )
    answered = voicemail = callback = abandoned = closed = other = 0
    reached = within = 0
    lost_calls = []
    for call in counted:
        waited_from = call.queue_entered_at
        assert waited_from is not None
        if call.answered_at is not None:
            answered += 1
            if call.within_service_level if stored else call.answered_at - waited_from <= limit:
                within += 1
        elif call.state in _BOX_STATES:
            if call.state is CallState.VOICEMAIL:
                voicemail += 1
            else:
                callback += 1
            at = chosen.get(call.id) or call.ended_at
            if (
                call.within_service_level
                if stored
                else at is not None and at - waited_from <= limit
            ):
                within += 1
        elif call.state in _ABANDONED:
            abandoned += 1
        elif call.state is CallState.CLOSED:
            closed += 1
        else:
            other += 1
        if call.reached:
            reached += 1
        elif call.state in _ABANDONED:
            lost_calls.append(call)
    return KpiSummary(
        since=since,
        until=until,
        service_level_s=threshold_s,
        calls=len(counted),
        answered=answered,
        voicemail=voicemail,
        callback=callback,
        abandoned=abandoned,
        closed=closed,
        other=other,
        reached=reached,
        within_service_level=within,
        lost=len(lost_calls),
        lost_not_recovered=sum(1 for c in lost_calls if not _recovered(session, c)),
        in_progress=in_progress,
        transferred=transferred,
        fallback=fallback,
    )


_BOX_STATES = (CallState.VOICEMAIL, CallState.CALLBACK)


def _box_chosen_at(session: Session, box_calls: list[Call]) -> dict[int, datetime]:
    """When each caller chose voicemail or a callback (R-5.4).

    Exact when the caller pressed ``#``/``0`` while an agent rang: the ring attempt ended
    ``cancelled`` then. Otherwise the back-office item tells: a callback request is taken at
    once; a message is stored when the recording ends, so its start is ``created_at`` minus
    its duration (a few seconds of greeting late, which errs against the service level).
    """
    ids = [c.id for c in box_calls]
    if not ids:
        return {}
    chosen: dict[int, datetime] = {}
    for call_id, ended in session.execute(
        select(RingAttempt.call_id, RingAttempt.ended_at).where(
            RingAttempt.call_id.in_(ids),
            RingAttempt.outcome == RingOutcome.CANCELLED,
        )
    ):
        if ended is not None and (call_id not in chosen or ended < chosen[call_id]):
            chosen[call_id] = ended
    for item in session.scalars(select(VoicemailItem).where(VoicemailItem.call_id.in_(ids))):
        assert item.call_id is not None
        if item.call_id in chosen:
            continue
        chosen[item.call_id] = item.created_at - timedelta(seconds=item.duration_s or 0)
    return chosen


def _recovered(session: Session, lost: Call) -> bool:
    """Was a lost caller connected later, in either direction (R-4.5)?"""
    prefix = _centre_prefix(session)
    if lost.queue_id is not None:
        queue_prefix = session.scalar(select(Queue.country_prefix).where(Queue.id == lost.queue_id))
        if queue_prefix and is_country_prefix(queue_prefix):
            prefix = queue_prefix
    customer_id = lost.customer_id or _only_owner(session, _digits_of(lost.caller_number, prefix))
    party = _party(session, customer_id, lost.caller_number, prefix, _known_prefixes(session))
    after = lost.ended_at or lost.started_at
    found = session.scalar(
        select(Call.id)
        .where(
            party.calls(inbound_only=False),
            Call.id != lost.id,
            Call.answered_at.is_not(None),
            Call.answered_at >= after,
        )
        .limit(1)
    )
    return found is not None
