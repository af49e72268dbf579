"""The figures of the reports of R-5.3, counted from the call records for a period.

Every function takes a :class:`Scope`: the queues the reader may see (R-7.4). A call
counts only when its queue is in scope; calls that never reached a queue (left in the IVR,
a DID without a queue) belong to the centre, not to a queue, and only a scope of the whole
centre (``queue_ids=None``, an admin without a queue filter) holds them. The definitions
are in ``docs/kpi.md`` (R-5.4 publishes them); ``reports.report_tables`` turns the rows
into tables.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Executable, Result, Select, select, true
from sqlalchemy.orm import Session

from db.models import (
    Agent,
    AgentSession,
    Call,
    Did,
    IvrKeyPress,
    IvrMenu,
    IvrOption,
    PauseRecord,
    PauseType,
    Queue,
    QueueRight,
    ReasonNode,
    RingAttempt,
)
from domain.enums import FINAL_STATES, CallState, Direction, RingOutcome
from reports.report_period import Period
from reports.report_tables import (
    ActivityRow,
    AgentReport,
    AgentRow,
    DidRow,
    IvrRow,
    QueueRow,
    ReasonRow,
    ReportTable,
    agent_table,
    day_label,
    days_table,
    did_table,
    hours_table,
    ivr_table,
    queue_table,
    reason_table,
)
from reports.store.kpi import kpi_per_queue

ABANDONED = (CallState.ABANDONED_IVR, CallState.ABANDONED_QUEUE, CallState.ABANDONED_RINGING)
BOXES = (CallState.VOICEMAIL, CallState.CALLBACK)
# A ring the agent let go by: rang out, refused busy, or the phone failed.
MISSED = (RingOutcome.NO_ANSWER, RingOutcome.BUSY, RingOutcome.FAILED)


@dataclass(frozen=True)
class Scope:
    """What a reader may count: ``queue_ids`` None is the whole centre (R-7.4)."""

    queue_ids: frozenset[int] | None

    def narrowed(self, queue_id: int | None) -> Scope:
        """The scope with the page's queue filter; a queue out of scope leaves nothing."""
        if queue_id is None:
            return self
        if self.queue_ids is None or queue_id in self.queue_ids:
            return Scope(frozenset({queue_id}))
        return Scope(frozenset())


@dataclass(frozen=True)
class QueueChoice:
    id: int
    name: str


def visible_queues(session: Session, scope: Scope) -> list[QueueChoice]:
    """The queues a reader may pick in the filter, by name."""
    query = select(Queue.id, Queue.name).order_by(Queue.name, Queue.id)
    if scope.queue_ids is not None:
        query = query.where(Queue.id.in_(scope.queue_ids))
    return [QueueChoice(i, n) for i, n in session.execute(query)]


def _read(session: Session, query: Executable) -> Result[*tuple[Any, ...]]:
    """A report's big read (a month of calls) through Core: plain rows, without the ORM's
    loading, which costs more than the database on tens of thousands of rows."""
    return session.connection().execute(query)


def _pairs(session: Session, query: Select[Any, Any]) -> dict[Any, Any]:
    """A two-column query as a dict (``dict(result)`` would take the result for a mapping)."""
    return {key: value for key, value in session.execute(query)}


def _visible(scope: Scope) -> ColumnElement[bool]:
    if scope.queue_ids is None:
        return true()
    return Call.queue_id.in_(sorted(scope.queue_ids))


def _started_in(period: Period) -> list[ColumnElement[bool]]:
    return [Call.started_at >= period.since, Call.started_at < period.until]


# ---------------------------------------------------------------- per queue


def queue_rows(session: Session, period: Period, scope: Scope) -> list[QueueRow]:
    """Per queue, the KPI population's figures (``kpi_per_queue``: one read for them all)."""
    rows = []
    choices = visible_queues(session, scope)
    figures = kpi_per_queue(session, period.since, period.until, [c.id for c in choices])
    for choice in choices:
        k = figures[choice.id]
        rows.append(
            QueueRow(
                queue=choice.name,
                calls=k.calls,
                answered=k.answered,
                average_wait_s=k.average_wait_s,
                average_talk_s=k.average_talk_s,
                service_level=k.service_level,
                abandoned=k.abandoned,
                abandonment=k.abandonment,
                reachability=k.reachability,
                voicemail=k.voicemail,
                callback=k.callback,
                closed=k.closed,
                lost_not_recovered=k.lost_not_recovered,
            )
        )
    return rows


