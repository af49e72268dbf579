"""Outbound calls in the database (R-1.13, R-2.15): the checks and the call record when one
is placed, its progress as the agent's phone and then the customer's ring, its outcome and
the agent's release; and what the outbound dialog offers (the customer's numbers and
contact persons, the queues to call for, "save number"). How an outbound call runs, end to
end, is told in ``dialplan.services.outbound_calls``."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent_desktop import agent_state as agent_core
from agent_desktop.store import agent_sessions
from callbacks import store as callbacks_store
from db.events import emit
from db.models import (
    Agent,
    AuditLog,
    BoxRight,
    Call,
    ContactPerson,
    Customer,
    CustomerPhone,
    Did,
    IvrMenu,
    IvrOption,
    Location,
    PhoneSeat,
    Queue,
    QueueLocation,
    QueueRight,
    RingAttempt,
    Setting,
    VoicemailItem,
)
from dialplan.store import calls
from domain.centre import DEFAULT_COUNTRY_PREFIX
from domain.enums import FINAL_STATES, Activity, AgentState, CallState, Direction, RingOutcome, Role
from domain.numbers import normalise_number
from domain.refusals import ConflictError, NotFoundError
from domain.texts import N_
from voicemail.store.call_backs import call_back_item

# How long the agent's own phone may ring before the Originate gives up.
AGENT_RING_TIMEOUT_MS = 30_000
# Steps of an outbound call record (Call.flow_step): the agent's phone rings, the customer's
# phone rings (the ``outbound`` script runs), done.
STEP_AGENT_RINGS = "originate"
STEP_DIALLING = "dialling"

NOT_AT_SEAT = N_("You are not logged in at a phone seat.")
GO_OFF_AIR = N_("Go off air before you place an outbound call.")
FIRST_SEARCH = N_("First search for the customer")  # as the Active call form says it
NO_SUCH_CUSTOMER = N_("There is no such customer.")
CONTACT_NOT_OF_CUSTOMER = N_("This contact person does not belong to the customer.")
BAD_NUMBER = N_("This is not a phone number that can be dialled.")
NO_QUEUE = N_("You have no queue to call out for.")
NO_RIGHT_TO_QUEUE = N_("You may not call out for this queue.")
TELEPHONY_DOWN = N_("Telephony is not reachable; the call was not placed.")
NO_SUCH_CALL = N_("There is no such outbound call of yours.")
NOT_FOR_PSEUDO = N_("Pick the customer the number belongs to.")
ALREADY_CALLING = N_("You are placing a call already.")


class OutboundError(ConflictError):
    """The call cannot be placed (or changed); ``message`` is what the agent reads."""


class OutboundCallNotFoundError(NotFoundError):
    """No outbound call of this agent's with that id."""


@dataclass(frozen=True)
class PreparedCall:
    call_id: int
    number: str
    dial_number: str
    seat_dial_string: str
    caller_id: str | None


@dataclass(frozen=True)
class OutboundLeg:
    """What the ``outbound`` script needs once the agent answered."""

    call_id: int
    agent_id: int | None
    dial_number: str
    record: bool


@dataclass(frozen=True)
class OutboundState:
    """An outbound call as its agent's ringing dialog shows it (R-2.15)."""

    call_id: int
    state: str
    flow_step: str
    channel: str
    final: bool
    number: str
    customer_name: str


def _setting(session: Session, key: str) -> str | None:
    row = session.get(Setting, key)
    return row.value if row is not None else None


def _pseudo_customer(session: Session) -> Customer | None:
    return session.scalars(
        select(Customer)
        .where(Customer.is_pseudo.is_(True), Customer.active.is_(True))
        .order_by(Customer.id)
    ).first()


def _agent_queues(session: Session, agent_id: int) -> list[Queue]:
    return list(
        session.scalars(
            select(Queue)
            .join(QueueRight, QueueRight.queue_id == Queue.id)
            .where(QueueRight.agent_id == agent_id, Queue.active.is_(True))
            .order_by(Queue.code)
        )
    )


