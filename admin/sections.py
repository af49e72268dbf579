"""The administration pages' sections and rules, pure (R-6.2, R-7.4).

Each section of ``/admin`` is a section of the catalog (``docs/catalog-yaml.md``): the
pages edit the same records, keyed the same way, checked by the same reader and checker as
``hotline load``. This module says which sections there are, in which order, what their
key is, which keys a list shows, and who may do what:

- an admin reads and changes everything;
- a supervisor reads (never changes), and sees only what belongs to the departments he
  supervises (R-4.6; the rule per section: ``admin.store.visible_keys``,
  ``docs/administration.md``);
- agents and back-office staff see nothing of ``/admin``.

It also says what an audit entry records of a change: the record before and after, each
key that differs (:func:`changed_keys`); a password hash is never written there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain.enums import BoxKind, ClosedAction, ReportFormat, ReportPeriod, Role
from domain.prompts import PROMPT_LANGUAGES
from domain.texts import N_


@dataclass(frozen=True)
class Section:
    """One section of ``/admin``: a catalog section, its title and how a list shows it."""

    name: str  # the catalog's section (``queues``)
    title: str  # N_-marked
    key: str  # the natural key's YAML key (``code``); a report schedule: all four
    columns: tuple[str, ...]  # the keys a list shows
    deletable: bool = False  # a record may be deleted (when nothing refers to it by id)
    searchable: bool = False  # tens of thousands of records: search and pages


SECTIONS: tuple[Section, ...] = (
    Section("queues", N_("Queues"), "code", ("code", "name", "active", "ring_timeout_s")),
    Section("agents", N_("Agents"), "login", ("login", "name", "role", "department", "active")),
    Section(
        "phone_seats", N_("Seats"), "name", ("name", "dial_string", "restricted"), deletable=True
    ),
    Section("ivr_menus", N_("IVR menus"), "code", ("code", "name", "prompt"), deletable=True),
    Section("dids", N_("DIDs"), "number", ("number", "name", "menu", "queue"), deletable=True),
    Section(
        "voicemail_boxes",
        N_("Voicemail and callback boxes"),
        "code",
        ("code", "name", "kind"),
        deletable=True,
    ),
    Section("pause_types", N_("Pause types"), "position", ("position", "name", "paid", "active")),
    Section("departments", N_("Departments"), "name", ("name",), deletable=True),
    Section("locations", N_("Locations"), "code", ("code", "name", "operator"), deletable=True),
    Section(
        "customers",
        N_("Customers"),
        "contract_number",
        ("contract_number", "name", "location", "active"),
        searchable=True,
    ),
    Section("holidays", N_("Holidays"), "day", ("day", "name"), deletable=True),
    Section("prompts", N_("Prompts' words"), "name", ("name", "en", "cs")),
    Section(
        "report_schedules",
        N_("Report schedules"),
        "report",
        ("report", "period", "format", "email_to"),
        deletable=True,
    ),
)
"""In the order of the ``/admin`` page (the issue's order: queues first)."""

BY_NAME: Mapping[str, Section] = {s.name: s for s in SECTIONS}
SETTINGS_TITLE = N_("Centre settings")
# A report schedule's key: all its keys (db.catalog.fields.schedule_key).
REPORT_KEYS = (
    "report",
    "period",
    "format",
    "email_to",
    "owner",
    "queue",
    "send_at",
    "language",
    "first_day",
    "last_day",
    "send_on",
)
SECRET_KEYS = frozenset({"password", "password_hash"})
CHANGED_SECRET = "(changed)"

PAGE_SIZE = 50  # records per page of a searchable section

PICKERS: Mapping[str, str] = {
    "seats": "seat",
    "boxes": "box",
    "supervises": "department",
    "locations": "location",
    "agents": "agent",
}
"""The list keys a page picks from check boxes (key -> the kind of record listed), instead
of typing YAML: an agent's rights to seats and boxes and supervised departments, a queue's
locations and member agents."""
CHOICES: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("voicemail_boxes", "kind"): tuple(k.value for k in BoxKind),
    ("agents", "role"): tuple(r.value for r in Role),
    ("agents", "language"): ("", *PROMPT_LANGUAGES),
    ("queues", "closed_action"): tuple(a.value for a in ClosedAction),
    ("dids", "language"): ("", *PROMPT_LANGUAGES),
    ("report_schedules", "period"): tuple(p.value for p in ReportPeriod),
    ("report_schedules", "format"): tuple(f.value for f in ReportFormat),
}
"""The single keys a page offers as a list of the values the format allows (section, key)
-> values; "" is the default (the browser's or the centre's language)."""
ROWS: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("queues", "hours"): ("weekday", "opens", "closes"),
    ("queues", "closed_rules"): ("weekday", "starts", "ends", "action"),
    ("queues", "holidays"): ("day", "name"),
    ("ivr_menus", "options"): ("digit", "queue", "menu"),
    ("customers", "contacts"): ("name", "phone", "email"),
    ("customers", "phones"): ("number",),
    ("queues", "support_turns"): ("weekday", "opens", "closes", "agent", "number", "priority"),
}
"""The lists of flat children a page edits as a table, a row per child (section, key) ->
the children's keys, instead of YAML text."""
ELSEWHERE = frozenset({("queues", "reasons")})
"""Keys a record's form does not edit (section, key): a queue's reason trees have their own
editor (``/admin/reasons?queue=Q``); the form links to it, and saving the form leaves them
as they are (a key a record leaves out is kept, as in a file)."""
VALUE_ROWS = frozenset({("customers", "phones")})
"""Tables whose rows are plain values (a customer's numbers), not mappings."""
NEW_ROWS: Mapping[str, int] = {"hours": 7, "options": 5}
"""Empty rows an empty table offers for new children (a week of hours); otherwise three."""
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ROW_CHOICES: Mapping[str, tuple[str, ...]] = {
    "weekday": ("", *WEEKDAYS),  # "": none (a closed rule: every day)
    "action": ("", *(a.value for a in ClosedAction)),
}


