"""The Active call form in the database: matching, search, picking, reasons, Save, processes.

The rules are the pure core in ``agent_desktop.call_form``; this module loads plain records
for it and stores what it decides, one transaction per function (run through ``DBRunner``).
Refusals raise :class:`CallFormError`, whose messages are the agent-facing texts of the core.
Functions return frozen dataclasses, never ORM objects.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, false, or_, select, update
from sqlalchemy.orm import Session

from agent_desktop import agent_state as agent_core
from agent_desktop import call_form as core
from agent_desktop.store import agent_sessions
from db.events import emit
from db.models import (
    Agent,
    AgentSession,
    AuditLog,
    Call,
    ContactPerson,
    Customer,
    CustomerPhone,
    Event,
    FollowUpProcess,
    Location,
    ProcessCall,
    Queue,
    QueueLocation,
    QueueRight,
    ReasonNode,
    Setting,
)
from domain.centre import DEFAULT_COUNTRY_PREFIX, DEFAULT_TIME_ZONE
from domain.enums import Activity, AgentState, Direction, ProcessingState, ReasonDirection
from domain.numbers import normalise_number
from domain.refusals import CallNotFoundError, ConflictError, ForbiddenError
from domain.search import fold
from domain.texts import N_

# The centre's defaults when the settings table says nothing (as the catalog loader's).
SEARCH_LIMIT_MAX = 200
# A search text that is only a phone number's characters, with at least this many digits,
# is searched as a number (R-2.7: "by phone"), so "777 123 456" is one number, not 3 words.
_PHONE_TEXT = re.compile(r"[+0-9 ()./-]+")
_PHONE_MIN_DIGITS = 3
# recovery is for an agent who is off-air and not busy with a call of their own.
_MAY_RECOVER = frozenset({Activity.PAUSED, Activity.BACKOFFICE})


class CallFormError(ConflictError):
    """Save or another form action refused; each of ``problems`` is shown next to its field
    (``message`` is the first, for a page that shows only one)."""

    def __init__(self, *problems: core.FormProblem | str) -> None:
        self.problems = tuple(
            p if isinstance(p, core.FormProblem) else core.FormProblem("form", p) for p in problems
        )
        super().__init__(self.problems[0].message if self.problems else "")

    @property
    def messages(self) -> tuple[str, ...]:
        return tuple(p.message for p in self.problems)


# --------------------------------------------------------------------------- views


@dataclass(frozen=True)
class CustomerHit:
    """A row of the customer search (R-2.7)."""

    customer_id: int
    name: str
    address: str
    contract_number: str
    active: bool
    location_id: int
    location_name: str
    main_number: str
    is_pseudo: bool


@dataclass(frozen=True)
class PickedCustomer:
    call_id: int
    customer_id: int
    contact_person_id: int | None
    display_name: str  # "Company (contact name)" when a contact person was picked


@dataclass(frozen=True)
class CustomerCard:
    customer_id: int
    name: str
    active: bool
    location_id: int


@dataclass(frozen=True)
class PhoneView:
    position: int  # 1 = main
    number: str
    digits: str


@dataclass(frozen=True)
class OperatorChoice:
    """A location of the call's queue whose operator a call can be assigned to (R-2.7)."""

    location_id: int
    location_name: str
    operator_customer_id: int
    operator_name: str


@dataclass(frozen=True)
class CallFormView:
    """What the Active call form shows for a call (also a recovered one, R-2.13)."""

    call_id: int
    direction: str
    caller_number: str
    callee_number: str
    queue_id: int | None
    queue_label: str  # with "(overflowed call)" when it overflowed
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    agent_id: int | None
    customer_id: int | None
    contact_person_id: int | None
    customer_name: str  # "?????" without a customer
    customer_unknown: bool
    assigned_to_location_operator: bool
    reason: core.ReasonCascade
    note: str
    rt_number: str | None
    processing_state: str
    # What tells two customers of one name apart (issue 16); empty without a customer.
    customer_address: str = ""
    customer_contract: str = ""
    customer_location: str = ""


@dataclass(frozen=True)
class SavedCall:
    call_id: int
    customer_id: int | None
    contact_person_id: int | None
    customer_unknown: bool
    assigned_to_location_operator: bool
    reason_node_id: int | None
    reason_code: str
    note: str
    rt_number: str | None
    processed_by_id: int
    processed_at: datetime
    agent_on_air: bool  # the saving agent went back on-air


@dataclass(frozen=True)
class ProcessView:
    id: int
    title: str
    customer_id: int | None
    created_by_id: int
    created_at: datetime
    open: bool


@dataclass(frozen=True)
class ProcessCallRow:
    """A call of a follow-up process (R-2.11)."""

    call_id: int
    at: datetime
    direction: str
    caller: str
    callee: str
    duration_s: int | None  # only for a connected call that has ended


@dataclass(frozen=True)
class UnprocessedCall:
    call_id: int
    started_at: datetime
    caller_number: str
    queue_id: int
    queue_name: str
    agent_id: int | None  # who took it; they may have closed their browser
    notice: str  # "Showing unprocessed call from DD.MM.YYYY HH:MM"


# --------------------------------------------------------------------------- helpers


def _call(session: Session, call_id: int, *, lock: bool = False) -> Call:
    call = session.get(Call, call_id, with_for_update=lock)
    if call is None:
        raise CallNotFoundError()
    return call


