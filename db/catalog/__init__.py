"""Contact-centre data as one YAML document: export, and a validated upsert load (R-6.2).

The document (described key by key in ``docs/catalog-yaml.md``) names things by natural keys
instead of ids: location and queue codes, agent logins, seat names, box and menu codes, DID
numbers, department names, pause-type positions, customer contract numbers.

Loading happens in three steps, and nothing is written before the first two pass:

1. read: the YAML is composed into nodes that keep their line numbers, and every mapping is
   checked for unknown, duplicate and missing keys, every value for its type and range;
2. check: references are resolved against the file and the database together (a file may
   name a queue that is only in the database), and rules that need both are checked;
3. write: upsert by natural key. What the file does not mention is left alone: records absent
   from the file stay, and a key absent from a record leaves that column or that list of
   children as it is. A list of children that IS given replaces the stored one.

Every refusal is a :class:`CatalogError` ``"<source>:<line>: <reason>"``. The caller runs the
load in one transaction (``DBRunner.run_sync`` or ``with session.begin()``), so an error that
only the database can see (a concurrent change) also leaves nothing half-loaded.
"""

from __future__ import annotations

import enum
import itertools
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from db.models import (
    Agent,
    BoxRight,
    BusinessHours,
    Call,
    ClosedRule,
    ContactPerson,
    Customer,
    CustomerPhone,
    Department,
    Did,
    Holiday,
    IvrMenu,
    IvrOption,
    Location,
    PauseType,
    PhoneSeat,
    Queue,
    QueueLocation,
    QueueRight,
    ReasonNode,
    ReportSchedule,
    SeatRight,
    Setting,
    SupervisorDepartment,
    SupportTurnDay,
    SupportTurnMember,
    VoicemailBox,
)
from db.passwords import hash_password, is_password_hash, verify_password
from domain.enums import BoxKind, ClosedAction, ReasonDirection, ReportFormat, ReportPeriod, Role
from domain.numbers import is_country_prefix, normalise_number

DEFAULT_COUNTRY_PREFIX = "420"
MAX_PAUSE_TYPES = 9
MAX_REASON_DEPTH = 10
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # Monday = 0, as date.weekday()
_WEEKDAY_NAMES = {
    **{name: i for i, name in enumerate(WEEKDAYS)},
    **{
        name: i
        for i, name in enumerate(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        )
    },
}
_INT_MAX = 2**31 - 1  # PostgreSQL INTEGER
_CHUNK = 500  # keys per IN (...) list

Node: TypeAlias = Any  # a yaml.Node; PyYAML ships no type hints


# --------------------------------------------------------------------------- public API


class CatalogError(Exception):
    """A catalog that cannot be loaded, or a database that cannot be exported faithfully.

    ``str()`` is ``"<source>:<line>: <reason>"`` for the first problem by line; ``problems``
    holds every problem found as ``(line, reason)`` pairs.
    """

    def __init__(
        self, source: str, line: int, reason: str, problems: Sequence[tuple[int, str]] = ()
    ) -> None:
        super().__init__(f"{source}:{line}: {reason}")
        self.source = source
        self.line = line
        self.reason = reason
        self.problems: tuple[tuple[int, str], ...] = tuple(problems) or ((line, reason),)


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
    "report_schedules",
    "customers",
)
"""The document's sections, in export order; a load accepts them in any order."""


@dataclass(frozen=True)
class LoadSummary:
    """What a load did, per section (and ``reason_nodes``): records created, updated, removed.

    "Updated" counts records the file named that differed from the database in a column or a
    list of children; a record loaded unchanged counts nowhere.
    """

    created: Mapping[str, int] = field(default_factory=dict)
    updated: Mapping[str, int] = field(default_factory=dict)
    removed: Mapping[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        def part(label: str, counts: Mapping[str, int]) -> str:
            items = [f"{kind.replace('_', ' ')} {n}" for kind, n in counts.items() if n]
            return f"{label}: " + (", ".join(items) if items else "nothing")

        text = f"{part('created', self.created)}; {part('updated', self.updated)}"
        if any(self.removed.values()):
            text += f"; {part('removed', self.removed)}"
        return text


def load_catalog(session: Session, text: str, source: str = "<string>") -> LoadSummary:
    """Validate the YAML ``text`` completely, then upsert it through ``session``.

    Raises :class:`CatalogError` before writing anything when the file is bad. The caller
    owns the transaction; this function flushes but never commits.
    """
    root = _compose(text, source)
    country_prefix = _country_prefix(session, root, source)
    reader = _Reader(source, country_prefix)
    catalog = reader.read(root)
    reader.raise_problems()
    _Checker(session, catalog, reader).check()
    reader.raise_problems()
    counts = _Counts()
    _Writer(session, catalog, counts).write()
    session.flush()
    return counts.summary()


def export_catalog(session: Session) -> str:
    """All contact-centre data as YAML text, natural keys instead of ids, in a stable order.

    Never exports a plain password (only ``password_hash``). Raises :class:`CatalogError`
    (source ``<database>``) when a customer has no contract number or shares one with
    another customer: the contract number is the customer's key in the file.
    """
    data = _Exporter(session).export()
    header = "# Hotline contact-centre catalog (R-6.2); the format: docs/catalog-yaml.md\n"
    return header + yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )


# --------------------------------------------------------------------------- YAML with lines


# libyaml's parser when PyYAML was built with it (ten times faster on a big customer list);
# either way the resolvers below decide the types and nodes keep their line marks.
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CatalogLoader(_BaseLoader):  # type: ignore[misc]
    """Composes YAML with a small, predictable set of implicit types.

    PyYAML's YAML 1.1 resolvers turn ``8:30`` into the sexagesimal integer 510, ``0420`` into
    an octal 272 and ``yes``/``on`` into booleans; opening hours and phone numbers then
    arrive silently wrong. Here only ``null``/``~``/empty, ``true``/``false``, decimal
    integers and ``YYYY-MM-DD`` dates are implicit; everything else is text.
    """

    yaml_implicit_resolvers: dict[Any, Any] = {}


_CatalogLoader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
_CatalogLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
_CatalogLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)
_CatalogLoader.add_implicit_resolver(
    "tag:yaml.org,2002:timestamp", re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"), list("0123456789")
)

_TAG = "tag:yaml.org,2002:"


def _compose(text: str, source: str) -> Node | None:
    try:
        return yaml.compose(text, Loader=_CatalogLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        reason = exc.problem or exc.context or "unreadable YAML"
        raise CatalogError(source, line, f"YAML syntax error: {reason}") from None
    except yaml.YAMLError as exc:  # e.g. a control character the reader refuses
        raise CatalogError(source, 1, f"YAML syntax error: {exc}") from None


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


class _Bad(Exception):
    """A problem at a node; caught per record so the reader goes on to the next one."""

    def __init__(self, node_or_line: Node | int, reason: str) -> None:
        super().__init__(reason)
        self.line = node_or_line if isinstance(node_or_line, int) else _line(node_or_line)
        self.reason = reason


def _scalar(node: Node) -> Any:
    """The Python value of a scalar node; ``_Bad`` for a list, a mapping or an odd tag."""
    if isinstance(node, yaml.SequenceNode):
        raise _Bad(node, "expected a single value, got a list")
    if isinstance(node, yaml.MappingNode):
        raise _Bad(node, "expected a single value, got a mapping")
    tag, value = node.tag, node.value
    if tag == _TAG + "str":
        return value
    if tag == _TAG + "null":
        return None
    if tag == _TAG + "bool":
        return value.lower() == "true"
    if tag == _TAG + "int":
        try:
            return int(value)
        except ValueError:
            raise _Bad(node, f"{value!r} is not an integer") from None
    if tag == _TAG + "timestamp":
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise _Bad(node, f"{value!r} is not a valid date (YYYY-MM-DD)") from None
    raise _Bad(node, f"unsupported YAML tag {tag}")


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, date):
        return f"the date {value.isoformat()}"
    return f"the text {value!r}"


# --------------------------------------------------------------------------- value readers

_Read: TypeAlias = Callable[[Node], Any]


@dataclass(frozen=True)
class _Ref:
    """A reference by natural key to a record of ``kind``, with the line that names it."""

    kind: str
    key: str | int
    line: int


def _text(max_len: int | None = None, *, empty: bool = True, nul: str = "text") -> _Read:
    def read(node: Node) -> str:
        value = _scalar(node)
        if isinstance(value, int | date) and not isinstance(value, bool):
            # Show it as written: YAML turned +420777123456 into 420777123456.
            what = "a date" if isinstance(value, date) else "a number"
            raise _Bad(
                node, f"expected {nul}, got {node.value} which YAML reads as {what} (quote it)"
            )
        if not isinstance(value, str):
            raise _Bad(node, f"expected {nul}, got {_describe(value)}")
        if not empty and not value.strip():
            raise _Bad(node, "must not be empty")
        if max_len is not None and len(value) > max_len:
            raise _Bad(node, f"longer than {max_len} characters")
        if "\x00" in value:
            raise _Bad(node, "contains a NUL character")
        return value

    return read


def _key_text(max_len: int) -> _Read:
    """A code or login: not empty, no white space (it is typed and compared exactly)."""
    base = _text(max_len, empty=False)

    def read(node: Node) -> str:
        value = base(node)
        if any(ch.isspace() for ch in value):
            raise _Bad(node, f"{value!r} must not contain spaces")
        return value

    return read


