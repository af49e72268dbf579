"""The format (docs/catalog-yaml.md): its sections and, per record, each key's table entry.

A :class:`Field` ties a YAML key to a model attribute, how its value is read and how it is
written back; the reader reads records with these tables and the exporter writes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import time
from typing import Any

from db.catalog.keys import MAX_PAUSE_TYPES, Ref, read_pause_ref, read_ref
from db.catalog.values import (
    Read,
    column_length,
    enum_value,
    plain,
    read_bool,
    read_country_prefix,
    read_date,
    read_dial_string,
    read_digit,
    read_emails,
    read_enum,
    read_int,
    read_key_text,
    read_language,
    read_phone,
    read_prompt_name,
    read_recipients,
    read_report_language,
    read_schedule_day,
    read_send_at,
    read_text,
    read_time,
    read_weekday,
    time_text,
    weekday_name,
)
from db.models import (
    Agent,
    ContactPerson,
    Customer,
    Department,
    Did,
    Holiday,
    IvrMenu,
    Location,
    PauseType,
    PhoneSeat,
    Queue,
    ReportSchedule,
    VoicemailBox,
)
from domain import report_schedules as schedule_rules
from domain.enums import BoxKind, ClosedAction, ReportFormat, ReportPeriod, Role
from domain.prompts import PROMPT_LANGUAGES

KINDS = (
    "settings",
    "departments",
    "locations",
    "pause_types",
    "voicemail_boxes",
    "phone_seats",
    "agents",
    "queues",
    "holidays",
    "ivr_menus",
    "dids",
    "prompts",
    "report_schedules",
    "customers",
)
"""The document's sections, in export order; a load accepts them in any order."""


@dataclass(frozen=True)
class Field:
    """One YAML key of a record: the model attribute it fills, how to read and write it.

    ``ref`` names the kind a reference points to; ``attr`` is then the foreign-key column.
    ``omit`` (children only) leaves the key out of an export when the value is its default.
    """

    key: str
    attr: str
    read: Read
    write: Callable[[Any], Any] = plain
    required: bool = False
    ref: str | None = None
    omit: Any = ...


def _name(model: type[Any], *, required: bool = True) -> Field:
    return Field(
        "name", "name", read_text(column_length(model, "name"), empty=False), required=required
    )