def _setting(session: Session, key: str) -> str | None:
    row = session.get(Setting, key)
    return row.value if row is not None else None


def _centre_country_prefix(session: Session) -> str:
    return _setting(session, "country_prefix") or DEFAULT_COUNTRY_PREFIX


def queue_location_ids(session: Session, queue_id: int | None) -> frozenset[int] | None:
    """The locations customer matching is limited to (R-1.2); None for a call with no queue."""
    if queue_id is None:
        return None
    return frozenset(
        session.scalars(select(QueueLocation.location_id).where(QueueLocation.queue_id == queue_id))
    )


def _other_party_number(call: Call) -> str:
    # An inbound call's customer is the caller; an outbound call's is the number dialled.
    return call.callee_number if call.direction is Direction.OUTBOUND else call.caller_number


def _country_prefix_for(session: Session, call: Call) -> str:
    # A national number reached the queue's line, so the queue's country is the caller's too
    # (the same prefix adds to a number dialled without one).
    queue = session.get(Queue, call.queue_id) if call.queue_id is not None else None
    return queue.country_prefix if queue is not None else _centre_country_prefix(session)


def _reason_direction(direction: Direction) -> ReasonDirection | None:
    # separate trees for inbound and outbound; an internal call has none.
    if direction is Direction.INBOUND:
        return ReasonDirection.INBOUND
    if direction is Direction.OUTBOUND:
        return ReasonDirection.OUTBOUND
    return None


def _reason_tree(
    session: Session, queue_id: int | None, direction: ReasonDirection | None
) -> core.ReasonTree:
    if queue_id is None or direction is None:
        return core.ReasonTree(())
    rows = session.scalars(
        select(ReasonNode).where(
            ReasonNode.queue_id == queue_id,
            ReasonNode.direction == direction,
            ReasonNode.position >= 0,  # a retired node is offered no more
        )
    ).all()
    return core.ReasonTree(
        core.ReasonOption(r.id, r.parent_id, r.label, r.code, r.position) for r in rows
    )


def _reason_path(session: Session, leaf_id: int | None) -> tuple[int, ...]:
    """The path from the top level down to a stored reason leaf."""
    path: list[int] = []
    node_id = leaf_id
    while node_id is not None and len(path) < 64:  # bounded: a cycle must not hang a request
        node = session.get(ReasonNode, node_id)
        if node is None:
            break
        path.append(node.id)
        node_id = node.parent_id
    return tuple(reversed(path))


RECOVERED = "call.recovered"  # the event that says who loaded an unprocessed call


def _may_process(session: Session, call: Call, agent_id: int) -> bool:
    """The agent who took the call (R-2.2: they process it); anyone else only once it has
    ended, and only an agent with a right to its queue (R-7.4) who loaded it through
    recovery and is still off-air, not busy with a call of their own (R-2.13). So an
    on-air colleague cannot open and save it by its URL."""
    if call.agent_id == agent_id:
        return True
    if call.queue_id is None or call.ended_at is None:
        return False
    if session.get(QueueRight, (agent_id, call.queue_id)) is None:
        return False
    row = agent_sessions.open_session_row(session, agent_id, lock=False)
    if row is None or row.state is not AgentState.OFF_AIR or row.activity not in _MAY_RECOVER:
        return False
    recovered = select(Event.id).where(
        Event.kind == RECOVERED, Event.call_id == call.id, Event.agent_id == agent_id
    )
    return session.scalar(recovered.limit(1)) is not None


def may_open_call(session: Session, call_id: int, agent_id: int) -> bool:
    """Whether ``agent_id`` may open the form of ``call_id`` (see ``_may_process``)."""
    return _may_process(session, _call(session, call_id), agent_id)


def _display_name(session: Session, customer_id: int | None, contact_id: int | None) -> str:
    customer = session.get(Customer, customer_id) if customer_id is not None else None
    if customer is None:
        return core.UNKNOWN_NAME
    contact = session.get(ContactPerson, contact_id) if contact_id is not None else None
    if contact is not None and contact.customer_id == customer.id:
        return core.Candidate(
            customer.id,
            customer.name,
            customer.active,
            customer.location_id,
            core.MatchedVia.CONTACT,
            contact.id,
            contact.name,
        ).display_name
    return customer.name


