"""Two small contact centres built straight from the models; they are not the same centre.

* :func:`build_agents_centre`: agents (eva, jan, petr by default), each with a seat of their
  own and the right to the support queue, a billing queue and the missed-call pause: for
  the store tests of calls, offers and agent sessions.
* :func:`build_staff_centre`: a centre's whole staff, who sign in with :data:`PASSWORD`
  (call centre, back office, supervisor, an inactive login), with pauses, seats (two of
  them restricted), a voicemail box and their rights: for the web tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from agent_desktop.agent_state import GoOnAir
from agent_desktop.store import agent_sessions
from db.models import (
    Agent,
    BoxRight,
    Notification,
    PauseType,
    PhoneSeat,
    Queue,
    QueueRight,
    SeatRight,
    VoicemailBox,
)
from db.passwords import hash_password
from domain.enums import Role, Severity


@dataclass(frozen=True)
class AgentsCentre:
    support: int
    billing: int
    agents: dict[str, int]
    seats: dict[str, int]
    missed_pause: int


def build_agents_centre(
    session: Session, logins: tuple[str, ...] = ("eva", "jan", "petr")
) -> AgentsCentre:
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
    return AgentsCentre(support.id, billing.id, agents, seats, missed.id)


def log_in_on_air(session: Session, centre: AgentsCentre, login: str, now: datetime) -> None:
    agent_sessions.log_in(session, centre.agents[login], centre.seats[login], now)
    agent_sessions.apply_event(session, centre.agents[login], GoOnAir(), now)


PASSWORD = "correct horse"


@dataclass(frozen=True)
class StaffCentre:
    support: int
    billing: int
    box: int
    agents: dict[str, int]
    seats: dict[str, int]
    pauses: dict[str, int]


def build_staff_centre(session: Session, now: datetime) -> StaffCentre:
    """Agents eva and jan (call centre), bob (back office), sue (supervisor), ina (inactive)."""
    support = Queue(code="support", name="Technical support")
    billing = Queue(code="billing", name="Billing")
    box = VoicemailBox(code="vm", name="Support voicemail")
    session.add_all([support, billing, box])
    pauses = {
        "personal": PauseType(position=1, name="Personal", paid=True),
        "meeting": PauseType(position=2, name="Meeting", paid=False),
        "old": PauseType(position=3, name="Old", paid=False, active=False),
        "missed": PauseType(position=9, name="Missed call", paid=False),
    }
    session.add_all(pauses.values())
    seats = {
        name: PhoneSeat(name=name, dial_string=f"PJSIP/{name}", restricted=name.startswith("9"))
        for name in ("101", "102", "103", "901", "902")
    }
    session.add_all(seats.values())
    hashed = hash_password(PASSWORD, n=2**10)  # cheap for tests; the format is the real one
    people = {
        "eva": Agent(login="eva", name="Eva Dvořák", password_hash=hashed),
        "jan": Agent(login="jan", name="Jan Novák", password_hash=hashed, language="cs"),
        "bob": Agent(login="bob", name="Bob Office", password_hash=hashed, role=Role.BACKOFFICE),
        "sue": Agent(login="sue", name="Sue Visor", password_hash=hashed, role=Role.SUPERVISOR),
        "ina": Agent(login="ina", name="Ina Gone", password_hash=hashed, active=False),
    }
    session.add_all(people.values())
    session.flush()
    for login in ("eva", "jan", "ina"):
        session.add(QueueRight(agent_id=people[login].id, queue_id=support.id))
    session.add(SeatRight(agent_id=people["eva"].id, seat_id=seats["901"].id))
    session.add(BoxRight(agent_id=people["bob"].id, box_id=box.id))
    session.flush()
    return StaffCentre(
        support=support.id,
        billing=billing.id,
        box=box.id,
        agents={k: v.id for k, v in people.items()},
        seats={k: v.id for k, v in seats.items()},
        pauses={k: v.id for k, v in pauses.items()},
    )


def add_notification(
    session: Session,
    centre: StaffCentre,
    to: str,
    message: str,
    now: datetime,
    *,
    severity: Severity = Severity.WARNING,
    shown_from_s: int = -60,
    shown_until_s: int = 3600,
) -> int:
    n = Notification(
        sender_id=centre.agents["sue"],
        agent_id=centre.agents[to],
        severity=severity,
        message=message,
        created_at=now,
        shown_from=now + timedelta(seconds=shown_from_s),
        shown_until=now + timedelta(seconds=shown_until_s),
    )
    session.add(n)
    session.flush()
    return n.id