def _int(minimum: int, maximum: int = _INT_MAX, *, nullable: bool = False) -> _Read:
    def read(node: Node) -> int | None:
        value = _scalar(node)
        if value is None and nullable:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Bad(node, f"expected an integer, got {_describe(value)}")
        if not minimum <= value <= maximum:
            limit = f"at least {minimum}" if maximum == _INT_MAX else f"{minimum}..{maximum}"
            raise _Bad(node, f"{value} is out of range (must be {limit})")
        return value

    return read


def _bool(node: Node) -> bool:
    value = _scalar(node)
    if not isinstance(value, bool):
        raise _Bad(node, f"expected true or false, got {_describe(value)}")
    return value


def _enum(cls: type[Any]) -> _Read:
    allowed = [m.value for m in cls]

    def read(node: Node) -> Any:
        value = _scalar(node)
        if value not in allowed:
            raise _Bad(node, f"{_describe(value)} is not one of {', '.join(allowed)}")
        return cls(value)

    return read


_TIME = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?")


def _time(node: Node) -> time:
    value = _scalar(node)
    match = _TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise _Bad(node, f"expected a time HH:MM (00:00..23:59), got {_describe(value)}")
    return time(int(match[1]), int(match[2]), int(match[3] or 0))


def _date(node: Node) -> date:
    value = _scalar(node)
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    elif isinstance(value, date):
        return value
    raise _Bad(node, f"expected a date YYYY-MM-DD, got {_describe(value)}")


def _weekday(*, nullable: bool = False) -> _Read:
    def read(node: Node) -> int | None:
        value = _scalar(node)
        if value is None and nullable:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
            return value
        if isinstance(value, str) and value.lower() in _WEEKDAY_NAMES:
            return _WEEKDAY_NAMES[value.lower()]
        raise _Bad(node, f"must be 0-6 (Monday = 0) or mon..sun, got {_describe(value)}")

    return read


def _phone(max_len: int, *, empty: bool = False) -> _Read:
    base = _text(max_len, nul="a quoted phone number")

    def read(node: Node) -> str:
        value = base(node)
        if empty and value == "":
            return value
        if not any("0" <= ch <= "9" for ch in value):
            raise _Bad(node, f"phone number {value!r} has no digits")
        return value

    return read


_EMAIL = re.compile(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+")


def _emails(max_len: int, *, empty: bool = True) -> _Read:
    base = _text(max_len, empty=empty)

    def read(node: Node) -> str:
        value = base(node)
        for address in filter(None, (a.strip() for a in value.split(","))):
            if not _EMAIL.fullmatch(address):
                raise _Bad(node, f"{address!r} is not an e-mail address")
        return value

    return read


def _country_prefix_value(node: Node) -> str:
    value = _scalar(node)
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not is_country_prefix(text):
        raise _Bad(node, f"a country prefix is 1-3 digits like 420, got {_describe(value)}")
    return text


def _dial_string(node: Node) -> str:
    value = _text(_len(PhoneSeat, "dial_string"), empty=False)(node)
    if not re.fullmatch(r"[A-Za-z0-9_-]+/\S+", value):
        raise _Bad(node, f"{value!r} is not a dial string like PJSIP/101")
    return value


def _digit(node: Node) -> str:
    value = _scalar(node)
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or len(text) != 1 or text not in "0123456789*#":
        raise _Bad(node, f"a menu option is one key 0-9, * or #, got {_describe(value)}")
    return text


def _ref(kind: str, max_len: int, *, nullable: bool = True) -> _Read:
    def read(node: Node) -> _Ref | None:
        value = _scalar(node)
        if value is None and nullable:
            return None
        if not isinstance(value, str) or not value:
            raise _Bad(node, f"expected the {_KIND_NOUN[kind]} (text), got {_describe(value)}")
        if len(value) > max_len:
            raise _Bad(node, f"longer than {max_len} characters")
        return _Ref(kind, value, _line(node))

    return read


def _pause_ref(node: Node) -> _Ref | None:
    position = _int(1, MAX_PAUSE_TYPES, nullable=True)(node)
    return None if position is None else _Ref("pause_type", position, _line(node))


def _len(model: type[Any], attr: str) -> int:
    return int(model.__table__.c[attr].type.length)


_KIND_NOUN = {
    "location": "location code",
    "customer": "customer contract number",
    "department": "department name",
    "pause_type": "pause type position",
    "box": "voicemail box code",
    "seat": "phone seat name",
    "agent": "agent login",
    "queue": "queue code",
    "menu": "IVR menu code",
}


# --------------------------------------------------------------------------- writers (export)


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bool | int | str | date):
        return value
    raise TypeError(f"cannot export {value!r}")


def _enum_value(value: Any) -> str:
    return str(value.value)


def _time_text(value: time) -> str:
    return value.strftime("%H:%M" if value.second == 0 else "%H:%M:%S")


def _weekday_name(value: int | None) -> str | None:
    return None if value is None else WEEKDAYS[value]


# --------------------------------------------------------------------------- the format


@dataclass(frozen=True)
class _Field:
    """One YAML key of a record: the model attribute it fills, how to read and write it.

    ``ref`` names the kind a reference points to; ``attr`` is then the foreign-key column.
    ``omit`` (children only) leaves the key out of an export when the value is its default.
    """

    key: str
    attr: str
    read: _Read
    write: Callable[[Any], Any] = _plain
    required: bool = False
    ref: str | None = None
    omit: Any = ...


def _name(model: type[Any], *, required: bool = True) -> _Field:
    return _Field("name", "name", _text(_len(model, "name"), empty=False), required=required)


DEPARTMENT_FIELDS = (_name(Department),)
LOCATION_FIELDS = (
    _Field("code", "code", _key_text(_len(Location, "code")), required=True),
    _name(Location),
    _Field("operator", "operator_customer_id", _ref("customer", 64), ref="customer"),
)
PAUSE_TYPE_FIELDS = (
    _Field("position", "position", _int(1, MAX_PAUSE_TYPES), required=True),
    _name(PauseType),
    _Field("paid", "paid", _bool),
    _Field("active", "active", _bool),
)
BOX_FIELDS = (
    _Field("code", "code", _key_text(_len(VoicemailBox, "code")), required=True),
    _name(VoicemailBox),
    _Field("kind", "kind", _enum(BoxKind), _enum_value),
    _Field("greeting_prompt", "greeting_prompt", _text(200, empty=False)),
    _Field("max_message_s", "max_message_s", _int(1)),
    _Field("silence_s", "silence_s", _int(0)),
    _Field("email_to", "email_to", _emails(_len(VoicemailBox, "email_to"))),
)
SEAT_FIELDS = (
    _Field("name", "name", _text(_len(PhoneSeat, "name"), empty=False), required=True),
    _Field("dial_string", "dial_string", _dial_string, required=True),
    _Field("restricted", "restricted", _bool),
)
AGENT_FIELDS = (
    _Field("login", "login", _key_text(_len(Agent, "login")), required=True),
    _name(Agent),
    _Field("role", "role", _enum(Role), _enum_value),
    _Field("department", "department_id", _ref("department", 100), ref="department"),
    _Field("language", "language", _key_text(_len(Agent, "language"))),
    _Field("active", "active", _bool),
    _Field("selected_location", "selected_location_id", _ref("location", 32), ref="location"),
)
AGENT_EXTRA = ("password", "password_hash", "seats", "boxes", "supervises")
QUEUE_FIELDS = (
    _Field("code", "code", _key_text(_len(Queue, "code")), required=True),
    _name(Queue),
    _Field("active", "active", _bool),
    _Field("ring_timeout_s", "ring_timeout_s", _int(1)),  # a ring timeout > 0
    _Field("overflow_enabled", "overflow_enabled", _bool),
    _Field("overflow_after_s", "overflow_after_s", _int(0)),
    # null: never tell the caller about option 0
    _Field("callback_offer_after_s", "callback_offer_after_s", _int(1, nullable=True)),
    _Field("callback_offer_repeat_s", "callback_offer_repeat_s", _int(1)),
    _Field("voicemail_box", "voicemail_box_id", _ref("box", 32), ref="box"),
    _Field("callback_box", "callback_box_id", _ref("box", 32), ref="box"),
    _Field("country_prefix", "country_prefix", _country_prefix_value),
    _Field("caller_id_number", "caller_id_number", _text(_len(Queue, "caller_id_number"))),
    _Field("closed_on_weekends", "closed_on_weekends", _bool),
    _Field("closed_action", "closed_action", _enum(ClosedAction), _enum_value),
    _Field("hours_prompt", "hours_prompt", _text(200, empty=False)),
    _Field("moh_class", "moh_class", _key_text(_len(Queue, "moh_class"))),
    _Field("recording_enabled", "recording_enabled", _bool),
    _Field("missed_call_pause_type", "missed_call_pause_type_id", _pause_ref, ref="pause_type"),
    _Field("support_turns_enabled", "support_turns_enabled", _bool),
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
    _Field("weekday", "weekday", _weekday(), _weekday_name, required=True),
    _Field("opens", "opens", _time, _time_text, required=True),
    _Field("closes", "closes", _time, _time_text, required=True),
)
CLOSED_RULE_FIELDS = (
    # absent or null: every day
    _Field("weekday", "weekday", _weekday(nullable=True), _weekday_name, omit=None),
    _Field("starts", "starts", _time, _time_text, required=True),
    _Field("ends", "ends", _time, _time_text, required=True),
    _Field("action", "action", _enum(ClosedAction), _enum_value, required=True),
)
HOLIDAY_FIELDS = (
    _Field("day", "day", _date, required=True),
    _name(Holiday),
)
TURN_DAY_FIELDS = HOURS_FIELDS
MEMBER_FIELDS = (
    _Field("agent", "agent_id", _ref("agent", 64), ref="agent", omit=None),
    _Field("number", "external_number", _phone(40, empty=True), omit=""),
    _Field("priority", "priority", _int(0)),  # 0 takes no calls, higher first
)
MENU_FIELDS = (
    _Field("code", "code", _key_text(_len(IvrMenu, "code")), required=True),
    _name(IvrMenu),
    _Field("prompt", "prompt", _text(200, empty=False), required=True),
    _Field("invalid_prompt", "invalid_prompt", _text(200, empty=False)),
    _Field("timeout_s", "timeout_s", _int(1)),
    _Field("max_retries", "max_retries", _int(0)),
    _Field("default_queue", "default_queue_id", _ref("queue", 32), ref="queue"),
    _Field("default_menu", "default_menu_id", _ref("menu", 32), ref="menu"),
)
OPTION_FIELDS = (
    _Field("digit", "digit", _digit, required=True),
    _Field("queue", "queue_id", _ref("queue", 32), ref="queue", omit=None),
    _Field("menu", "submenu_id", _ref("menu", 32), ref="menu", omit=None),
)
DID_FIELDS = (
    _Field("number", "number", _key_text(_len(Did, "number")), required=True),
    _name(Did),
    _Field("menu", "ivr_menu_id", _ref("menu", 32), ref="menu"),
    _Field("queue", "queue_id", _ref("queue", 32), ref="queue"),
)
REPORT_FIELDS = (
    _Field("report", "report", _key_text(_len(ReportSchedule, "report")), required=True),
    _Field("period", "period", _enum(ReportPeriod), _enum_value, required=True),
    _Field("format", "format", _enum(ReportFormat), _enum_value, required=True),
    _Field(
        "email_to",
        "email_to",
        _emails(_len(ReportSchedule, "email_to"), empty=False),
        required=True,
    ),
)
CUSTOMER_FIELDS = (
    _Field("contract_number", "contract_number", _text(64, empty=False), required=True),
    _name(Customer),
    _Field(
        "location",
        "location_id",
        _ref("location", 32, nullable=False),
        ref="location",
        required=True,
    ),
    _Field("address", "address", _text(_len(Customer, "address"))),
    _Field("active", "active", _bool),
    _Field("pseudo", "is_pseudo", _bool),  # the "OUTBOUND CALL" pseudo-customer
    _Field("note", "note", _text()),
)
CONTACT_FIELDS = (
    _name(ContactPerson),
    _Field("phone", "phone", _phone(40, empty=True)),
    _Field("email", "email", _emails(_len(ContactPerson, "email"))),
)
REASON_KEYS = ("label", "code", "children")


