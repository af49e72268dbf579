"""The database side of call records and recordings (R-5.1, R-5.2, R-7.4).

Who sees what: supervisors and admins see every call (as they see every box in the back
office); everyone else sees the calls of the queues they hold a right to, and calls they
were in themselves. :func:`visible_queues` says which; every function here applies it, so
a call of another queue answers as one that does not exist (404), in pages, exports and
the API alike. An API key sees the queues it is scoped to (``reports.store.api_keys``).

Lists are keyset pages, newest first by ``(started_at, id)`` (``reports.records.Cursor``);
the indexes that keep them fast on a million calls are in migration 0007.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, exists, false, or_, select, tuple_, union
from sqlalchemy.orm import Session, aliased

from db.models import (
    Agent,
    AuditLog,
    Call,
    Customer,
    FollowUpProcess,
    IvrKeyPress,
    IvrMenu,
    ProcessCall,
    Queue,
    QueueRight,
    ReasonNode,
    Recording,
    RingAttempt,
    VoicemailBox,
    VoicemailItem,
)
from domain.enums import CallState, Role
from domain.refusals import CallNotFoundError, NotFoundError
from domain.texts import N_
from reports.records import (
    CallFilter,
    Cursor,
    TimelineEvent,
    reason_paths,
    ringing_seconds,
    seconds_between,
    subtree,
    timeline,
)
from voicemail.store.parties import centre_prefix, digits_of, known_prefixes, written_forms

NO_SUCH_RECORDING = N_("There is no such recording.")
RECORDING_DELETE = "recording.delete"  # the audit log's action
PAGE_MAX = 500  # the most rows a page (or the API) asks for
BATCH_MAX = 5000  # the most rows one read returns: a CSV export's batch


@dataclass(frozen=True)
class Viewer:
    """Whose rights a query applies: ``queue_ids`` None means every queue (R-7.4).

    ``agent_id`` also sees the calls they were in themselves; an API key has none.
    """

    agent_id: int | None
    queue_ids: frozenset[int] | None


def viewer_of(session: Session, agent_id: int) -> Viewer:
    """The rights of a signed-in person."""
    agent = session.get(Agent, agent_id)
    if agent is None or not agent.active:
        return Viewer(agent_id, frozenset())
    if agent.role in (Role.SUPERVISOR, Role.ADMIN):
        return Viewer(agent_id, None)
    rights = session.scalars(select(QueueRight.queue_id).where(QueueRight.agent_id == agent_id))
    return Viewer(agent_id, frozenset(rights))


def _visible(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.queue_ids is None:
        return Call.id.is_not(None)
    parts: list[ColumnElement[bool]] = []
    if viewer.queue_ids:
        parts.append(Call.queue_id.in_(sorted(viewer.queue_ids)))
    if viewer.agent_id is not None:
        parts.append(Call.agent_id == viewer.agent_id)
    return or_(*parts) if parts else false()


# --------------------------------------------------------------------------- the list


@dataclass(frozen=True)
class CallRecord:
    """One row of the call records (R-5.1)."""

    id: int
    started_at: datetime
    from_number: str
    to_number: str
    did: str
    queue_id: int | None
    queue_name: str
    agent_id: int | None
    agent_name: str
    direction: str
    state: str
    total_s: int | None
    ringing_s: int
    talking_s: int | None
    hangup_cause: str
    overflowed: bool
    transferred_in: bool  # this leg came from another queue
    transferred_out: bool  # this leg was moved elsewhere
    reason_path: str
    rt_number: str
    recordings: int  # not deleted


@dataclass(frozen=True)
class CallPage:
    rows: tuple[CallRecord, ...]
    next_cursor: Cursor | None  # None: this was the last page


def _nodes(session: Session) -> dict[int, tuple[int | None, str]]:
    return {
        node_id: (parent, label)
        for node_id, parent, label in session.execute(
            select(ReasonNode.id, ReasonNode.parent_id, ReasonNode.label)
        )
    }


def _conditions(
    session: Session, flt: CallFilter, nodes: dict[int, tuple[int | None, str]]
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if flt.since is not None:
        where.append(Call.started_at >= flt.since)
    if flt.until is not None:
        where.append(Call.started_at < flt.until)
    if flt.direction is not None:
        where.append(Call.direction == flt.direction)
    if flt.state is not None:
        where.append(Call.state == flt.state)
    if flt.queue_id is not None:
        where.append(Call.queue_id == flt.queue_id)
    if flt.agent_id is not None:
        where.append(Call.agent_id == flt.agent_id)
    if flt.did:
        where.append(Call.did == flt.did)
    if flt.number:
        # R-2.6's normalisation: "+420 777 123 456", "777123456" and "00420777123456" are one
        # number; a caller ID may store any of its written forms.
        digits = digits_of(flt.number, centre_prefix(session))
        forms = sorted(written_forms([digits], known_prefixes(session))) if digits else []
        # The calls of either index, as a union: with an OR of the two columns SQLite walks
        # the start-time index of every call instead (half a second on a million calls).
        by_number = union(
            select(Call.id).where(Call.caller_number.in_(forms)),
            select(Call.id).where(Call.callee_number.in_(forms)),
        )
        where.append(Call.id.in_(by_number) if forms else false())
    if flt.rt_number:
        where.append(Call.rt_number == flt.rt_number)
    if flt.reason_node_id is not None:
        where.append(Call.reason_node_id.in_(sorted(subtree(nodes, flt.reason_node_id))))
    if flt.overflowed is not None:
        where.append(Call.overflowed.is_(flt.overflowed))
    if flt.has_recording is not None:
        kept = exists().where(Recording.call_id == Call.id, Recording.deleted_at.is_(None))
        where.append(kept if flt.has_recording else ~kept)
    return where


_QUEUE = aliased(Queue)
_AGENT = aliased(Agent)
# Only the columns a record shows: loading whole ORM rows cost five times as much per row,
# which a CSV export of a month pays ~100,000 times (bench/reports.py).
_RECORD_COLUMNS: tuple[Any, ...] = (
    Call.id,
    Call.started_at,
    Call.caller_number,
    Call.callee_number,
    Call.did,
    Call.queue_id,
    Call.agent_id,
    Call.direction,
    Call.state,
    Call.answered_at,
    Call.ended_at,
    Call.hangup_cause,
    Call.overflowed,
    Call.transferred_from_queue_id,
    Call.reason_node_id,
    Call.rt_number,
    _QUEUE.name.label("queue_name"),
    _AGENT.name.label("agent_name"),
)


def _record_rows(*where: ColumnElement[bool]) -> Select[Any]:
    return (
        select(*_RECORD_COLUMNS)
        .outerjoin(_QUEUE, _QUEUE.id == Call.queue_id)
        .outerjoin(_AGENT, _AGENT.id == Call.agent_id)
        .where(and_(*where))
    )


def list_calls(
    session: Session,
    viewer: Viewer,
    flt: CallFilter,
    after: Cursor | None = None,
    limit: int = 50,
) -> CallPage:
    """A page of the calls ``viewer`` may see that match ``flt``, newest first, after
    ``after`` (keyset: the deep pages cost what the first does); at most ``BATCH_MAX``."""
    limit = max(1, min(limit, BATCH_MAX))
    nodes = _nodes(session)
    where = [_visible(viewer), *_conditions(session, flt, nodes)]
    if after is not None:
        where.append(tuple_(Call.started_at, Call.id) < tuple_(after.started_at, after.call_id))
    # Core, not the ORM's loading: plain columns, and an export reads thousands a batch.
    rows = (
        session.connection()
        .execute(
            _record_rows(*where).order_by(Call.started_at.desc(), Call.id.desc()).limit(limit + 1)
        )
        .all()
    )
    more = len(rows) > limit
    records = _records(session, rows[:limit], nodes)
    last = records[-1] if records else None
    return CallPage(
        rows=tuple(records),
        next_cursor=Cursor(last.started_at, last.id) if more and last else None,
    )


def _records(
    session: Session,
    rows: Sequence[Row[Any]],
    nodes: dict[int, tuple[int | None, str]],
) -> list[CallRecord]:
    ids = [row.id for row in rows]
    rings: dict[int, list[tuple[datetime, datetime | None]]] = {}
    kept: dict[int, int] = {}
    if ids:
        connection = session.connection()
        for call_id, started, ended in connection.execute(
            select(RingAttempt.call_id, RingAttempt.started_at, RingAttempt.ended_at).where(
                RingAttempt.call_id.in_(ids)
            )
        ):
            rings.setdefault(call_id, []).append((started, ended))
        for (call_id,) in connection.execute(
            select(Recording.call_id).where(
                Recording.call_id.in_(ids), Recording.deleted_at.is_(None)
            )
        ):
            kept[call_id] = kept.get(call_id, 0) + 1
    paths = reason_paths(nodes)
    return [
        CallRecord(
            id=row.id,
            started_at=row.started_at,
            from_number=row.caller_number,
            to_number=row.callee_number,
            did=row.did,
            queue_id=row.queue_id,
            queue_name=row.queue_name or "",
            agent_id=row.agent_id,
            agent_name=row.agent_name or "",
            direction=row.direction.value,
            state=row.state.value,
            total_s=seconds_between(row.started_at, row.ended_at),
            ringing_s=ringing_seconds(rings.get(row.id, ()), row.ended_at),
            talking_s=seconds_between(row.answered_at, row.ended_at),
            hangup_cause=row.hangup_cause,
            overflowed=row.overflowed,
            transferred_in=row.transferred_from_queue_id is not None,
            transferred_out=row.state is CallState.TRANSFERRED,
            reason_path=paths.get(row.reason_node_id, "") if row.reason_node_id else "",
            rt_number=row.rt_number or "",
            recordings=kept.get(row.id, 0),
        )
        for row in rows
    ]


# --------------------------------------------------------------------------- filter choices


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class FilterChoices:
    """What the filter form offers: only what the viewer may see (R-7.4)."""

    queues: tuple[Choice, ...]
    agents: tuple[Choice, ...]
    reasons: tuple[Choice, ...]


def filter_choices(session: Session, viewer: Viewer) -> FilterChoices:
    queues = select(Queue.id, Queue.name).order_by(Queue.name)
    if viewer.queue_ids is not None:
        queues = queues.where(Queue.id.in_(sorted(viewer.queue_ids)))
    queue_rows = session.execute(queues).all()
    queue_ids = [q for q, _ in queue_rows]
    agents = select(Agent.id, Agent.name).order_by(Agent.name)
    if viewer.queue_ids is not None:
        agents = agents.where(
            or_(
                Agent.id == viewer.agent_id,
                Agent.id.in_(select(QueueRight.agent_id).where(QueueRight.queue_id.in_(queue_ids))),
            )
        )
    nodes = {
        node_id: (parent, label)
        for node_id, parent, label, queue_id in session.execute(
            select(ReasonNode.id, ReasonNode.parent_id, ReasonNode.label, ReasonNode.queue_id)
        )
        if viewer.queue_ids is None or queue_id in viewer.queue_ids
    }
    paths = reason_paths(nodes)
    return FilterChoices(
        queues=tuple(Choice(str(q), name) for q, name in queue_rows),
        agents=tuple(Choice(str(a), name) for a, name in session.execute(agents)),
        reasons=tuple(
            Choice(str(node_id), path) for node_id, path in sorted(paths.items(), key=_by_path)
        ),
    )


def _by_path(item: tuple[int, str]) -> str:
    return item[1].casefold()


# --------------------------------------------------------------------------- one call


@dataclass(frozen=True)
class RecordingEntry:
    id: int
    started_at: datetime
    duration_s: int | None
    path: str  # "" once deleted
    deleted_at: datetime | None
    deleted_by: str


@dataclass(frozen=True)
class CallDetail:
    """A call with its timeline (R-5.1) and recordings (R-5.2)."""

    record: CallRecord
    caller_name: str
    customer_name: str
    note: str
    processing_state: str
    processed_by: str
    events: tuple[TimelineEvent, ...]
    recordings: tuple[RecordingEntry, ...]
    legs: tuple[CallRecord, ...]  # the other legs of the same call (transfers), visible ones


def _load_visible(session: Session, viewer: Viewer, call_id: int) -> Call:
    call = session.scalars(select(Call).where(Call.id == call_id, _visible(viewer))).one_or_none()
    if call is None:
        raise CallNotFoundError()  # another queue's call answers as one that does not exist
    return call


def _names(session: Session, ids: Collection[int | None]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    return dict(session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(wanted))).all())


def _queue_name(session: Session, queue_id: int | None) -> str:
    queue = session.get(Queue, queue_id) if queue_id is not None else None
    return queue.name if queue is not None else ""


def call_detail(session: Session, viewer: Viewer, call_id: int) -> CallDetail:
    """The call's record, timeline, recordings and other legs; 404 when not visible."""
    call = _load_visible(session, viewer, call_id)
    nodes = _nodes(session)
    names = _names(
        session,
        [call.agent_id, call.processed_by_id, call.transferred_by_agent_id],
    )
    record = _records(session, session.execute(_record_rows(Call.id == call.id)).all(), nodes)[0]
    events: list[TimelineEvent] = [TimelineEvent(call.started_at, "started")]
    for press, menu_name in session.execute(
        select(IvrKeyPress, IvrMenu.name)
        .join(IvrMenu, IvrMenu.id == IvrKeyPress.menu_id)
        .where(IvrKeyPress.call_id == call.id)
    ):
        events.append(
            TimelineEvent(
                press.at,
                "ivr_key",
                {"menu": menu_name, "digit": press.digit, "outcome": press.outcome.value},
            )
        )
    if call.transferred_from_queue_id is not None:
        events.append(
            TimelineEvent(
                call.queue_entered_at or call.started_at,
                "transferred_in",
                {
                    "queue": _queue_name(session, call.transferred_from_queue_id),
                    "agent": names.get(call.transferred_by_agent_id or 0, ""),
                },
            )
        )
    if call.queue_entered_at is not None:
        events.append(
            TimelineEvent(call.queue_entered_at, "queue_entered", {"queue": record.queue_name})
        )
    attempts = session.scalars(
        select(RingAttempt)
        .where(RingAttempt.call_id == call.id)
        .order_by(RingAttempt.started_at, RingAttempt.id)
    ).all()
    ring_names = _names(session, [a.agent_id for a in attempts])
    overflow_shown = False
    for attempt in attempts:
        if attempt.overflow and not overflow_shown:
            events.append(TimelineEvent(attempt.started_at, "overflow"))
            overflow_shown = True
        events.append(
            TimelineEvent(
                attempt.started_at,
                "ring",
                {
                    "agent": ring_names.get(attempt.agent_id or 0, "") or attempt.dial_string,
                    "seconds": seconds_between(
                        attempt.started_at, attempt.ended_at or call.ended_at
                    ),
                    "outcome": attempt.outcome.value,
                },
            )
        )
    if call.overflowed and not overflow_shown and call.queue_entered_at is not None:
        events.append(TimelineEvent(call.queue_entered_at, "overflow"))
    if call.answered_at is not None:
        events.append(
            TimelineEvent(
                call.answered_at,
                "answered",
                {
                    "agent": record.agent_name,
                    "wait_s": seconds_between(call.queue_entered_at, call.answered_at),
                },
            )
        )
    items = session.execute(
        select(VoicemailItem, VoicemailBox.name)
        .join(VoicemailBox, VoicemailBox.id == VoicemailItem.box_id)
        .where(VoicemailItem.call_id == call.id)
        .order_by(VoicemailItem.id)
    ).all()
    for item, box_name in items:
        events.append(
            TimelineEvent(
                item.created_at,
                "box_choice",
                {
                    "kind": item.kind.value,
                    "box": box_name,
                    "item_id": item.id,
                    "state": item.state.value,
                },
            )
        )
    if call.state is CallState.TRANSFERRED and call.ended_at is not None:
        events.append(TimelineEvent(call.ended_at, "transferred_out"))
    if call.ended_at is not None:
        events.append(
            TimelineEvent(
                call.ended_at,
                "ended",
                {
                    "state": call.state.value,
                    "cause": call.hangup_cause,
                    "talking_s": record.talking_s,
                },
            )
        )
    if call.processed_at is not None:
        events.append(
            TimelineEvent(
                call.processed_at,
                "processed",
                {
                    "agent": names.get(call.processed_by_id or 0, ""),
                    "reason": record.reason_path,
                    "rt": record.rt_number,
                },
            )
        )
    for process in session.scalars(
        select(FollowUpProcess)
        .join(ProcessCall, ProcessCall.process_id == FollowUpProcess.id)
        .where(ProcessCall.call_id == call.id)
        .order_by(FollowUpProcess.id)
    ):
        events.append(
            TimelineEvent(
                process.created_at,
                "follow_up",
                {"title": process.title, "open": process.open, "process_id": process.id},
            )
        )
    recordings = _recordings(session, call.id)
    for rec in recordings:
        events.append(TimelineEvent(rec.started_at, "recording", {"recording_id": rec.id}))
    for entry, actor in session.execute(
        select(AuditLog, Agent.name)
        .outerjoin(Agent, Agent.id == AuditLog.actor_id)
        .where(AuditLog.target == f"call:{call.id}", AuditLog.action == RECORDING_DELETE)
        .order_by(AuditLog.at, AuditLog.id)
    ):
        detail = json.loads(entry.detail or "{}")
        events.append(
            TimelineEvent(
                entry.at,
                "recording_deleted",
                {"agent": actor or "", "recording_id": detail.get("recording_id")},
            )
        )
    customer = session.get(Customer, call.customer_id) if call.customer_id else None
    return CallDetail(
        record=record,
        caller_name=call.caller_name,
        customer_name=customer.name if customer is not None else "",
        note=call.note,
        processing_state=call.processing_state.value,
        processed_by=names.get(call.processed_by_id or 0, ""),
        events=tuple(timeline(events)),
        recordings=tuple(recordings),
        legs=tuple(_legs(session, viewer, call, nodes)),
    )