DEPARTMENT_FIELDS = (_name(Department),)
LOCATION_FIELDS = (
    Field("code", "code", read_key_text(column_length(Location, "code")), required=True),
    _name(Location),
    Field("operator", "operator_customer_id", read_ref("customer", 64), ref="customer"),
)
PAUSE_TYPE_FIELDS = (
    Field("position", "position", read_int(1, MAX_PAUSE_TYPES), required=True),
    _name(PauseType),
    Field("paid", "paid", read_bool),
    Field("active", "active", read_bool),
)
BOX_FIELDS = (
    Field("code", "code", read_key_text(column_length(VoicemailBox, "code")), required=True),
    _name(VoicemailBox),
    Field("kind", "kind", read_enum(BoxKind), enum_value),
    Field("greeting_prompt", "greeting_prompt", read_prompt_name),
    Field("max_message_s", "max_message_s", read_int(1)),
    Field("silence_s", "silence_s", read_int(0)),
    Field("email_to", "email_to", read_emails(column_length(VoicemailBox, "email_to"))),
)
SEAT_FIELDS = (
    Field("name", "name", read_text(column_length(PhoneSeat, "name"), empty=False), required=True),
    Field("dial_string", "dial_string", read_dial_string, required=True),
    Field("restricted", "restricted", read_bool),
)
AGENT_FIELDS = (
    Field("login", "login", read_key_text(column_length(Agent, "login")), required=True),
    _name(Agent),
    Field("role", "role", read_enum(Role), enum_value),
    Field("department", "department_id", read_ref("department", 100), ref="department"),
    Field("language", "language", read_language(nullable=True)),  # null: the browser's
    Field("active", "active", read_bool),
    Field("selected_location", "selected_location_id", read_ref("location", 32), ref="location"),
)
AGENT_EXTRA = ("password", "password_hash", "seats", "boxes", "supervises")
QUEUE_FIELDS = (
    Field("code", "code", read_key_text(column_length(Queue, "code")), required=True),
    _name(Queue),
    Field("active", "active", read_bool),
    Field("ring_timeout_s", "ring_timeout_s", read_int(1)),  # a ring timeout > 0
    Field("overflow_enabled", "overflow_enabled", read_bool),
    Field("overflow_after_s", "overflow_after_s", read_int(0)),
    # null: never tell the caller about option 0
    Field("callback_offer_after_s", "callback_offer_after_s", read_int(1, nullable=True)),
    Field("callback_offer_repeat_s", "callback_offer_repeat_s", read_int(1)),
    Field("voicemail_box", "voicemail_box_id", read_ref("box", 32), ref="box"),
    Field("callback_box", "callback_box_id", read_ref("box", 32), ref="box"),
    Field("country_prefix", "country_prefix", read_country_prefix),
    Field(
        "caller_id_number", "caller_id_number", read_text(column_length(Queue, "caller_id_number"))
    ),
    Field("closed_on_weekends", "closed_on_weekends", read_bool),
    Field("closed_action", "closed_action", read_enum(ClosedAction), enum_value),
    Field("hours_prompt", "hours_prompt", read_prompt_name),
    Field("moh_class", "moh_class", read_key_text(column_length(Queue, "moh_class"))),
    Field("recording_enabled", "recording_enabled", read_bool),
    Field("missed_call_pause_type", "missed_call_pause_type_id", read_pause_ref, ref="pause_type"),
    Field("support_turns_enabled", "support_turns_enabled", read_bool),
)
QUEUE_EXTRA = (
    "locations",
    "agents",
    "hours",
    "closed_rules",
    "holidays",
    "reasons",
    "support_turns",
)
HOURS_FIELDS = (
    Field("weekday", "weekday", read_weekday(), weekday_name, required=True),
    Field("opens", "opens", read_time, time_text, required=True),
    Field("closes", "closes", read_time, time_text, required=True),
)
CLOSED_RULE_FIELDS = (
    # absent or null: every day
    Field("weekday", "weekday", read_weekday(nullable=True), weekday_name, omit=None),
    Field("starts", "starts", read_time, time_text, required=True),
    Field("ends", "ends", read_time, time_text, required=True),
    Field("action", "action", read_enum(ClosedAction), enum_value, required=True),
)
HOLIDAY_FIELDS = (
    Field("day", "day", read_date, required=True),
    _name(Holiday),
)
TURN_DAY_FIELDS = HOURS_FIELDS
MEMBER_FIELDS = (
    Field("agent", "agent_id", read_ref("agent", 64), ref="agent", omit=None),
    Field("number", "external_number", read_phone(40, empty=True), omit=""),
    Field("priority", "priority", read_int(0)),  # 0 takes no calls, higher first
)
MENU_FIELDS = (
    Field("code", "code", read_key_text(column_length(IvrMenu, "code")), required=True),
    _name(IvrMenu),
    Field("prompt", "prompt", read_prompt_name, required=True),
    Field("invalid_prompt", "invalid_prompt", read_prompt_name),
    Field("timeout_s", "timeout_s", read_int(1)),
    Field("max_retries", "max_retries", read_int(0)),
    Field("default_queue", "default_queue_id", read_ref("queue", 32), ref="queue"),
    Field("default_menu", "default_menu_id", read_ref("menu", 32), ref="menu"),
)
OPTION_FIELDS = (
    Field("digit", "digit", read_digit, required=True),
    Field("queue", "queue_id", read_ref("queue", 32), ref="queue", omit=None),
    Field("menu", "submenu_id", read_ref("menu", 32), ref="menu", omit=None),
)
DID_FIELDS = (
    Field("number", "number", read_key_text(column_length(Did, "number")), required=True),
    _name(Did),
    Field("menu", "ivr_menu_id", read_ref("menu", 32), ref="menu"),
    Field("queue", "queue_id", read_ref("queue", 32), ref="queue"),
    Field("language", "language", read_language(nullable=True)),  # null: the centre's
)
# A prompt's words: its name and its text per language, e.g. {name: x, en: .., cs: ..}.
PROMPT_KEYS = ("name", *PROMPT_LANGUAGES)
REPORT_FIELDS = (
    Field(
        "report", "report", read_key_text(column_length(ReportSchedule, "report")), required=True
    ),
    Field("period", "period", read_enum(ReportPeriod), enum_value, required=True),
    Field("format", "format", read_enum(ReportFormat), enum_value, required=True),
    Field("email_to", "email_to", read_recipients, required=True),
    # Whose rights the report is made with, a supervisor or an admin; none: the
    # whole centre. The queue narrows it; none: every queue the owner may see.
    Field("owner", "owner_id", read_ref("agent", 64), ref="agent"),
    Field("queue", "queue_id", read_ref("queue", 32), ref="queue"),
    Field("send_at", "send_at", read_send_at, time_text),  # local time; absent: 06:00
    Field("language", "language", read_report_language),  # null: the default language
    # A one-off (period "once") only: its days and its sending day (null: the day after).
    Field("first_day", "starts_on", read_schedule_day("first_day")),
    Field("last_day", "ends_on", read_schedule_day("last_day")),
    Field("send_on", "send_on", read_schedule_day("send_on")),
)
ONE_OFF_KEYS = ("first_day", "last_day", "send_on")
DEFAULT_SEND_AT = time(6, 0)  # report_schedules.send_at's default