def _checked_customer(
    session: Session, call: Call, customer_id: int, contact_id: int | None
) -> Customer:
    """The customer a form may hold for this call: exists, active, of the queue's locations."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise CallFormError(core.FormProblem("customer", core.NO_SUCH_CUSTOMER))
    if not customer.active:
        # The reference product cannot work with an inactive customer.
        raise CallFormError(core.FormProblem("customer", core.CUSTOMER_INACTIVE))
    allowed = queue_location_ids(session, call.queue_id)
    if allowed is not None and customer.location_id not in allowed:
        raise CallFormError(core.FormProblem("customer", core.CUSTOMER_OUTSIDE_QUEUE))
    if contact_id is not None:
        contact = session.get(ContactPerson, contact_id)
        if contact is None or contact.customer_id != customer.id:
            raise CallFormError(core.FormProblem("customer", core.CONTACT_NOT_OF_CUSTOMER))
    return customer


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(word: str) -> ColumnElement[bool]:
    """The customer's name, address or contract number holds ``word``, accents and case
    aside (issue 16): the stored folded text against the folded word, alike on SQLite and
    PostgreSQL."""
    return Customer.search_text.like(f"%{_like_escape(fold(word))}%", escape="\\")


def _phone_keys(digits: str, country_prefix: str) -> set[str]:
    """Digit strings whose presence in a stored number means "this number" (R-2.7)."""
    keys = {digits}
    try:
        keys.add(normalise_number(digits, country_prefix))
    except ValueError:
        pass
    keys.add(digits.lstrip("0") or digits)  # 00420... and 0... national forms
    return {k for k in keys if len(k) >= _PHONE_MIN_DIGITS}


def _phone_condition(keys: set[str]) -> ColumnElement[bool]:
    own = [
        select(CustomerPhone.id)
        .where(CustomerPhone.customer_id == Customer.id, CustomerPhone.digits.like(f"%{k}%"))
        .exists()
        for k in sorted(keys)
    ]
    contacts = [
        select(ContactPerson.id)
        .where(ContactPerson.customer_id == Customer.id, ContactPerson.phone_digits.like(f"%{k}%"))
        .exists()
        for k in sorted(keys)
    ]
    return or_(*own, *contacts)


# --------------------------------------------------------------------------- matching


def match_caller(session: Session, call_id: int, agent_id: int) -> core.CallerMatch:
    """Match the call's customer by number (R-2.6, R-2.7) for the agent who has the form.

    The number is the caller's (the dialled one on an outbound call), normalised with the
    queue's country prefix and compared with customers' numbers and their contact persons'
    numbers, among the customers of the queue's locations only. A single match is stored on
    the call when it has no customer yet, so the form (and a recovery, R-2.13) opens with it.
    """
    call = _call(session, call_id)
    queue = session.get(Queue, call.queue_id) if call.queue_id is not None else None
    queue_name = core.queue_label(queue.name, call.overflowed) if queue is not None else ""
    agent = session.get(Agent, agent_id)
    selected_location_id = agent.selected_location_id if agent is not None else None
    try:
        digits = normalise_number(_other_party_number(call), _country_prefix_for(session, call))
    except ValueError:
        # No digits: a withheld or unknown caller ID ("anonymous", Asterisk's "unknown").
        return core.match_customer(
            (),
            queue_location_ids=(),
            selected_location_id=selected_location_id,
            queue_name=queue_name,
            number_hidden=True,
        )
    location_ids = queue_location_ids(session, call.queue_id) or frozenset()
    candidates = _candidates(session, digits, location_ids)
    result = core.match_customer(
        candidates,
        queue_location_ids=location_ids,
        selected_location_id=selected_location_id,
        queue_name=queue_name,
    )
    unclaimed = (
        call.customer_id is None
        and not call.customer_unknown
        and not call.assigned_to_location_operator
        and call.processing_state is not ProcessingState.DONE
    )
    if result.kind is core.MatchKind.MATCHED and result.customer is not None and unclaimed:
        call.customer_id = result.customer.customer_id
        call.contact_person_id = result.customer.contact_id
    return result


def number_match(session: Session, call_id: int) -> str:
    """The customer a call's number matches before any agent has its form (the supervisor's
    Activities, R-4.1): the same matching as :func:`match_caller`, without an agent's
    selected location, so only a single active customer of the queue's locations is named;
    "" when nobody, several or only inactive ones match, or the call has no queue yet.
    Nothing is stored on the call: that stays the form's doing."""
    call = session.get(Call, call_id)
    if call is None or call.queue_id is None:
        return ""
    try:
        digits = normalise_number(_other_party_number(call), _country_prefix_for(session, call))
    except ValueError:
        return ""  # a withheld or unknown caller ID
    location_ids = queue_location_ids(session, call.queue_id) or frozenset()
    result = core.match_customer(
        _candidates(session, digits, location_ids),
        queue_location_ids=location_ids,
        selected_location_id=None,
        queue_name="",
    )
    if result.kind is core.MatchKind.MATCHED and result.customer is not None:
        return result.customer.display_name
    return ""


def _candidates(
    session: Session, digits: str, location_ids: Collection[int]
) -> list[core.Candidate]:
    if not location_ids:
        return []  # a queue without locations matches nobody
    found: list[core.Candidate] = []
    own = session.execute(
        select(
            Customer.id,
            Customer.name,
            Customer.active,
            Customer.location_id,
            CustomerPhone.position,
        )
        .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
        .where(CustomerPhone.digits == digits, Customer.location_id.in_(sorted(location_ids)))
    ).all()
    for cid, name, active, location_id, position in own:
        via = core.MatchedVia.MAIN if position == 1 else core.MatchedVia.OTHER
        found.append(core.Candidate(cid, name, active, location_id, via))
    contacts = session.execute(
        select(
            Customer.id,
            Customer.name,
            Customer.active,
            Customer.location_id,
            ContactPerson.id,
            ContactPerson.name,
        )
        .join(ContactPerson, ContactPerson.customer_id == Customer.id)
        .where(ContactPerson.phone_digits == digits, Customer.location_id.in_(sorted(location_ids)))
    ).all()
    for cid, name, active, location_id, contact_id, contact_name in contacts:
        found.append(
            core.Candidate(
                cid, name, active, location_id, core.MatchedVia.CONTACT, contact_id, contact_name
            )
        )
    return found