# --------------------------------------------------------------------------- read: records


@dataclass
class _Row:
    """A record as read: column values and references for the keys the file gave."""

    line: int
    values: dict[str, Any]
    refs: dict[str, _Ref | None]
    extra: dict[str, Node]  # keys a kind reads itself (lists of children, passwords)
    nodes: dict[str, Node] = field(default_factory=dict)  # every given key's value node


@dataclass
class _Item(_Row):
    key: Any = None


@dataclass
class _ReasonSpec:
    line: int
    label: str
    code: str
    children: list[_ReasonSpec]


@dataclass
class _TurnDaySpec:
    row: _Row
    members: list[_Row]


@dataclass
class _CustomerSpec:
    item: _Item
    phones: list[tuple[str, str]] | None  # (as written, digits)
    contacts: list[_Row] | None


@dataclass
class _AgentSpec:
    item: _Item
    password: str | None
    password_hash: str | None
    seats: list[_Ref] | None
    boxes: list[_Ref] | None
    supervises: list[_Ref] | None


@dataclass
class _QueueSpec:
    item: _Item
    locations: list[_Ref] | None
    agents: list[_Ref] | None
    hours: list[_Row] | None
    closed_rules: list[_Row] | None
    holidays: list[_Row] | None
    reasons: dict[ReasonDirection, list[_ReasonSpec]]
    support_turns: list[_TurnDaySpec] | None


@dataclass
class _MenuSpec:
    item: _Item
    options: list[_Row] | None


@dataclass
class _Catalog:
    settings: dict[str, tuple[str, int]] = field(default_factory=dict)
    departments: list[_Item] = field(default_factory=list)
    locations: list[_Item] = field(default_factory=list)
    pause_types: list[_Item] = field(default_factory=list)
    boxes: list[_Item] = field(default_factory=list)
    seats: list[_Item] = field(default_factory=list)
    agents: list[_AgentSpec] = field(default_factory=list)
    queues: list[_QueueSpec] = field(default_factory=list)
    holidays: list[_Item] = field(default_factory=list)
    menus: list[_MenuSpec] = field(default_factory=list)
    dids: list[_Item] = field(default_factory=list)
    reports: list[_Item] = field(default_factory=list)
    customers: list[_CustomerSpec] = field(default_factory=list)


def _mapping(node: Node, what: str, keys: Sequence[str], required: Sequence[str]) -> dict:
    """The keys of a mapping node: unknown, duplicate and missing keys refused."""
    if not isinstance(node, yaml.MappingNode):
        raise _Bad(node, f"expected {what} as a mapping (key: value), got {_shape(node)}")
    found: dict[str, Node] = {}
    for key_node, value_node in node.value:
        key = _scalar(key_node)
        if not isinstance(key, str):
            raise _Bad(key_node, f"{what}: a key must be text, got {_describe(key)}")
        if key in found:
            first = _line(found[key][0])
            raise _Bad(key_node, f"duplicate key {key!r} in {what} (first at line {first})")
        if key not in keys:
            allowed = ", ".join(keys)
            raise _Bad(key_node, f"unknown key {key!r} in {what}; allowed keys: {allowed}")
        found[key] = (key_node, value_node)
    missing = [k for k in required if k not in found]
    if missing:
        raise _Bad(node, f"{what} needs {' and '.join(repr(k) for k in missing)}")
    return {k: v for k, (_, v) in found.items()}


