"""A supervisor's message to an agent (R-2.16; the "notify its agent" of R-4.1).

Database functions for ``DBRunner.run``. A supervisor messages the people of the
departments they watch (R-4.6); an admin anyone. The message is shown on the agent's
desktop from now for the chosen number of minutes, arrives live (the ``agent.notification``
event that the desktop's event stream turns into a notice), and the sender sees whether it
was read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from db.events import emit
from db.models import Agent, Department, Notification, SupervisorDepartment
from domain.enums import Role, Severity
from domain.refusals import ConflictError
from domain.texts import N_

MESSAGE_MAX_CHARS = 1000
MINUTES_MAX = 24 * 60
DEFAULT_MINUTES = 60
NOT_YOURS = N_("You may send messages only to the people of the departments you supervise.")
EMPTY = N_("Write the message.")
TOO_LONG = N_("The message is too long (at most 1000 characters).")
BAD_CHARACTERS = N_("The message contains characters that cannot be stored.")
_CONTROLS = frozenset(chr(c) for c in range(32) if chr(c) not in "\t\n") | {"\x7f"}


class NotificationError(ConflictError):
    """The message cannot be sent; ``message`` says why (shown on the form)."""


@dataclass(frozen=True)
class Recipient:
    agent_id: int
    name: str
    department: str


@dataclass(frozen=True)
class SentMessage:
    notification_id: int
    to: str
    severity: str
    message: str
    created_at: datetime
    shown_until: datetime
    read_at: datetime | None


def recipients(session: Session, sender_id: int) -> list[Recipient]:
    """Whom the sender may message: active people of the watched departments (admin: all)."""
    sender = session.get(Agent, sender_id)
    if sender is None:
        return []
    query = (
        select(Agent.id, Agent.name, Department.name)
        .outerjoin(Department, Department.id == Agent.department_id)
        .where(Agent.active.is_(True), Agent.id != sender_id)
        .where(Agent.role.in_((Role.AGENT, Role.BACKOFFICE)))
        .order_by(Agent.name, Agent.id)
    )
    if sender.role is not Role.ADMIN:
        watched = select(SupervisorDepartment.department_id).where(
            SupervisorDepartment.agent_id == sender_id
        )
        query = query.where(Agent.department_id.in_(watched))
    return [Recipient(i, name, department or "") for i, name, department in session.execute(query)]


def clean_message(text: str) -> str:
    """The message as stored: trimmed, line breaks as LF; refused when empty or unstorable."""
    message = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not message:
        raise NotificationError(EMPTY)
    if len(message) > MESSAGE_MAX_CHARS:
        raise NotificationError(TOO_LONG)
    if any(ch in _CONTROLS for ch in message):
        raise NotificationError(BAD_CHARACTERS)
    return message


def send(
    session: Session,
    sender_id: int,
    agent_id: int,
    severity: Severity,
    text: str,
    minutes: int,
    now: datetime,
) -> int:
    """Store the message, shown from now for ``minutes``, and tell the agent's desktop."""
    message = clean_message(text)
    if agent_id not in {r.agent_id for r in recipients(session, sender_id)}:
        raise NotificationError(NOT_YOURS)
    minutes = max(1, min(MINUTES_MAX, minutes))
    note = Notification(
        sender_id=sender_id,
        agent_id=agent_id,
        severity=severity,
        message=message,
        created_at=now,
        shown_from=now,
        shown_until=now + timedelta(minutes=minutes),
    )
    session.add(note)
    session.flush()
    emit(session, "agent.notification", now, agent_id=agent_id, notification_id=note.id)
    return note.id


def sent_by(session: Session, sender_id: int, limit: int = 20) -> list[SentMessage]:
    """The sender's latest messages, newest first, with whether they were read."""
    to = aliased(Agent)
    rows = session.execute(
        select(Notification, to.name)
        .join(to, to.id == Notification.agent_id)
        .where(Notification.sender_id == sender_id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit)
    ).all()
    return [
        SentMessage(n.id, name, n.severity.value, n.message, n.created_at, n.shown_until, n.read_at)
        for n, name in rows
    ]