def search_customers(
    session: Session, text: str, location_ids: Collection[int] | None, limit: int = 50
) -> list[CustomerHit]:
    """Customers by name, address, contract number or phone (R-2.7), active ones first.

    ``location_ids`` limits the search (None: every location). A text that looks like a
    phone number is searched among customers' and contact persons' numbers (and contract
    numbers); any other text word by word: every word must occur in the name, the address,
    the contract number or (a word with digits) a phone number.
    """
    query = " ".join(text.split())
    if not query or (location_ids is not None and not location_ids):
        return []
    limit = max(1, min(limit, SEARCH_LIMIT_MAX))
    prefix = _centre_country_prefix(session)
    digits = "".join(ch for ch in query if "0" <= ch <= "9")
    condition: ColumnElement[bool]
    if _PHONE_TEXT.fullmatch(query) and len(digits) >= _PHONE_MIN_DIGITS:
        condition = or_(_phone_condition(_phone_keys(digits, prefix)), _contains(query))
    else:
        per_word: list[ColumnElement[bool]] = []
        for word in query.split():
            fields = [_contains(word)]
            word_digits = "".join(ch for ch in word if "0" <= ch <= "9")
            if len(word_digits) >= _PHONE_MIN_DIGITS and _PHONE_TEXT.fullmatch(word):
                fields.append(_phone_condition(_phone_keys(word_digits, prefix)))
            per_word.append(or_(*fields))
        condition = and_(*per_word) if per_word else false()
    stmt = (
        select(Customer, Location.name)
        .join(Location, Location.id == Customer.location_id)
        .where(condition)
        .order_by(Customer.active.desc(), Customer.name, Customer.id)
        .limit(limit)
    )
    if location_ids is not None:
        stmt = stmt.where(Customer.location_id.in_(sorted(location_ids)))
    rows = session.execute(stmt).all()
    mains = dict(
        session.execute(
            select(CustomerPhone.customer_id, CustomerPhone.number).where(
                CustomerPhone.customer_id.in_([c.id for c, _ in rows]),
                CustomerPhone.position == 1,
            )
        ).all()
    )
    return [
        CustomerHit(
            customer_id=c.id,
            name=c.name,
            address=c.address,
            contract_number=c.contract_number,
            active=c.active,
            location_id=c.location_id,
            location_name=location_name,
            main_number=mains.get(c.id, ""),
            is_pseudo=c.is_pseudo,
        )
        for c, location_name in rows
    ]


def pick_customer(
    session: Session, call_id: int, customer_id: int, contact_id: int | None = None
) -> PickedCustomer:
    """Fill the form with a customer found by search or from the pick list (R-2.6, R-2.7).

    The customer must be active and of the call's queue's locations; a contact person, if
    given, must be theirs. Picking clears "customer is unknown" and the operator assignment.
    """
    call = _call(session, call_id, lock=True)
    if call.processing_state is ProcessingState.DONE:
        raise CallFormError(core.ALREADY_PROCESSED)
    customer = _checked_customer(session, call, customer_id, contact_id)
    call.customer_id = customer.id
    call.contact_person_id = contact_id
    call.customer_unknown = False
    call.assigned_to_location_operator = False
    return PickedCustomer(
        call.id, customer.id, contact_id, _display_name(session, customer.id, contact_id)
    )


def reactivate_customer(
    session: Session, customer_id: int, agent_id: int, now: datetime
) -> CustomerCard:
    """Make an inactive customer active again (R-2.6's offer); logged in the audit log."""
    customer = session.get(Customer, customer_id, with_for_update=True)
    if customer is None:
        raise CallFormError(core.NO_SUCH_CUSTOMER)
    if not customer.active:
        customer.active = True
        session.add(
            AuditLog(
                at=now,
                actor_id=agent_id,
                action="customer.reactivate",
                target=f"customer:{customer.id}",
                detail=customer.name,
            )
        )
        emit(session, "customer.reactivated", now, agent_id=agent_id, customer_id=customer.id)
    return CustomerCard(customer.id, customer.name, customer.active, customer.location_id)


def replace_main_number(
    session: Session, customer_id: int, number: str, *, country_prefix: str | None = None
) -> tuple[PhoneView, ...]:
    """R-2.10: ``number`` becomes the customer's main (first) number; the others shift down.

    A number the customer already has moves up rather than being added twice (any second
    copy of it goes). ``country_prefix`` completes a national number (default: the centre's).
    """
    customer = session.get(Customer, customer_id, with_for_update=True)
    if customer is None:
        raise CallFormError(core.NO_SUCH_CUSTOMER)
    try:
        digits = normalise_number(number, country_prefix or _centre_country_prefix(session))
    except ValueError:
        raise CallFormError(core.NO_NUMBER_TO_SAVE) from None
    phones = sorted(
        session.scalars(select(CustomerPhone).where(CustomerPhone.customer_id == customer.id)),
        key=lambda p: p.position,
    )
    same = [p for p in phones if p.digits == digits]
    others = [p for p in phones if p.digits != digits]
    if same:
        main = same[0]
    else:
        main = CustomerPhone(customer_id=customer.id, number=f"+{digits}", digits=digits)
    order = [main, *others]
    if phones and phones[0] is main and len(same) == 1:
        return tuple(PhoneView(p.position, p.number, p.digits) for p in phones)
    for duplicate in same[1:]:
        session.delete(duplicate)
    session.flush()
    # (customer, position) is unique and PostgreSQL checks it row by row: park the stored
    # rows above both the current and the final positions, then give each its place.
    park_from = max([len(order), *(p.position for p in phones)]) + 1
    kept = order if same else others
    for i, phone in enumerate(kept):
        phone.position = park_from + i
    session.flush()
    for position, phone in enumerate(order, start=1):
        phone.position = position
    if not same:
        session.add(main)
    session.flush()
    session.expire(customer, ["phones"])
    return tuple(PhoneView(p.position, p.number, p.digits) for p in order)