def _shape(node: Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    return _describe(_scalar(node))


def _sequence(node: Node, what: str) -> list[Node]:
    if isinstance(node, yaml.ScalarNode) and node.tag == _TAG + "null":
        return []  # "hours:" with nothing after it is an empty list
    if not isinstance(node, yaml.SequenceNode):
        raise _Bad(node, f"expected {what} as a list, got {_shape(node)}")
    return list(node.value)


def _row(node: Node, what: str, fields: Sequence[_Field], extra: Sequence[str] = ()) -> _Row:
    keys = [f.key for f in fields] + list(extra)
    found = _mapping(node, what, keys, [f.key for f in fields if f.required])
    row = _Row(_line(node), {}, {}, {k: found[k] for k in extra if k in found}, found)
    for f in fields:
        if f.key not in found:
            continue
        try:
            value = f.read(found[f.key])
        except _Bad as bad:
            raise _Bad(bad.line, f"{f.key}: {bad.reason}") from None
        if f.ref is not None:
            row.refs[f.attr] = value
        else:
            row.values[f.attr] = value
    return row


def _item(node: Node, what: str, fields: Sequence[_Field], extra: Sequence[str] = ()) -> _Item:
    row = _row(node, what, fields, extra)
    key_attr = fields[0].attr
    return _Item(row.line, row.values, row.refs, row.extra, row.nodes, key=row.values[key_attr])


class _Reader:
    """Step 1: from nodes to specs, one problem per record at most, all records visited."""

    def __init__(self, source: str, country_prefix: str) -> None:
        self.source = source
        self.country_prefix = country_prefix
        self.problems: list[tuple[int, str]] = []

    def problem(self, line: int, reason: str) -> None:
        self.problems.append((line, reason))

    def raise_problems(self) -> None:
        if self.problems:
            ordered = sorted(set(self.problems))
            line, reason = ordered[0]
            raise CatalogError(self.source, line, reason, ordered)

    def read(self, root: Node | None) -> _Catalog:
        catalog = _Catalog()
        if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == _TAG + "null"):
            return catalog
        try:
            sections = _mapping(root, "the catalog", KINDS, ())
        except _Bad as bad:
            self.problem(bad.line, bad.reason)
            return catalog
        if "settings" in sections:
            self._settings(sections["settings"], catalog)
        simple: list[tuple[str, str, Sequence[_Field], list[_Item]]] = [
            ("departments", "a department", DEPARTMENT_FIELDS, catalog.departments),
            ("locations", "a location", LOCATION_FIELDS, catalog.locations),
            ("pause_types", "a pause type", PAUSE_TYPE_FIELDS, catalog.pause_types),
            ("voicemail_boxes", "a voicemail box", BOX_FIELDS, catalog.boxes),
            ("phone_seats", "a phone seat", SEAT_FIELDS, catalog.seats),
            ("holidays", "a holiday", HOLIDAY_FIELDS, catalog.holidays),
            ("dids", "a DID", DID_FIELDS, catalog.dids),
            ("report_schedules", "a report schedule", REPORT_FIELDS, catalog.reports),
        ]
        for section, what, fields, items in simple:
            nodes = self._records(sections[section], section) if section in sections else []
            for index, node in enumerate(nodes):
                if section == "pause_types" and index == MAX_PAUSE_TYPES:
                    self.problem(_line(node), f"more than {MAX_PAUSE_TYPES} pause types (R-2.4)")
                    break
                self._attempt(items, self._simple, node, what, fields)
        readers: list[tuple[str, Callable[[Node], Any], list[Any]]] = [
            ("agents", self._agent, catalog.agents),
            ("queues", self._queue, catalog.queues),
            ("ivr_menus", self._menu, catalog.menus),
            ("customers", self._customer, catalog.customers),
        ]
        for section, read, specs in readers:
            nodes = self._records(sections[section], section) if section in sections else []
            for node in nodes:
                self._attempt(specs, read, node)
        self._duplicates(catalog)
        return catalog

    def _attempt(self, into: list[Any], read: Callable[..., Any], *args: Any) -> None:
        """Append what ``read(*args)`` gives, or note its problem and go on."""
        try:
            into.append(read(*args))
        except _Bad as bad:
            self.problem(bad.line, bad.reason)

    def _records(self, node: Node, section: str) -> list[Node]:
        try:
            return _sequence(node, section)
        except _Bad as bad:
            self.problem(bad.line, bad.reason)
            return []

    def _settings(self, node: Node, catalog: _Catalog) -> None:
        if isinstance(node, yaml.ScalarNode) and node.tag == _TAG + "null":
            return
        if not isinstance(node, yaml.MappingNode):
            self.problem(_line(node), f"expected settings as a mapping, got {_shape(node)}")
            return
        for key_node, value_node in node.value:
            try:
                key = _text(_len(Setting, "key"), empty=False)(key_node)
                if key in catalog.settings:
                    first = catalog.settings[key][1]
                    raise _Bad(key_node, f"duplicate setting {key!r} (first at line {first})")
                value = _scalar(value_node)
                if value is None or isinstance(value, date):
                    raise _Bad(value_node, f"setting {key}: expected text, got {_describe(value)}")
                text = str(value).lower() if isinstance(value, bool) else str(value)
                if key == "country_prefix":
                    _country_prefix_value(value_node)
                if key == "time_zone":
                    try:
                        ZoneInfo(text)
                    except (ZoneInfoNotFoundError, ValueError):
                        raise _Bad(value_node, f"unknown time zone {text!r}") from None
                catalog.settings[key] = (text, _line(key_node))
            except _Bad as bad:
                self.problem(bad.line, bad.reason)

    def _simple(self, node: Node, what: str, fields: Sequence[_Field]) -> _Item:
        item = _item(node, what, fields)
        if fields is DID_FIELDS:
            _exactly_one_target(item, what)
        if fields is REPORT_FIELDS:
            item.key = (
                item.values["report"],
                item.values["period"],
                item.values["format"],
                item.values["email_to"],
            )
        return item

    # ---- agents

    def _agent(self, node: Node) -> _AgentSpec:
        item = _item(node, "an agent", AGENT_FIELDS, AGENT_EXTRA)
        password = password_hash = None
        if "password" in item.extra and "password_hash" in item.extra:
            raise _Bad(item.extra["password_hash"], "give password or password_hash, not both")
        if "password" in item.extra:
            password = _text(200, empty=False)(item.extra["password"])
        if "password_hash" in item.extra:
            password_hash = _text(_len(Agent, "password_hash"), empty=False)(
                item.extra["password_hash"]
            )
            if not is_password_hash(password_hash):
                raise _Bad(
                    item.extra["password_hash"],
                    "password_hash is not a Hotline scrypt hash (give a plain one as password:)",
                )
        return _AgentSpec(
            item,
            password,
            password_hash,
            self._refs(item, "seats", "seat", 64),
            self._refs(item, "boxes", "box", 32),
            self._refs(item, "supervises", "department", 100),
        )

    def _refs(self, item: _Row, key: str, kind: str, max_len: int) -> list[_Ref] | None:
        if key not in item.extra:
            return None
        refs: list[_Ref] = []
        seen: dict[Any, int] = {}
        for node in _sequence(item.extra[key], key):
            ref = _ref(kind, max_len, nullable=False)(node)
            assert ref is not None
            if ref.key in seen:
                raise _Bad(
                    node, f"{key}: {ref.key!r} is listed twice (first at line {seen[ref.key]})"
                )
            seen[ref.key] = ref.line
            refs.append(ref)
        return refs

    # ---- queues

    def _queue(self, node: Node) -> _QueueSpec:
        item = _item(node, "a queue", QUEUE_FIELDS, QUEUE_EXTRA)
        extra = item.extra
        hours = self._rows(extra, "hours", "an opening window", HOURS_FIELDS)
        if hours is not None:
            for row in hours:
                _opens_before_closes(row, "opens", "closes")
            _no_overlaps(hours)
        closed = self._rows(extra, "closed_rules", "a closed rule", CLOSED_RULE_FIELDS)
        for row in closed or ():
            if row.values["starts"] == row.values["ends"]:
                # a window may wrap midnight (20:00-06:00), but an empty one is a mistake
                raise _Bad(row.line, "a closed rule must not start when it ends")
        holidays = self._rows(extra, "holidays", "a holiday", HOLIDAY_FIELDS)
        if holidays is not None:
            _unique(holidays, lambda r: r.values["day"], "holiday")
        turns: list[_TurnDaySpec] | None = None
        if "support_turns" in extra:
            turns = []
            for day_node in _sequence(extra["support_turns"], "support_turns"):
                row = _row(day_node, "a support-turn day", TURN_DAY_FIELDS, ("members",))
                _opens_before_closes(row, "opens", "closes")
                members = self._rows(row.extra, "members", "a support-turn member", MEMBER_FIELDS)
                for member in members or ():
                    agent, number = (
                        member.refs.get("agent_id"),
                        member.values.get("external_number", ""),
                    )
                    if (agent is None) == (number == ""):
                        raise _Bad(member.line, "a support-turn member needs agent or number, one")
                _unique(
                    [m for m in members or () if m.refs.get("agent_id")],
                    lambda m: m.refs["agent_id"].key,
                    "support-turn agent",
                )
                turns.append(_TurnDaySpec(row, members or []))
            _unique([t.row for t in turns], lambda r: r.values["weekday"], "support-turn weekday")
        reasons: dict[ReasonDirection, list[_ReasonSpec]] = {}
        if "reasons" in extra:
            tree = extra["reasons"]
            if not (isinstance(tree, yaml.ScalarNode) and tree.tag == _TAG + "null"):
                keys = [d.value for d in ReasonDirection]
                found = _mapping(tree, "reasons", keys, ())
                for direction in ReasonDirection:
                    if direction.value in found:
                        reasons[direction] = self._reasons(found[direction.value], 1)
        return _QueueSpec(
            item,
            self._refs(item, "locations", "location", 32),
            self._refs(item, "agents", "agent", 64),
            hours,
            closed,
            holidays,
            reasons,
            turns,
        )

    def _rows(
        self, extra: Mapping[str, Node], key: str, what: str, fields: Sequence[_Field]
    ) -> list[_Row] | None:
        if key not in extra:
            return None
        return [_row(n, what, fields) for n in _sequence(extra[key], key)]

    def _reasons(self, node: Node, depth: int) -> list[_ReasonSpec]:
        specs: list[_ReasonSpec] = []
        for child in _sequence(node, "reasons"):
            if depth > MAX_REASON_DEPTH:
                raise _Bad(child, f"a reason tree deeper than {MAX_REASON_DEPTH} levels")
            found = _mapping(child, "a reason", REASON_KEYS, ("label",))
            label = _field_value(found, "label", _text(_len(ReasonNode, "label"), empty=False))
            code = _field_value(found, "code", _text(_len(ReasonNode, "code")), "")
            children = self._reasons(found["children"], depth + 1) if "children" in found else []
            if not children and not code:
                # the last level is the reason code the agent must pick to save
                raise _Bad(child, f"reason {label!r} has no children, so it needs a code")
            specs.append(_ReasonSpec(_line(child), label, code, children))
        _unique(specs, lambda s: s.label, "reason label at this level")
        return specs

    # ---- IVR menus and customers

    def _menu(self, node: Node) -> _MenuSpec:
        item = _item(node, "an IVR menu", MENU_FIELDS, ("options",))
        if item.refs.get("default_queue_id") and item.refs.get("default_menu_id"):
            raise _Bad(item.line, "an IVR menu has one default: default_queue or default_menu")
        options = self._rows(item.extra, "options", "an IVR option", OPTION_FIELDS)
        for option in options or ():
            _exactly_one_target(option, "an IVR option")
        if options is not None:
            _unique(options, lambda r: r.values["digit"], "option digit")
        return _MenuSpec(item, options)

    def _customer(self, node: Node) -> _CustomerSpec:
        item = _item(node, "a customer", CUSTOMER_FIELDS, ("phones", "contacts"))
        phones: list[tuple[str, str]] | None = None
        if "phones" in item.extra:
            phones = []
            seen: dict[str, int] = {}
            for phone_node in _sequence(item.extra["phones"], "phones"):
                number = _phone(_len(CustomerPhone, "number"))(phone_node)
                digits = self._digits(phone_node, number)
                if digits in seen:
                    raise _Bad(phone_node, f"{number!r} is listed twice (line {seen[digits]})")
                seen[digits] = _line(phone_node)
                phones.append((number, digits))
        contacts = self._rows(item.extra, "contacts", "a contact person", CONTACT_FIELDS)
        for contact in contacts or ():
            # Absent keys of a child row mean the default: the row is replaced as a whole.
            phone = contact.values.setdefault("phone", "")
            contact.values.setdefault("email", "")
            digits = self._digits(contact.nodes["phone"], phone) if phone else ""
            contact.values["phone_digits"] = digits
        if contacts is not None:
            _unique(contacts, lambda r: r.values["name"], "contact person name")
        return _CustomerSpec(item, phones, contacts)

    def _digits(self, node: Node, number: str) -> str:
        try:
            return normalise_number(number, self.country_prefix)
        except ValueError as exc:
            raise _Bad(node, str(exc)) from None

    # ---- duplicates across a section

    def _duplicates(self, catalog: _Catalog) -> None:
        sections: list[tuple[str, Iterable[_Item]]] = [
            ("department", catalog.departments),
            ("location code", catalog.locations),
            ("pause type position", catalog.pause_types),
            ("voicemail box code", catalog.boxes),
            ("phone seat name", catalog.seats),
            ("agent login", (a.item for a in catalog.agents)),
            ("queue code", (q.item for q in catalog.queues)),
            ("holiday", catalog.holidays),
            ("IVR menu code", (m.item for m in catalog.menus)),
            ("DID number", catalog.dids),
            ("report schedule", catalog.reports),
            ("customer contract number", (c.item for c in catalog.customers)),
        ]
        for what, items in sections:
            try:
                _unique(list(items), lambda i: i.key, what)
            except _Bad as bad:
                self.problem(bad.line, bad.reason)
        try:
            _unique(catalog.pause_types, lambda i: i.values["name"], "pause type name")
        except _Bad as bad:
            self.problem(bad.line, bad.reason)


