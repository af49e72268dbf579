"""Agents at their seats: log in and out, state changes with history and pauses.

The rules are the pure state machine in ``agent_desktop.agent_state``; this module loads
the agent's live row (locked on PostgreSQL), applies an event, and writes the new state, a
history row, the pause record and a live event in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agent_desktop import agent_state as core
from db.events import emit
from db.models import (
    Agent,
    AgentSession,
    AgentStateChange,
    PauseRecord,
    PauseType,
    PhoneSeat,
    QueueRight,
    SeatRight,
)
from domain.enums import Activity, AgentState
from domain.refusals import ConflictError
from domain.texts import N_

NO_SEAT_ACCOUNT = N_("This account cannot log in to a seat.")
SEAT_NOT_ALLOWED = N_("You may not use this phone seat.")
ALREADY_AT_SEAT = N_("You are already logged in at seat %(seat)s; log out there first.")
SEAT_TAKEN = N_("Seat %(seat)s is taken by someone else.")
NOT_AT_SEAT = N_("You are not logged in at a phone seat.")


class SeatError(ConflictError):
    """A login the agent cannot make; ``message`` (with ``params``) is what they read."""


@dataclass(frozen=True)
class AgentView:
    agent_id: int
    login: str
    name: str
    session_id: int
    seat_id: int
    seat_name: str
    dial_string: str
    state: str
    activity: str
    pause_type_id: int | None
    since: datetime
    idle_since: datetime
    logged_in_at: datetime


def _view(row: AgentSession, agent: Agent, seat: PhoneSeat) -> AgentView:
    return AgentView(
        agent_id=agent.id,
        login=agent.login,
        name=agent.name,
        session_id=row.id,
        seat_id=seat.id,
        seat_name=seat.name,
        dial_string=seat.dial_string,
        state=row.state.value,
        activity=row.activity.value,
        pause_type_id=row.pause_type_id,
        since=row.state_since,
        idle_since=row.idle_since,
        logged_in_at=row.logged_in_at,
    )


def open_session_row(session: Session, agent_id: int, *, lock: bool = True) -> AgentSession | None:
    stmt = select(AgentSession).where(
        AgentSession.agent_id == agent_id, AgentSession.logged_out_at.is_(None)
    )
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def seats_for(session: Session, agent_id: int) -> list[tuple[int, str, bool]]:
    """(seat id, name, taken) of the seats the agent may pick (R-2.1: limitable by right)."""
    allowed = set(session.scalars(select(SeatRight.seat_id).where(SeatRight.agent_id == agent_id)))
    taken = set(
        session.scalars(select(AgentSession.seat_id).where(AgentSession.logged_out_at.is_(None)))
    )
    seats = session.scalars(select(PhoneSeat).order_by(PhoneSeat.name)).all()
    return [(s.id, s.name, s.id in taken) for s in seats if not s.restricted or s.id in allowed]


@dataclass(frozen=True)
class SeatChoice:
    """A seat the person may pick; ``holder`` names who sits at a taken one, so that someone
    who finds every seat taken knows whom to ask (R-2.1)."""

    seat_id: int
    name: str
    taken: bool
    holder: str = ""


def seat_choices(session: Session, agent_id: int) -> tuple[SeatChoice, ...]:
    """The seats of :func:`seats_for`, each taken one with the name of who holds it."""
    holders = dict(
        session.execute(
            select(AgentSession.seat_id, Agent.name)
            .join(Agent, Agent.id == AgentSession.agent_id)
            .where(AgentSession.logged_out_at.is_(None))
        ).all()
    )
    return tuple(
        SeatChoice(seat_id, name, taken, holders.get(seat_id, "") if taken else "")
        for seat_id, name, taken in seats_for(session, agent_id)
    )


def log_in(session: Session, agent_id: int, seat_id: int, now: datetime) -> AgentView:
    """Log the agent in at a seat, off-air (R-2.1)."""
    agent = session.get(Agent, agent_id)
    seat = session.get(PhoneSeat, seat_id)
    if agent is None or not agent.active:
        raise SeatError(NO_SEAT_ACCOUNT)
    if seat is None or seat_id not in {s[0] for s in seats_for(session, agent_id)}:
        raise SeatError(SEAT_NOT_ALLOWED)
    current = open_session_row(session, agent_id)
    if current is not None:
        if current.seat_id == seat_id:
            return _view(current, agent, seat)
        other = session.get(PhoneSeat, current.seat_id)
        raise SeatError(ALREADY_AT_SEAT, {"seat": other.name if other else current.seat_id})
    status = core.AgentStatus.logged_in(now)
    row = AgentSession(
        agent_id=agent_id,
        seat_id=seat_id,
        logged_in_at=now,
        state=status.state,
        activity=status.activity,
        state_since=now,
        idle_since=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise SeatError(SEAT_TAKEN, {"seat": seat.name}) from None
    _history(session, row, now, "login")
    emit(session, "agent.login", now, agent_id=agent_id, seat=seat.name)
    return _view(row, agent, seat)


def apply_event(
    session: Session, agent_id: int, event: core.Event, now: datetime, reason: str = ""
) -> AgentView | None:
    """Apply ``event`` to the agent's live state; None after logout.

    Raises ``agent_state.AgentStateError`` (with the agent's message) when refused, and
    SeatError when the agent is not logged in.
    """
    row = open_session_row(session, agent_id)
    if row is None:
        raise SeatError(NOT_AT_SEAT)
    if not apply_to_row(session, row, event, now, reason):
        return None
    agent = session.get(Agent, agent_id)
    seat = session.get(PhoneSeat, row.seat_id)
    assert agent is not None and seat is not None
    return _view(row, agent, seat)


def apply_to_row(
    session: Session, row: AgentSession, event: core.Event, now: datetime, reason: str = ""
) -> bool:
    """:func:`apply_event` on the agent's live row, which the caller loaded (locked) already;
    False after logout. The call flows' offers, answers and ends take this way: no second
    read of the row and no view to build (issue 12)."""
    agent_id = row.agent_id
    before = core.AgentStatus(
        state=row.state,
        activity=row.activity,
        since=row.state_since,
        idle_since=row.idle_since,
        pause_type_id=row.pause_type_id,
    )
    after = core.transition(before, event, now)
    if after is None:
        _close_pause(session, row, now)
        row.logged_out_at = now
        row.state, row.activity = AgentState.OFF_AIR, Activity.PAUSED
        _history(session, row, now, reason or "logout")
        emit(session, "agent.logout", now, agent_id=agent_id)
        return False
    was_paused = before.activity is Activity.PAUSED and before.pause_type_id is not None
    pause_changed = (after.activity, after.pause_type_id) != (before.activity, before.pause_type_id)
    if was_paused and pause_changed:
        _close_pause(session, row, now)
    row.state = after.state
    row.activity = after.activity
    row.state_since = after.since
    row.idle_since = after.idle_since
    row.pause_type_id = after.pause_type_id if after.activity is Activity.PAUSED else None
    if after.activity is Activity.PAUSED and after.pause_type_id and pause_changed:
        pause = session.get(PauseType, after.pause_type_id)
        if pause is None:
            raise core.AgentStateError("There is no such pause type.")
        session.add(
            PauseRecord(
                agent_id=agent_id,
                session_id=row.id,
                pause_type_id=pause.id,
                paid=pause.paid,
                started_at=now,
            )
        )
    _history(session, row, now, reason)
    emit(
        session,
        "agent.state",
        now,
        agent_id=agent_id,
        state=row.state.value,
        activity=row.activity.value,
        pause_type_id=row.pause_type_id,
        reason=reason,
    )
    return True


def free_agent_rows(session: Session) -> list[tuple[int, datetime, frozenset[int]]]:
    """(agent id, idle since, queue ids) of agents who can be offered a call now."""
    idle: dict[int, datetime] = {}
    rights: dict[int, set[int]] = {}
    # One query, rights joined (issue 12): the matching reads this for every plan.
    for agent_id, idle_since, queue_id in session.execute(_FREE_AGENT_ROWS):
        idle[agent_id] = idle_since
        rights.setdefault(agent_id, set())
        if queue_id is not None:
            rights[agent_id].add(queue_id)
    return [(aid, since, frozenset(rights[aid])) for aid, since in idle.items()]


_FREE_AGENT_ROWS = (
    select(AgentSession.agent_id, AgentSession.idle_since, QueueRight.queue_id)
    .outerjoin(QueueRight, QueueRight.agent_id == AgentSession.agent_id)
    .where(
        AgentSession.logged_out_at.is_(None),
        AgentSession.state == AgentState.ON_AIR,
        AgentSession.activity == Activity.IDLE,
    )
    .order_by(AgentSession.id)
)


def _close_pause(session: Session, row: AgentSession, now: datetime) -> None:
    open_pause = session.scalars(
        select(PauseRecord).where(PauseRecord.session_id == row.id, PauseRecord.ended_at.is_(None))
    ).first()
    if open_pause is not None:
        open_pause.ended_at = now


def _history(session: Session, row: AgentSession, now: datetime, reason: str) -> None:
    session.add(
        AgentStateChange(
            agent_id=row.agent_id,
            session_id=row.id,
            at=now,
            state=row.state,
            activity=row.activity,
            pause_type_id=row.pause_type_id,
            reason=reason,
        )
    )
