"""A small contact centre built straight from the models, for DB-level tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from agent_desktop.agent_state import GoOnAir
from agent_desktop.store import agent_sessions
from db.models import Agent, PauseType, PhoneSeat, Queue, QueueRight


@dataclass(frozen=True)
class Centre:
    support: int
    billing: int
    agents: dict[str, int]
    seats: dict[str, int]
    missed_pause: int


def build_centre(session: Session, logins: tuple[str, ...] = ("eva", "jan", "petr")) -> Centre:
    support = Queue(code="support", name="Technical support")
    billing = Queue(code="billing", name="Billing")
    missed = PauseType(position=9, name="Missed call", paid=False)
    session.add_all([support, billing, missed])
    session.flush()
    agents, seats = {}, {}
    for i, login in enumerate(logins):
        agent = Agent(login=login, name=login.title(), password_hash="x")
        seat = PhoneSeat(name=str(101 + i), dial_string=f"PJSIP/{101 + i}")
        session.add_all([agent, seat])
        session.flush()
        session.add(QueueRight(agent_id=agent.id, queue_id=support.id))
        agents[login], seats[login] = agent.id, seat.id
    session.flush()
    return Centre(support.id, billing.id, agents, seats, missed.id)


def log_in_on_air(session: Session, centre: Centre, login: str, now: datetime) -> None:
    agent_sessions.log_in(session, centre.agents[login], centre.seats[login], now)
    agent_sessions.apply_event(session, centre.agents[login], GoOnAir(), now)