def _field_value(found: Mapping[str, Node], key: str, read: _Read, default: Any = ...) -> Any:
    if key not in found:
        return default
    try:
        return read(found[key])
    except _Bad as bad:
        raise _Bad(bad.line, f"{key}: {bad.reason}") from None


def _unique(rows: Sequence[Any], key: Callable[[Any], Any], what: str) -> None:
    first: dict[Any, int] = {}
    for row in rows:
        value = key(row)
        if value in first:
            shown = value.isoformat() if isinstance(value, date) else value
            if isinstance(shown, tuple):
                shown = " ".join(str(getattr(v, "value", v)) for v in shown)
            raise _Bad(row.line, f"duplicate {what} {shown!r} (first at line {first[value]})")
        first[value] = row.line


def _opens_before_closes(row: _Row, opens: str, closes: str) -> None:
    if row.values[opens] >= row.values[closes]:
        raise _Bad(
            row.line,
            f"{opens} {_time_text(row.values[opens])} is not before "
            f"{closes} {_time_text(row.values[closes])}",
        )


def _no_overlaps(rows: Sequence[_Row]) -> None:
    by_day: dict[int, list[_Row]] = defaultdict(list)
    for row in rows:
        by_day[row.values["weekday"]].append(row)
    for day_rows in by_day.values():
        day_rows.sort(key=lambda r: r.values["opens"])
        for before, after in itertools.pairwise(day_rows):
            if after.values["opens"] < before.values["closes"]:
                raise _Bad(
                    after.line, f"opening windows overlap on {WEEKDAYS[after.values['weekday']]}"
                )


def _exactly_one_target(row: _Row, what: str) -> None:
    targets = [attr for attr, ref in row.refs.items() if ref is not None]
    if len(targets) != 1:
        raise _Bad(row.line, f"{what} leads to exactly one of menu or queue")


def _country_prefix(session: Session, root: Node | None, source: str) -> str:
    """The centre's country prefix for numbers: the file's setting, else the database's."""
    if isinstance(root, yaml.MappingNode):
        for key_node, value_node in root.value:
            if key_node.value == "settings" and isinstance(value_node, yaml.MappingNode):
                for setting_key, setting_value in value_node.value:
                    if setting_key.value == "country_prefix":
                        try:
                            return _country_prefix_value(setting_value)
                        except _Bad as bad:
                            raise CatalogError(source, bad.line, bad.reason) from None
    stored = session.get(Setting, "country_prefix")
    if stored is not None and is_country_prefix(stored.value):
        return stored.value
    return DEFAULT_COUNTRY_PREFIX


# --------------------------------------------------------------------------- check: references

_KEY_COLUMNS: dict[str, tuple[type[Any], str]] = {
    "location": (Location, "code"),
    "customer": (Customer, "contract_number"),
    "department": (Department, "name"),
    "pause_type": (PauseType, "position"),
    "box": (VoicemailBox, "code"),
    "seat": (PhoneSeat, "name"),
    "agent": (Agent, "login"),
    "queue": (Queue, "code"),
    "menu": (IvrMenu, "code"),
}


class _Checker:
    """Step 2: every reference resolves (file or database), and rules needing both hold."""

    def __init__(self, session: Session, catalog: _Catalog, reader: _Reader) -> None:
        self.session = session
        self.catalog = catalog
        self.reader = reader
        self.known: dict[str, set[Any]] = {}

    def check(self) -> None:
        c = self.catalog
        file_keys: dict[str, Iterable[Any]] = {
            "location": (i.key for i in c.locations),
            "customer": (s.item.key for s in c.customers),
            "department": (i.key for i in c.departments),
            "pause_type": (i.key for i in c.pause_types),
            "box": (i.key for i in c.boxes),
            "seat": (i.key for i in c.seats),
            "agent": (s.item.key for s in c.agents),
            "queue": (s.item.key for s in c.queues),
            "menu": (s.item.key for s in c.menus),
        }
        for kind, keys in file_keys.items():
            model, attr = _KEY_COLUMNS[kind]
            stored = self.session.scalars(select(getattr(model, attr))).all()
            self.known[kind] = set(stored) | set(keys)
        for ref in self._all_refs():
            if ref.key not in self.known[ref.kind]:
                self.reader.problem(
                    ref.line,
                    f"unknown {_KIND_NOUN[ref.kind]} {ref.key!r} "
                    "(neither in this file nor in the database)",
                )
        self._customers()
        self._operators()
        self._pause_types()
        self._boxes()
        self._agents()

    def _all_refs(self) -> Iterable[_Ref]:
        c = self.catalog
        rows: list[_Row] = [*c.locations, *c.dids]
        rows += [s.item for s in c.agents]
        rows += [s.item for s in c.customers]
        for q in c.queues:
            rows.append(q.item)
            for turn in q.support_turns or ():
                rows += turn.members
        for m in c.menus:
            rows.append(m.item)
            rows += m.options or []
        for row in rows:
            yield from (ref for ref in row.refs.values() if ref is not None)
        for a in c.agents:
            yield from (*(a.seats or ()), *(a.boxes or ()), *(a.supervises or ()))
        for q in c.queues:
            yield from (*(q.locations or ()), *(q.agents or ()))

    def _customers(self) -> None:
        """A contract number is the customer's key: it must not be ambiguous in the database."""
        keys = [s.item.key for s in self.catalog.customers]
        counts: dict[str, int] = defaultdict(int)
        for chunk in _chunks(keys):
            for number in self.session.scalars(
                select(Customer.contract_number).where(Customer.contract_number.in_(chunk))
            ):
                counts[number] += 1
        for spec in self.catalog.customers:
            if counts[spec.item.key] > 1:
                self.reader.problem(
                    spec.item.line,
                    f"contract number {spec.item.key!r} matches {counts[spec.item.key]} "
                    "customers in the database; it cannot be updated by contract number",
                )

    def _operators(self) -> None:
        """A location's operator is one of that location's customers (R-2.7)."""
        in_file = {s.item.key: s.item.refs["location_id"] for s in self.catalog.customers}
        for location in self.catalog.locations:
            ref = location.refs.get("operator_customer_id")
            if ref is None:
                continue
            if ref.key in in_file:
                loc_ref = in_file[ref.key]
                owner = loc_ref.key if loc_ref is not None else None
            else:
                owner = self.session.scalar(
                    select(Location.code)
                    .join(Customer, Customer.location_id == Location.id)
                    .where(Customer.contract_number == ref.key)
                    .limit(1)
                )
            if owner is not None and owner != location.key:
                self.reader.problem(
                    ref.line,
                    f"operator {ref.key!r} is a customer of location {owner!r}, "
                    f"not of {location.key!r}",
                )

    def _pause_types(self) -> None:
        positions = {i.key for i in self.catalog.pause_types}
        stored = {
            p.name: p.position
            for p in self.session.scalars(select(PauseType))
            if p.position not in positions
        }
        for item in self.catalog.pause_types:
            other = stored.get(item.values["name"])
            if other is not None:
                self.reader.problem(
                    item.line,
                    f"pause type name {item.values['name']!r} is already used by position "
                    f"{other} in the database",
                )

    def _boxes(self) -> None:
        kinds: dict[str, BoxKind] = {
            code: kind
            for code, kind in self.session.execute(select(VoicemailBox.code, VoicemailBox.kind))
        }
        for item in self.catalog.boxes:
            kinds[item.key] = item.values.get("kind", kinds.get(item.key, BoxKind.VOICEMAIL))
        wanted = {
            "voicemail_box_id": (BoxKind.VOICEMAIL, "voicemail"),
            "callback_box_id": (BoxKind.CALLBACK, "callback"),
        }
        for queue in self.catalog.queues:
            for attr, (needed, noun) in wanted.items():
                ref = queue.item.refs.get(attr)
                if ref is None:
                    continue
                kind = kinds.get(str(ref.key))
                if kind not in (None, needed, BoxKind.COMBINED):
                    self.reader.problem(
                        ref.line,
                        f"box {ref.key!r} is a {kind} box; a queue's {noun} box must be of "
                        f"kind {noun} or combined (R-1.7, R-1.8)",
                    )

    def _agents(self) -> None:
        logins = [a.item.key for a in self.catalog.agents]
        stored: dict[str, Role] = {}
        for chunk in _chunks(logins):
            query = select(Agent.login, Agent.role).where(Agent.login.in_(chunk))
            stored.update(self.session.execute(query).all())
        for spec in self.catalog.agents:
            item = spec.item
            if item.key not in stored and spec.password is None and spec.password_hash is None:
                self.reader.problem(item.line, "a new agent needs password or password_hash")
            role = item.values.get("role", stored.get(item.key, Role.AGENT))
            if spec.supervises and role not in (Role.SUPERVISOR, Role.ADMIN):
                self.reader.problem(
                    spec.supervises[0].line,
                    f"only a supervisor or an admin supervises departments; {item.key!r} is "
                    f"{role.value!r} (R-4.6)",
                )