def rows_yaml(rows: list[dict[str, str]], *, plain: bool = False) -> str:
    """A table's rows as the YAML list a file would have; an empty cell is left out, a row
    whose typed cells are empty is no child (whatever its lists still say), no rows at all
    is ``[]`` (the list cleared)."""
    lines = []
    for row in rows:
        if not any(v for k, v in row.items() if k not in ROW_CHOICES):
            continue
        if plain:  # a list of values: the row's one cell
            lines.append("- " + json.dumps(next(iter(row.values())), ensure_ascii=False))
            continue
        items = [f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in row.items() if v]
        lines.append("- {" + ", ".join(items) + "}")
    return "\n".join(lines) + "\n" if lines else "[]"


TURNS = ("queues", "support_turns")
"""The support-turn rota (R-1.11) is a table too, a row per member of a day's turn: the rows
with the same weekday, opens and closes are one day (a row of a day with no members names
the day only); :func:`turn_rows` and :func:`turns_yaml` go between the two."""
DAY_KEYS = ("weekday", "opens", "closes")
MEMBER_KEYS = ("agent", "number", "priority")
_INTEGER = re.compile(r"-?[0-9]{1,9}")


def turn_rows(value: Any) -> list[dict[str, str]] | None:
    """The rota as stored (a list of days, each with its members) as the table's rows;
    None when it is no such list (the form then shows the YAML text)."""
    if value is None:
        return []
    if not isinstance(value, list):
        return None
    rows: list[dict[str, str]] = []
    for day in value:
        members = day.get("members") if isinstance(day, dict) else None
        if not isinstance(day, dict) or not isinstance(members or [], list):
            return None
        cells = {k: _cell(day.get(k)) for k in DAY_KEYS}
        for member in members or [{}]:
            if not isinstance(member, dict):
                return None
            rows.append({**cells, **{k: _cell(member.get(k)) for k in MEMBER_KEYS}})
    return rows


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def turns_yaml(rows: list[dict[str, str]]) -> str:
    """The table's rows as the rota's YAML, as a file has it: a day per weekday, opens and
    closes met (in the order first met), its members in the rows' order; a row whose
    typed cells are all empty is none. Each row that counts is one line of the text, in
    the order of :func:`turn_rows` of it, so a problem's line tells its row."""
    days: dict[tuple[str, str, str], list[dict[str, str]]] = {}
    for row in rows:
        if not any(v for k, v in row.items() if k not in ROW_CHOICES):
            continue
        day = days.setdefault(tuple(row.get(k, "") for k in DAY_KEYS), [])  # type: ignore[arg-type]
        if any(row.get(k) for k in MEMBER_KEYS):
            day.append(row)
    lines = []
    for key, members in days.items():
        head = "- {" + ", ".join(_pair(k, v) for k, v in zip(DAY_KEYS, key, strict=True) if v)
        if not members:
            lines.append(head + "}")
            continue
        for index, member in enumerate(members):
            pairs = ", ".join(_pair(k, member[k]) for k in MEMBER_KEYS if member.get(k))
            start = head + (", " if head != "- {" else "") + "members: [" if index == 0 else "    "
            end = "]}" if index == len(members) - 1 else ","
            lines.append(start + "{" + pairs + "}" + end)
    return "\n".join(lines) + "\n" if lines else "[]"


