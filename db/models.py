"""SQLAlchemy models for the whole contact centre (SPEC.md sections 1-6).

The database is the single source of truth (docs/architecture.md, decision 2): several FastAGI and
web processes share it. Invariants that the database can hold itself live here as constraints:
one ringing offer per agent (R-1.3), one open session per agent and per seat (R-2.1), at most
nine pause types (R-2.4), an RT number of at most ten digits (R-2.9), a claim on a back-office
item by one person at a time (R-3.3).

ORM objects never leave a store: store functions return frozen dataclasses. The enumerations
the columns store are ``domain.enums``.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Time,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from db.types import UTCDateTime
from domain.enums import (
    Activity,
    AgentState,
    BoxKind,
    CallState,
    ClosedAction,
    Direction,
    ItemKind,
    ItemState,
    IvrOutcome,
    ProcessingState,
    ReasonDirection,
    ReportFormat,
    ReportPeriod,
    RingOutcome,
    Role,
    Severity,
)
from domain.search import searchable

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention (needed by Alembic batch mode)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as the enum's value in a VARCHAR with a CHECK constraint: identical on SQLite and
    # PostgreSQL and cheap to extend in a migration (no native PostgreSQL ENUM type to alter).
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


_WEEKDAY = "weekday BETWEEN 0 AND 6"  # Monday = 0, as Python's date.weekday()


# --------------------------------------------------------------------------- settings


class Setting(Base):
    """Contact-centre wide settings (time zone, default pause for a missed call, ...)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# --------------------------------------------------------------------------- customers


class Location(Base):
    """A site or branch whose customers a queue serves (R-1.2, R-2.6)."""

    __tablename__ = "locations"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # The location's operator: a call can be assigned to it instead of a customer.
    operator_customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", use_alter=True, ondelete="SET NULL")
    )


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    contract_number: Mapped[str] = mapped_column(String(64), default="", index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str] = mapped_column(Text, default="")
    # The pseudo-customer "OUTBOUND CALL" through which unknown people are called.
    is_pseudo: Mapped[bool] = mapped_column(Boolean, default=False)
    # Name, address and contract number without accents and case (domain.search), kept by
    # the listener below at every write: what the search compares (R-2.7, issue 16).
    search_text: Mapped[str] = mapped_column(String(600), default="", server_default="")

    phones: Mapped[list[CustomerPhone]] = relationship(
        order_by="CustomerPhone.position", cascade="all, delete-orphan"
    )
    contacts: Mapped[list[ContactPerson]] = relationship(
        order_by="ContactPerson.position", cascade="all, delete-orphan"
    )


@event.listens_for(Customer, "before_insert")
@event.listens_for(Customer, "before_update")
def _keep_search_text(_mapper: object, _connection: object, customer: Customer) -> None:
    customer.search_text = searchable(
        customer.name or "", customer.address or "", customer.contract_number or ""
    )


class CustomerPhone(Base):
    """A customer's number; position 1 is the main number (R-2.10)."""

    __tablename__ = "customer_phones"
    __table_args__ = (
        UniqueConstraint("customer_id", "position"),
        CheckConstraint("position >= 1", name="position_positive"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(40))
    # Digits only, in international form without '+' (420777123456): what matching uses.
    digits: Mapped[str] = mapped_column(String(32), index=True)


class ContactPerson(Base):
    """A person at a customer; a match through them shows "Company (name)" (R-2.6)."""

    __tablename__ = "contact_persons"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(40), default="")
    phone_digits: Mapped[str] = mapped_column(String(32), default="", index=True)
    email: Mapped[str] = mapped_column(String(200), default="")


# --------------------------------------------------------------------------- people and seats


class Department(Base):
    __tablename__ = "departments"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class Agent(Base):
    """Anyone who signs in: agents, back-office staff, supervisors, admins (R-7.4)."""

    __tablename__ = "agents"
    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"), default=Role.AGENT)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    # The person's own choice of UI language; None: the browser's (issue 16).
    language: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The location the agent works for; breaks ties in customer matching.
    selected_location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))