def _legs(
    session: Session, viewer: Viewer, call: Call, nodes: dict[int, tuple[int | None, str]]
) -> list[CallRecord]:
    """The call's other legs (a transfer makes a new one, R-1.12), those the viewer may see."""
    if not call.linkedid:
        return []
    rows = session.execute(
        _record_rows(Call.linkedid == call.linkedid, Call.id != call.id, _visible(viewer))
        .order_by(Call.started_at, Call.id)
        .limit(20)
    ).all()
    return _records(session, rows, nodes)


def _recordings(session: Session, call_id: int) -> list[RecordingEntry]:
    rows = session.execute(
        select(Recording, Agent.name)
        .outerjoin(Agent, Agent.id == Recording.deleted_by_id)
        .where(Recording.call_id == call_id)
        .order_by(Recording.started_at, Recording.id)
    ).all()
    return [
        RecordingEntry(
            id=rec.id,
            started_at=rec.started_at,
            duration_s=rec.duration_s,
            path=rec.path if rec.deleted_at is None else "",
            deleted_at=rec.deleted_at,
            deleted_by=name or "",
        )
        for rec, name in rows
    ]


# --------------------------------------------------------------------------- recordings


def recording_path(session: Session, viewer: Viewer, call_id: int, recording_id: int) -> str:
    """The stored file of a recording of a visible call (relative to the recordings folder);
    404 for another queue's call, an unknown or a deleted recording (R-5.2, R-7.4)."""
    _load_visible(session, viewer, call_id)
    rec = session.get(Recording, recording_id)
    if rec is None or rec.call_id != call_id or rec.deleted_at is not None:
        raise NotFoundError(NO_SUCH_RECORDING)
    return rec.path


def delete_recording(
    session: Session, viewer: Viewer, call_id: int, recording_id: int, now: datetime
) -> str:
    """Mark a recording deleted, keep its row, write who and when to the audit log (R-5.2);
    the path of the file for the caller to remove once this is committed."""
    _load_visible(session, viewer, call_id)
    rec = session.get(Recording, recording_id, with_for_update=True)
    if rec is None or rec.call_id != call_id or rec.deleted_at is not None:
        raise NotFoundError(NO_SUCH_RECORDING)
    rec.deleted_at = now
    rec.deleted_by_id = viewer.agent_id
    session.add(
        AuditLog(
            at=now,
            actor_id=viewer.agent_id,
            action=RECORDING_DELETE,
            target=f"call:{call_id}",
            detail=json.dumps(
                {"recording_id": rec.id, "before": {"path": rec.path}, "after": {"path": None}}
            ),
        )
    )
    return rec.path
