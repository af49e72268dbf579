"""Step 1 of a load: from YAML text to a :class:`Catalog`, checked in itself (R-6.2).

The text is composed into nodes that keep their line numbers; every mapping is checked for
unknown, duplicate and missing keys, every value for its type and range, every list of
children for its own rules. Problems are collected per record (one at most each, every
record visited) with their lines; nothing here looks at the database except for the
centre's country prefix.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from sqlalchemy.orm import Session

from db.catalog.fields import (
    AGENT_EXTRA,
    AGENT_FIELDS,
    BOX_FIELDS,
    CLOSED_RULE_FIELDS,
    CONTACT_FIELDS,
    CUSTOMER_FIELDS,
    DEPARTMENT_FIELDS,
    DID_FIELDS,
    HOLIDAY_FIELDS,
    HOURS_FIELDS,
    KINDS,
    LOCATION_FIELDS,
    MEMBER_FIELDS,
    MENU_FIELDS,
    ONE_OFF_KEYS,
    OPTION_FIELDS,
    PAUSE_TYPE_FIELDS,
    PROMPT_KEYS,
    QUEUE_EXTRA,
    QUEUE_FIELDS,
    REASON_KEYS,
    REPORT_FIELDS,
    SEAT_FIELDS,
    TURN_DAY_FIELDS,
    Field,
    schedule_key,
)
from db.catalog.keys import MAX_PAUSE_TYPES, Ref, read_ref
from db.catalog.problems import Bad, CatalogError, Node, Reason, field_reason, line_of, why
from db.catalog.values import (
    TAG,
    WEEKDAYS,
    Read,
    column_length,
    describe,
    read_country_prefix,
    read_language,
    read_phone,
    read_prompt_name,
    read_text,
    scalar,
    time_text,
)
from db.models import Agent, CustomerPhone, ReasonNode, Setting
from db.passwords import is_password_hash
from domain import report_schedules as schedule_rules
from domain.centre import DEFAULT_COUNTRY_PREFIX
from domain.enums import ReasonDirection, ReportPeriod
from domain.numbers import NumberError, is_country_prefix, normalise_number
from domain.prompts import MAX_PROMPT_TEXT, PROMPT_LANGUAGE_SETTING, PROMPT_LANGUAGES
from domain.refusals import BadInputError
from domain.texts import N_

MAX_REASON_DEPTH = 10


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


# The implicit types: (tag, pattern, first characters). A page's typed-in value is read with
# the same ones (implicit_tag), so that "20" is the integer a file's 20 is.
IMPLICIT_TYPES: tuple[tuple[str, re.Pattern[str], list[str]], ...] = (
    (TAG + "null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]),
    (TAG + "bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")),
    (TAG + "int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")),
    (TAG + "timestamp", re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"), list("0123456789")),
)
for _tag, _pattern, _first in IMPLICIT_TYPES:
    _CatalogLoader.add_implicit_resolver(_tag, _pattern, _first)


def implicit_tag(text: str) -> str:
    """The tag a plain (unquoted) YAML scalar ``text`` gets from the catalog's resolvers."""
    for tag, pattern, _ in IMPLICIT_TYPES:
        if pattern.match(text):
            return tag
    return TAG + "str"


SYNTAX_ERROR = N_("YAML syntax error: %(reason)s")