def schedule_key(values: dict[str, Any], refs: dict[str, Ref | None]) -> tuple[Any, ...]:
    """A report schedule is all its keys (R-5.5): a load adds the schedules that are not
    there and changes none; two alike are one. The exporter's and the writer's key too."""
    owner, queue = refs.get("owner_id"), refs.get("queue_id")
    return (
        values["report"],
        values["period"],
        values["format"],
        values["email_to"],
        None if owner is None else owner.key,
        None if queue is None else queue.key,
        values.get("send_at") or DEFAULT_SEND_AT,
        values.get("language"),
        values.get("starts_on"),
        values.get("ends_on"),
        values.get("send_on"),
    )


def stored_schedule_key(
    schedule: ReportSchedule, logins: Mapping[int, str], codes: Mapping[int, str]
) -> tuple[Any, ...]:
    """:func:`schedule_key` of a stored schedule (``logins``, ``codes``: agents' and
    queues' keys by id). A periodic one's ``starts_on`` is the scheduler's, not the file's."""
    once = schedule.period is ReportPeriod.ONCE
    return (
        schedule.report,
        schedule.period,
        schedule.format,
        ", ".join(schedule_rules.stored_recipients(schedule.email_to)),
        None if schedule.owner_id is None else logins.get(schedule.owner_id),
        None if schedule.queue_id is None else codes.get(schedule.queue_id),
        schedule.send_at,
        schedule.language,
        schedule.starts_on if once else None,
        schedule.ends_on if once else None,
        schedule.send_on if once else None,
    )


CUSTOMER_FIELDS = (
    Field("contract_number", "contract_number", read_text(64, empty=False), required=True),
    _name(Customer),
    Field(
        "location",
        "location_id",
        read_ref("location", 32, nullable=False),
        ref="location",
        required=True,
    ),
    Field("address", "address", read_text(column_length(Customer, "address"))),
    Field("active", "active", read_bool),
    Field("pseudo", "is_pseudo", read_bool),  # the "OUTBOUND CALL" pseudo-customer
    Field("note", "note", read_text()),
)
CONTACT_FIELDS = (
    _name(ContactPerson),
    Field("phone", "phone", read_phone(40, empty=True)),
    Field("email", "email", read_emails(column_length(ContactPerson, "email"))),
)
REASON_KEYS = ("label", "code", "children")