def _queue_for(
    session: Session,
    agent: Agent,
    queue_id: int | None,
    customer: Customer | None,
    item: VoicemailItem | None,
) -> Queue | None:
    """The queue the call is made for: given, or the back-office item's, or the agent's
    (one that serves the customer's location first)."""
    if queue_id is not None:
        queue = session.get(Queue, queue_id)
        if queue is None:
            raise OutboundError(NO_QUEUE)
        may = (
            agent.role in (Role.SUPERVISOR, Role.ADMIN)
            or session.get(QueueRight, (agent.id, queue.id)) is not None
            or (item is not None and session.get(BoxRight, (agent.id, item.box_id)) is not None)
        )
        if not may:
            raise OutboundError(NO_RIGHT_TO_QUEUE)
        return queue
    if item is not None:
        call = session.get(Call, item.call_id) if item.call_id is not None else None
        if call is not None and call.queue_id is not None:
            return session.get(Queue, call.queue_id)
        by_box = session.scalars(
            select(Queue)
            .where((Queue.voicemail_box_id == item.box_id) | (Queue.callback_box_id == item.box_id))
            .order_by(Queue.id)
        ).first()
        if by_box is not None:
            return by_box
    mine = _agent_queues(session, agent.id)
    if customer is not None and not customer.is_pseudo:
        serving = set(
            session.scalars(
                select(QueueLocation.queue_id).where(
                    QueueLocation.location_id == customer.location_id
                )
            )
        )
        for queue in mine:
            if queue.id in serving:
                return queue
    return mine[0] if mine else None


def caller_id_of(session: Session, queue: Queue | None) -> tuple[str, str]:
    """(name, number) the customer sees (R-1.13): the queue's caller ID number, else the
    number of a DID that leads to the queue (straight, or through an IVR menu); ("", "")
    leaves the seat's own caller ID."""
    if queue is None:
        return "", ""
    number: str | None = queue.caller_id_number
    if not number:
        number = session.scalar(
            select(Did.number).where(Did.queue_id == queue.id).order_by(Did.id)
        ) or session.scalar(
            select(Did.number)
            .join(IvrMenu, IvrMenu.id == Did.ivr_menu_id)
            .join(IvrOption, IvrOption.menu_id == IvrMenu.id)
            .where(IvrOption.queue_id == queue.id)
            .order_by(Did.id)
        )
    if not number:
        return "", ""
    # The name part of a caller ID must not carry quotes or angle brackets of its own.
    return "".join(ch for ch in queue.name if ch not in '"<>\\,').strip(), number


def prepare_outbound(
    session: Session,
    agent_id: int,
    number: str,
    now: datetime,
    *,
    customer_id: int | None = None,
    contact_id: int | None = None,
    queue_id: int | None = None,
    item_id: int | None = None,
) -> PreparedCall:
    """Check everything, write the call record and take the agent off-air (StartWork)."""
    agent = session.get(Agent, agent_id)
    row = agent_sessions.open_session_row(session, agent_id)
    if agent is None or row is None:
        raise OutboundError(NOT_AT_SEAT)
    if row.state is AgentState.ON_AIR:
        raise OutboundError(GO_OFF_AIR)  # placed from off-air
    if row.activity is Activity.OUTBOUND:
        raise OutboundError(ALREADY_CALLING)
    if row.activity in (Activity.RINGING, Activity.IN_CALL, Activity.PROCESSING):
        raise OutboundError(agent_core.FINISH_FIRST)
    customer = session.get(Customer, customer_id) if customer_id is not None else None
    if customer_id is not None and customer is None:
        raise OutboundError(NO_SUCH_CUSTOMER)
    if customer is None:
        customer = _pseudo_customer(session)  # people who are no customers
    contact = session.get(ContactPerson, contact_id) if contact_id is not None else None
    if contact_id is not None and (
        contact is None or customer is None or contact.customer_id != customer.id
    ):
        raise OutboundError(CONTACT_NOT_OF_CUSTOMER)
    item = session.get(VoicemailItem, item_id) if item_id is not None else None
    queue = _queue_for(session, agent, queue_id, customer, item)
    prefix = (
        queue.country_prefix
        if queue is not None
        else _setting(session, "country_prefix") or DEFAULT_COUNTRY_PREFIX
    )
    typed = number.strip() or (contact.phone if contact is not None else "")
    try:
        dial_number = normalise_number(typed, prefix)
    except ValueError:
        raise OutboundError(BAD_NUMBER) from None
    seat = session.get(PhoneSeat, row.seat_id)
    assert seat is not None
    caller_name, caller_number = caller_id_of(session, queue)
    placeholder = f"out-{secrets.token_hex(10)}"  # until the agent's channel has its uniqueid
    call = Call(
        uniqueid=placeholder,
        linkedid=placeholder,
        direction=Direction.OUTBOUND,
        caller_number=caller_number,
        callee_number=dial_number,
        queue_id=queue.id if queue is not None else None,
        agent_id=agent_id,
        customer_id=customer.id if customer is not None else None,
        contact_person_id=contact.id if contact is not None else None,
        state=CallState.RINGING,
        started_at=now,
        flow_step=STEP_AGENT_RINGS,
        heartbeat_at=now,
    )
    session.add(call)
    session.flush()
    try:
        agent_sessions.apply_event(
            session, agent_id, agent_core.StartWork(Activity.OUTBOUND), now, "outbound"
        )
    except agent_core.AgentStateError as refusal:
        raise OutboundError(refusal.message, refusal.params) from None
    row.current_call_id = call.id
    emit(
        session,
        "call.outbound",
        now,
        call_id=call.id,
        agent_id=agent_id,
        queue_id=call.queue_id,
        number=dial_number,
        customer_id=call.customer_id,
        item_id=item_id,
    )
    caller_id = f"{caller_name} <{caller_number}>" if caller_name else caller_number
    return PreparedCall(call.id, typed, dial_number, seat.dial_string, caller_id or None)


