"""The rows behind the supervisor's live screen (R-4.1 .. R-4.6), within what the viewer
may see.

One transaction reads a consistent snapshot: the open agent sessions, the open calls, the
agents' seats, queues and pauses, and today's finished calls; ``supervisor.live_figures``
counts them and names calls' phases and agents' states. The Activities panel (R-4.1) shows
the open calls of the shown queues and of the shown agents (outbound, ringing one of them,
or in processing: the form still open); the Agents panel (R-4.2) every shown agent with a
queue right or at a seat; the Pauses panel (R-4.3) the pause types those agents are on.
Scope is applied in every query here, never in a page: an admin sees everything; a
supervisor the agents of the departments they supervise and the queues those agents work (a
queue right of an active agent of theirs); anyone else nothing. Filters (queue, department,
agent) only narrow that: the agent filter to one of theirs (or nobody), and the Activities
to that agent's calls. Calls still in the IVR belong to no queue yet: only a viewer who sees
everything, without a filter, counts them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from agent_desktop.store.call_form import number_match
from db.events import newest_id
from db.models import (
    Agent,
    AgentSession,
    Call,
    Customer,
    Department,
    PauseType,
    PhoneSeat,
    Queue,
    QueueRight,
    RingAttempt,
    SupervisorDepartment,
)
from domain.enums import Activity, CallState, Direction, RingOutcome, Role
from reports.store.kpi import KpiSummary, kpi_per_queue, service_level_threshold_s
from supervisor.live_figures import (
    IN_PROGRESS_STATES,
    LIVE_CALL_STATES,
    AgentFact,
    CallFact,
    CallTimes,
    PausedAgent,
    PauseUse,
    QueueFigures,
    QueueToday,
    TodayFigures,
    activity_phase,
    agent_status,
    call_times,
    pause_uses,
    queue_figures,
    today_figures,
)


@dataclass(frozen=True)
class Filters:
    queue_id: int | None = None
    department_id: int | None = None
    agent_id: int | None = None


@dataclass(frozen=True)
class Choice:
    id: int
    name: str


@dataclass(frozen=True)
class LiveScreen:
    """What the screen shows, as of ``newest_event_id`` (the stream resumes after it)."""

    newest_event_id: int
    queues: tuple[QueueFigures, ...]
    today: TodayFigures
    threshold_s: int
    queue_choices: tuple[Choice, ...]
    department_choices: tuple[Choice, ...]
    sees_everything: bool
    activities: tuple[ActivityRow, ...] = ()
    agents: tuple[AgentRow, ...] = ()
    pauses: tuple[PauseUse, ...] = ()
    agent_choices: tuple[Choice, ...] = ()
    pause_choices: tuple[Choice, ...] = ()
    # The callers matched to a customer by number in this read: ((call id, queue id),
    # customer or ""), for the reader to pass back as ``known`` next time (CallerMatches).
    matched: tuple[tuple[tuple[int, int], str], ...] = ()


@dataclass(frozen=True)
class ActivityRow:
    """An open call on the Activities panel (R-4.1)."""

    call_id: int
    phase: str
    direction: str
    queue: str
    did: str
    caller: str
    customer: str
    agent_id: int | None
    agent: str
    ringing: tuple[str, ...]  # the agents it rings right now
    overflowed: bool
    transferred: bool
    started_at: datetime
    times: CallTimes


@dataclass(frozen=True)
class AgentRow:
    """An agent on the Agents panel (R-4.2)."""

    agent_id: int
    name: str
    status: str
    pause: str
    since: datetime | None  # in this state since; None: never logged in
    logged_in_at: datetime | None
    seat: str
    extension: str
    queues: tuple[str, ...]
    pause_type_id: int | None = None  # the pause type, when paused


@dataclass(frozen=True)
class RingRow:
    agent: str
    dial_string: str
    started_at: datetime
    ended_at: datetime | None
    outcome: str
    overflow: bool


@dataclass(frozen=True)
class CallDetail:
    """The detail view of an open call: its row and its ring attempts so far (R-4.1)."""

    row: ActivityRow
    rings: tuple[RingRow, ...]


@dataclass(frozen=True)
class Scope:
    """What a viewer may see (R-4.6): everything (an admin), or the agents of these
    departments (a supervisor; none: nothing). Viewers with the same scope see the same
    screen, so the live streams build it once for all of them (``supervisor.live_screens``)."""

    everything: bool
    department_ids: frozenset[int]


def _departments(session: Session, viewer_id: int) -> tuple[list[Choice], bool]:
    """The departments the viewer may see, and whether they see everything (an admin)."""
    viewer = session.get(Agent, viewer_id)
    if viewer is None or not viewer.active:
        return [], False
    query = select(Department.id, Department.name).order_by(Department.name)
    if viewer.role is Role.ADMIN:
        return [Choice(*d) for d in session.execute(query)], True
    if viewer.role is not Role.SUPERVISOR:
        return [], False
    watched = select(SupervisorDepartment.department_id).where(
        SupervisorDepartment.agent_id == viewer_id
    )
    rows = session.execute(query.where(Department.id.in_(watched)))
    return [Choice(*d) for d in rows], False


def scopes(session: Session, viewer_ids: Iterable[int]) -> dict[int, Scope]:
    """The scope of each viewer, read now (a supervisor's departments may have changed since
    their screen opened): two queries for any number of viewers."""
    wanted = sorted(set(viewer_ids))
    found = {v: Scope(False, frozenset()) for v in wanted}
    supervisors = []
    for agent_id, role, active in session.execute(
        select(Agent.id, Agent.role, Agent.active).where(Agent.id.in_(wanted))
    ):
        if active and role is Role.ADMIN:
            found[agent_id] = Scope(True, frozenset())
        elif active and role is Role.SUPERVISOR:
            supervisors.append(agent_id)
    watched: dict[int, set[int]] = defaultdict(set)
    if supervisors:
        for agent_id, department_id in session.execute(
            select(SupervisorDepartment.agent_id, SupervisorDepartment.department_id).where(
                SupervisorDepartment.agent_id.in_(supervisors)
            )
        ):
            watched[agent_id].add(department_id)
    for agent_id in supervisors:
        found[agent_id] = Scope(False, frozenset(watched[agent_id]))
    return found


def _scoped_people(scope: Scope) -> Select[int]:
    """The active agents a scope sees, as a query of ids."""
    people = select(Agent.id).where(Agent.active.is_(True))
    if not scope.everything:
        people = people.where(Agent.department_id.in_(sorted(scope.department_ids)))
    return people


def _people(session: Session, viewer_id: int) -> tuple[Select[int], list[Choice], bool]:
    """The active agents the viewer may see (a query of ids), their departments, and
    whether they see everything."""
    departments, everything = _departments(session, viewer_id)
    scope = Scope(everything, frozenset(d.id for d in departments))
    return _scoped_people(scope), departments, everything


def may_see_agent(session: Session, viewer_id: int, agent_id: int) -> bool:
    """Whether ``agent_id`` is one of the agents the viewer supervises (R-4.6)."""
    people, _, _ = _people(session, viewer_id)
    return session.scalar(people.where(Agent.id == agent_id)) is not None


ScreenKey = tuple[Scope, Filters, bool]  # a scope, its filters, with the details or not


@dataclass(frozen=True)
class Screens:
    """One read for many live streams (``screens``): each distinct (scope, filters,
    details) built once, and which one each viewer's request gets."""

    newest_event_id: int
    built: Mapping[ScreenKey, LiveScreen]
    keys: Mapping[tuple[int, Filters, bool], ScreenKey]