def compose(text: str, source: str) -> Node | None:
    """The YAML ``text`` as a node tree with line marks (None for an empty document)."""
    try:
        return yaml.compose(text, Loader=_CatalogLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        reason = exc.problem or exc.context or "unreadable YAML"
        raise CatalogError(source, line, why(SYNTAX_ERROR, reason=reason)) from None
    except yaml.YAMLError as exc:  # e.g. a control character the reader refuses
        raise CatalogError(source, 1, why(SYNTAX_ERROR, reason=str(exc))) from None


# --------------------------------------------------------------------------- records


@dataclass
class Row:
    """A record as read: column values and references for the keys the file gave."""

    line: int
    values: dict[str, Any]
    refs: dict[str, Ref | None]
    extra: dict[str, Node]  # keys a kind reads itself (lists of children, passwords)
    nodes: dict[str, Node] = field(default_factory=dict)  # every given key's value node


@dataclass
class Item(Row):
    """A record of a section, with its natural key."""

    key: Any = None


@dataclass
class ReasonSpec:
    line: int
    label: str
    code: str
    children: list[ReasonSpec]


@dataclass
class TurnDaySpec:
    row: Row
    members: list[Row]


@dataclass
class CustomerSpec:
    item: Item
    phones: list[tuple[str, str]] | None  # (as written, digits)
    contacts: list[Row] | None


@dataclass
class AgentSpec:
    item: Item
    password: str | None
    password_hash: str | None
    seats: list[Ref] | None
    boxes: list[Ref] | None
    supervises: list[Ref] | None


@dataclass
class QueueSpec:
    item: Item
    locations: list[Ref] | None
    agents: list[Ref] | None
    hours: list[Row] | None
    closed_rules: list[Row] | None
    holidays: list[Row] | None
    reasons: dict[ReasonDirection, list[ReasonSpec]]
    support_turns: list[TurnDaySpec] | None


@dataclass
class MenuSpec:
    item: Item
    options: list[Row] | None


@dataclass
class PromptSpec:
    """A prompt's words (R-6.4): the languages the file gives, each replacing its text."""

    line: int
    key: str  # the prompt's name
    texts: dict[str, str]


@dataclass
class Catalog:
    """A file's records as read, each checked in itself; what the checker and writer take."""

    settings: dict[str, tuple[str, int]] = field(default_factory=dict)
    departments: list[Item] = field(default_factory=list)
    locations: list[Item] = field(default_factory=list)
    pause_types: list[Item] = field(default_factory=list)
    boxes: list[Item] = field(default_factory=list)
    seats: list[Item] = field(default_factory=list)
    agents: list[AgentSpec] = field(default_factory=list)
    queues: list[QueueSpec] = field(default_factory=list)
    holidays: list[Item] = field(default_factory=list)
    menus: list[MenuSpec] = field(default_factory=list)
    dids: list[Item] = field(default_factory=list)
    prompts: list[PromptSpec] = field(default_factory=list)
    reports: list[Item] = field(default_factory=list)
    customers: list[CustomerSpec] = field(default_factory=list)

    def sizes(self) -> dict[str, int]:
        """Records per section of the document, for the sections the file names."""
        sizes = {
            "settings": len(self.settings),
            "departments": len(self.departments),
            "locations": len(self.locations),
            "pause_types": len(self.pause_types),
            "voicemail_boxes": len(self.boxes),
            "phone_seats": len(self.seats),
            "agents": len(self.agents),
            "queues": len(self.queues),
            "holidays": len(self.holidays),
            "ivr_menus": len(self.menus),
            "dids": len(self.dids),
            "prompts": len(self.prompts),
            "report_schedules": len(self.reports),
            "customers": len(self.customers),
        }
        return {kind: n for kind, n in sizes.items() if n}


# --------------------------------------------------------------------------- read


def _mapping(node: Node, what: str, keys: Sequence[str], required: Sequence[str]) -> dict:
    """The keys of a mapping node: unknown, duplicate and missing keys refused."""
    if not isinstance(node, yaml.MappingNode):
        raise Bad(
            node,
            N_("expected %(what)s as a mapping (key: value), got %(shape)s"),
            what=why(what),
            shape=_shape(node),
        )
    found: dict[str, Node] = {}
    for key_node, value_node in node.value:
        key = scalar(key_node)
        if not isinstance(key, str):
            raise Bad(
                key_node,
                N_("%(what)s: a key must be text, got %(value)s"),
                what=why(what),
                value=describe(key),
            )
        if key in found:
            first = line_of(found[key][0])
            raise Bad(
                key_node,
                N_("duplicate key %(key)r in %(what)s (first at line %(first)s)"),
                key=key,
                what=why(what),
                first=first,
            )
        if key not in keys:
            allowed = ", ".join(keys)
            raise Bad(
                key_node,
                N_("unknown key %(key)r in %(what)s; allowed keys: %(allowed)s"),
                key=key,
                what=why(what),
                allowed=allowed,
            )
        found[key] = (key_node, value_node)
    missing = [k for k in required if k not in found]
    if missing:
        raise Bad(
            node,
            N_("%(what)s needs %(keys)s"),
            what=why(what),
            keys=" and ".join(repr(k) for k in missing),
        )
    return {k: v for k, (_, v) in found.items()}


def _shape(node: Node) -> Reason:
    if isinstance(node, yaml.SequenceNode):
        return why(N_(N_("a list")))
    if isinstance(node, yaml.MappingNode):
        return why(N_(N_("a mapping")))
    return describe(scalar(node))


def _sequence(node: Node, what: str) -> list[Node]:
    if isinstance(node, yaml.ScalarNode) and node.tag == TAG + "null":
        return []  # "hours:" with nothing after it is an empty list
    if not isinstance(node, yaml.SequenceNode):
        raise Bad(
            node,
            N_("expected %(what)s as a list, got %(shape)s"),
            what=why(what),
            shape=_shape(node),
        )
    return list(node.value)


def _row(node: Node, what: str, fields: Sequence[Field], extra: Sequence[str] = ()) -> Row:
    keys = [f.key for f in fields] + list(extra)
    found = _mapping(node, what, keys, [f.key for f in fields if f.required])
    row = Row(line_of(node), {}, {}, {k: found[k] for k in extra if k in found}, found)
    for f in fields:
        if f.key not in found:
            continue
        try:
            value = f.read(found[f.key])
        except Bad as bad:
            raise Bad(bad.line, field_reason(f.key, bad.why)) from None
        if f.ref is not None:
            row.refs[f.attr] = value
        else:
            row.values[f.attr] = value
    return row


def _item(node: Node, what: str, fields: Sequence[Field], extra: Sequence[str] = ()) -> Item:
    row = _row(node, what, fields, extra)
    key_attr = fields[0].attr
    return Item(row.line, row.values, row.refs, row.extra, row.nodes, key=row.values[key_attr])


def _one_off(item: Item) -> None:
    """A one-off names its first and last day, in order; the others name no days."""
    values, nodes = item.values, item.nodes
    if values["period"] is not ReportPeriod.ONCE:
        for key in ONE_OFF_KEYS:
            if key in nodes and scalar(nodes[key]) is not None:
                raise Bad(nodes[key], schedule_rules.ONLY_ONE_OFF, field=key)
        return
    for key, attr in (("first_day", "starts_on"), ("last_day", "ends_on")):
        if values.get(attr) is None:
            raise Bad(nodes.get(key, item.line), schedule_rules.FILL_IN, field=key)
    try:
        schedule_rules.check_one_off(
            values["starts_on"], values["ends_on"], values.get("send_on"), ("last_day", "send_on")
        )
    except BadInputError as refused:
        raise Bad(nodes[str(refused.params["field"])], refused.message, **refused.params) from None


class Reader:
    """Step 1: from nodes to specs, one problem per record at most, all records visited."""

    def __init__(self, source: str, country_prefix: str) -> None:
        self.source = source
        self.country_prefix = country_prefix
        self.problems: list[tuple[int, Reason]] = []

    def problem(self, line: int, reason: Reason) -> None:
        self.problems.append((line, reason))

    def raise_problems(self) -> None:
        if self.problems:
            unique = {(line, str(reason)): (line, reason) for line, reason in self.problems}
            ordered = [unique[k] for k in sorted(unique)]
            line, reason = ordered[0]
            raise CatalogError(self.source, line, reason, ordered)

    def read(self, root: Node | None) -> Catalog:
        catalog = Catalog()
        if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == TAG + "null"):
            return catalog
        try:
            sections = _mapping(root, N_("the catalog"), KINDS, ())
        except Bad as bad:
            self.problem(bad.line, bad.why)
            return catalog
        if "settings" in sections:
            self._settings(sections["settings"], catalog)
        simple: list[tuple[str, str, Sequence[Field], list[Item]]] = [
            ("departments", N_("a department"), DEPARTMENT_FIELDS, catalog.departments),
            ("locations", N_("a location"), LOCATION_FIELDS, catalog.locations),
            ("pause_types", N_("a pause type"), PAUSE_TYPE_FIELDS, catalog.pause_types),
            ("voicemail_boxes", N_("a voicemail box"), BOX_FIELDS, catalog.boxes),
            ("phone_seats", N_("a phone seat"), SEAT_FIELDS, catalog.seats),
            ("holidays", N_("a holiday"), HOLIDAY_FIELDS, catalog.holidays),
            ("dids", N_("a DID"), DID_FIELDS, catalog.dids),
            ("report_schedules", N_("a report schedule"), REPORT_FIELDS, catalog.reports),
        ]
        for section, what, fields, items in simple:
            nodes = self._records(sections[section], section) if section in sections else []
            for index, node in enumerate(nodes):
                if section == "pause_types" and index == MAX_PAUSE_TYPES:
                    self.problem(
                        line_of(node),
                        why(N_("more than %(max)s pause types (R-2.4)"), max=MAX_PAUSE_TYPES),
                    )
                    break
                self._attempt(items, self._simple, node, what, fields)
        readers: list[tuple[str, Callable[[Node], Any], list[Any]]] = [
            ("agents", self._agent, catalog.agents),
            ("queues", self._queue, catalog.queues),
            ("ivr_menus", self._menu, catalog.menus),
            ("prompts", self._prompt, catalog.prompts),
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
        except Bad as bad:
            self.problem(bad.line, bad.why)

    def _records(self, node: Node, section: str) -> list[Node]:
        try:
            return _sequence(node, section)
        except Bad as bad:
            self.problem(bad.line, bad.why)
            return []

    def _settings(self, node: Node, catalog: Catalog) -> None:
        if isinstance(node, yaml.ScalarNode) and node.tag == TAG + "null":
            return
        if not isinstance(node, yaml.MappingNode):
            self.problem(
                line_of(node),
                why(N_("expected settings as a mapping, got %(shape)s"), shape=_shape(node)),
            )
            return
        for key_node, value_node in node.value:
            try:
                key = read_text(column_length(Setting, "key"), empty=False)(key_node)
                if key in catalog.settings:
                    first = catalog.settings[key][1]
                    raise Bad(
                        key_node,
                        N_("duplicate setting %(key)r (first at line %(first)s)"),
                        key=key,
                        first=first,
                    )
                value = scalar(value_node)
                if value is None or isinstance(value, date):
                    raise Bad(
                        value_node,
                        field_reason(
                            key, why(N_("expected text, got %(value)s"), value=describe(value))
                        ),
                    )
                text = str(value).lower() if isinstance(value, bool) else str(value)
                if key == "country_prefix":
                    read_country_prefix(value_node)
                if key == PROMPT_LANGUAGE_SETTING:
                    read_language()(value_node)
                if key == "time_zone":
                    try:
                        ZoneInfo(text)
                    except (ZoneInfoNotFoundError, ValueError):
                        raise Bad(
                            value_node, N_("unknown time zone %(value)r"), value=text
                        ) from None
                catalog.settings[key] = (text, line_of(key_node))
            except Bad as bad:
                self.problem(bad.line, bad.why)

    def _simple(self, node: Node, what: str, fields: Sequence[Field]) -> Item:
        item = _item(node, what, fields)
        if fields is DID_FIELDS:
            _exactly_one_target(item, what)
        if fields is REPORT_FIELDS:
            _one_off(item)
            item.key = schedule_key(item.values, item.refs)
        return item

    # ---- agents

    def _agent(self, node: Node) -> AgentSpec:
        item = _item(node, N_("an agent"), AGENT_FIELDS, AGENT_EXTRA)
        password = password_hash = None
        if "password" in item.extra and "password_hash" in item.extra:
            raise Bad(item.extra["password_hash"], N_("give password or password_hash, not both"))
        if "password" in item.extra:
            password = read_text(200, empty=False)(item.extra["password"])
        if "password_hash" in item.extra:
            password_hash = read_text(column_length(Agent, "password_hash"), empty=False)(
                item.extra["password_hash"]
            )
            if not is_password_hash(password_hash):
                raise Bad(
                    item.extra["password_hash"],
                    N_(
                        "password_hash is not a Hotline scrypt hash (give a plain one as password:)"
                    ),
                )
        return AgentSpec(
            item,
            password,
            password_hash,
            self._refs(item, "seats", "seat", 64),
            self._refs(item, "boxes", "box", 32),
            self._refs(item, "supervises", "department", 100),
        )

    def _refs(self, item: Row, key: str, kind: str, max_len: int) -> list[Ref] | None:
        if key not in item.extra:
            return None
        refs: list[Ref] = []
        seen: dict[Any, int] = {}
        for node in _sequence(item.extra[key], key):
            ref = read_ref(kind, max_len, nullable=False)(node)
            assert ref is not None
            if ref.key in seen:
                raise Bad(
                    node,
                    N_("%(key)s: %(value)r is listed twice (first at line %(first)s)"),
                    key=key,
                    value=ref.key,
                    first=seen[ref.key],
                )
            seen[ref.key] = ref.line
            refs.append(ref)
        return refs

    # ---- queues

    def _queue(self, node: Node) -> QueueSpec:
        item = _item(node, N_("a queue"), QUEUE_FIELDS, QUEUE_EXTRA)
        extra = item.extra
        hours = self._rows(extra, "hours", N_("an opening window"), HOURS_FIELDS)
        if hours is not None:
            for row in hours:
                _opens_before_closes(row, "opens", "closes")
            _no_overlaps(hours)
        closed = self._rows(extra, "closed_rules", N_("a closed rule"), CLOSED_RULE_FIELDS)
        for row in closed or ():
            if row.values["starts"] == row.values["ends"]:
                # a window may wrap midnight (20:00-06:00), but an empty one is a mistake
                raise Bad(row.line, N_(N_("a closed rule must not start when it ends")))
        holidays = self._rows(extra, "holidays", N_("a holiday"), HOLIDAY_FIELDS)
        if holidays is not None:
            _unique(holidays, lambda r: r.values["day"], N_("holiday"))
        turns: list[TurnDaySpec] | None = None
        if "support_turns" in extra:
            turns = []
            for day_node in _sequence(extra["support_turns"], "support_turns"):
                row = _row(day_node, N_("a support-turn day"), TURN_DAY_FIELDS, ("members",))
                _opens_before_closes(row, "opens", "closes")
                members = self._rows(
                    row.extra, "members", N_("a support-turn member"), MEMBER_FIELDS
                )
                for member in members or ():
                    agent, number = (
                        member.refs.get("agent_id"),
                        member.values.get("external_number", ""),
                    )
                    if (agent is None) == (number == ""):
                        raise Bad(
                            member.line, N_("a support-turn member needs agent or number, one")
                        )
                _unique(
                    [m for m in members or () if m.refs.get("agent_id")],
                    lambda m: m.refs["agent_id"].key,
                    N_("support-turn agent"),
                )
                turns.append(TurnDaySpec(row, members or []))
            _unique(
                [t.row for t in turns], lambda r: r.values["weekday"], N_("support-turn weekday")
            )
        reasons: dict[ReasonDirection, list[ReasonSpec]] = {}
        if "reasons" in extra:
            tree = extra["reasons"]
            if not (isinstance(tree, yaml.ScalarNode) and tree.tag == TAG + "null"):
                keys = [d.value for d in ReasonDirection]
                found = _mapping(tree, "reasons", keys, ())
                for direction in ReasonDirection:
                    if direction.value in found:
                        reasons[direction] = self._reasons(found[direction.value], 1)
        return QueueSpec(
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
        self, extra: Mapping[str, Node], key: str, what: str, fields: Sequence[Field]
    ) -> list[Row] | None:
        if key not in extra:
            return None
        return [_row(n, what, fields) for n in _sequence(extra[key], key)]

    def _reasons(self, node: Node, depth: int) -> list[ReasonSpec]:
        specs: list[ReasonSpec] = []
        for child in _sequence(node, "reasons"):
            if depth > MAX_REASON_DEPTH:
                raise Bad(
                    child,
                    N_("a reason tree deeper than %(max)s levels"),
                    max=MAX_REASON_DEPTH,
                )
            found = _mapping(child, N_("a reason"), REASON_KEYS, ("label",))
            label = _field_value(
                found, "label", read_text(column_length(ReasonNode, "label"), empty=False)
            )
            code = _field_value(found, "code", read_text(column_length(ReasonNode, "code")), "")
            children = self._reasons(found["children"], depth + 1) if "children" in found else []
            if not children and not code:
                # the last level is the reason code the agent must pick to save
                raise Bad(
                    child, N_("reason %(label)r has no children, so it needs a code"), label=label
                )
            specs.append(ReasonSpec(line_of(child), label, code, children))
        _unique(specs, lambda s: s.label, N_("reason label at this level"))
        return specs

    # ---- IVR menus and customers

    def _menu(self, node: Node) -> MenuSpec:
        item = _item(node, N_("an IVR menu"), MENU_FIELDS, ("options",))
        if item.refs.get("default_queue_id") and item.refs.get("default_menu_id"):
            raise Bad(item.line, N_("an IVR menu has one default: default_queue or default_menu"))
        options = self._rows(item.extra, "options", N_("an IVR option"), OPTION_FIELDS)
        for option in options or ():
            _exactly_one_target(option, N_("an IVR option"))
        if options is not None:
            _unique(options, lambda r: r.values["digit"], N_("option digit"))
        return MenuSpec(item, options)

    def _prompt(self, node: Node) -> PromptSpec:
        found = _mapping(node, N_("a prompt"), PROMPT_KEYS, ("name",))
        name = _field_value(found, "name", read_prompt_name)
        text = read_text(MAX_PROMPT_TEXT, empty=False)
        texts = {
            language: _field_value(found, language, text)
            for language in PROMPT_LANGUAGES
            if language in found
        }
        if not texts:
            raise Bad(
                node,
                N_("a prompt needs its text in %(languages)s"),
                languages=" or ".join(PROMPT_LANGUAGES),
            )
        return PromptSpec(line_of(node), name, texts)

    def _customer(self, node: Node) -> CustomerSpec:
        item = _item(node, N_("a customer"), CUSTOMER_FIELDS, ("phones", "contacts"))
        phones: list[tuple[str, str]] | None = None
        if "phones" in item.extra:
            phones = []
            seen: dict[str, int] = {}
            for phone_node in _sequence(item.extra["phones"], "phones"):
                number = read_phone(column_length(CustomerPhone, "number"))(phone_node)
                digits = self._digits(phone_node, number)
                if digits in seen:
                    raise Bad(
                        phone_node,
                        N_("%(value)r is listed twice (line %(first)s)"),
                        value=number,
                        first=seen[digits],
                    )
                seen[digits] = line_of(phone_node)
                phones.append((number, digits))
        contacts = self._rows(item.extra, "contacts", N_("a contact person"), CONTACT_FIELDS)
        for contact in contacts or ():
            # Absent keys of a child row mean the default: the row is replaced as a whole.
            phone = contact.values.setdefault("phone", "")
            contact.values.setdefault("email", "")
            digits = self._digits(contact.nodes["phone"], phone) if phone else ""
            contact.values["phone_digits"] = digits
        if contacts is not None:
            _unique(contacts, lambda r: r.values["name"], N_("contact person name"))
        return CustomerSpec(item, phones, contacts)

    def _digits(self, node: Node, number: str) -> str:
        try:
            return normalise_number(number, self.country_prefix)
        except NumberError as exc:
            raise Bad(node, exc.template, **exc.params) from None

    # ---- duplicates across a section

    def _duplicates(self, catalog: Catalog) -> None:
        sections: list[tuple[str, Iterable[Item | PromptSpec]]] = [
            (N_("department"), catalog.departments),
            (N_("location code"), catalog.locations),
            (N_("pause type position"), catalog.pause_types),
            (N_("voicemail box code"), catalog.boxes),
            (N_("phone seat name"), catalog.seats),
            (N_("agent login"), (a.item for a in catalog.agents)),
            (N_("queue code"), (q.item for q in catalog.queues)),
            (N_("holiday"), catalog.holidays),
            (N_("IVR menu code"), (m.item for m in catalog.menus)),
            (N_("DID number"), catalog.dids),
            (N_("prompt"), catalog.prompts),
            (N_("report schedule"), catalog.reports),
            (N_("customer contract number"), (c.item for c in catalog.customers)),
        ]
        for what, items in sections:
            try:
                _unique(list(items), lambda i: i.key, what)
            except Bad as bad:
                self.problem(bad.line, bad.why)
        try:
            _unique(catalog.pause_types, lambda i: i.values["name"], N_("pause type name"))
        except Bad as bad:
            self.problem(bad.line, bad.why)


def _field_value(found: Mapping[str, Node], key: str, read: Read, default: Any = ...) -> Any:
    if key not in found:
        return default
    try:
        return read(found[key])
    except Bad as bad:
        raise Bad(bad.line, field_reason(key, bad.why)) from None


def _unique(rows: Sequence[Any], key: Callable[[Any], Any], what: str) -> None:
    first: dict[Any, int] = {}
    for row in rows:
        value = key(row)
        if value in first:
            shown = value.isoformat() if isinstance(value, date) else value
            if isinstance(shown, tuple):
                shown = " ".join(str(getattr(v, "value", v)) for v in shown)
            raise Bad(
                row.line,
                N_("duplicate %(what)s %(value)r (first at line %(first)s)"),
                what=why(what),
                value=shown,
                first=first[value],
            )
        first[value] = row.line


def _opens_before_closes(row: Row, opens: str, closes: str) -> None:
    if row.values[opens] >= row.values[closes]:
        raise Bad(
            row.line,
            N_("%(opens)s %(opens_at)s is not before %(closes)s %(closes_at)s"),
            opens=opens,
            opens_at=time_text(row.values[opens]),
            closes=closes,
            closes_at=time_text(row.values[closes]),
        )


def _no_overlaps(rows: Sequence[Row]) -> None:
    by_day: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        by_day[row.values["weekday"]].append(row)
    for day_rows in by_day.values():
        day_rows.sort(key=lambda r: r.values["opens"])
        for before, after in itertools.pairwise(day_rows):
            if after.values["opens"] < before.values["closes"]:
                raise Bad(
                    after.line,
                    N_("opening windows overlap on %(weekday)s"),
                    weekday=WEEKDAYS[after.values["weekday"]],
                )


def _exactly_one_target(row: Row, what: str) -> None:
    targets = [attr for attr, ref in row.refs.items() if ref is not None]
    if len(targets) != 1:
        raise Bad(row.line, N_("%(what)s leads to exactly one of menu or queue"), what=why(what))


def centre_country_prefix(session: Session, root: Node | None, source: str) -> str:
    """The centre's country prefix for numbers: the file's setting, else the database's."""
    if isinstance(root, yaml.MappingNode):
        for key_node, value_node in root.value:
            if key_node.value == "settings" and isinstance(value_node, yaml.MappingNode):
                for setting_key, setting_value in value_node.value:
                    if setting_key.value == "country_prefix":
                        try:
                            return read_country_prefix(setting_value)
                        except Bad as bad:
                            raise CatalogError(source, bad.line, bad.reason) from None
    stored = session.get(Setting, "country_prefix")
    if stored is not None and is_country_prefix(stored.value):
        return stored.value
    return DEFAULT_COUNTRY_PREFIX