def location_operators(session: Session, call_id: int) -> list[OperatorChoice]:
    """The locations of the call's queue that have an operator to assign the call to."""
    call = _call(session, call_id)
    allowed = queue_location_ids(session, call.queue_id)
    stmt = (
        select(Location.id, Location.name, Customer.id, Customer.name)
        .join(Customer, Customer.id == Location.operator_customer_id)
        .order_by(Location.name, Location.id)
    )
    if allowed is not None:
        stmt = stmt.where(Location.id.in_(sorted(allowed)))
    return [OperatorChoice(*row) for row in session.execute(stmt).all()]


# --------------------------------------------------------------------------- reasons


def reason_options(
    session: Session, queue_id: int, direction: str, path: Sequence[int]
) -> core.ReasonCascade:
    """The reason field for ``path`` (R-2.8); no levels means the queue has no tree."""
    return core.reason_cascade(
        _reason_tree(session, queue_id, ReasonDirection(direction)), tuple(path)
    )


# --------------------------------------------------------------------------- the form


def load_call_form(session: Session, call_id: int) -> CallFormView:
    """The form's contents for a call as stored (after matching, picking, or a save)."""
    call = _call(session, call_id)
    queue = session.get(Queue, call.queue_id) if call.queue_id is not None else None
    tree = _reason_tree(session, call.queue_id, _reason_direction(call.direction))
    customer = session.get(Customer, call.customer_id) if call.customer_id is not None else None
    location = session.get(Location, customer.location_id) if customer is not None else None
    return CallFormView(
        call_id=call.id,
        direction=call.direction.value,
        caller_number=call.caller_number,
        callee_number=call.callee_number,
        queue_id=call.queue_id,
        queue_label=core.queue_label(queue.name, call.overflowed) if queue is not None else "",
        started_at=call.started_at,
        answered_at=call.answered_at,
        ended_at=call.ended_at,
        agent_id=call.agent_id,
        customer_id=call.customer_id,
        contact_person_id=call.contact_person_id,
        customer_name=_display_name(session, call.customer_id, call.contact_person_id),
        customer_unknown=call.customer_unknown,
        assigned_to_location_operator=call.assigned_to_location_operator,
        reason=core.reason_cascade(tree, _reason_path(session, call.reason_node_id)),
        note=call.note,
        rt_number=call.rt_number,
        processing_state=call.processing_state.value,
        customer_address=customer.address if customer is not None else "",
        customer_contract=customer.contract_number if customer is not None else "",
        customer_location=location.name if location is not None else "",
    )


def _operator_customer_id(
    session: Session, call: Call, agent_id: int, location_id: int | None
) -> int:
    """The operator customer of the location the call is assigned to (R-2.7)."""
    choices = location_operators(session, call.id)
    if location_id is not None:
        chosen = [c for c in choices if c.location_id == location_id]
        if not chosen:
            raise CallFormError(core.FormProblem("customer", core.NO_LOCATION_OPERATOR))
        return chosen[0].operator_customer_id
    agent = session.get(Agent, agent_id)
    own = [c for c in choices if agent is not None and c.location_id == agent.selected_location_id]
    if own:
        return own[0].operator_customer_id
    if len(choices) == 1:
        return choices[0].operator_customer_id
    if not choices:
        raise CallFormError(core.FormProblem("customer", core.NO_LOCATION_OPERATOR))
    raise CallFormError(core.FormProblem("customer", core.CHOOSE_OPERATOR_LOCATION))


def _processing_row(session: Session, agent_id: int, call_id: int) -> AgentSession | None:
    """The agent's live session if it is processing this call (after-call work, R-2.2)."""
    row = agent_sessions.open_session_row(session, agent_id)
    if row is None or row.activity is not Activity.PROCESSING:
        return None
    if row.current_call_id not in (None, call_id):
        return None  # processing another call: this save must not release that one
    return row


def _back_on_air(session: Session, row: AgentSession, call_id: int, now: datetime) -> None:
    agent_sessions.apply_event(
        session, row.agent_id, agent_core.Saved(), now, f"call {call_id} saved"
    )
    row.current_call_id = None