def screens(
    session: Session,
    wanted: Iterable[tuple[int, Filters, bool]],
    now: datetime,
    day_start: datetime,
    known: Mapping[tuple[int, int], str] | None = None,
) -> Screens:
    """The live screens of many streams (viewer, filters, details) in one snapshot: the
    viewers' scopes read now, and each distinct screen built once (``screen``'s rules)."""
    newest = newest_id(session)  # first: a change after it is sent again, never missed
    wanted = list(wanted)
    scope_of = scopes(session, (viewer for viewer, _, _ in wanted))
    keys = {w: (scope_of[w[0]], w[1], w[2]) for w in wanted}
    built = {
        key: _screen(session, newest, key[0], key[1], now, day_start, details=key[2], known=known)
        for key in dict.fromkeys(keys.values())
    }
    return Screens(newest, built, keys)


def screen(
    session: Session,
    viewer_id: int,
    filters: Filters,
    now: datetime,
    day_start: datetime,
    *,
    details: bool = True,
    known: Mapping[tuple[int, int], str] | None = None,
) -> LiveScreen:
    """The live screen for ``viewer_id`` with the filters' choices (the page); ``day_start``:
    the centre's midnight today. ``details``: also the Activities, Agents and Pauses panels
    (the wall-board has none). ``known``: callers already matched to a customer by number
    (``LiveScreen.matched`` of earlier reads), not looked up again."""
    newest = newest_id(session)  # first: a change after it is sent again, never missed
    departments, everything = _departments(session, viewer_id)
    scope = Scope(everything, frozenset(d.id for d in departments))
    return _screen(
        session,
        newest,
        scope,
        filters,
        now,
        day_start,
        details=details,
        known=known,
        departments=departments,
    )


