"""What the status page and ``/healthz`` report: is the database reachable, at which schema,
and (to people signed in) how many queues, people, customers and open calls it holds.

Pure data gathering through the DBRunner; the web layer renders it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.migrate import current_revision
from db.models import Agent, AgentSession, Call, Customer, Queue


@dataclass(frozen=True)
class CentreCounts:
    """Counts that tell an admin the centre is configured and alive (no personal data)."""

    schema_revision: str | None
    queues: int
    agents: int
    customers: int
    agents_logged_in: int
    calls_open: int


def schema_revision(session: Session) -> str | None:
    """The database's schema revision: proof that it answers, for anyone (one cheap query)."""
    bind = session.get_bind()
    return current_revision(bind.engine if hasattr(bind, "engine") else bind)  # type: ignore[arg-type]


def centre_counts(session: Session) -> CentreCounts:
    revision = schema_revision(session)

    def count(stmt: object) -> int:
        return int(session.scalar(stmt) or 0)  # type: ignore[call-overload]

    return CentreCounts(
        schema_revision=revision,
        queues=count(select(func.count()).select_from(Queue)),
        agents=count(select(func.count()).select_from(Agent)),
        customers=count(select(func.count()).select_from(Customer)),
        agents_logged_in=count(
            select(func.count())
            .select_from(AgentSession)
            .where(AgentSession.logged_out_at.is_(None))
        ),
        calls_open=count(select(func.count()).select_from(Call).where(Call.ended_at.is_(None))),
    )