def save_call_form(
    session: Session, call_id: int, agent_id: int, form: core.CallForm, now: datetime
) -> SavedCall:
    """Save (R-2.12): check the form, store it, close processing, agent back on-air.

    Refuses (CallFormError) with the SPEC's messages: no customer and neither "customer is
    unknown" nor the location's operator ("First search for the customer"), a reason tree
    not followed down to a code, an RT number that is not at most ten digits. The saving
    agent, if they are processing this call, goes on-air again through the agent state
    machine. Saving a call already processed is refused, except that the agent still stuck
    processing it (someone else saved it, R-2.13) is released.
    """
    call = _call(session, call_id, lock=True)
    if not _may_process(session, call, agent_id):
        raise CallFormError(core.NOT_YOUR_CALL)
    processing = _processing_row(session, agent_id, call.id)
    if call.processing_state is ProcessingState.DONE:
        if processing is not None and processing.current_call_id == call.id:
            _back_on_air(session, processing, call.id, now)
            return _saved_view(call, agent_on_air=True)
        raise CallFormError(core.ALREADY_PROCESSED)
    if call.processing_state is not ProcessingState.PENDING:
        raise CallFormError(core.NOTHING_TO_PROCESS)
    if call.ended_at is None:
        raise CallFormError(core.CALL_STILL_CONNECTED)

    problems: list[core.FormProblem] = []
    customer_id: int | None = None
    contact_id: int | None = None
    keep_customer = not (form.customer_unknown or form.assign_to_location_operator)
    if keep_customer:
        customer_id = form.customer_id if form.customer_id is not None else call.customer_id
        contact_id = form.contact_person_id
        if form.customer_id is None:
            contact_id = call.contact_person_id
        if customer_id is not None:
            try:
                _checked_customer(session, call, customer_id, contact_id)
            except CallFormError as refused:
                problems.extend(refused.problems)
                customer_id = contact_id = None
    elif form.assign_to_location_operator and not form.customer_unknown:
        try:
            customer_id = _operator_customer_id(session, call, agent_id, form.operator_location_id)
        except CallFormError as refused:
            problems.extend(refused.problems)

    tree = _reason_tree(session, call.queue_id, _reason_direction(call.direction))
    # A customer refused for a reason of its own is reported as that, not "search first".
    check = core.check_form(form, tree, customer_chosen=customer_id is not None or bool(problems))
    problems = [*problems, *check.problems]
    if form.replace_number and not problems:
        if not keep_customer or customer_id is None:
            problems.append(core.FormProblem("replace_number", core.REPLACE_NEEDS_CUSTOMER))
        else:
            try:
                replace_main_number(
                    session,
                    customer_id,
                    _other_party_number(call),
                    country_prefix=_country_prefix_for(session, call),
                )
            except CallFormError as refused:
                problems.extend(
                    core.FormProblem("replace_number", p.message) for p in refused.problems
                )
    if problems:
        raise CallFormError(*problems)

    call.customer_id = customer_id
    call.contact_person_id = contact_id
    call.customer_unknown = form.customer_unknown
    call.assigned_to_location_operator = (
        form.assign_to_location_operator and not form.customer_unknown
    )
    call.reason_node_id = check.reason_leaf_id
    call.reason_code = check.reason_code
    call.note = check.note
    call.rt_number = check.rt_number
    call.processed_by_id = agent_id
    call.processed_at = now
    call.processing_state = ProcessingState.DONE
    if customer_id is not None:
        # A process made before the customer was picked is about the customer saved now:
        # their later calls can join it.
        session.execute(
            update(FollowUpProcess)
            .where(
                FollowUpProcess.customer_id.is_(None),
                FollowUpProcess.id.in_(
                    select(ProcessCall.process_id).where(ProcessCall.call_id == call.id)
                ),
            )
            .values(customer_id=customer_id)
        )
    if processing is not None:
        _back_on_air(session, processing, call.id, now)
    emit(
        session,
        "call.processed",
        now,
        call_id=call.id,
        agent_id=agent_id,
        queue_id=call.queue_id,
        customer_id=customer_id,
        reason_code=check.reason_code,
    )
    return _saved_view(call, agent_on_air=processing is not None)


def _saved_view(call: Call, *, agent_on_air: bool) -> SavedCall:
    assert call.processed_by_id is not None and call.processed_at is not None
    return SavedCall(
        call_id=call.id,
        customer_id=call.customer_id,
        contact_person_id=call.contact_person_id,
        customer_unknown=call.customer_unknown,
        assigned_to_location_operator=call.assigned_to_location_operator,
        reason_node_id=call.reason_node_id,
        reason_code=call.reason_code,
        note=call.note,
        rt_number=call.rt_number,
        processed_by_id=call.processed_by_id,
        processed_at=call.processed_at,
        agent_on_air=agent_on_air,
    )


# --------------------------------------------------------------------------- processes


def create_process(
    session: Session, call_id: int, title: str, agent_id: int, now: datetime
) -> ProcessView:
    """A follow-up process created from the call, which becomes its first call (R-2.11)."""
    call = _call(session, call_id)
    if not _may_process(session, call, agent_id):
        raise CallFormError(core.NOT_YOUR_CALL)
    try:
        clean = core.clean_process_title(title)
    except ValueError as exc:
        raise CallFormError(core.FormProblem("title", str(exc))) from None
    process = FollowUpProcess(
        customer_id=call.customer_id, title=clean, created_by_id=agent_id, created_at=now
    )
    session.add(process)
    session.flush()
    session.add(ProcessCall(process_id=process.id, call_id=call.id))
    emit(session, "process.created", now, call_id=call.id, agent_id=agent_id, process_id=process.id)
    return _process_view(process)


def link_call(session: Session, process_id: int, call_id: int) -> None:
    """Add another call to a process (a later call about the same matter); idempotent."""
    if session.get(FollowUpProcess, process_id) is None:
        raise CallFormError(core.NO_SUCH_PROCESS)
    _call(session, call_id)
    if session.get(ProcessCall, (process_id, call_id)) is None:
        session.add(ProcessCall(process_id=process_id, call_id=call_id))
        session.flush()