def _screen(
    session: Session,
    newest: int,
    scope: Scope,
    filters: Filters,
    now: datetime,
    day_start: datetime,
    *,
    details: bool,
    known: Mapping[tuple[int, int], str] | None,
    departments: list[Choice] | None = None,
) -> LiveScreen:
    """``scope``'s screen; the filters' choices only with ``departments`` (the page: a
    stream's refresh sends the panels alone)."""
    everything = scope.everything
    people = _scoped_people(scope)
    queues_query = (
        select(Queue.id, Queue.name).where(Queue.active.is_(True)).order_by(Queue.name, Queue.id)
    )
    if not everything:
        worked = select(QueueRight.queue_id).where(QueueRight.agent_id.in_(people))
        queues_query = queues_query.where(Queue.id.in_(worked))
    visible_queues = [Choice(*q) for q in session.execute(queues_query)]
    queue_choices: tuple[Choice, ...] = ()
    agent_choices: tuple[Choice, ...] = ()
    if departments is not None:
        queue_choices = tuple(visible_queues)
        agent_choices = tuple(
            Choice(*a)
            for a in session.execute(
                select(Agent.id, Agent.name).where(Agent.id.in_(people)).order_by(Agent.name)
            )
        )

    shown_queues = [q for q in visible_queues if filters.queue_id in (None, q.id)]
    if filters.department_id is not None:
        people = people.where(Agent.department_id == filters.department_id)
        if filters.department_id not in scope.department_ids and not everything:
            people = people.where(Agent.id.is_(None))  # not theirs to see: nobody
    if filters.agent_id is not None:
        people = people.where(Agent.id == filters.agent_id)  # within theirs: else nobody
    agents, agent_rows = _agents(session, people, rows=details)
    queue_ids = [q.id for q in shown_queues]
    calls = [
        CallFact(call_id, state.value, queue_id, since)
        for call_id, state, queue_id, since in session.execute(
            select(Call.id, Call.state, Call.queue_id, Call.queue_entered_at).where(
                Call.direction == Direction.INBOUND,
                Call.queue_id.in_(queue_ids),
                Call.state.in_([CallState(s) for s in IN_PROGRESS_STATES]),
            )
        )
    ]
    # Today's figures of every queue shown from one read of today's calls.
    figures = kpi_per_queue(session, day_start, now, [q.id for q in shown_queues])
    today = {q.id: _today(session, q.id, figures[q.id], day_start, now) for q in shown_queues}
    unfiltered = filters == Filters()
    in_ivr = 0
    if everything and unfiltered:
        in_ivr = (
            session.scalar(
                select(func.count(Call.id)).where(
                    Call.direction == Direction.INBOUND, Call.state == CallState.IVR
                )
            )
            or 0
        )
    threshold_s = service_level_threshold_s(session)
    panels: dict[str, Any] = {}
    if details:
        by_agent = filters.agent_id is not None
        activity_rows, matched = _activities(
            session,
            people,
            [] if by_agent else queue_ids,
            with_ivr=everything and unfiltered,
            now=now,
            known=known or {},
        )
        pause_types = session.execute(
            select(PauseType.id, PauseType.name, PauseType.paid, PauseType.active).order_by(
                PauseType.position
            )
        ).all()
        paused = [
            PausedAgent(a.agent_id, a.name, a.pause_type_id, a.since)
            for a in agent_rows
            if a.pause_type_id is not None and a.since is not None
        ]
        panels = {
            "activities": tuple(activity_rows),
            "agents": tuple(agent_rows),
            "pauses": tuple(pause_uses([(p[0], p[1], p[2]) for p in pause_types], paused)),
            "pause_choices": tuple(Choice(p[0], p[1]) for p in pause_types if p[3]),
            "matched": tuple(matched.items()),
        }
    return LiveScreen(
        newest_event_id=newest,
        queues=tuple(
            queue_figures(
                [(q.id, q.name) for q in shown_queues], agents, calls, today, threshold_s, now
            )
        ),
        today=today_figures(agents, calls, today.values(), in_ivr),
        threshold_s=threshold_s,
        queue_choices=queue_choices,
        department_choices=tuple(departments or ()),
        sees_everything=everything,
        agent_choices=agent_choices,
        **panels,
    )