def note_agent_channel(session: Session, call_id: int, channel: str) -> None:
    """Remember the agent's channel (from the ``VarSet`` event) for Cancel."""
    call = session.get(Call, call_id)
    if call is not None and not call.channel and call.state not in FINAL_STATES:
        call.channel = channel[:200]


def _release_agent(session: Session, call: Call, now: datetime, *, connected: bool) -> None:
    """The agent's outbound work on ``call`` is over: processing after a connected call
    (the outbound reason tree, R-2.8), else back off-air (agent_state.EndWork). A call back
    placed from a back-office item goes back to that item either way (R-3.3): its after-call
    work is the item's Done or Cancel, which people without a call form can do too."""
    if call.agent_id is None:
        return
    row = agent_sessions.open_session_row(session, call.agent_id)
    if row is None or row.activity is not Activity.OUTBOUND:
        return
    if row.current_call_id not in (None, call.id):
        return  # working on another call by now
    if call_back_item(session, call.id) is not None:
        agent_sessions.apply_event(
            session, call.agent_id, agent_core.CallBackEnded(), now, f"call back {call.id} ended"
        )
        row.current_call_id = None
    elif connected:
        agent_sessions.apply_event(
            session, call.agent_id, agent_core.CallEnded(), now, f"call {call.id} ended"
        )
        row.current_call_id = call.id
    else:
        agent_sessions.apply_event(
            session, call.agent_id, agent_core.EndWork(), now, f"call {call.id} not connected"
        )
        row.current_call_id = None


def end_agent_leg(session: Session, call_id: int, now: datetime, cause: str) -> bool:
    """The agent's phone never took the call (no answer, busy, cancelled, not placed): the
    call ends as failed and the agent goes back. Nothing happens once the outbound script
    runs (it settles the call itself); True if the call was ended here."""
    call = session.get(Call, call_id, with_for_update=True)
    if call is None or call.state in FINAL_STATES or call.flow_step != STEP_AGENT_RINGS:
        return False
    calls.close_call(session, call_id, CallState.FAILED, now, cause=cause[:64])
    _release_agent(session, call, now, connected=False)
    _settle_call_back(session, call_id, now)
    return True


def _settle_call_back(session: Session, call_id: int, now: datetime) -> None:
    """A call back placed from a back-office item ended: the item's history says how (R-3.3),
    now rather than when someone next opens the item."""
    item_id = call_back_item(session, call_id)
    if item_id is not None:
        callbacks_store.settle_call_back(session, item_id, call_id, now)


