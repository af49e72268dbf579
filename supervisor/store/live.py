"""The rows behind the supervisor's live screen, within what the viewer may see (R-4.4,
R-4.5, R-4.6).

One transaction reads a consistent snapshot: the open agent sessions, the open inbound
calls and today's finished calls; ``supervisor.live_figures`` counts them. Scope is applied
in every query here, never in a page: an admin sees everything; a supervisor the agents of
the departments they supervise and the queues those agents work (a queue right of an
active agent of theirs); anyone else nothing. Filters (queue, department) only narrow that.
Calls still in the IVR belong to no queue yet: only a viewer who sees everything, without
a filter, counts them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from db.events import newest_id
from db.models import Agent, AgentSession, Call, Department, Queue, QueueRight, SupervisorDepartment
from domain.enums import CallState, Direction, Role
from reports.store.kpi import kpi_for_calls, service_level_threshold_s
from supervisor.live_figures import (
    IN_PROGRESS_STATES,
    AgentFact,
    CallFact,
    QueueFigures,
    QueueToday,
    TodayFigures,
    queue_figures,
    today_figures,
)


@dataclass(frozen=True)
class Filters:
    queue_id: int | None = None
    department_id: int | None = None


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


def _departments(session: Session, viewer_id: int) -> tuple[list[Choice], bool]:
    """The departments the viewer may see, and whether they see everything (an admin)."""
    viewer = session.get(Agent, viewer_id)
    if viewer is None or not viewer.active:
        return [], False
    query = select(Department).order_by(Department.name)
    if viewer.role is Role.ADMIN:
        return [Choice(d.id, d.name) for d in session.scalars(query)], True
    if viewer.role is not Role.SUPERVISOR:
        return [], False
    watched = select(SupervisorDepartment.department_id).where(
        SupervisorDepartment.agent_id == viewer_id
    )
    rows = session.scalars(query.where(Department.id.in_(watched)))
    return [Choice(d.id, d.name) for d in rows], False


def screen(
    session: Session, viewer_id: int, filters: Filters, now: datetime, day_start: datetime
) -> LiveScreen:
    """The live screen for ``viewer_id``; ``day_start``: the centre's midnight today."""
    newest = newest_id(session)  # first: a change after it is sent again, never missed
    departments, everything = _departments(session, viewer_id)
    allowed = {d.id for d in departments}
    people = select(Agent.id).where(Agent.active.is_(True))
    if not everything:
        people = people.where(Agent.department_id.in_(allowed))
    queues_query = select(Queue).where(Queue.active.is_(True)).order_by(Queue.name, Queue.id)
    if not everything:
        worked = select(QueueRight.queue_id).where(QueueRight.agent_id.in_(people))
        queues_query = queues_query.where(Queue.id.in_(worked))
    visible_queues = list(session.scalars(queues_query))
    queue_choices = tuple(Choice(q.id, q.name) for q in visible_queues)

    shown_queues = [q for q in visible_queues if filters.queue_id in (None, q.id)]
    if filters.department_id is not None:
        people = people.where(Agent.department_id == filters.department_id)
        if filters.department_id not in allowed:
            people = people.where(Agent.id.is_(None))  # not theirs to see: nobody
    agents = _agents(session, people)
    queue_ids = [q.id for q in shown_queues]
    calls = [
        CallFact(c.id, c.state.value, c.queue_id, c.queue_entered_at)
        for c in session.scalars(
            select(Call).where(
                Call.direction == Direction.INBOUND,
                Call.queue_id.in_(queue_ids),
                Call.state.in_([CallState(s) for s in IN_PROGRESS_STATES]),
            )
        )
    ]
    today = {q.id: _today(session, q.id, day_start, now) for q in shown_queues}
    unfiltered = filters == Filters()
    in_ivr = 0
    if everything and unfiltered:
        in_ivr = len(
            session.scalars(
                select(Call.id).where(
                    Call.direction == Direction.INBOUND, Call.state == CallState.IVR
                )
            ).all()
        )
    threshold_s = service_level_threshold_s(session)
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
        department_choices=tuple(departments),
        sees_everything=everything,
    )


def _agents(session: Session, people: Select[int]) -> list[AgentFact]:
    rows = session.execute(
        select(AgentSession.agent_id, AgentSession.state, AgentSession.activity).where(
            AgentSession.logged_out_at.is_(None), AgentSession.agent_id.in_(people)
        )
    ).all()
    rights: dict[int, set[int]] = defaultdict(set)
    ids = [r.agent_id for r in rows]
    for agent_id, queue_id in session.execute(
        select(QueueRight.agent_id, QueueRight.queue_id).where(QueueRight.agent_id.in_(ids))
    ):
        rights[agent_id].add(queue_id)
    return [
        AgentFact(r.agent_id, r.state.value, r.activity.value, frozenset(rights[r.agent_id]))
        for r in rows
    ]


def _today(session: Session, queue_id: int, day_start: datetime, now: datetime) -> QueueToday:
    kpi = kpi_for_calls(session, day_start, now, queue_id=queue_id)
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
