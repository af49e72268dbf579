"""A small back office (its boxes, staff and customers) built from the models, and calls and
items made by the call flows' own functions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from db.models import (
    Agent,
    BoxRight,
    Call,
    Customer,
    Location,
    Queue,
    QueueLocation,
    VoicemailBox,
)
from dialplan.store import calls
from dialplan.store.boxes import take_request
from domain.enums import BoxKind, CallState, Direction, Role
from domain.numbers import normalise_number
from tests.support.customers import add_phones
from voicemail.spool import SpooledRequest


@dataclass(frozen=True)
class Office:
    queue: int
    messages: int  # "Support voicemail"
    callbacks: int  # "Support callbacks"
    night: int  # "After-hours voicemail", sends e-mail
    agents: dict[str, int]
    novak: int  # a customer with two numbers
    svoboda: int  # another customer


def build_office(session: Session) -> Office:
    location = Location(code="BRQ", name="Brno")
    session.add(location)
    session.flush()
    queue = Queue(code="support", name="Technical support")
    messages = VoicemailBox(code="vm", name="Support voicemail", kind=BoxKind.VOICEMAIL)
    callbacks = VoicemailBox(code="cb", name="Support callbacks", kind=BoxKind.CALLBACK)
    night = VoicemailBox(
        code="night",
        name="After-hours voicemail",
        kind=BoxKind.VOICEMAIL,
        email_to="night@example.test, boss@example.test",
    )
    novak = Customer(location_id=location.id, name="Jan Novák", contract_number="C-1001")
    svoboda = Customer(location_id=location.id, name="Eva Svobodová", contract_number="C-1002")
    session.add_all([queue, messages, callbacks, night, novak, svoboda])
    session.flush()
    # The boxes belong to queues serving Brno: items are matched to Brno's customers.
    queue.voicemail_box_id, queue.callback_box_id = messages.id, callbacks.id
    after_hours = Queue(code="night", name="After hours", voicemail_box_id=night.id)
    session.add(after_hours)
    session.flush()
    session.add_all(
        QueueLocation(queue_id=q.id, location_id=location.id) for q in (queue, after_hours)
    )
    add_phones(session, novak.id, ("777 123 456", "+420 602 111 222"))
    add_phones(session, svoboda.id, ("731000111",))
    people = {
        "eva": (Role.BACKOFFICE, (messages, callbacks, night)),
        "jan": (Role.BACKOFFICE, (callbacks,)),
        "sue": (Role.SUPERVISOR, ()),
        "ann": (Role.AGENT, ()),
    }
    agents = {}
    for login, (role, boxes) in people.items():
        agent = Agent(login=login, name=login.title(), password_hash="x", role=role)
        session.add(agent)
        session.flush()
        session.add_all([BoxRight(agent_id=agent.id, box_id=b.id) for b in boxes])
        agents[login] = agent.id
    session.flush()
    return Office(queue.id, messages.id, callbacks.id, night.id, agents, novak.id, svoboda.id)


def inbound_call(
    session: Session,
    office: Office,
    number: str,
    at: datetime,
    *,
    customer_id: int | None = None,
    end: CallState | None = None,
    ended_at: datetime | None = None,
) -> int:
    """An inbound call handed to the support queue at ``at``."""
    view = calls.open_call(
        session,
        uniqueid=uuid.uuid4().hex,
        direction=Direction.INBOUND,
        now=at,
        caller_number=number,
    )
    assert view is not None
    calls.enter_queue(session, view.id, office.queue, at, keep_waiting_start=False)
    if customer_id is not None:
        call = session.get(Call, view.id)
        assert call is not None
        call.customer_id = customer_id
    if end is not None:
        calls.close_call(session, view.id, end, ended_at or at)
    return view.id


def answer(session: Session, call_id: int, at: datetime, agent_id: int | None = None) -> None:
    """The call connects at ``at`` (through a ring attempt, as the flows record it); the
    customer's open callback requests are resolved by it (R-3.6)."""
    offer = calls.direct_offer(session, call_id, agent_id, "PJSIP/101", at)
    assert offer is not None
    calls.answered(session, offer.attempt_id, at)


def leave(
    session: Session,
    box_id: int,
    kind: str,
    number: str,
    at: datetime,
    *,
    call_id: int | None = None,
    recording_path: str = "",
    duration_s: int | None = None,
) -> int:
    """A message or callback request as the call flow stores it (``take_request``)."""
    uniqueid = ""
    if call_id is not None:
        call = session.get(Call, call_id)
        assert call is not None
        uniqueid = call.uniqueid
    try:
        digits = normalise_number(number, "420")
    except ValueError:
        digits = ""
    view = take_request(
        session,
        SpooledRequest(
            spool_key=uuid.uuid4().hex,
            kind=kind,
            box_id=box_id,
            call_uniqueid=uniqueid,
            caller_number=number,
            created_at=at.isoformat(),
            recording_path=recording_path,
            duration_s=duration_s,
            caller_digits=digits,
        ),
    )
    assert view is not None
    return view.id