def outbound_leg_started(
    session: Session,
    call_id: int,
    now: datetime,
    *,
    uniqueid: str,
    linkedid: str,
    channel: str,
    node: str,
) -> OutboundLeg | None:
    """The agent answered and the ``outbound`` script runs on their channel: the record now
    carries that channel's uniqueid. None for a call that is over (cancelled) or unknown."""
    call = session.get(Call, call_id, with_for_update=True)
    if call is None or call.direction is not Direction.OUTBOUND:
        return None
    if call.state in FINAL_STATES or call.flow_step != STEP_AGENT_RINGS:
        return None
    taken = session.scalars(select(Call.id).where(Call.uniqueid == uniqueid)).first()
    if taken is None and uniqueid:
        call.uniqueid = uniqueid
        call.linkedid = linkedid or uniqueid
    call.channel = channel[:200] or call.channel
    call.flow_step = STEP_DIALLING
    call.driven_by = node
    call.heartbeat_at = now
    queue = session.get(Queue, call.queue_id) if call.queue_id is not None else None
    return OutboundLeg(
        call.id,
        call.agent_id,
        call.callee_number,
        record=queue.recording_enabled if queue is not None else True,
    )


def open_customer_ring(
    session: Session, call_id: int, dial_string: str, now: datetime
) -> int | None:
    """The ring attempt of the customer's phone, so that the ``U()`` answer hook and
    ``calls.answered`` (R-3.6 included) work as for an inbound call; None if refused."""
    call = session.get(Call, call_id, with_for_update=True)
    if call is None or call.state in FINAL_STATES:
        return None
    attempt = calls.open_ring(
        session,
        call,
        call.agent_id,
        dial_string,
        now,
        event="call.dialling",
        number=call.callee_number,
    )
    if attempt is None:
        return None  # the agent rings with another call (a support-turn ring, R-1.11)
    return attempt.id


def finish_outbound(
    session: Session,
    call_id: int,
    attempt_id: int | None,
    state: CallState,
    now: datetime,
    *,
    cause: str = "",
) -> None:
    """Store the outcome (answered / no_answer / busy / failed) and release the agent."""
    call = session.get(Call, call_id, with_for_update=True)
    if call is None:
        return
    outcome = {
        CallState.ANSWERED: RingOutcome.ANSWERED,
        CallState.BUSY: RingOutcome.BUSY,
        CallState.NO_ANSWER: RingOutcome.NO_ANSWER,
    }.get(state, RingOutcome.FAILED)
    live = session.scalars(
        select(RingAttempt).where(
            RingAttempt.call_id == call_id, RingAttempt.outcome == RingOutcome.RINGING
        )
    ).all()
    for attempt in live:
        if attempt_id is None or attempt.id == attempt_id:
            attempt.outcome, attempt.ended_at = outcome, now
    connected = call.answered_at is not None
    if call.state not in FINAL_STATES:
        calls.close_call(session, call_id, state, now, cause=cause[:64])
    _release_agent(session, call, now, connected=connected)
    _settle_call_back(session, call_id, now)


def outbound_state(session: Session, agent_id: int, call_id: int) -> OutboundState:
    """The agent's own outbound call (OutboundCallNotFoundError for anyone else's)."""
    call = session.get(Call, call_id)
    if call is None or call.direction is not Direction.OUTBOUND or call.agent_id != agent_id:
        raise OutboundCallNotFoundError(NO_SUCH_CALL)
    customer = session.get(Customer, call.customer_id) if call.customer_id is not None else None
    return OutboundState(
        call.id,
        call.state.value,
        call.flow_step,
        call.channel,
        call.state in FINAL_STATES,
        call.callee_number,
        customer.name if customer is not None else "",
    )


@dataclass(frozen=True)
class PhoneChoice:
    phone_id: int
    position: int
    number: str


@dataclass(frozen=True)
class ContactChoice:
    contact_id: int
    name: str
    phone: str


@dataclass(frozen=True)
class QueueChoice:
    queue_id: int
    name: str


