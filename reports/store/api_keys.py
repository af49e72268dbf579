"""Per-integration API keys for the call records API (R-5.6, R-7.4).

A key is 32 random bytes (``hk_`` + URL-safe base64), shown once when it is made; only its
SHA-256 is stored. A fast hash is enough here, unlike for passwords: the key has 256 bits
of randomness, so no dictionary or brute force reaches it, and every API request checks it.
A key reads the calls of the queues it is scoped to, nothing else, until it is revoked;
making and revoking are written to the audit log.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Agent, ApiKey, ApiKeyQueue, AuditLog, Queue
from domain.refusals import BadInputError, NotFoundError
from domain.texts import N_
from reports.store.records import Viewer

KEY_PREFIX = "hk_"
NAME_MAX = 100
NO_NAME = N_("Give the key a name: which integration uses it.")
NO_QUEUES = N_("Choose at least one queue whose calls the key may read.")
UNKNOWN_QUEUE = N_("There is no queue %(queue)s.")
NO_SUCH_KEY = N_("There is no such API key.")
# "Last used" is written at most this often per key: not one write per API request.
LAST_USED_EVERY = timedelta(minutes=1)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewKey:
    id: int
    key: str  # shown once; not stored


@dataclass(frozen=True)
class ApiKeyView:
    id: int
    name: str
    prefix: str
    queue_names: tuple[str, ...]
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    last_used_at: datetime | None


def create_key(
    session: Session,
    name: str,
    queue_ids: Collection[int],
    created_by_id: int | None,
    now: datetime,
) -> NewKey:
    """A new key reading the calls of ``queue_ids``; BadInputError for no name or queue."""
    name = name.strip()
    if not name:
        raise BadInputError(NO_NAME)
    if not queue_ids:
        raise BadInputError(NO_QUEUES)
    known = set(session.scalars(select(Queue.id).where(Queue.id.in_(sorted(queue_ids)))))
    for queue_id in queue_ids:
        if queue_id not in known:
            raise BadInputError(UNKNOWN_QUEUE, {"queue": queue_id})
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        name=name[:NAME_MAX],
        prefix=key[:10],
        key_hash=key_hash(key),
        created_at=now,
        created_by_id=created_by_id,
    )
    session.add(row)
    session.flush()
    session.add_all(ApiKeyQueue(api_key_id=row.id, queue_id=q) for q in sorted(known))
    session.add(
        AuditLog(
            at=now,
            actor_id=created_by_id,
            action="api_key.create",
            target=f"api_key:{row.id}",
            detail=json.dumps({"after": {"name": row.name, "queues": sorted(known)}}),
        )
    )
    return NewKey(row.id, key)


def queue_ids_by_code(session: Session, codes: Collection[str]) -> list[int]:
    """The ids of queues named by code (the CLI's ``--queue``); BadInputError for an unknown."""
    found = dict(session.execute(select(Queue.code, Queue.id).where(Queue.code.in_(codes))).all())
    for code in codes:
        if code not in found:
            raise BadInputError(UNKNOWN_QUEUE, {"queue": code})
    return [found[c] for c in codes]


def revoke_key(session: Session, key_id: int, revoked_by_id: int | None, now: datetime) -> None:
    """Revoke a key (it stays in the list); revoking twice changes nothing."""
    row = session.get(ApiKey, key_id, with_for_update=True)
    if row is None:
        raise NotFoundError(NO_SUCH_KEY)
    if row.revoked_at is not None:
        return
    row.revoked_at = now
    session.add(
        AuditLog(
            at=now,
            actor_id=revoked_by_id,
            action="api_key.revoke",
            target=f"api_key:{row.id}",
            detail=json.dumps({"before": {"revoked": False}, "after": {"revoked": True}}),
        )
    )


def list_keys(session: Session) -> list[ApiKeyView]:
    rows = session.execute(
        select(ApiKey, Agent.name)
        .outerjoin(Agent, Agent.id == ApiKey.created_by_id)
        .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc(), ApiKey.id.desc())
    ).all()
    scopes: dict[int, list[str]] = {}
    for key_id, queue_name in session.execute(
        select(ApiKeyQueue.api_key_id, Queue.name)
        .join(Queue, Queue.id == ApiKeyQueue.queue_id)
        .order_by(Queue.name)
    ):
        scopes.setdefault(key_id, []).append(queue_name)
    return [
        ApiKeyView(
            id=key.id,
            name=key.name,
            prefix=key.prefix,
            queue_names=tuple(scopes.get(key.id, ())),
            created_at=key.created_at,
            created_by=creator or "",
            revoked_at=key.revoked_at,
            last_used_at=key.last_used_at,
        )
        for key, creator in rows
    ]


def viewer_for_key(session: Session, key: str, now: datetime) -> Viewer | None:
    """Whose rights a request with ``key`` has: its queues; None for an unknown or revoked
    key (the API answers 401)."""
    if not key.startswith(KEY_PREFIX) or len(key) > 100:
        return None
    row = session.scalars(select(ApiKey).where(ApiKey.key_hash == key_hash(key))).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        row.last_used_at = now
    queues = session.scalars(select(ApiKeyQueue.queue_id).where(ApiKeyQueue.api_key_id == row.id))
    return Viewer(agent_id=None, queue_ids=frozenset(queues))