def _pair(key: str, value: str) -> str:
    """``key: value`` as YAML: a priority that is a whole number plain (a file's number),
    anything else quoted text."""
    if key == "priority" and _INTEGER.fullmatch(value):
        return f"{key}: {value}"
    return f"{key}: {json.dumps(value, ensure_ascii=False)}"


SUGGESTED = frozenset({"department", "location", "box", "pause_type", "queue", "menu", "customer"})
"""The kinds of a single reference whose input suggests the existing records."""
SEARCHED = frozenset({"agent", "customer"})
"""The kinds a form does not offer whole (tens of thousands of customers): a search box
finds them, the first :data:`PICK_LIMIT` matches are offered, and those the record names."""
PICK_LIMIT = 50


def picked_yaml(values: list[str]) -> str:
    """The check boxes ticked as the YAML list a file would have (``["101", "Desk 7"]``)."""
    return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in values) + "]"


def may_read(role: Role) -> bool:
    return role in (Role.ADMIN, Role.SUPERVISOR)


def may_write(role: Role) -> bool:
    """Only an admin changes the centre (R-7.4); a supervisor reads."""
    return role is Role.ADMIN


def record_key(section: Section, record: Mapping[str, Any]) -> str:
    """The natural key of a record as text: what the page's URL and the audit name it by."""
    if section.name == "report_schedules":
        return " ".join(str(record[k]) for k in REPORT_KEYS if record.get(k) not in (None, ""))
    return str(record.get(section.key, ""))


def audit_target(section: Section, key: str) -> str:
    """``queue:TECH``-like: the section without its plural, and the key."""
    return f"{section.name}:{key}"