@dataclass(frozen=True)
class CustomerForDialog:
    customer_id: int
    name: str
    is_pseudo: bool
    active: bool
    phones: tuple[PhoneChoice, ...]
    contacts: tuple[ContactChoice, ...]
    # What tells two customers of one name apart in the dialog (issue 16).
    address: str = ""
    contract_number: str = ""
    location_name: str = ""


def customer_for_dialog(session: Session, customer_id: int) -> CustomerForDialog | None:
    """A picked customer with their numbers (main first) and contact persons (R-2.15)."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        return None
    phones = session.scalars(
        select(CustomerPhone)
        .where(CustomerPhone.customer_id == customer.id)
        .order_by(CustomerPhone.position, CustomerPhone.id)
    ).all()
    contacts = session.scalars(
        select(ContactPerson)
        .where(ContactPerson.customer_id == customer.id)
        .order_by(ContactPerson.position, ContactPerson.id)
    ).all()
    location = session.get(Location, customer.location_id)
    return CustomerForDialog(
        customer.id,
        customer.name,
        customer.is_pseudo,
        customer.active,
        tuple(PhoneChoice(p.id, p.position, p.number) for p in phones),
        tuple(ContactChoice(c.id, c.name, c.phone) for c in contacts),
        address=customer.address,
        contract_number=customer.contract_number,
        location_name=location.name if location is not None else "",
    )


def pseudo_customer_id(session: Session) -> int | None:
    """The "OUTBOUND CALL" pseudo-customer's id, if the centre has one."""
    found = _pseudo_customer(session)
    return found.id if found is not None else None


def queue_choices(session: Session, agent_id: int) -> tuple[QueueChoice, ...]:
    return tuple(QueueChoice(q.id, q.name) for q in _agent_queues(session, agent_id))


def save_customer_number(
    session: Session,
    agent_id: int,
    customer_id: int,
    number: str,
    now: datetime,
    *,
    phone_id: int | None = None,
    queue_id: int | None = None,
) -> PhoneChoice:
    """ "Save number" (R-2.15): correct the customer's number ``phone_id``, or add the number
    as a new one (an existing equal number is kept as it is)."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise OutboundError(NO_SUCH_CUSTOMER)
    if customer.is_pseudo:
        raise OutboundError(NOT_FOR_PSEUDO)
    queue = session.get(Queue, queue_id) if queue_id is not None else None
    prefix = (
        queue.country_prefix
        if queue is not None
        else _setting(session, "country_prefix") or DEFAULT_COUNTRY_PREFIX
    )
    text = " ".join(number.split())
    try:
        digits = normalise_number(text, prefix)
    except ValueError:
        raise OutboundError(BAD_NUMBER) from None
    phones = session.scalars(
        select(CustomerPhone).where(CustomerPhone.customer_id == customer.id)
    ).all()
    phone: CustomerPhone | None
    if phone_id is not None:
        phone = next((p for p in phones if p.id == phone_id), None)
        if phone is None:
            raise OutboundError(BAD_NUMBER)
        before = phone.number
        phone.number, phone.digits = text[:40], digits
        detail = f"{before} -> {phone.number}"
    else:
        phone = next((p for p in phones if p.digits == digits), None)
        if phone is not None:
            return PhoneChoice(phone.id, phone.position, phone.number)
        position = max((p.position for p in phones), default=0) + 1
        phone = CustomerPhone(
            customer_id=customer.id, position=position, number=text[:40], digits=digits
        )
        session.add(phone)
        detail = f"added {text[:40]}"
    session.flush()
    session.add(
        AuditLog(
            at=now,
            actor_id=agent_id,
            action="customer.phone",
            target=f"customer:{customer.id}",
            detail=detail,
        )
    )
    return PhoneChoice(phone.id, phone.position, phone.number)


def dial_preview(session: Session, number: str, queue_id: int | None) -> str:
    """The international digits ``number`` would be dialled as (BAD_NUMBER if none)."""
    queue = session.get(Queue, queue_id) if queue_id is not None else None
    prefix = (
        queue.country_prefix
        if queue is not None
        else _setting(session, "country_prefix") or DEFAULT_COUNTRY_PREFIX
    )
    try:
        return normalise_number(number, prefix)
    except ValueError:
        raise OutboundError(BAD_NUMBER) from None