# ---------------------------------------------------------------- per agent


def _overlap_s(start: datetime, end: datetime | None, since: datetime, until: datetime) -> float:
    """Seconds of ``[start, end)`` inside ``[since, until)``; an open interval runs to until."""
    stop = min(end or until, until)
    return max(0.0, (stop - max(start, since)).total_seconds())


def agent_report(session: Session, period: Period, scope: Scope, now: datetime) -> AgentReport:
    """Per agent: calls by state, talk and processing time, missed rings, login and pause
    time by pause type (docs/kpi.md). The agents are those with a right to a queue in scope
    or with a call in it; login and pause time run to ``now`` while still open."""
    since, until = period.since, min(period.until, now)
    talk: defaultdict[int, float] = defaultdict(float)
    processing: defaultdict[int, float] = defaultdict(float)
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    found = _read(
        session,
        select(
            Call.agent_id,
            Call.direction,
            Call.state,
            Call.answered_at,
            Call.ended_at,
            Call.processed_by_id,
            Call.processed_at,
        ).where(_visible(scope), *_started_in(period)),
    )
    agent_ids: set[int] = set()
    for agent_id, direction, state, answered_at, ended_at, processed_by, processed_at in found:
        if processed_by is not None and processed_at is not None and ended_at is not None:
            processing[processed_by] += max(0.0, (processed_at - ended_at).total_seconds())
            agent_ids.add(processed_by)
        if agent_id is None:
            continue
        agent_ids.add(agent_id)
        if answered_at is not None and ended_at is not None:
            talk[agent_id] += (ended_at - answered_at).total_seconds()
        if direction is Direction.INBOUND and answered_at is not None:
            counts[agent_id]["answered"] += 1
        elif direction is Direction.OUTBOUND and answered_at is not None:
            counts[agent_id]["outbound_answered"] += 1
        elif direction is Direction.OUTBOUND and state in FINAL_STATES:
            counts[agent_id]["outbound_unanswered"] += 1
    missed: Counter[int] = Counter()
    for agent_id in _read(
        session,
        select(RingAttempt.agent_id)
        .join(Call, Call.id == RingAttempt.call_id)
        .where(
            _visible(scope),
            RingAttempt.agent_id.is_not(None),
            RingAttempt.outcome.in_(MISSED),
            RingAttempt.started_at >= period.since,
            RingAttempt.started_at < period.until,
        ),
    ).scalars():
        assert agent_id is not None  # the query asks for rings of an agent
        missed[agent_id] += 1
        agent_ids.add(agent_id)
    rights = select(QueueRight.agent_id)
    if scope.queue_ids is not None:
        rights = rights.where(QueueRight.queue_id.in_(sorted(scope.queue_ids)))
    agent_ids.update(session.scalars(rights))
    login: defaultdict[int, float] = defaultdict(float)
    for agent_id, start, end in session.execute(
        select(AgentSession.agent_id, AgentSession.logged_in_at, AgentSession.logged_out_at).where(
            AgentSession.agent_id.in_(sorted(agent_ids)),
            AgentSession.logged_in_at < until,
        )
    ):
        login[agent_id] += _overlap_s(start, end, since, until)
    pause: defaultdict[tuple[int, int], float] = defaultdict(float)
    for agent_id, type_id, start, end in session.execute(
        select(
            PauseRecord.agent_id,
            PauseRecord.pause_type_id,
            PauseRecord.started_at,
            PauseRecord.ended_at,
        ).where(PauseRecord.agent_id.in_(sorted(agent_ids)), PauseRecord.started_at < until)
    ):
        pause[agent_id, type_id] += _overlap_s(start, end, since, until)
    types = session.execute(select(PauseType.id, PauseType.name).order_by(PauseType.position))
    shown_types = [(i, n) for i, n in types if any(pause.get((a, i)) for a in agent_ids)]
    names = _pairs(session, select(Agent.id, Agent.name).where(Agent.id.in_(sorted(agent_ids))))
    rows = [
        AgentRow(
            agent=names[a],
            answered=counts[a]["answered"],
            outbound_answered=counts[a]["outbound_answered"],
            outbound_unanswered=counts[a]["outbound_unanswered"],
            talk_s=talk[a],
            processing_s=processing[a],
            missed_rings=missed[a],
            login_s=login[a],
            pause_s=tuple(pause.get((a, i), 0.0) for i, _ in shown_types),
        )
        for a in sorted(agent_ids, key=lambda a: (names[a], a))
    ]
    return AgentReport(tuple(n for _, n in shown_types), tuple(rows))


