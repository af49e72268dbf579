"""What the agent's desktop page shows and the few changes it makes besides the state.

Database functions for ``DBRunner.run`` returning frozen dataclasses: seats to pick
(R-2.1), pause types (R-2.4), the pauses of the current seat session, the supervisor's
notifications in their display window (R-2.16), the agent's selected location (R-2.6).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from agent_desktop import agent_state as core
from agent_desktop.store import agent_sessions
from agent_desktop.store.agent_sessions import AgentView
from db.models import (
    Agent,
    Location,
    Notification,
    PauseRecord,
    PauseType,
    QueueLocation,
    QueueRight,
)
from db.prepared import Prepared
from domain.enums import Severity
from domain.refusals import BadInputError
from domain.texts import N_
from web.sessions import SignedInUser

NO_SUCH_PAUSE = N_("There is no such pause type.")
NO_SUCH_LOCATION = N_("There is no such location in your queues.")


class UnknownPauseTypeError(BadInputError):
    """The form named a pause type that does not exist or is switched off."""

    def __init__(self) -> None:
        super().__init__(NO_SUCH_PAUSE)


class UnknownLocationError(BadInputError):
    """The form named a location that is not one of the agent's queues."""

    def __init__(self) -> None:
        super().__init__(NO_SUCH_LOCATION)


@dataclass(frozen=True)
class PauseTypeView:
    pause_type_id: int
    position: int
    name: str
    paid: bool


@dataclass(frozen=True)
class PauseTaken:
    name: str
    paid: bool
    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class NotificationView:
    notification_id: int
    severity: Severity
    message: str
    sender: str
    created_at: datetime
    shown_from: datetime
    shown_until: datetime


@dataclass(frozen=True)
class LocationChoice:
    location_id: int
    name: str


@dataclass(frozen=True)
class DeskPage:
    seats: tuple[agent_sessions.SeatChoice, ...]
    pause_types: tuple[PauseTypeView, ...]
    pauses: tuple[PauseTaken, ...]
    notifications: tuple[NotificationView, ...]
    # The agent's selected location and the ones to choose from.
    locations: tuple[LocationChoice, ...] = ()
    selected_location_id: int | None = None


def pause_types(session: Session) -> tuple[PauseTypeView, ...]:
    rows = session.scalars(
        select(PauseType).where(PauseType.active.is_(True)).order_by(PauseType.position)
    ).all()
    return tuple(PauseTypeView(p.id, p.position, p.name, p.paid) for p in rows)


def pause_names(session: Session) -> dict[int, str]:
    """Every pause type's name, also switched-off ones (an old pause still has a name)."""
    return {p.id: p.name for p in session.scalars(select(PauseType)).all()}


# The desktop's statements, built and compiled once and run on the driver's cursor
# (``db.prepared``, issue 12): building a select, or executing it through SQLAlchemy, costs
# more CPU than SQLite takes to run it.
_PAUSE_TYPES = Prepared(
    select(
        PauseType.id, PauseType.position, PauseType.name, PauseType.paid, PauseType.active
    ).order_by(PauseType.position, PauseType.id)
)
_PAUSES_TAKEN = Prepared(
    select(
        PauseRecord.pause_type_id, PauseRecord.paid, PauseRecord.started_at, PauseRecord.ended_at
    )
    .where(PauseRecord.session_id == bindparam("session_id"))
    .order_by(PauseRecord.started_at.desc(), PauseRecord.id.desc())
    .limit(20)
)
_NOTIFICATION_COLUMNS = (
    Notification.id,
    Notification.severity,
    Notification.message,
    Agent.name,
    Notification.created_at,
    Notification.shown_from,
    Notification.shown_until,
)
_NOTIFICATIONS = Prepared(
    select(*_NOTIFICATION_COLUMNS)
    .join(Agent, Agent.id == Notification.sender_id)
    .where(
        Notification.agent_id == bindparam("agent_id"),
        Notification.read_at.is_(None),
        Notification.shown_from <= bindparam("now"),
        Notification.shown_until > bindparam("now"),
    )
    .order_by(Notification.created_at.desc(), Notification.id.desc())
    .limit(20)
)
_SELECTED_LOCATION = (
    select(Agent.selected_location_id).where(Agent.id == bindparam("agent_id")).scalar_subquery()
)
_LOCATIONS = Prepared(
    select(Location.id, Location.name, (Location.id == _SELECTED_LOCATION).label("selected"))
    .join(QueueLocation, QueueLocation.location_id == Location.id)
    .join(QueueRight, QueueRight.queue_id == QueueLocation.queue_id)
    .where(QueueRight.agent_id == bindparam("agent_id"))
    .distinct()
    .order_by(Location.name, Location.id)
)