def _activities(
    session: Session,
    people: Select[int],
    queue_ids: list[int],
    *,
    with_ivr: bool,
    now: datetime,
    call_id: int | None = None,
    known: Mapping[tuple[int, int], str],
) -> tuple[list[ActivityRow], dict[tuple[int, int], str]]:
    """The open calls of the shown queues, of the shown agents (outbound, processing, or
    ringing one of them) and, for a viewer who sees everything unfiltered, in the IVR; and
    the callers matched by number here that ``known`` did not hold yet.

    A call's customer is the one its form holds; before an agent's form has matched one, an
    inbound caller in a queue is matched by number as the form would (R-2.6, R-2.7), once
    per call and queue for a reader that keeps the matches (``known``)."""
    # The calls whose form is still open: after-call work (R-4.1 "processing").
    processing = dict(
        session.execute(
            select(AgentSession.current_call_id, AgentSession.state_since).where(
                AgentSession.logged_out_at.is_(None),
                AgentSession.activity == Activity.PROCESSING,
                AgentSession.current_call_id.is_not(None),
            )
        ).all()
    )
    ringing_people = select(RingAttempt.call_id).where(
        RingAttempt.outcome == RingOutcome.RINGING, RingAttempt.agent_id.in_(people)
    )
    live = Call.state.in_([CallState(s) for s in LIVE_CALL_STATES])
    mine = Call.agent_id.in_(people) | Call.id.in_(ringing_people)
    where = (Call.queue_id.in_(queue_ids) & live) | (mine & (live | Call.id.in_(processing)))
    if with_ivr:
        where = where | (Call.state == CallState.IVR)
    query = (
        select(Call, Queue.name, Agent.name, Customer.name)
        .outerjoin(Queue, Queue.id == Call.queue_id)
        .outerjoin(Agent, Agent.id == Call.agent_id)
        .outerjoin(Customer, Customer.id == Call.customer_id)
        .where(where)
        .order_by(Call.started_at, Call.id)
    )
    if call_id is not None:
        query = query.where(Call.id == call_id)
    found = session.execute(query).all()
    ringing: dict[int, list[str]] = defaultdict(list)
    if found:
        for rung_call, name in session.execute(
            select(RingAttempt.call_id, Agent.name)
            .join(Agent, Agent.id == RingAttempt.agent_id)
            .where(
                RingAttempt.outcome == RingOutcome.RINGING,
                RingAttempt.call_id.in_([c.id for c, *_ in found]),
            )
        ):
            ringing[rung_call].append(name)
    rows = []
    matched: dict[tuple[int, int], str] = {}
    for call, queue, agent, customer in found:
        phase = activity_phase(call.state.value, call.id in processing)
        if phase is None:
            continue
        if (
            customer is None
            and not call.customer_unknown
            and call.direction is Direction.INBOUND
            and call.queue_id is not None
        ):
            key = (call.id, call.queue_id)
            customer = known.get(key)
            if customer is None:
                customer = matched[key] = number_match(session, call.id)
        times = call_times(
            phase,
            call.started_at,
            call.queue_entered_at,
            call.answered_at,
            call.ended_at,
            processing.get(call.id),
        )
        rows.append(
            ActivityRow(
                call_id=call.id,
                phase=phase,
                direction=call.direction.value,
                queue=queue or "",
                did=call.did,
                caller=call.caller_number
                if call.direction is not Direction.OUTBOUND
                else call.callee_number,
                customer=customer or "",
                agent_id=call.agent_id,
                agent=agent or "",
                ringing=tuple(sorted(ringing[call.id])),
                overflowed=call.overflowed,
                transferred=call.transferred_from_queue_id is not None
                or call.transferred_by_agent_id is not None,
                started_at=call.started_at,
                times=times,
            )
        )
    return rows, matched


def call_detail(session: Session, viewer_id: int, call_id: int, now: datetime) -> CallDetail | None:
    """One open call the viewer may see, with its ring attempts; None otherwise."""
    people, _, everything = _people(session, viewer_id)
    queue_ids = list(
        session.scalars(select(QueueRight.queue_id).where(QueueRight.agent_id.in_(people)))
    )
    if everything:
        queue_ids = list(session.scalars(select(Queue.id)))
    rows, _ = _activities(
        session, people, queue_ids, with_ivr=everything, now=now, call_id=call_id, known={}
    )
    if not rows:
        return None
    rings = session.execute(
        select(RingAttempt, Agent.name)
        .outerjoin(Agent, Agent.id == RingAttempt.agent_id)
        .where(RingAttempt.call_id == call_id)
        .order_by(RingAttempt.started_at, RingAttempt.id)
    ).all()
    return CallDetail(
        rows[0],
        tuple(
            RingRow(
                name or "",
                r.dial_string,
                r.started_at,
                r.ended_at,
                r.outcome.value,
                r.overflow,
            )
            for r, name in rings
        ),
    )