# ---------------------------------------------------------------- activity


def _activity(
    session: Session, period: Period, scope: Scope, key: ActivityKey
) -> dict[str, Counter[str]]:
    zone = ZoneInfo(period.time_zone)
    buckets: dict[str, Counter[str]] = defaultdict(Counter)
    # Every zone's offset is a whole number of quarter hours: the calls of one UTC quarter
    # hour fall in one local bucket, worked out once.
    labels: dict[datetime, str] = {}
    for started_at, direction, state, answered_at in _read(
        session,
        select(Call.started_at, Call.direction, Call.state, Call.answered_at).where(
            _visible(scope), *_started_in(period)
        ),
    ):
        quarter = started_at.replace(
            minute=started_at.minute - started_at.minute % 15, second=0, microsecond=0
        )
        label = labels.get(quarter)
        if label is None:
            label = labels[quarter] = key(quarter.astimezone(zone))
        bucket = buckets[label]
        if direction is Direction.INBOUND:
            bucket["inbound"] += 1
            if answered_at is not None:
                bucket["answered"] += 1
            elif state in ABANDONED:
                bucket["abandoned"] += 1
        elif direction is Direction.OUTBOUND:
            bucket["outbound"] += 1
    return buckets


class ActivityKey:
    """Which bucket a local start time falls in (``hour`` or ``day``)."""

    def __init__(self, by_hour: bool) -> None:
        self.by_hour = by_hour

    def __call__(self, local: datetime) -> str:
        return f"{local.hour:02d}" if self.by_hour else day_label(local.date())


def _activity_rows(labels: Iterable[str], buckets: dict[str, Counter[str]]) -> list[ActivityRow]:
    return [
        ActivityRow(
            label=label,
            inbound=buckets[label]["inbound"],
            answered=buckets[label]["answered"],
            abandoned=buckets[label]["abandoned"],
            outbound=buckets[label]["outbound"],
        )
        for label in labels
    ]


def hour_rows(session: Session, period: Period, scope: Scope) -> list[ActivityRow]:
    """Calls by the local hour they started in, 00 to 23, over the whole period."""
    buckets = _activity(session, period, scope, ActivityKey(by_hour=True))
    return _activity_rows((f"{h:02d}" for h in range(24)), buckets)


def day_rows(session: Session, period: Period, scope: Scope) -> list[ActivityRow]:
    """Calls by the local day they started on, every day of the period."""
    buckets = _activity(session, period, scope, ActivityKey(by_hour=False))
    return _activity_rows((day_label(d) for d in period.days), buckets)


# ---------------------------------------------------------------- per DID