def add_call_to_process(
    session: Session, call_id: int, process_id: int, agent_id: int, now: datetime
) -> ProcessView:
    """A later call about the same matter joins an open process of its customer (R-2.11)."""
    call = _call(session, call_id)
    if not _may_process(session, call, agent_id):
        raise CallFormError(core.NOT_YOUR_CALL)
    process = session.get(FollowUpProcess, process_id)
    if process is None:
        raise CallFormError(core.NO_SUCH_PROCESS)
    if not process.open or call.customer_id is None or process.customer_id != call.customer_id:
        raise CallFormError(core.PROCESS_OF_ANOTHER_CUSTOMER)
    if session.get(ProcessCall, (process_id, call_id)) is None:
        link_call(session, process_id, call_id)
        linked = {"call_id": call.id, "agent_id": agent_id, "process_id": process_id}
        emit(session, "process.linked", now, **linked)
    return _process_view(process)


def open_processes_to_join(session: Session, call_id: int, limit: int = 20) -> list[ProcessView]:
    """The open processes of the call's customer that this call is not in yet, newest first:
    what the agent may add the call to (R-2.11)."""
    call = _call(session, call_id)
    if call.customer_id is None:
        return []
    already = select(ProcessCall.process_id).where(ProcessCall.call_id == call_id)
    rows = session.scalars(
        select(FollowUpProcess)
        .where(
            FollowUpProcess.customer_id == call.customer_id,
            FollowUpProcess.open.is_(True),
            FollowUpProcess.id.not_in(already),
        )
        .order_by(FollowUpProcess.created_at.desc(), FollowUpProcess.id.desc())
        .limit(limit)
    ).all()
    return [_process_view(p) for p in rows]


def processes_of_call(session: Session, call_id: int) -> list[ProcessView]:
    rows = session.scalars(
        select(FollowUpProcess)
        .join(ProcessCall, ProcessCall.process_id == FollowUpProcess.id)
        .where(ProcessCall.call_id == call_id)
        .order_by(FollowUpProcess.created_at, FollowUpProcess.id)
    ).all()
    return [_process_view(p) for p in rows]


def process_calls(session: Session, process_id: int) -> list[ProcessCallRow]:
    """The calls of a process, oldest first: time, caller, callee, duration if connected."""
    if session.get(FollowUpProcess, process_id) is None:
        raise CallFormError(core.NO_SUCH_PROCESS)
    calls = session.scalars(
        select(Call)
        .join(ProcessCall, ProcessCall.call_id == Call.id)
        .where(ProcessCall.process_id == process_id)
        .order_by(Call.started_at, Call.id)
    ).all()
    rows: list[ProcessCallRow] = []
    for c in calls:
        duration: int | None = None
        if c.answered_at is not None and c.ended_at is not None:
            duration = max(0, round((c.ended_at - c.answered_at).total_seconds()))
        rows.append(
            ProcessCallRow(
                call_id=c.id,
                at=c.started_at,
                direction=c.direction.value,
                caller=c.caller_number,
                # An inbound call's callee is the number dialled in: the DID when not stored.
                callee=c.callee_number or c.did,
                duration_s=duration,
            )
        )
    return rows


def _process_view(p: FollowUpProcess) -> ProcessView:
    return ProcessView(p.id, p.title, p.customer_id, p.created_by_id, p.created_at, p.open)


# --------------------------------------------------------------------------- recovery


def last_unprocessed_call(
    session: Session, agent_id: int, now: datetime, *, time_zone: str | None = None
) -> UnprocessedCall | None:
    """The latest ended, unsaved call of a queue the agent has a right to (R-2.13).

    Any off-air agent (paused, or at back-office work; not one ringing, talking or
    processing a call) may load it, whoever took the call, also when that agent closed
    their browser. None when there is none. ``time_zone`` of the notice defaults to the
    centre's setting.
    """
    row = agent_sessions.open_session_row(session, agent_id, lock=False)
    if row is None or row.state is not AgentState.OFF_AIR or row.activity not in _MAY_RECOVER:
        raise CallFormError(core.RECOVERY_ONLY_OFF_AIR)
    queue_ids = select(QueueRight.queue_id).where(QueueRight.agent_id == agent_id)
    call = session.scalars(
        select(Call)
        .where(
            Call.processing_state == ProcessingState.PENDING,
            Call.ended_at.is_not(None),  # a call still connected is its agent's, not lost
            Call.queue_id.in_(queue_ids),
        )
        .order_by(Call.started_at.desc(), Call.id.desc())
        .limit(1)
    ).first()
    if call is None or call.queue_id is None:
        return None
    queue = session.get(Queue, call.queue_id)
    zone = time_zone or _setting(session, "time_zone") or DEFAULT_TIME_ZONE
    emit(
        session,
        RECOVERED,
        now,
        call_id=call.id,
        agent_id=agent_id,
        queue_id=call.queue_id,
        taken_by=call.agent_id,
    )
    return UnprocessedCall(
        call_id=call.id,
        started_at=call.started_at,
        caller_number=call.caller_number,
        queue_id=call.queue_id,
        queue_name=queue.name if queue is not None else "",
        agent_id=call.agent_id,
        notice=core.unprocessed_notice(call.started_at, zone),
    )


SEARCH_LIMIT = 30
SEARCH_CUT_OFF = N_("The first %(shown)s customers are shown: refine the search to find others.")


class CallAccessError(ForbiddenError):
    """The agent may not open this call's form (another agent's live call, another queue)."""

    def __init__(self) -> None:
        super().__init__(core.NOT_YOUR_CALL)