def _chunks(keys: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(keys), _CHUNK):
        yield keys[start : start + _CHUNK]


# --------------------------------------------------------------------------- write


class _Counts:
    """Records created and changed per section, by natural key (a record counts once)."""

    def __init__(self) -> None:
        self.created: dict[str, set[Any]] = defaultdict(set)
        self.changed: dict[str, set[Any]] = defaultdict(set)
        self.removed: dict[str, int] = defaultdict(int)

    def create(self, section: str, key: Any) -> None:
        self.created[section].add(key)

    def change(self, section: str, key: Any, changed: bool = True) -> None:
        if changed and key not in self.created[section]:
            self.changed[section].add(key)

    def summary(self) -> LoadSummary:
        kinds = (*KINDS, "reason_nodes")
        return LoadSummary(
            {k: len(self.created[k]) for k in kinds},
            {k: len(self.changed[k]) for k in kinds},
            {k: self.removed[k] for k in kinds},
        )


class _Ids:
    """Natural key -> id per kind, read from the database once and kept up to date."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.maps: dict[str, dict[Any, int]] = {}

    def _map(self, kind: str) -> dict[Any, int]:
        if kind not in self.maps:
            model, attr = _KEY_COLUMNS[kind]
            rows = self.session.execute(select(getattr(model, attr), model.id)).all()
            self.maps[kind] = dict(rows)
        return self.maps[kind]

    def get(self, ref: _Ref | None) -> int | None:
        return None if ref is None else self._map(ref.kind)[ref.key]

    def put(self, kind: str, key: Any, id_: int) -> None:
        self._map(kind)[key] = id_


def _assign(obj: Any, values: Mapping[str, Any]) -> bool:
    """Set the attributes that differ; True when any did."""
    changed = False
    for attr, value in values.items():
        if getattr(obj, attr) != value:
            setattr(obj, attr, value)
            changed = True
    return changed


@dataclass
class _Upserted:
    item: _Item
    obj: Any
    created: bool
    values: dict[str, Any]


class _Writer:
    """Step 3: upsert in dependency order. Nothing here refuses a file any more."""

    def __init__(self, session: Session, catalog: _Catalog, counts: _Counts) -> None:
        self.session = session
        self.catalog = catalog
        self.counts = counts
        self.ids = _Ids(session)

    def write(self) -> None:
        c = self.catalog
        self._settings()
        self._upsert("departments", "department", Department, "name", c.departments)
        # Locations first without their operator: the operator is one of their customers.
        self._upsert(
            "locations", "location", Location, "code", c.locations, later=("operator_customer_id",)
        )
        self._customers()
        self._operators()
        self._pause_types()
        self._upsert("voicemail_boxes", "box", VoicemailBox, "code", c.boxes)
        self._upsert("phone_seats", "seat", PhoneSeat, "name", c.seats)
        self._agents()
        self._queues()
        self._holidays()
        self._menus()
        self._upsert("dids", "", Did, "number", c.dids)
        self._reports()

    # ---- generic upsert

    def _existing(
        self, model: type[Any], attr: str, keys: Sequence[Any], *options: Any
    ) -> dict[Any, Any]:
        found: dict[Any, Any] = {}
        column = getattr(model, attr)
        for chunk in _chunks(list(keys)):
            query = select(model).where(column.in_(chunk)).order_by(model.id).options(*options)
            for obj in self.session.scalars(query):
                found.setdefault(getattr(obj, attr), obj)
        return found

    def _upsert(
        self,
        section: str,
        kind: str,
        model: type[Any],
        key_attr: str,
        items: Sequence[_Item],
        *,
        later: Sequence[str] = (),
        options: Sequence[Any] = (),
        collections: Sequence[str] = (),
    ) -> list[_Upserted]:
        """Create or update ``items`` by ``key_attr``; references in ``later`` wait.

        ``collections`` (relationships of ``model``) start empty on a new object, so that
        filling them after the flush does not first load them from the database.
        """
        existing = self._existing(model, key_attr, [i.key for i in items], *options)
        done: list[_Upserted] = []
        for item in items:
            values = dict(item.values)
            values.update(
                (attr, self.ids.get(ref)) for attr, ref in item.refs.items() if attr not in later
            )
            obj = existing.get(item.key)
            if obj is None:
                obj = model(**values, **{name: [] for name in collections})
                self.session.add(obj)
                self.counts.create(section, item.key)
                done.append(_Upserted(item, obj, True, values))
            else:
                self.counts.change(section, item.key, _assign(obj, values))
                done.append(_Upserted(item, obj, False, values))
        self.session.flush()
        for entry in done:
            if entry.created:
                # The ORM inserts a column's default for an explicit None (a queue's
                # callback_offer_after_s: null would become 60): put the nulls back.
                _assign(entry.obj, {a: v for a, v in entry.values.items() if v is None})
        if kind:
            for entry in done:
                self.ids.put(kind, entry.item.key, entry.obj.id)
        return done

    def _links(
        self, model: type[Any], owner: str, owner_id: int, target: str, targets: Iterable[Any]
    ) -> bool:
        """Make the association rows of ``owner_id`` exactly ``targets``; True if they changed."""
        owner_col, target_col = getattr(model, owner), getattr(model, target)
        current = set(self.session.scalars(select(target_col).where(owner_col == owner_id)))
        wanted = set(targets)
        if current == wanted:
            return False
        gone = current - wanted
        if gone:
            self.session.execute(
                delete(model).where(owner_col == owner_id, target_col.in_(sorted(gone)))
            )
        for target_id in sorted(wanted - current):
            self.session.add(model(**{owner: owner_id, target: target_id}))
        return True

    # ---- settings, pause types, global holidays, report schedules

    def _settings(self) -> None:
        for key, (value, _) in sorted(self.catalog.settings.items()):
            stored = self.session.get(Setting, key)
            if stored is None:
                self.session.add(Setting(key=key, value=value))
                self.counts.create("settings", key)
            else:
                self.counts.change("settings", key, _assign(stored, {"value": value}))

    def _pause_types(self) -> None:
        items = self.catalog.pause_types
        existing = self._existing(PauseType, "position", [i.key for i in items])
        # Names are unique: park the names that change first, so two types can swap names.
        parked = [
            existing[i.key]
            for i in items
            if i.key in existing and existing[i.key].name != i.values["name"]
        ]
        for pause_type in parked:
            pause_type.name = f"~renaming {pause_type.id}~"
        if parked:
            self.session.flush()
        self._upsert("pause_types", "pause_type", PauseType, "position", items)

    def _holidays(self) -> None:
        query = select(Holiday).where(Holiday.queue_id.is_(None)).order_by(Holiday.id)
        stored: dict[date, Holiday] = {}
        for holiday in self.session.scalars(query):
            stored.setdefault(holiday.day, holiday)
        for item in self.catalog.holidays:
            found = stored.get(item.key)
            if found is None:
                self.session.add(Holiday(queue_id=None, **item.values))
                self.counts.create("holidays", item.key)
            else:
                self.counts.change("holidays", item.key, _assign(found, item.values))

    def _reports(self) -> None:
        stored = {
            (r.report, r.period, r.format, r.email_to)
            for r in self.session.scalars(select(ReportSchedule))
        }
        for item in self.catalog.reports:
            if item.key not in stored:
                self.session.add(ReportSchedule(**item.values))
                self.counts.create("report_schedules", item.key)

    # ---- customers and location operators

    def _customers(self) -> None:
        specs = self.catalog.customers
        done = self._upsert(
            "customers",
            "customer",
            Customer,
            "contract_number",
            [s.item for s in specs],
            options=(selectinload(Customer.phones), selectinload(Customer.contacts)),
            collections=("phones", "contacts"),
        )
        for spec, entry in zip(specs, done, strict=True):
            changed = False
            if spec.phones is not None:
                changed |= self._phones(entry.obj, spec.phones)
            if spec.contacts is not None:
                changed |= self._contacts(entry.obj, spec.contacts)
            self.counts.change("customers", entry.item.key, changed)
        self.session.flush()

    def _phones(self, customer: Customer, phones: list[tuple[str, str]]) -> bool:
        if [(p.number, p.digits) for p in customer.phones] == phones:
            return False
        if customer.phones:
            customer.phones.clear()
            self.session.flush()  # (customer, position) is unique: the old rows go first
        customer.phones.extend(
            CustomerPhone(position=i, number=number, digits=digits)
            for i, (number, digits) in enumerate(phones, start=1)
        )
        return True

    def _contacts(self, customer: Customer, rows: list[_Row]) -> bool:
        """Match contact persons by name: one a call refers to keeps its id (R-2.6)."""
        by_name: dict[str, ContactPerson] = {}
        for stored in customer.contacts:
            by_name.setdefault(stored.name, stored)
        changed = False
        matched: list[ContactPerson] = []
        for position, row in enumerate(rows, start=1):
            values = {**row.values, "position": position}
            contact = by_name.get(values["name"])
            if contact is None:
                customer.contacts.append(ContactPerson(**values))
                changed = True
            else:
                changed |= _assign(contact, values)
                matched.append(contact)
        absent = [
            c for c in customer.contacts if c.id is not None and all(c is not m for m in matched)
        ]
        if absent:
            referenced = set(
                self.session.scalars(
                    select(Call.contact_person_id).where(
                        Call.contact_person_id.in_([c.id for c in absent])
                    )
                )
            )
            for contact in absent:
                # A contact person that calls refer to stays (calls are history).
                if contact.id not in referenced:
                    customer.contacts.remove(contact)
                    changed = True
        return changed

    def _operators(self) -> None:
        for item in self.catalog.locations:
            if "operator_customer_id" not in item.refs:
                continue
            location = self.session.get(Location, self.ids.get(_Ref("location", item.key, 0)))
            assert location is not None
            changed = _assign(
                location, {"operator_customer_id": self.ids.get(item.refs["operator_customer_id"])}
            )
            self.counts.change("locations", item.key, changed)
        self.session.flush()

    # ---- agents

    def _agents(self) -> None:
        specs = self.catalog.agents
        existing = self._existing(Agent, "login", [s.item.key for s in specs])
        for spec in specs:
            # Set before the insert (password_hash is NOT NULL); a plain password that still
            # matches the stored hash keeps it, so reloading the same file changes nothing.
            agent = existing.get(spec.item.key)
            if spec.password_hash is not None:
                spec.item.values["password_hash"] = spec.password_hash
            elif spec.password is not None:
                if agent is not None and verify_password(spec.password, agent.password_hash):
                    spec.item.values["password_hash"] = agent.password_hash
                else:
                    spec.item.values["password_hash"] = hash_password(spec.password)
        done = self._upsert("agents", "agent", Agent, "login", [s.item for s in specs])
        for spec, entry in zip(specs, done, strict=True):
            links: list[tuple[type[Any], str, list[_Ref] | None]] = [
                (SeatRight, "seat_id", spec.seats),
                (BoxRight, "box_id", spec.boxes),
                (SupervisorDepartment, "department_id", spec.supervises),
            ]
            changed = False
            for model, target, refs in links:
                if refs is not None:
                    targets = [self.ids.get(r) for r in refs]
                    changed |= self._links(model, "agent_id", entry.obj.id, target, targets)
            self.counts.change("agents", entry.item.key, changed)
        self.session.flush()

    # ---- queues

    def _queues(self) -> None:
        specs = self.catalog.queues
        done = self._upsert("queues", "queue", Queue, "code", [s.item for s in specs])
        for spec, entry in zip(specs, done, strict=True):
            queue_id = entry.obj.id
            changed = False
            if spec.locations is not None:
                targets = [self.ids.get(r) for r in spec.locations]
                changed |= self._links(QueueLocation, "queue_id", queue_id, "location_id", targets)
            if spec.agents is not None:  # member agents = queue rights
                targets = [self.ids.get(r) for r in spec.agents]
                changed |= self._links(QueueRight, "queue_id", queue_id, "agent_id", targets)
            if spec.hours is not None:
                changed |= self._replace_rows(
                    BusinessHours, queue_id, spec.hours, ("weekday", "opens", "closes")
                )
            if spec.closed_rules is not None:
                changed |= self._replace_rows(
                    ClosedRule, queue_id, spec.closed_rules, ("weekday", "starts", "ends", "action")
                )
            if spec.holidays is not None:
                changed |= self._replace_rows(Holiday, queue_id, spec.holidays, ("day", "name"))
            if spec.support_turns is not None:
                changed |= self._support_turns(queue_id, spec.support_turns)
            for direction, tree in spec.reasons.items():
                changed |= self._reason_tree(queue_id, direction, tree)
            self.counts.change("queues", entry.item.key, changed)
        self.session.flush()

    def _replace_rows(
        self, model: type[Any], queue_id: int, rows: list[_Row], attrs: Sequence[str]
    ) -> bool:
        """Replace a queue's rows of ``model`` by ``rows`` unless they are the same already."""

        def order(values: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple((v is not None, v) for v in values)

        stored = list(self.session.scalars(select(model).where(model.queue_id == queue_id)))
        current = sorted((tuple(getattr(o, a) for a in attrs) for o in stored), key=order)
        wanted = sorted((tuple(r.values.get(a) for a in attrs) for r in rows), key=order)
        if current == wanted:
            return False
        for obj in stored:
            self.session.delete(obj)
        self.session.flush()  # unique (queue, day) and the like: the old rows go first
        for row in rows:
            self.session.add(model(queue_id=queue_id, **row.values))
        return True

    def _support_turns(self, queue_id: int, days: list[_TurnDaySpec]) -> bool:
        def members_of(rows: list[_Row]) -> list[tuple[int, str, int]]:
            return [
                (
                    self.ids.get(m.refs.get("agent_id")) or 0,
                    m.values.get("external_number", ""),
                    m.values.get("priority", 1),
                )
                for m in rows
            ]

        wanted = sorted(
            (
                d.row.values["weekday"],
                d.row.values["opens"],
                d.row.values["closes"],
                sorted(members_of(d.members)),
            )
            for d in days
        )
        stored = list(
            self.session.scalars(
                select(SupportTurnDay)
                .where(SupportTurnDay.queue_id == queue_id)
                .options(selectinload(SupportTurnDay.members))
            )
        )
        current = sorted(
            (
                d.weekday,
                d.opens,
                d.closes,
                sorted((m.agent_id or 0, m.external_number, m.priority) for m in d.members),
            )
            for d in stored
        )
        if current == wanted:
            return False
        for day in stored:
            self.session.delete(day)  # the ORM cascade takes the members along
        self.session.flush()
        for spec in days:
            day = SupportTurnDay(queue_id=queue_id, **spec.row.values)
            day.members = [
                SupportTurnMember(agent_id=agent_id or None, external_number=number, priority=p)
                for agent_id, number, p in members_of(spec.members)
            ]
            self.session.add(day)
        return True

    def _reason_tree(
        self, queue_id: int, direction: ReasonDirection, tree: list[_ReasonSpec]
    ) -> bool:
        """Match nodes by (parent, label), i.e. by their path of labels (R-2.8).

        A matched node keeps its id, so calls that chose it stay valid. A stored node the
        file no longer has is removed, unless a call refers to it (or to a node below it):
        then it stays, because a call's reason is history.
        """
        stored = list(
            self.session.scalars(
                select(ReasonNode)
                .where(ReasonNode.queue_id == queue_id, ReasonNode.direction == direction)
                .order_by(ReasonNode.id)
            )
        )
        by_id = {n.id: n for n in stored}
        by_parent_label: dict[tuple[int | None, str], ReasonNode] = {}
        for node in stored:
            by_parent_label.setdefault((node.parent_id, node.label), node)
        changed = False
        seen: set[int] = set()

        def depth(node: ReasonNode) -> int:
            parent = by_id.get(node.parent_id) if node.parent_id is not None else None
            return 1 if parent is None else 1 + depth(parent)

        def visit(specs: list[_ReasonSpec], parent_id: int | None, path: tuple[str, ...]) -> None:
            nonlocal changed
            for position, spec in enumerate(specs):
                key = (queue_id, direction.value, *path, spec.label)
                values = {"position": position, "code": spec.code}
                node = by_parent_label.get((parent_id, spec.label))
                if node is None:
                    node = ReasonNode(
                        queue_id=queue_id,
                        direction=direction,
                        parent_id=parent_id,
                        label=spec.label,
                        **values,
                    )
                    self.session.add(node)
                    self.session.flush()  # its children need its id
                    self.counts.create("reason_nodes", key)
                    changed = True
                elif _assign(node, values):
                    self.counts.change("reason_nodes", key)
                    changed = True
                seen.add(node.id)
                visit(spec.children, node.id, (*path, spec.label))

        visit(tree, None, ())
        absent = [n for n in stored if n.id not in seen]
        if not absent:
            return changed
        referenced = set(
            self.session.scalars(
                select(Call.reason_node_id).where(Call.reason_node_id.in_([n.id for n in absent]))
            )
        )
        keep: set[int] = set()
        for node_id in referenced:
            current = by_id.get(node_id) if node_id is not None else None
            while current is not None and current.id not in seen:
                keep.add(current.id)
                current = by_id.get(current.parent_id) if current.parent_id is not None else None
        doomed = [n for n in absent if n.id not in keep]
        # Deepest first with a flush per level: the database cascades a parent's delete to
        # its children, and the ORM must never delete a row that is already gone.
        for level in sorted({depth(n) for n in doomed}, reverse=True):
            for node in doomed:
                if depth(node) == level:
                    self.session.delete(node)
            self.session.flush()
        self.counts.removed["reason_nodes"] += len(doomed)
        return changed or bool(doomed)

    # ---- IVR menus

    def _menus(self) -> None:
        specs = self.catalog.menus
        done = self._upsert(
            "ivr_menus",
            "menu",
            IvrMenu,
            "code",
            [s.item for s in specs],
            later=("default_menu_id",),  # menus refer to each other: all exist first
            options=(selectinload(IvrMenu.options),),
            collections=("options",),
        )
        for spec, entry in zip(specs, done, strict=True):
            menu, item = entry.obj, entry.item
            changed = False
            if "default_menu_id" in item.refs:
                default = self.ids.get(item.refs["default_menu_id"])
                changed |= _assign(menu, {"default_menu_id": default})
            if spec.options is not None:
                wanted = sorted(
                    (
                        r.values["digit"],
                        self.ids.get(r.refs.get("queue_id")),
                        self.ids.get(r.refs.get("submenu_id")),
                    )
                    for r in spec.options
                )
                current = sorted((o.digit, o.queue_id, o.submenu_id) for o in menu.options)
                if current != wanted:
                    if menu.options:
                        menu.options.clear()
                        self.session.flush()  # (menu, digit) is unique: the old rows go first
                    menu.options.extend(
                        IvrOption(digit=d, queue_id=q, submenu_id=s) for d, q, s in wanted
                    )
                    changed = True
            self.counts.change("ivr_menus", item.key, changed)
        self.session.flush()


# --------------------------------------------------------------------------- export


class _FlowMap(dict):  # type: ignore[type-arg]
    """A mapping exported on one line: ``{weekday: mon, opens: '08:00', closes: '17:00'}``."""


class _FlowList(list):  # type: ignore[type-arg]
    """A list exported on one line: ``[BRNO, OSTRAVA]``."""


class _Dumper(yaml.SafeDumper):
    """Block style with list items indented under their key; short records on one line."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)


_Dumper.add_representer(
    _FlowMap, lambda d, v: d.represent_mapping(_TAG + "map", list(v.items()), flow_style=True)
)
_Dumper.add_representer(
    _FlowList, lambda d, v: d.represent_sequence(_TAG + "seq", list(v), flow_style=True)
)


def _by(*attrs: str) -> Callable[[Any], tuple[Any, ...]]:
    # Sorted in Python, not by ORDER BY: SQLite and PostgreSQL collate text differently, and
    # the same data must export to the same text on both.
    def key(obj: Any) -> tuple[Any, ...]:
        return tuple(getattr(obj, a) for a in attrs)

    return key


class _Exporter:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.names: dict[str, dict[int, Any]] = {}
        for kind, (model, attr) in _KEY_COLUMNS.items():
            query = select(model.id, getattr(model, attr))
            self.names[kind] = dict(self.session.execute(query).all())

    def _fields(self, obj: Any, fields: Sequence[_Field], *, child: bool = False) -> dict:
        """A record's keys in the format's order; a child row leaves out default values."""
        out: dict[str, Any] = {}
        for f in fields:
            value = getattr(obj, f.attr)
            if f.ref is not None:
                value = None if value is None else self.names[f.ref][value]
            elif value is not None:
                value = f.write(value)
            if child and f.omit is not ... and value == f.omit:
                continue
            out[f.key] = value
        return out

    def _all(self, model: type[Any], key: Callable[[Any], Any]) -> list[Any]:
        return sorted(self.session.scalars(select(model)), key=key)

    def _grouped(
        self, model: type[Any], column: str, key: Callable[[Any], Any]
    ) -> dict[int, list[Any]]:
        groups: dict[int, list[Any]] = defaultdict(list)
        for obj in self._all(model, key):
            groups[getattr(obj, column)].append(obj)
        return groups

    def _link_names(self, model: type[Any], owner: str, target: str, kind: str) -> dict:
        groups: dict[int, list[Any]] = defaultdict(list)
        query = select(getattr(model, owner), getattr(model, target))
        for owner_id, target_id in self.session.execute(query):
            groups[owner_id].append(self.names[kind][target_id])
        return {k: _FlowList(sorted(v)) for k, v in groups.items()}

    def export(self) -> dict[str, Any]:
        flow = self._flow
        data: dict[str, Any] = {}
        data["settings"] = {s.key: s.value for s in self._all(Setting, _by("key"))}
        data["departments"] = flow(Department, DEPARTMENT_FIELDS, _by("name"))
        data["locations"] = [
            self._fields(x, LOCATION_FIELDS) for x in self._all(Location, _by("code"))
        ]
        data["pause_types"] = flow(PauseType, PAUSE_TYPE_FIELDS, _by("position"))
        data["voicemail_boxes"] = [
            self._fields(b, BOX_FIELDS) for b in self._all(VoicemailBox, _by("code"))
        ]
        data["phone_seats"] = flow(PhoneSeat, SEAT_FIELDS, _by("name"))
        data["agents"] = self._agents()
        data["queues"] = self._queues()
        data["holidays"] = [
            _FlowMap(self._fields(h, HOLIDAY_FIELDS))
            for h in self._all(Holiday, _by("day", "name", "id"))
            if h.queue_id is None
        ]
        data["ivr_menus"] = self._menus()
        data["dids"] = flow(Did, DID_FIELDS, _by("number"))
        data["report_schedules"] = flow(
            ReportSchedule, REPORT_FIELDS, _by("report", "period", "format", "email_to")
        )
        data["customers"] = self._customers()
        return data

    def _flow(
        self, model: type[Any], fields: Sequence[_Field], key: Callable[[Any], Any]
    ) -> list[_FlowMap]:
        return [_FlowMap(self._fields(obj, fields)) for obj in self._all(model, key)]

    def _agents(self) -> list[dict[str, Any]]:
        seats = self._link_names(SeatRight, "agent_id", "seat_id", "seat")
        boxes = self._link_names(BoxRight, "agent_id", "box_id", "box")
        supervises = self._link_names(
            SupervisorDepartment, "agent_id", "department_id", "department"
        )
        out = []
        for agent in self._all(Agent, _by("login")):
            record = self._fields(agent, AGENT_FIELDS)
            record["password_hash"] = agent.password_hash  # never a plain password
            record["seats"] = seats.get(agent.id, _FlowList())
            record["boxes"] = boxes.get(agent.id, _FlowList())
            record["supervises"] = supervises.get(agent.id, _FlowList())
            out.append(record)
        return out

    def _queues(self) -> list[dict[str, Any]]:
        locations = self._link_names(QueueLocation, "queue_id", "location_id", "location")
        agents = self._link_names(QueueRight, "queue_id", "agent_id", "agent")
        hours = self._grouped(BusinessHours, "queue_id", _by("weekday", "opens", "closes", "id"))
        closed = self._grouped(
            ClosedRule,
            "queue_id",
            lambda r: (r.weekday is not None, r.weekday or 0, r.starts, r.ends, r.action, r.id),
        )
        holidays = self._grouped(Holiday, "queue_id", _by("day", "id"))
        days = self._grouped(SupportTurnDay, "queue_id", _by("weekday", "id"))
        agent_names = self.names["agent"]
        members = self._grouped(
            SupportTurnMember,
            "day_id",
            lambda m: (-m.priority, agent_names.get(m.agent_id, ""), m.external_number, m.id),
        )
        nodes = self._grouped(ReasonNode, "queue_id", _by("position", "id"))
        out = []
        for queue in self._all(Queue, _by("code")):
            record = self._fields(queue, QUEUE_FIELDS)
            record["locations"] = locations.get(queue.id, _FlowList())
            record["agents"] = agents.get(queue.id, _FlowList())
            record["hours"] = self._children(hours.get(queue.id, []), HOURS_FIELDS)
            record["closed_rules"] = self._children(closed.get(queue.id, []), CLOSED_RULE_FIELDS)
            record["holidays"] = self._children(holidays.get(queue.id, []), HOLIDAY_FIELDS)
            record["reasons"] = self._reasons(nodes.get(queue.id, []))
            record["support_turns"] = [
                {
                    **self._fields(day, TURN_DAY_FIELDS, child=True),
                    "members": self._children(members.get(day.id, []), MEMBER_FIELDS),
                }
                for day in days.get(queue.id, [])
            ]
            out.append(record)
        return out

    def _children(self, rows: Iterable[Any], fields: Sequence[_Field]) -> list[_FlowMap]:
        return [_FlowMap(self._fields(row, fields, child=True)) for row in rows]

    def _reasons(self, nodes: list[ReasonNode]) -> dict[str, Any]:
        children: dict[tuple[ReasonDirection, int | None], list[ReasonNode]] = defaultdict(list)
        for node in nodes:  # ordered by position, id already
            children[(node.direction, node.parent_id)].append(node)

        def tree(direction: ReasonDirection, parent_id: int | None) -> list[Any]:
            out: list[Any] = []
            for node in children.get((direction, parent_id), []):
                below = tree(direction, node.id)
                record: dict[str, Any] = {"label": node.label}
                if node.code:
                    record["code"] = node.code
                if below:
                    record["children"] = below
                out.append(record if below else _FlowMap(record))
            return out

        return {d.value: tree(d, None) for d in ReasonDirection}

    def _menus(self) -> list[dict[str, Any]]:
        options = self._grouped(IvrOption, "menu_id", _by("digit"))
        out = []
        for menu in self._all(IvrMenu, _by("code")):
            record = self._fields(menu, MENU_FIELDS)
            record["options"] = self._children(options.get(menu.id, []), OPTION_FIELDS)
            out.append(record)
        return out

    def _customers(self) -> list[dict[str, Any]]:
        customers = self._all(Customer, _by("contract_number", "id"))
        first: dict[str, int] = {}
        for customer in customers:
            number = customer.contract_number
            if not number.strip():
                raise CatalogError(
                    "<database>",
                    0,
                    f"customer #{customer.id} {customer.name!r} has no contract number, "
                    "the customer's key in the catalog; give it one first",
                )
            if number in first:
                raise CatalogError(
                    "<database>",
                    0,
                    f"customers #{first[number]} and #{customer.id} share the contract number "
                    f"{number!r}, the customer's key in the catalog; make them unique first",
                )
            first[number] = customer.id
        phones = self._grouped(CustomerPhone, "customer_id", _by("position", "id"))
        contacts = self._grouped(ContactPerson, "customer_id", _by("position", "id"))
        out = []
        for customer in customers:
            record = self._fields(customer, CUSTOMER_FIELDS)
            record["phones"] = _FlowList(p.number for p in phones.get(customer.id, []))
            record["contacts"] = self._children(contacts.get(customer.id, []), CONTACT_FIELDS)
            out.append(record)
        return out