def did_rows(session: Session, period: Period, scope: Scope) -> list[DidRow]:
    """Inbound calls by the number the caller dialled, with how they ended."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for did, state, answered_at in _read(
        session,
        select(Call.did, Call.state, Call.answered_at).where(
            _visible(scope), Call.direction == Direction.INBOUND, *_started_in(period)
        ),
    ):
        bucket = counts[did]
        bucket["calls"] += 1
        if answered_at is not None:
            bucket["answered"] += 1
        elif state in BOXES:
            bucket["boxes"] += 1
        elif state in ABANDONED:
            bucket["abandoned"] += 1
        else:
            bucket["other"] += 1
    names = _pairs(session, select(Did.number, Did.name))
    return [
        DidRow(
            did=did,
            name=names.get(did, ""),
            calls=c["calls"],
            answered=c["answered"],
            boxes=c["boxes"],
            abandoned=c["abandoned"],
            other=c["other"],
        )
        for did, c in sorted(counts.items(), key=lambda item: (-item[1]["calls"], item[0]))
    ]


# ---------------------------------------------------------------- IVR


def ivr_rows(session: Session, period: Period, scope: Scope) -> list[IvrRow]:
    """Keys pressed in each IVR menu by calls that started in the period (invalid keys and
    timeouts too), with where the option leads."""
    presses: Counter[tuple[int, str, str]] = Counter()
    callers: dict[tuple[int, str, str], set[int]] = defaultdict(set)
    for menu_id, digit, outcome, call_id in _read(
        session,
        select(IvrKeyPress.menu_id, IvrKeyPress.digit, IvrKeyPress.outcome, IvrKeyPress.call_id)
        .join(Call, Call.id == IvrKeyPress.call_id)
        .where(_visible(scope), *_started_in(period)),
    ):
        key = (menu_id, digit, outcome.value)
        presses[key] += 1
        callers[key].add(call_id)
    menus = _pairs(session, select(IvrMenu.id, IvrMenu.name))
    queues = _pairs(session, select(Queue.id, Queue.name))
    targets = {
        (m, d): queues.get(q, "") if q is not None else menus.get(s, "") if s is not None else ""
        for m, d, q, s in session.execute(
            select(IvrOption.menu_id, IvrOption.digit, IvrOption.queue_id, IvrOption.submenu_id)
        )
    }
    return [
        IvrRow(
            menu=menus.get(menu_id, ""),
            digit=digit,
            outcome=outcome,
            target=(targets.get((menu_id, digit)) or "") if outcome == "option" else "",
            presses=count,
            calls=len(callers[menu_id, digit, outcome]),
        )
        for (menu_id, digit, outcome), count in sorted(
            presses.items(), key=lambda item: (menus.get(item[0][0], ""), item[0])
        )
    ]


# ---------------------------------------------------------------- reason paths


def reason_path(nodes: dict[int, tuple[int | None, str]], node_id: int) -> str:
    """A reason's labels from the root down, ``Hardware › Printer``."""
    labels = []
    seen: set[int] = set()
    current: int | None = node_id
    while current is not None and current in nodes and current not in seen:
        seen.add(current)
        parent, label = nodes[current]
        labels.append(label)
        current = parent
    return " › ".join(reversed(labels))


def reason_rows(session: Session, period: Period, scope: Scope) -> list[ReasonRow]:
    """Calls by the reason path saved on their Active call form (R-2.13), per direction."""
    calls: Counter[tuple[int, Direction]] = Counter()
    talk: defaultdict[tuple[int, Direction], float] = defaultdict(float)
    for found_id, direction, answered_at, ended_at in _read(
        session,
        select(Call.reason_node_id, Call.direction, Call.answered_at, Call.ended_at).where(
            _visible(scope), Call.reason_node_id.is_not(None), *_started_in(period)
        ),
    ):
        assert found_id is not None  # the query asks for calls with a reason
        node_id: int = found_id
        calls[node_id, direction] += 1
        if answered_at is not None and ended_at is not None:
            talk[node_id, direction] += (ended_at - answered_at).total_seconds()
    nodes = {
        i: (p, label)
        for i, p, label in session.execute(
            select(ReasonNode.id, ReasonNode.parent_id, ReasonNode.label)
        )
    }
    queue_of = _pairs(
        session, select(ReasonNode.id, Queue.name).join(Queue, Queue.id == ReasonNode.queue_id)
    )
    rows = [
        ReasonRow(
            path=f"{queue_of.get(node_id, '')}: {reason_path(nodes, node_id)}",
            direction=direction.value,
            calls=count,
            talk_s=talk[node_id, direction],
        )
        for (node_id, direction), count in calls.items()
    ]
    return sorted(rows, key=lambda r: (-r.calls, r.path, r.direction))


# ---------------------------------------------------------------- one report by its key


def report_table(
    session: Session, key: str, period: Period, scope: Scope, now: datetime
) -> ReportTable:
    """The report ``key`` (one of ``report_tables.REPORTS``) for a period and scope."""
    if key == "queues":
        return queue_table(queue_rows(session, period, scope))
    if key == "agents":
        return agent_table(agent_report(session, period, scope, now))
    if key == "hours":
        return hours_table(hour_rows(session, period, scope))
    if key == "days":
        return days_table(day_rows(session, period, scope))
    if key == "dids":
        return did_table(did_rows(session, period, scope))
    if key == "ivr":
        return ivr_table(ivr_rows(session, period, scope))
    if key == "reasons":
        return reason_table(reason_rows(session, period, scope))
    raise ValueError(f"no report {key!r}")
