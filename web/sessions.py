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
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from db.events import newest_id
from db.models import Agent, AgentSession, BoxRight, PauseType, PhoneSeat, QueueRight, WebSession
from db.passwords import hash_password
from domain.enums import Role

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
        token, csrf, agent.id, agent.language, has_queue is not None, has_box is not None
    )


def sign_out(session: Session, web_session_id: int) -> None:
    session.execute(delete(WebSession).where(WebSession.id == web_session_id))


def load_user(session: Session, hashed: str, now: datetime) -> SignedInUser | None:
    """The user of a session token hash, or None when unknown, expired or deactivated."""
    row = session.scalars(select(WebSession).where(WebSession.token_hash == hashed)).one_or_none()
    if row is None:
        return None
    if not touch_session(session, row.id, now):
        return None
    agent = session.get(Agent, row.agent_id)
    assert agent is not None
    queue_ids = frozenset(
        session.scalars(select(QueueRight.queue_id).where(QueueRight.agent_id == agent.id))
    )
    box_ids = frozenset(
        session.scalars(select(BoxRight.box_id).where(BoxRight.agent_id == agent.id))
    )
    return SignedInUser(
        agent_id=agent.id,
        login=agent.login,
        name=agent.name,
        role=agent.role,
        language=agent.language,
        web_session_id=row.id,
        csrf_token=row.csrf_token,
        expires_at=row.expires_at,
        queue_ids=queue_ids,
        box_ids=box_ids,
        desk=desk_view(session, agent.id),
        newest_event_id=newest_id(session),
    )


def desk_view(session: Session, agent_id: int) -> DeskView | None:
    row = session.scalars(
        select(AgentSession).where(
            AgentSession.agent_id == agent_id, AgentSession.logged_out_at.is_(None)
        )
    ).one_or_none()
    if row is None:
        return None
    seat = session.get(PhoneSeat, row.seat_id)
    pause = session.get(PauseType, row.pause_type_id) if row.pause_type_id else None
    return DeskView(
        agent_session_id=row.id,
        seat_id=row.seat_id,
        seat_name=seat.name if seat else str(row.seat_id),
        state=row.state.value,
        activity=row.activity.value,
        pause_type_id=row.pause_type_id,
        pause_name=pause.name if pause else None,
        since=row.state_since,
        logged_in_at=row.logged_in_at,
        current_call_id=row.current_call_id,
    )


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
    wanted = min(now + timedelta(seconds=IDLE_S), row.created_at + timedelta(seconds=LIFETIME_S))
    if (wanted - row.expires_at).total_seconds() >= _SLIDE_STEP_S:
        row.expires_at = wanted
    return True