def desk_page(on: Connection | Session, user: SignedInUser, now: datetime) -> DeskPage:
    """What the desktop shows besides the signed-in user and their seat (``user.desk``),
    read with them (``web.access.Route.read_with_user``, issue 12): four prepared queries,
    and the seat choices only for an agent at no seat."""
    agent_id, seat = user.agent_id, user.desk
    seats: tuple[agent_sessions.SeatChoice, ...] = ()
    if seat is None:
        with Session(bind=on) if isinstance(on, Connection) else nullcontext(on) as session:
            seats = agent_sessions.seat_choices(session, agent_id)
    every_type = _PAUSE_TYPES.all(on)  # the names and the offered ones
    pauses: tuple[PauseTaken, ...] = ()
    if seat is not None:
        names = {type_id: name for type_id, _, name, _, _ in every_type}
        pauses = tuple(
            PauseTaken(names.get(type_id, "?"), paid, started_at, ended_at)
            for type_id, paid, started_at, ended_at in _PAUSES_TAKEN.all(
                on, {"session_id": seat.agent_session_id}
            )
        )
    notifications = _NOTIFICATIONS.all(on, {"agent_id": agent_id, "now": now})
    locations = _LOCATIONS.all(on, {"agent_id": agent_id})
    return DeskPage(
        seats,
        tuple(
            PauseTypeView(type_id, position, name, paid)
            for type_id, position, name, paid, active in every_type
            if active
        ),
        pauses,
        tuple(NotificationView(*row) for row in notifications),
        tuple(LocationChoice(location_id, name) for location_id, name, _ in locations),
        next((location_id for location_id, _, chosen in locations if chosen), None),
    )


def location_choices(session: Session, agent_id: int) -> tuple[LocationChoice, ...]:
    """The locations of the queues the agent has a right to: the ones whose customers their
    calls can match, so the ones a selected location can decide between (R-2.6)."""
    rows = _LOCATIONS.all(session, {"agent_id": agent_id})
    return tuple(LocationChoice(location_id, name) for location_id, name, _ in rows)


def select_location(session: Session, agent_id: int, location_id: int | None) -> None:
    """Set the agent's selected location (None: none), which decides between several
    active customers on one number (R-2.6). Only a location of their queues."""
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise UnknownLocationError()
    if location_id is not None and location_id not in {
        c.location_id for c in location_choices(session, agent_id)
    }:
        raise UnknownLocationError()
    agent.selected_location_id = location_id


def start_pause(
    session: Session, agent_id: int, pause_type_id: int, now: datetime
) -> AgentView | None:
    """Take a pause of an offered type (R-2.4); refusals come from the state machine."""
    pause = session.get(PauseType, pause_type_id)
    if pause is None or not pause.active:
        raise UnknownPauseTypeError()
    return agent_sessions.apply_event(session, agent_id, core.Pause(pause_type_id), now, "pause")


def notifications_for(
    session: Session, agent_id: int, now: datetime
) -> tuple[NotificationView, ...]:
    """Unread notifications whose display window includes ``now`` (R-2.16), newest first."""
    rows = _NOTIFICATIONS.all(session, {"agent_id": agent_id, "now": now})
    return tuple(NotificationView(*row) for row in rows)


def notification_for(
    session: Session, agent_id: int, notification_id: int, now: datetime
) -> NotificationView | None:
    """One notification of this agent, if unread and in its window now."""
    found = session.execute(
        select(Notification, Agent.name)
        .join(Agent, Agent.id == Notification.sender_id)
        .where(Notification.id == notification_id, Notification.agent_id == agent_id)
    ).one_or_none()
    if found is None:
        return None
    notification, sender = found
    if notification.read_at is not None or not (
        notification.shown_from <= now < notification.shown_until
    ):
        return None
    return _notification_view(notification, sender)


def mark_notification_read(
    session: Session, agent_id: int, notification_id: int, now: datetime
) -> bool:
    """Mark one of the agent's own notifications read; False if it is not theirs."""
    notification = session.get(Notification, notification_id)
    if notification is None or notification.agent_id != agent_id:
        return False
    if notification.read_at is None:
        notification.read_at = now
    return True


def _notification_view(n: Notification, sender: str) -> NotificationView:
    return NotificationView(
        n.id, n.severity, n.message, sender, n.created_at, n.shown_from, n.shown_until
    )