def without_secrets(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The record as an audit entry may keep it: a password hash never is."""
    if record is None:
        return None
    return {k: (CHANGED_SECRET if k in SECRET_KEYS else v) for k, v in record.items()}


def changed_keys(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[str]:
    """The keys whose value differs between ``before`` and ``after`` (all of them for a new
    or deleted record), in the record's order."""
    keys = list(after or {}) + [k for k in before or {} if k not in (after or {})]
    return [k for k in keys if (before or {}).get(k) != (after or {}).get(k)]


def page_count(total: int, size: int = PAGE_SIZE) -> int:
    return max(1, -(-total // size))


KEY_LABELS: Mapping[str, str] = {
    "name": N_("Name"),
    "code": N_("Code"),
    "operator": N_("Operator (customer's contract number)"),
    "position": N_("Position (1-9)"),
    "paid": N_("Paid"),
    "active": N_("Active"),
    "kind": N_("Kind"),
    "greeting_prompt": N_("Greeting prompt"),
    "max_message_s": N_("Longest message (s)"),
    "silence_s": N_("Silence that ends a message (s)"),
    "email_to": N_("E-mail recipients"),
    "dial_string": N_("Dial string"),
    "restricted": N_("Restricted (offered only with a seat right)"),
    "login": N_("Login"),
    "role": N_("Role"),
    "department": N_("Department"),
    "language": N_("Language"),
    "selected_location": N_("Selected location"),
    "password": N_("New password (empty: unchanged)"),
    "seats": N_("Rights to seats"),
    "boxes": N_("Rights to boxes"),
    "supervises": N_("Supervised departments"),
    "ring_timeout_s": N_("Ring timeout (s)"),
    "overflow_enabled": N_("Overflow to all agents"),
    "overflow_after_s": N_("Overflow after (s)"),
    "callback_offer_after_s": N_("Offer a callback after (s; empty: never)"),
    "callback_offer_repeat_s": N_("Repeat the offer every (s)"),
    "voicemail_box": N_("Voicemail box"),
    "callback_box": N_("Callback box"),
    "country_prefix": N_("Country prefix"),
    "caller_id_number": N_("Caller ID for outbound calls"),
    "closed_on_weekends": N_("Closed on weekends"),
    "closed_action": N_("When closed"),
    "hours_prompt": N_("Opening-hours prompt"),
    "moh_class": N_("Music on hold"),
    "recording_enabled": N_("Record calls"),
    "missed_call_pause_type": N_("Pause after a missed call (position)"),
    "support_turns_enabled": N_("Support-turn rota in use"),
    "locations": N_("Locations"),
    "agents": N_("Member agents"),
    "hours": N_("Opening hours"),
    "closed_rules": N_("Closed rules"),
    "holidays": N_("Holidays"),
    "reasons": N_("Reason trees"),
    "support_turns": N_("Support-turn rota"),
    "day": N_("Day"),
    "weekday": N_("Weekday"),
    "opens": N_("Opens"),
    "closes": N_("Closes"),
    "starts": N_("Starts"),
    "ends": N_("Ends"),
    "action": N_("Action"),
    "digit": N_("Key"),
    "agent": N_("Agent"),
    "priority": N_("Priority"),
    "phone": N_("Phone number"),
    "email": N_("E-mail address"),
    "prompt": N_("Prompt"),
    "invalid_prompt": N_("Prompt after a wrong key"),
    "timeout_s": N_("Wait for a key (s)"),
    "max_retries": N_("Retries"),
    "default_queue": N_("Default queue"),
    "default_menu": N_("Default menu"),
    "options": N_("Options"),
    "number": N_("Number"),
    "menu": N_("IVR menu"),
    "queue": N_("Queue"),
    "en": N_("Words in English"),
    "cs": N_("Words in Czech"),
    "report": N_("Report"),
    "period": N_("Period"),
    "format": N_("Format"),
    "contract_number": N_("Contract number"),
    "location": N_("Location"),
    "address": N_("Address"),
    "pseudo": N_("Pseudo-customer (outbound calls)"),
    "note": N_("Note"),
    "phones": N_("Phone numbers"),
    "contacts": N_("Contact persons"),
    "time_zone": N_("Time zone"),
    "prompt_language": N_("Language callers hear"),
    "service_level_s": N_("Service-level threshold (s)"),
    "centre_name": N_("Centre name"),
}
"""How a page names each key of the catalog (the YAML key is shown beside it)."""


def duration_text(seconds: int | None) -> str:
    """``1:02:03`` for a duration in seconds; "" while it goes on (no end yet)."""
    if seconds is None:
        return ""
    hours, rest = divmod(max(0, seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