def _agents(
    session: Session, people: Select[int], *, rows: bool
) -> tuple[list[AgentFact], list[AgentRow]]:
    """The shown agents logged in now (the figures' facts) and, with ``rows``, the Agents
    panel: every shown agent who takes calls (a queue right) or is logged in at a seat
    now. Plain columns, one query for the sessions and one for the queue rights."""
    open_sessions = session.execute(
        select(
            AgentSession.agent_id,
            AgentSession.state,
            AgentSession.activity,
            AgentSession.pause_type_id,
            AgentSession.state_since,
            AgentSession.logged_in_at,
            Agent.name,
            PhoneSeat.name,
            PhoneSeat.dial_string,
            PauseType.name,
        )
        .join(Agent, Agent.id == AgentSession.agent_id)
        .join(PhoneSeat, PhoneSeat.id == AgentSession.seat_id)
        .outerjoin(PauseType, PauseType.id == AgentSession.pause_type_id)
        .where(AgentSession.logged_out_at.is_(None), AgentSession.agent_id.in_(people))
    ).all()
    queue_ids: dict[int, set[int]] = defaultdict(set)
    rights: dict[int, list[str]] = defaultdict(list)
    for agent_id, queue_id, queue, active in session.execute(
        select(QueueRight.agent_id, QueueRight.queue_id, Queue.name, Queue.active)
        .join(Queue, Queue.id == QueueRight.queue_id)
        .where(QueueRight.agent_id.in_(people))
        .order_by(Queue.name)
    ):
        queue_ids[agent_id].add(queue_id)
        if active:
            rights[agent_id].append(queue)
    facts = [
        AgentFact(r[0], r[1].value, r[2].value, frozenset(queue_ids[r[0]])) for r in open_sessions
    ]
    if not rows:
        return facts, []
    found: dict[int, AgentRow] = {}
    for (
        agent_id,
        state,
        activity,
        pause_type_id,
        since,
        at,
        name,
        seat,
        dial,
        pause,
    ) in open_sessions:
        status = agent_status(True, state.value, activity.value, pause_type_id)
        found[agent_id] = AgentRow(
            agent_id,
            name,
            status,
            pause or "",
            since,
            at,
            seat,
            dial,
            tuple(rights[agent_id]),
            pause_type_id if status == "paused" else None,
        )
    out = [a for a in rights if a not in found]
    if out:
        last_out = dict(
            session.execute(
                select(AgentSession.agent_id, func.max(AgentSession.logged_out_at))
                .where(AgentSession.agent_id.in_(out), AgentSession.logged_out_at.is_not(None))
                .group_by(AgentSession.agent_id)
            ).all()
        )
        for agent_id, name in session.execute(
            select(Agent.id, Agent.name).where(Agent.id.in_(out))
        ):
            found[agent_id] = AgentRow(
                agent_id,
                name,
                "logged_out",
                "",
                last_out.get(agent_id),
                None,
                "",
                "",
                tuple(rights[agent_id]),
            )
    # In the database's order of names (its collation, as every list of people here).
    ordered = session.scalars(
        select(Agent.id)
        .where(
            Agent.id.in_(people),
            Agent.id.in_(select(AgentSession.agent_id).where(AgentSession.logged_out_at.is_(None)))
            | Agent.id.in_(select(QueueRight.agent_id)),
        )
        .order_by(Agent.name, Agent.id)
    )
    return facts, [found[a] for a in ordered if a in found]


def _today(
    session: Session, queue_id: int, kpi: KpiSummary, day_start: datetime, now: datetime
) -> QueueToday:
    waits = session.execute(
        select(Call.queue_entered_at, Call.answered_at).where(
            Call.direction == Direction.INBOUND,
            Call.queue_id == queue_id,
            Call.started_at >= day_start,
            Call.started_at < now,
            Call.state == CallState.ANSWERED,
            Call.answered_at.is_not(None),
            Call.queue_entered_at.is_not(None),
        )
    ).all()
    wait_s = sum(max(0.0, (a - q).total_seconds()) for q, a in waits if q and a)
    return QueueToday(
        calls=kpi.calls,
        within_service_level=kpi.within_service_level,
        answered=kpi.answered,
        lost_not_recovered=kpi.lost_not_recovered,
        answered_wait_s=wait_s,
    )
