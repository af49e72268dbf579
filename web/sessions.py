"""Signed-in browsers (R-7.4): sign-in, the user behind a session cookie, sign-out.

Database functions for ``DBRunner.run``; they return frozen dataclasses, never ORM objects.
A sign-in is two short transactions with the password check between them, outside both
(:func:`credentials`, then ``web.password_checks``, then :func:`open_session`).
The browser holds a random token in an HttpOnly cookie; the ``web_sessions`` table holds only
its SHA-256, so a leaked table gives no usable cookie. Every sign-in makes a new token (and
drops the browser's previous session), which defeats session fixation. A session ends after
``IDLE_S`` without a request, and at the latest ``LIFETIME_S`` after sign-in (one long shift).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, literal, select
from sqlalchemy.orm import Session

from db.models import (
    Agent,
    AgentSession,
    AuditLog,
    BoxRight,
    Event,
    PauseType,
    PhoneSeat,
    QueueRight,
    Setting,
    WebSession,
)
from db.passwords import hash_password
from db.prepared import Prepared
from domain.centre import DEFAULT_COUNTRY_PREFIX
from domain.enums import Role
from domain.numbers import is_country_prefix
from web.sign_in_throttle import UNLOCK_ACTION, unlock_target

IDLE_S = 4 * 3600
LIFETIME_S = 16 * 3600
# Sliding the expiry is a write; skip it when the stored one is this fresh.
_SLIDE_STEP_S = 60
# Checked against when the login is unknown (hash_to_check).
_DUMMY_HASH = hash_password("not a password", n=2**14)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class DeskView:
    """The agent at a phone seat (R-2.1, R-2.2)."""

    agent_session_id: int
    seat_id: int
    seat_name: str
    state: str
    activity: str
    pause_type_id: int | None
    pause_name: str | None
    since: datetime
    logged_in_at: datetime
    current_call_id: int | None


@dataclass(frozen=True)
class SignedInUser:
    """Who is behind a request; what the guard checks and every page shows in its header."""

    agent_id: int
    login: str
    name: str
    role: Role
    language: str | None  # the person's saved choice; None: the browser's (issue 16)
    web_session_id: int
    csrf_token: str
    expires_at: datetime
    queue_ids: frozenset[int]
    box_ids: frozenset[int]
    desk: DeskView | None
    # The newest live event when the page was made: its stream starts after it.
    newest_event_id: int
    # The centre's country (its calling code): pages show phone numbers by it (issue 16).
    country_prefix: str = DEFAULT_COUNTRY_PREFIX

    @property
    def call_centre_user(self) -> bool:
        """Has a right to some queue (R-2.3: sees the "not logged in" badge, may take calls)."""
        return bool(self.queue_ids)


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf_token: str
    agent_id: int
    language: str | None
    call_centre_user: bool
    back_office_user: bool  # has a box right: starts on the back office (issue 16)
    role: Role = Role.AGENT


@dataclass(frozen=True)
class Credentials:
    """What a sign-in checks the password against, read in a short transaction of its own."""

    agent_id: int
    password_hash: str
    active: bool


def credentials(session: Session, login: str) -> Credentials | None:
    """The stored hash of ``login``'s password; None for an unknown login.

    Step one of three of a sign-in (issue 11, item 9): the scrypt check itself runs after
    this transaction, outside any (``web.password_checks``), and :func:`open_session` opens
    the session in another short one, so no transaction (on SQLite: the write lock) is held
    while the password is hashed."""
    agent = session.scalars(select(Agent).where(Agent.login == login)).one_or_none()
    if agent is None:
        return None
    return Credentials(agent.id, agent.password_hash, agent.active)


def hash_to_check(found: Credentials | None) -> str:
    """The hash to check a password against: the login's, or for an unknown login a dummy,
    so that a wrong login costs as long as a wrong password and response times do not tell
    which logins exist."""
    return found.password_hash if found is not None else _DUMMY_HASH


def open_session(
    session: Session,
    checked: Credentials,
    now: datetime,
    previous_token_hash: str | None = None,
) -> NewSession | None:
    """Open a new session for an account whose password was just checked; None when the
    account was deactivated or deleted, or its password changed, since it was read."""
    agent = session.get(Agent, checked.agent_id)
    if agent is None or not agent.active or agent.password_hash != checked.password_hash:
        return None
    # Housekeeping: expired sessions of everyone, and this browser's old one (rotation).
    session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    if previous_token_hash:
        session.execute(delete(WebSession).where(WebSession.token_hash == previous_token_hash))
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=token_hash(token),
            agent_id=agent.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + timedelta(seconds=IDLE_S),
        )
    )
    has_queue = session.scalar(select(QueueRight.queue_id).where(QueueRight.agent_id == agent.id))
    has_box = session.scalar(select(BoxRight.box_id).where(BoxRight.agent_id == agent.id))
    return NewSession(
        token,
        csrf,
        agent.id,
        agent.language,
        has_queue is not None,
        has_box is not None,
        agent.role,
    )


def sign_out(session: Session, web_session_id: int) -> None:
    session.execute(delete(WebSession).where(WebSession.id == web_session_id))


@dataclass(frozen=True)
class UserLookup:
    """What :func:`look_up_user` found: the user (None: unknown, expired or deactivated),
    and the session row's id when that row needs a write (:func:`touch_session`): its
    expiry slid on, at most once a minute, or the ended row deleted."""

    user: SignedInUser | None
    write_due: int | None = None
    # What the route's own read (``then``) returned, in the same transaction; None without.
    page: Any = None


# The statements of every request, built and compiled once and run on the driver's cursor
# (``db.prepared``, issue 12): building a select, or executing it through SQLAlchemy, costs
# more CPU than SQLite takes to run it.
_OPEN_DESK = and_(AgentSession.agent_id == Agent.id, AgentSession.logged_out_at.is_(None))
_USER = Prepared(
    select(
        WebSession.id,
        WebSession.csrf_token,
        WebSession.expires_at,
        WebSession.created_at,
        Agent.id,
        Agent.login,
        Agent.name,
        Agent.role,
        Agent.language,
        Agent.active,
        AgentSession.id,
        AgentSession.seat_id,
        PhoneSeat.name,
        AgentSession.state,
        AgentSession.activity,
        AgentSession.pause_type_id,
        PauseType.name,
        AgentSession.state_since,
        AgentSession.logged_in_at,
        AgentSession.current_call_id,
        select(func.max(Event.id)).scalar_subquery(),
        select(Setting.value).where(Setting.key == "country_prefix").scalar_subquery(),
    )
    .join(Agent, Agent.id == WebSession.agent_id)
    .outerjoin(AgentSession, _OPEN_DESK)
    .outerjoin(PhoneSeat, PhoneSeat.id == AgentSession.seat_id)
    .outerjoin(PauseType, PauseType.id == AgentSession.pause_type_id)
    .where(WebSession.token_hash == bindparam("hashed"))
)
_RIGHTS = Prepared(
    select(QueueRight.queue_id, literal("queue"))
    .where(QueueRight.agent_id == bindparam("agent_id"))
    .union_all(
        select(BoxRight.box_id, literal("box")).where(BoxRight.agent_id == bindparam("agent_id"))
    )
)


def look_up_user(
    on: Connection | Session,
    hashed: str,
    now: datetime,
    then: Callable[[Connection | Session, SignedInUser, datetime], Any] | None = None,
) -> UserLookup:
    """The user of a session token hash, in one read-only transaction of two prepared
    queries (``DBRunner.read_rows``, issue 12): the session, its agent, their seat and the
    newest live event in one, the rights in the other. Every request of every page starts
    here, so it takes no write lock; the expiry is slid on by a write of its own only when a
    minute is due. ``then(on, user, now)``: the page's own reads, for a user found, in the
    same transaction (``web.access.Route.read_with_user``); its result is ``page``."""
    found = _USER.first(on, {"hashed": hashed})
    if found is None:
        return UserLookup(None)
    (web_session_id, csrf, expires_at, created_at, agent_id, login, name, role, language) = found[
        :9
    ]
    if expires_at <= now or not found[9]:  # expired, or the account deactivated
        return UserLookup(None, web_session_id)  # touch_session deletes it
    rights = _RIGHTS.all(on, {"agent_id": agent_id})
    user = SignedInUser(
        agent_id=agent_id,
        login=login,
        name=name,
        role=role,
        language=language,
        web_session_id=web_session_id,
        csrf_token=csrf,
        expires_at=expires_at,
        queue_ids=frozenset(i for i, kind in rights if kind == "queue"),
        box_ids=frozenset(i for i, kind in rights if kind == "box"),
        desk=None if found[10] is None else _desk(tuple(found[10:20])),
        newest_event_id=int(found[20] or 0),
        country_prefix=found[21]
        if found[21] and is_country_prefix(found[21])
        else DEFAULT_COUNTRY_PREFIX,
    )
    due = _slid_expiry(created_at, now) - expires_at >= timedelta(seconds=_SLIDE_STEP_S)
    page = then(on, user, now) if then is not None else None
    return UserLookup(user, web_session_id if due else None, page)


def _desk(row: tuple[Any, ...]) -> DeskView:
    """The seat part of the :data:`_USER` row."""
    (
        session_id,
        seat_id,
        seat_name,
        state,
        activity,
        pause_type_id,
        pause_name,
        since,
        logged_in_at,
        call_id,
    ) = row
    return DeskView(
        agent_session_id=session_id,
        seat_id=seat_id,
        seat_name=seat_name if seat_name is not None else str(seat_id),
        state=state.value,
        activity=activity.value,
        pause_type_id=pause_type_id,
        pause_name=pause_name,
        since=since,
        logged_in_at=logged_in_at,
        current_call_id=call_id,
    )


def _slid_expiry(created_at: datetime, now: datetime) -> datetime:
    """The expiry a request at ``now`` gives a session: idle time on, within its lifetime."""
    return min(now + timedelta(seconds=IDLE_S), created_at + timedelta(seconds=LIFETIME_S))


def set_language(session: Session, agent_id: int, language: str) -> None:
    agent = session.get(Agent, agent_id)
    if agent is not None:
        agent.language = language


def touch_session(session: Session, web_session_id: int, now: datetime) -> bool:
    """Is the session still valid? Slides its expiry like a request would (a live page)."""
    row = session.get(WebSession, web_session_id)
    if row is None:
        return False
    agent = session.get(Agent, row.agent_id)
    if row.expires_at <= now or agent is None or not agent.active:
        session.delete(row)
        return False
    wanted = _slid_expiry(row.created_at, now)
    if (wanted - row.expires_at).total_seconds() >= _SLIDE_STEP_S:
        row.expires_at = wanted
    return True


def unlocked_since(session: Session, login: str, since: datetime) -> datetime | None:
    """The latest unlock of ``login`` by an admin at or after ``since``, from the audit
    trail every process shares (``web.sign_in_throttle``); None: none."""
    return session.scalar(
        select(func.max(AuditLog.at)).where(
            AuditLog.at >= since,
            AuditLog.action == UNLOCK_ACTION,
            AuditLog.target == unlock_target(login),
        )
    )