@dataclass(frozen=True)
class ProcessEntry:
    """A follow-up process of the call with its calls (R-2.11)."""

    process: ProcessView
    calls: tuple[ProcessCallRow, ...]


@dataclass(frozen=True)
class FormState:
    """Everything the form shows for one call."""

    view: CallFormView
    # how the caller's number matched, while the form holds no customer yet.
    match: core.CallerMatch | None
    reason: core.ReasonCascade
    operators: tuple[OperatorChoice, ...]
    processes: tuple[ProcessEntry, ...]
    # Open processes of the customer this call could join (R-2.11: a later call).
    joinable: tuple[ProcessView, ...] = ()


def _opened(
    session: Session, call_id: int, agent_id: int, queue_ids: Collection[int]
) -> CallFormView:
    """The call's form if the agent may open it: the agent who took it, or an off-air
    colleague with the queue right who recovered it once it ended (R-2.2, R-2.13)."""
    view = load_call_form(session, call_id)  # CallNotFoundError
    if view.agent_id == agent_id:
        return view
    if view.queue_id not in queue_ids:
        # Without the right to its queue, not even whether the call exists is told: the
        # same answer as for an id that does not exist (issue 11, item 6).
        raise CallNotFoundError()
    if not may_open_call(session, call_id, agent_id):
        raise CallAccessError()
    return view


def _holds_no_customer(view: CallFormView) -> bool:
    return (
        view.customer_id is None
        and not view.customer_unknown
        and not view.assigned_to_location_operator
        and view.processing_state == "pending"
    )


def _reason_for(
    session: Session, view: CallFormView, path: tuple[int, ...] | None
) -> core.ReasonCascade:
    """The stored reason, or the cascade for a path the agent is choosing (R-2.8)."""
    if path is None or view.queue_id is None or view.direction not in ("in", "out"):
        return view.reason
    return reason_options(session, view.queue_id, view.direction, path)


def form_state(
    session: Session,
    call_id: int,
    agent_id: int,
    queue_ids: Collection[int],
    reason_path: tuple[int, ...] | None = None,
    with_match: bool = True,
) -> FormState:
    """The form of a call the agent may open; matches the caller while no customer is held
    (``with_match=False``: a part that does not show the customer, e.g. the reasons)."""
    view = _opened(session, call_id, agent_id, queue_ids)
    match: core.CallerMatch | None = None
    if with_match and _holds_no_customer(view):
        match = match_caller(session, call_id, agent_id)
        if match.kind is core.MatchKind.MATCHED:
            view = load_call_form(session, call_id)  # the match was stored on the call
    processes = tuple(
        ProcessEntry(p, tuple(process_calls(session, p.id)))
        for p in processes_of_call(session, call_id)
    )
    return FormState(
        view=view,
        match=match,
        reason=_reason_for(session, view, reason_path),
        operators=tuple(location_operators(session, call_id)),
        processes=processes,
        joinable=tuple(open_processes_to_join(session, call_id)),
    )


def search(
    session: Session, call_id: int, agent_id: int, queue_ids: Collection[int], text: str
) -> tuple[CustomerHit, ...]:
    """Customers of the call's queue's locations by name, address, contract, phone (R-2.7):
    up to SEARCH_LIMIT + 1, so that the page knows when it shows only the first ones."""
    view = _opened(session, call_id, agent_id, queue_ids)
    # Matching and picking are limited to the queue's locations, so is the search.
    locations = queue_location_ids(session, view.queue_id)
    return tuple(search_customers(session, text, locations, SEARCH_LIMIT + 1))


def pick(
    session: Session,
    call_id: int,
    agent_id: int,
    queue_ids: Collection[int],
    customer_id: int,
    contact_id: int | None,
) -> None:
    _opened(session, call_id, agent_id, queue_ids)
    pick_customer(session, call_id, customer_id, contact_id)


def reactivate_and_pick(
    session: Session,
    call_id: int,
    agent_id: int,
    queue_ids: Collection[int],
    customer_id: int,
    now: datetime,
) -> None:
    """R-2.6's offer: re-activate the inactive customer and hold them in the form. A customer
    the call may not hold (another queue's location) is refused and stays inactive."""
    view = _opened(session, call_id, agent_id, queue_ids)
    if view.processing_state == "done":
        raise CallFormError(core.ALREADY_PROCESSED)
    reactivate_customer(session, customer_id, agent_id, now)
    pick_customer(session, call_id, customer_id, None)  # a refusal rolls both back


def add_process(
    session: Session,
    call_id: int,
    agent_id: int,
    queue_ids: Collection[int],
    title: str,
    now: datetime,
) -> None:
    _opened(session, call_id, agent_id, queue_ids)
    create_process(session, call_id, title, agent_id, now)


def join_process(
    session: Session,
    call_id: int,
    agent_id: int,
    queue_ids: Collection[int],
    process_id: int,
    now: datetime,
) -> None:
    _opened(session, call_id, agent_id, queue_ids)
    add_call_to_process(session, call_id, process_id, agent_id, now)


def save(
    session: Session,
    call_id: int,
    agent_id: int,
    queue_ids: Collection[int],
    form: core.CallForm,
    now: datetime,
) -> SavedCall:
    view = _opened(session, call_id, agent_id, queue_ids)
    if _holds_no_customer(view):
        # As opening the form does: what Save stores is the customer the form showed.
        match_caller(session, call_id, agent_id)
    return save_call_form(session, call_id, agent_id, form, now)