class SupervisorDepartment(Base):
    """The groups a supervisor watches; they see only these (R-4.6)."""

    __tablename__ = "supervisor_departments"
    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    department_id: Mapped[int] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE"), primary_key=True
    )


class PhoneSeat(Base):
    """A phone an agent logs in at; the dial string is what Asterisk's Dial takes."""

    __tablename__ = "phone_seats"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    dial_string: Mapped[str] = mapped_column(String(200))
    # A restricted seat is offered only to agents with a SeatRight on it.
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)


class SeatRight(Base):
    __tablename__ = "seat_rights"
    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    seat_id: Mapped[int] = mapped_column(
        ForeignKey("phone_seats.id", ondelete="CASCADE"), primary_key=True
    )


class PauseType(Base):
    """Up to nine pause types, each paid or unpaid (R-2.4)."""

    __tablename__ = "pause_types"
    __table_args__ = (CheckConstraint("position BETWEEN 1 AND 9", name="at_most_nine"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    paid: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


# --------------------------------------------------------------------------- boxes and queues


class VoicemailBox(Base):
    """Where `#` (message) and `0` (callback request) land (R-1.7, R-1.8, R-3.5)."""

    __tablename__ = "voicemail_boxes"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[BoxKind] = mapped_column(_enum(BoxKind, "box_kind"), default=BoxKind.VOICEMAIL)
    greeting_prompt: Mapped[str] = mapped_column(String(200), default="hotline/leave-message")
    max_message_s: Mapped[int] = mapped_column(Integer, default=120)
    silence_s: Mapped[int] = mapped_column(Integer, default=5)
    email_to: Mapped[str] = mapped_column(String(300), default="")  # empty = none


class Queue(Base):
    __tablename__ = "queues"
    __table_args__ = (
        CheckConstraint("ring_timeout_s > 0", name="ring_timeout_positive"),
        CheckConstraint("overflow_after_s >= 0", name="overflow_not_negative"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    ring_timeout_s: Mapped[int] = mapped_column(Integer, default=20)
    overflow_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    overflow_after_s: Mapped[int] = mapped_column(Integer, default=120)
    callback_offer_after_s: Mapped[int | None] = mapped_column(Integer, default=60)
    callback_offer_repeat_s: Mapped[int] = mapped_column(Integer, default=60)
    voicemail_box_id: Mapped[int | None] = mapped_column(ForeignKey("voicemail_boxes.id"))
    callback_box_id: Mapped[int | None] = mapped_column(ForeignKey("voicemail_boxes.id"))
    country_prefix: Mapped[str] = mapped_column(String(6), default="420")
    caller_id_number: Mapped[str] = mapped_column(String(32), default="")
    closed_on_weekends: Mapped[bool] = mapped_column(Boolean, default=True)
    closed_action: Mapped[ClosedAction] = mapped_column(
        _enum(ClosedAction, "closed_action"), default=ClosedAction.ANNOUNCE
    )
    hours_prompt: Mapped[str] = mapped_column(String(200), default="hotline/opening-hours")
    moh_class: Mapped[str] = mapped_column(String(64), default="default")
    recording_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Pause given to an agent who let a call ring out; NULL = the centre's default.
    missed_call_pause_type_id: Mapped[int | None] = mapped_column(ForeignKey("pause_types.id"))
    support_turns_enabled: Mapped[bool] = mapped_column(Boolean, default=False)

    locations: Mapped[list[Location]] = relationship(secondary="queue_locations")


class QueueLocation(Base):
    """Customer matching for a queue is limited to these locations (R-1.2, R-2.6)."""

    __tablename__ = "queue_locations"
    queue_id: Mapped[int] = mapped_column(
        ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    )
    location_id: Mapped[int] = mapped_column(
        ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True
    )


class QueueRight(Base):
    """An agent's right to a queue: makes them a member agent (R-1.2, R-7.4)."""

    __tablename__ = "queue_rights"
    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    queue_id: Mapped[int] = mapped_column(
        ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    )


class BoxRight(Base):
    """A back-office person's right to work a box (R-3.2, R-7.4)."""

    __tablename__ = "box_rights"
    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    box_id: Mapped[int] = mapped_column(
        ForeignKey("voicemail_boxes.id", ondelete="CASCADE"), primary_key=True
    )


class BusinessHours(Base):
    """An opening window of a queue on a weekday, in the centre's time zone (R-1.10)."""

    __tablename__ = "business_hours"
    __table_args__ = (
        CheckConstraint(_WEEKDAY, name="weekday_range"),
        CheckConstraint("opens < closes", name="opens_before_closes"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)
    opens: Mapped[time] = mapped_column(Time)
    closes: Mapped[time] = mapped_column(Time)


class ClosedRule(Base):
    """A closed-time window with its own action, overriding the queue's (R-1.10).

    ``weekday`` NULL means every day. Outside all rules the queue's ``closed_action`` holds.
    """

    __tablename__ = "closed_rules"
    __table_args__ = (
        CheckConstraint("weekday IS NULL OR weekday BETWEEN 0 AND 6", name="weekday_range"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int | None] = mapped_column(Integer)
    starts: Mapped[time] = mapped_column(Time)
    ends: Mapped[time] = mapped_column(Time)
    action: Mapped[ClosedAction] = mapped_column(_enum(ClosedAction, "closed_rule_action"))


class Holiday(Base):
    """A day the queue (or, with no queue, every queue) is closed (R-1.10)."""

    __tablename__ = "holidays"
    __table_args__ = (UniqueConstraint("queue_id", "day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date, index=True)
    name: Mapped[str] = mapped_column(String(100))


# --------------------------------------------------------------------------- IVR


class IvrMenu(Base):
    """A menu: prompt, digit -> queue or sub-menu, invalid/timeout retries, default (R-1.1)."""

    __tablename__ = "ivr_menus"
    __table_args__ = (CheckConstraint("max_retries >= 0", name="retries_not_negative"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    prompt: Mapped[str] = mapped_column(String(200))
    invalid_prompt: Mapped[str] = mapped_column(String(200), default="hotline/invalid-option")
    timeout_s: Mapped[int] = mapped_column(Integer, default=5)
    max_retries: Mapped[int] = mapped_column(Integer, default=2)
    default_queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id"))
    default_menu_id: Mapped[int | None] = mapped_column(ForeignKey("ivr_menus.id"))

    options: Mapped[list[IvrOption]] = relationship(
        order_by="IvrOption.digit", cascade="all, delete-orphan", foreign_keys="IvrOption.menu_id"
    )


class IvrOption(Base):
    __tablename__ = "ivr_options"
    __table_args__ = (
        UniqueConstraint("menu_id", "digit"),
        CheckConstraint("(queue_id IS NULL) <> (submenu_id IS NULL)", name="exactly_one_target"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    menu_id: Mapped[int] = mapped_column(ForeignKey("ivr_menus.id", ondelete="CASCADE"))
    digit: Mapped[str] = mapped_column(String(1))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id"))
    submenu_id: Mapped[int | None] = mapped_column(ForeignKey("ivr_menus.id"))


class Did(Base):
    """A dialled number: leads to an IVR menu or straight to a queue."""

    __tablename__ = "dids"
    __table_args__ = (
        CheckConstraint("(ivr_menu_id IS NULL) <> (queue_id IS NULL)", name="exactly_one_target"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    ivr_menu_id: Mapped[int | None] = mapped_column(ForeignKey("ivr_menus.id"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id"))
    # The language its callers hear: en or cs; None = the centre's prompt_language.
    language: Mapped[str | None] = mapped_column(String(8))


class PromptText(Base):
    """The words of a prompt the centre names, in one language: what ``hotline prompts``
    speaks into its sound file (R-6.4)."""

    __tablename__ = "prompt_texts"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    language: Mapped[str] = mapped_column(String(8), primary_key=True)
    text: Mapped[str] = mapped_column(String(500))


# --------------------------------------------------------------------------- support turns


class SupportTurnDay(Base):
    """A weekday of a support-turn queue with its standard hours (R-1.11)."""

    __tablename__ = "support_turn_days"
    __table_args__ = (
        UniqueConstraint("queue_id", "weekday"),
        CheckConstraint(_WEEKDAY, name="weekday_range"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(Integer)
    opens: Mapped[time] = mapped_column(Time)
    closes: Mapped[time] = mapped_column(Time)

    members: Mapped[list[SupportTurnMember]] = relationship(
        order_by="SupportTurnMember.priority.desc()", cascade="all, delete-orphan"
    )


class SupportTurnMember(Base):
    """An operator on duty: an agent or an external number, with a priority.

    Priority 0 takes no calls; higher rings first (R-1.11).
    """

    __tablename__ = "support_turn_members"
    __table_args__ = (
        CheckConstraint("priority >= 0", name="priority_not_negative"),
        CheckConstraint("agent_id IS NOT NULL OR external_number <> ''", name="agent_or_number"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    day_id: Mapped[int] = mapped_column(
        ForeignKey("support_turn_days.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    external_number: Mapped[str] = mapped_column(String(40), default="")
    priority: Mapped[int] = mapped_column(Integer, default=1)


# --------------------------------------------------------------------------- agent work


class AgentSession(Base):
    """An agent logged in at a seat; its live state (R-2.1, R-2.2).

    Partial unique indexes: one open session per agent and one per seat.
    """

    __tablename__ = "agent_sessions"
    __table_args__ = (
        Index(
            "uq_agent_sessions_open_agent",
            "agent_id",
            unique=True,
            sqlite_where=text("logged_out_at IS NULL"),
            postgresql_where=text("logged_out_at IS NULL"),
        ),
        Index(
            "uq_agent_sessions_open_seat",
            "seat_id",
            unique=True,
            sqlite_where=text("logged_out_at IS NULL"),
            postgresql_where=text("logged_out_at IS NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    seat_id: Mapped[int] = mapped_column(ForeignKey("phone_seats.id"))
    logged_in_at: Mapped[datetime] = mapped_column(UTCDateTime)
    logged_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[AgentState] = mapped_column(
        _enum(AgentState, "agent_state"), default=AgentState.OFF_AIR
    )
    activity: Mapped[Activity] = mapped_column(_enum(Activity, "activity"), default=Activity.IDLE)
    pause_type_id: Mapped[int | None] = mapped_column(ForeignKey("pause_types.id"))
    state_since: Mapped[datetime] = mapped_column(UTCDateTime)
    # Longest idle first: when the agent last became free to take a call.
    idle_since: Mapped[datetime] = mapped_column(UTCDateTime)
    current_call_id: Mapped[int | None] = mapped_column(
        ForeignKey("calls.id", use_alter=True, ondelete="SET NULL")
    )


class AgentStateChange(Base):
    """History of every state change of an agent (live views, reports)."""

    __tablename__ = "agent_state_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("agent_sessions.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    state: Mapped[AgentState] = mapped_column(_enum(AgentState, "change_state"))
    activity: Mapped[Activity] = mapped_column(_enum(Activity, "change_activity"))
    pause_type_id: Mapped[int | None] = mapped_column(ForeignKey("pause_types.id"))
    reason: Mapped[str] = mapped_column(String(200), default="")


class PauseRecord(Base):
    """One pause taken, with its paid flag as it was then (R-2.4, R-5.3)."""

    __tablename__ = "pause_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("agent_sessions.id"))
    pause_type_id: Mapped[int] = mapped_column(ForeignKey("pause_types.id"))
    paid: Mapped[bool] = mapped_column(Boolean)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --------------------------------------------------------------------------- calls


RETIRED_POSITION = -1
"""A reason node's ``position`` when it is retired: a node a call chose is never deleted (the
call's reason is history) but, once taken out of the tree, is offered no more and exported
no more. Any position below zero means retired."""


class ReasonNode(Base):
    """A level of a queue's call-reason tree; a leaf carries the reason code (R-2.8).

    ``position`` orders the siblings; below zero (:data:`RETIRED_POSITION`) the node is
    retired (:attr:`retired`)."""

    __tablename__ = "reason_nodes"
    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"), index=True)
    direction: Mapped[ReasonDirection] = mapped_column(_enum(ReasonDirection, "reason_direction"))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("reason_nodes.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    label: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(32), default="")

    @property
    def retired(self) -> bool:
        return self.position < 0


class Call(Base):
    """One call leg as Hotline sees it, keyed by Asterisk's uniqueid (decision 2)."""

    __tablename__ = "calls"
    __table_args__ = (
        CheckConstraint(
            "rt_number IS NULL OR length(rt_number) BETWEEN 1 AND 10", name="rt_number_length"
        ),
        Index("ix_calls_waiting_order", "queue_id", "state", "queue_entered_at", "id"),
        # The call records' keyset pages, newest first, whole or by queue or agent, and
        # the number and RT filters (R-5.1; bench/reports.py measures them).
        Index("ix_calls_records_order", "started_at", "id"),
        Index("ix_calls_records_queue", "queue_id", "started_at", "id"),
        Index("ix_calls_records_agent", "agent_id", "started_at", "id"),
        Index("ix_calls_caller_number", "caller_number"),
        Index("ix_calls_callee_number", "callee_number"),
        Index("ix_calls_rt_number", "rt_number"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(64), unique=True)
    linkedid: Mapped[str] = mapped_column(String(64), default="", index=True)
    # The Asterisk channel name of the leg Hotline drives (the caller's channel inbound, the
    # agent's originated channel outbound): what an AMI Redirect or Hangup names.
    channel: Mapped[str] = mapped_column(String(200), default="")
    direction: Mapped[Direction] = mapped_column(_enum(Direction, "direction"))
    did: Mapped[str] = mapped_column(String(32), default="")
    caller_number: Mapped[str] = mapped_column(String(40), default="")
    caller_name: Mapped[str] = mapped_column(String(200), default="")
    callee_number: Mapped[str] = mapped_column(String(40), default="")
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    contact_person_id: Mapped[int | None] = mapped_column(ForeignKey("contact_persons.id"))
    state: Mapped[CallState] = mapped_column(_enum(CallState, "call_state"), index=True)
    hangup_cause: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ivr_entered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The start of waiting: the hand-over from IVR to queue, reset by a transfer.
    queue_entered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    overflowed: Mapped[bool] = mapped_column(Boolean, default=False)  # for good
    transferred_from_queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id"))
    transferred_by_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    preferred_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    # KPI facts stored when they happen: the caller was reached (answered, or chose
    # voicemail/callback), and within the service-level threshold.
    reached: Mapped[bool] = mapped_column(Boolean, default=False)
    within_service_level: Mapped[bool] = mapped_column(Boolean, default=False)
    # Resume after a FastAGI server died: where the flow stood, who drives it.
    flow_step: Mapped[str] = mapped_column(String(32), default="")
    driven_by: Mapped[str] = mapped_column(String(64), default="")
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The Active call form (R-2.6 .. ).
    processing_state: Mapped[ProcessingState] = mapped_column(
        _enum(ProcessingState, "processing_state"), default=ProcessingState.NONE
    )
    reason_node_id: Mapped[int | None] = mapped_column(ForeignKey("reason_nodes.id"))
    reason_code: Mapped[str] = mapped_column(String(32), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    rt_number: Mapped[str | None] = mapped_column(String(10))
    customer_unknown: Mapped[bool] = mapped_column(Boolean, default=False)
    assigned_to_location_operator: Mapped[bool] = mapped_column(Boolean, default=False)
    processed_by_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RingAttempt(Base):
    """One offer of a call to an agent or a support-turn number (R-1.3, R-1.4, R-5.1).

    A live offer (outcome ``ringing``) reserves the agent: the partial unique indexes make a
    second simultaneous offer to the same agent, or of the same call, impossible in the
    database itself, whichever process tries.
    """

    __tablename__ = "ring_attempts"
    __table_args__ = (
        Index(
            "uq_ring_attempts_live_agent",
            "agent_id",
            unique=True,
            sqlite_where=text("outcome = 'ringing'"),
            postgresql_where=text("outcome = 'ringing'"),
        ),
        Index(
            "uq_ring_attempts_live_call",
            "call_id",
            unique=True,
            sqlite_where=text("outcome = 'ringing'"),
            postgresql_where=text("outcome = 'ringing'"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    dial_string: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[RingOutcome] = mapped_column(_enum(RingOutcome, "ring_outcome"))
    overflow: Mapped[bool] = mapped_column(Boolean, default=False)


class IvrKeyPress(Base):
    """Every key pressed in an IVR menu, for the IVR report (R-1.1, R-5.3)."""

    __tablename__ = "ivr_key_presses"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    menu_id: Mapped[int] = mapped_column(ForeignKey("ivr_menus.id"))
    digit: Mapped[str] = mapped_column(String(1), default="")
    outcome: Mapped[IvrOutcome] = mapped_column(_enum(IvrOutcome, "ivr_outcome"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Recording(Base):
    """A recorded call leg (R-1.14); deletion keeps the row and logs who (R-5.2)."""

    __tablename__ = "recordings"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(500))  # relative to HOTLINE_RECORDINGS_DIR
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_s: Mapped[int | None] = mapped_column(Integer)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))


# --------------------------------------------------------------------------- back office


class VoicemailItem(Base):
    """A back-office item: a recorded message or a callback request (R-1.7, R-1.8, R-3.x).

    Both kinds live in one table because back-office staff work them in one list (R-3.1)
    with one claiming rule (R-3.3). ``spool_key`` makes the import of an item that was kept
    on disk while the database was down idempotent (R-7.3).
    """

    __tablename__ = "voicemail_items"
    __table_args__ = (
        CheckConstraint(
            "(claimed_by_id IS NULL) = (claim_expires_at IS NULL)", name="claim_complete"
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    box_id: Mapped[int] = mapped_column(ForeignKey("voicemail_boxes.id"), index=True)
    kind: Mapped[ItemKind] = mapped_column(_enum(ItemKind, "item_kind"))
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    caller_number: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    recording_path: Mapped[str] = mapped_column(String(500), default="")
    duration_s: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[ItemState] = mapped_column(
        _enum(ItemState, "item_state"), default=ItemState.OPEN, index=True
    )
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    spool_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class VoicemailItemHistory(Base):
    """Every action on a back-office item (claim, release, call back, done...)."""

    __tablename__ = "voicemail_item_history"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(
        ForeignKey("voicemail_items.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    # What happened, as a code ("claimed", "callback_connected", "emailed"...): the page
    # says it in the reader's language.
    action: Mapped[str] = mapped_column(String(32))
    # The call it was about (a call back, the call that resolved a request, a played one).
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    # The rest as a JSON object: {"previous_holder": name}, {"to": [addresses]}.
    params: Mapped[str] = mapped_column(Text, default="{}")


class FollowUpProcess(Base):
    """A follow-up created from a call; lists its calls (R-2.11)."""

    __tablename__ = "follow_up_processes"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    open: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProcessCall(Base):
    __tablename__ = "process_calls"
    process_id: Mapped[int] = mapped_column(
        ForeignKey("follow_up_processes.id", ondelete="CASCADE"), primary_key=True
    )
    call_id: Mapped[int] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True
    )


# --------------------------------------------------------------------------- live and admin


class Notification(Base):
    """A supervisor's message to an agent, shown within a window (R-2.16)."""

    __tablename__ = "notifications"
    __table_args__ = (CheckConstraint("shown_from < shown_until", name="window_order"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"), index=True)
    severity: Mapped[Severity] = mapped_column(_enum(Severity, "severity"))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    shown_from: Mapped[datetime] = mapped_column(UTCDateTime)
    shown_until: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Event(Base):
    """The append-only change feed that live views read (status line, supervisor panels).

    Ids increase; a browser resumes a Server-Sent Events stream from the last id it saw.
    """

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    kind: Mapped[str] = mapped_column(String(48))
    call_id: Mapped[int | None] = mapped_column(Integer, index=True)
    agent_id: Mapped[int | None] = mapped_column(Integer, index=True)
    queue_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[str] = mapped_column(Text, default="{}")  # JSON


class WebSession(Base):
    """A signed-in browser; shared by all web processes (R-7.4)."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AuditLog(Base):
    """Who did what that must be accountable (recording deletions, admin changes)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[str] = mapped_column(Text, default="")


class ApiKey(Base):
    """A key an integration (a CRM) reads the call records API with (R-5.6).

    Only a hash of the key is stored; the key itself is shown once, when it is made.
    ``prefix`` (its first characters) tells keys apart in the list. A revoked key stays,
    so the list says who made it and when it was revoked.
    """

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiKeyQueue(Base):
    """The queues whose calls a key may read (R-5.6, R-7.4)."""

    __tablename__ = "api_key_queues"
    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    queue_id: Mapped[int] = mapped_column(
        ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    )


class ReportSchedule(Base):
    """A report sent by e-mail on a schedule (R-5.5)."""

    __tablename__ = "report_schedules"
    id: Mapped[int] = mapped_column(primary_key=True)
    report: Mapped[str] = mapped_column(String(64))
    period: Mapped[ReportPeriod] = mapped_column(_enum(ReportPeriod, "report_period"))
    format: Mapped[ReportFormat] = mapped_column(_enum(ReportFormat, "report_format"))
    email_to: Mapped[str] = mapped_column(String(300))
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Whose rights the report is made with; None: loaded from the catalog, which is
    # the admins' (the whole centre).
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    # The report's queue filter; None: every queue the owner may see.
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"))
    # The local time of the centre's time zone it is sent at, the day after its period.
    send_at: Mapped[time] = mapped_column(Time, default=time(6, 0), server_default="06:00:00")
    language: Mapped[str | None] = mapped_column(String(8))  # None: the default language
    # The first day whose period may be sent; None until the scheduler first sees the
    # schedule (one loaded from the catalog): no flood of old periods. A one-off's first day.
    starts_on: Mapped[date | None] = mapped_column(Date)
    # A one-off (period "once"): its last day, and the day it is sent (None: the day after
    # its last day). Both None for the others.
    ends_on: Mapped[date | None] = mapped_column(Date)
    send_on: Mapped[date | None] = mapped_column(Date)


class ReportSending(Base):
    """One period of one schedule, claimed by the process that inserts it (R-5.5): the
    unique key makes two processes send a period once. ``retry_at`` is when another attempt
    may begin (a failed send, or a process that died sending); None once sent or given up."""

    __tablename__ = "report_sendings"
    __table_args__ = (UniqueConstraint("schedule_id", "first_day", "last_day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("report_schedules.id", ondelete="CASCADE"))
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(String(500))
