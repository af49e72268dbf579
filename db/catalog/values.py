"""One YAML value: from its line-marked scalar node to a Python value, and back.

The readers (``read_*``) take a node and return the value or raise :class:`Bad` with the
node's line; the ones with parameters are factories that return such a reader. The writers
turn a stored value back into what the export writes.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from datetime import date, time
from typing import Any, TypeAlias

import yaml

from db.catalog.problems import Bad, Node, Reason, why
from db.models import PhoneSeat
from domain import report_schedules as schedule_rules
from domain.numbers import is_country_prefix
from domain.prompts import MAX_PROMPT_NAME, PROMPT_LANGUAGES, is_prompt_name
from domain.refusals import BadInputError
from domain.texts import N_

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


TAG = "tag:yaml.org,2002:"


def scalar(node: Node) -> Any:
    """The Python value of a scalar node; ``Bad`` for a list, a mapping or an odd tag."""
    if isinstance(node, yaml.SequenceNode):
        raise Bad(node, N_("expected a single value, got a list"))
    if isinstance(node, yaml.MappingNode):
        raise Bad(node, N_("expected a single value, got a mapping"))
    tag, value = node.tag, node.value
    if tag == TAG + "str":
        return value
    if tag == TAG + "null":
        return None
    if tag == TAG + "bool":
        return value.lower() == "true"
    if tag == TAG + "int":
        try:
            return int(value)
        except ValueError:
            raise Bad(node, N_("%(value)r is not an integer"), value=value) from None
    if tag == TAG + "timestamp":
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise Bad(node, N_("%(value)r is not a valid date (YYYY-MM-DD)"), value=value) from None
    raise Bad(node, N_("unsupported YAML tag %(tag)s"), tag=tag)


def describe(value: Any) -> Reason:
    """A value as a message names it: ``the integer 5``, ``the text 'x'``, ``null``."""
    if value is None:
        return why(N_("null"))
    if isinstance(value, bool):
        return why(N_("the boolean %(value)s"), value=str(value).lower())
    if isinstance(value, int):
        return why(N_("the integer %(value)s"), value=value)
    if isinstance(value, date):
        return why(N_("the date %(value)s"), value=value.isoformat())
    return why(N_("the text %(value)r"), value=value)


# --------------------------------------------------------------------------- readers

Read: TypeAlias = Callable[[Node], Any]


TEXT = why(N_("text"))


def read_text(max_len: int | None = None, *, empty: bool = True, nul: Reason = TEXT) -> Read:
    def read(node: Node) -> str:
        value = scalar(node)
        if isinstance(value, int | date) and not isinstance(value, bool):
            # Show it as written: YAML turned +420777123456 into 420777123456.
            template = (
                N_("expected %(nul)s, got %(value)s which YAML reads as a date (quote it)")
                if isinstance(value, date)
                else N_("expected %(nul)s, got %(value)s which YAML reads as a number (quote it)")
            )
            raise Bad(node, template, nul=nul, value=node.value)
        if not isinstance(value, str):
            raise Bad(node, N_("expected %(nul)s, got %(value)s"), nul=nul, value=describe(value))
        if not empty and not value.strip():
            raise Bad(node, N_("must not be empty"))
        if max_len is not None and len(value) > max_len:
            raise Bad(node, N_("longer than %(max_len)s characters"), max_len=max_len)
        if "\x00" in value:
            raise Bad(node, N_("contains a NUL character"))
        return value

    return read


def read_key_text(max_len: int) -> Read:
    """A code or login: not empty, no white space (it is typed and compared exactly)."""
    base = read_text(max_len, empty=False)

    def read(node: Node) -> str:
        value = base(node)
        if any(ch.isspace() for ch in value):
            raise Bad(node, N_("%(value)r must not contain spaces"), value=value)
        return value

    return read


def read_int(minimum: int, maximum: int = _INT_MAX, *, nullable: bool = False) -> Read:
    def read(node: Node) -> int | None:
        value = scalar(node)
        if value is None and nullable:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise Bad(node, N_("expected an integer, got %(value)s"), value=describe(value))
        if not minimum <= value <= maximum:
            if maximum == _INT_MAX:
                template = N_("%(value)s is out of range (must be at least %(minimum)s)")
            else:
                template = N_("%(value)s is out of range (must be %(minimum)s..%(maximum)s)")
            raise Bad(node, template, value=value, minimum=minimum, maximum=maximum)
        return value

    return read


def read_bool(node: Node) -> bool:
    value = scalar(node)
    if not isinstance(value, bool):
        raise Bad(node, N_("expected true or false, got %(value)s"), value=describe(value))
    return value


def read_enum(cls: type[Any]) -> Read:
    allowed = [m.value for m in cls]

    def read(node: Node) -> Any:
        value = scalar(node)
        if value not in allowed:
            raise Bad(
                node,
                N_("%(value)s is not one of %(allowed)s"),
                value=describe(value),
                allowed=", ".join(allowed),
            )
        return cls(value)

    return read


_TIME = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?")


def read_time(node: Node) -> time:
    value = scalar(node)
    match = _TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise Bad(
            node, N_("expected a time HH:MM (00:00..23:59), got %(value)s"), value=describe(value)
        )
    return time(int(match[1]), int(match[2]), int(match[3] or 0))


def read_date(node: Node) -> date:
    value = scalar(node)
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    elif isinstance(value, date):
        return value
    raise Bad(node, N_("expected a date YYYY-MM-DD, got %(value)s"), value=describe(value))


def read_weekday(*, nullable: bool = False) -> Read:
    def read(node: Node) -> int | None:
        value = scalar(node)
        if value is None and nullable:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
            return value
        if isinstance(value, str) and value.lower() in _WEEKDAY_NAMES:
            return _WEEKDAY_NAMES[value.lower()]
        raise Bad(
            node, N_("must be 0-6 (Monday = 0) or mon..sun, got %(value)s"), value=describe(value)
        )

    return read


def read_phone(max_len: int, *, empty: bool = False) -> Read:
    base = read_text(max_len, nul=why(N_("a quoted phone number")))

    def read(node: Node) -> str:
        value = base(node)
        if empty and value == "":
            return value
        if not any("0" <= ch <= "9" for ch in value):
            raise Bad(node, N_("phone number %(value)r has no digits"), value=value)
        return value

    return read


_EMAIL = re.compile(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+")


def read_emails(max_len: int, *, empty: bool = True) -> Read:
    base = read_text(max_len, empty=empty)

    def read(node: Node) -> str:
        value = base(node)
        for address in filter(None, (a.strip() for a in value.split(","))):
            if not _EMAIL.fullmatch(address):
                raise Bad(node, N_("%(value)r is not an e-mail address"), value=address)
        return value

    return read


def read_country_prefix(node: Node) -> str:
    value = scalar(node)
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not is_country_prefix(text):
        raise Bad(
            node,
            N_("a country prefix is a calling code in use like 420, got %(value)s"),
            value=describe(value),
        )
    return text


def read_dial_string(node: Node) -> str:
    value = read_text(column_length(PhoneSeat, "dial_string"), empty=False)(node)
    if not re.fullmatch(r"[A-Za-z0-9_-]+/\S+", value):
        raise Bad(node, N_("%(value)r is not a dial string like PJSIP/101"), value=value)
    return value


def read_digit(node: Node) -> str:
    value = scalar(node)
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or len(text) != 1 or text not in "0123456789*#":
        raise Bad(
            node, N_("a menu option is one key 0-9, * or #, got %(value)s"), value=describe(value)
        )
    return text


def read_prompt_name(node: Node) -> str:
    """A sound's name such as ``hotline/goodbye``: it becomes a file path (R-6.4)."""
    value = read_text(MAX_PROMPT_NAME, empty=False)(node)
    if not is_prompt_name(value):
        raise Bad(
            node,
            N_(
                "%(value)r is not a prompt name: a-z, 0-9, _ and - in parts separated by / "
                "(like hotline/goodbye)"
            ),
            value=value,
        )
    return value


def read_language(*, nullable: bool = False) -> Read:
    """A language callers hear (R-6.4): one of :data:`PROMPT_LANGUAGES`."""

    def read(node: Node) -> str | None:
        value = scalar(node)
        if value is None and nullable:
            return None
        if value not in PROMPT_LANGUAGES:
            allowed = ", ".join(PROMPT_LANGUAGES)
            raise Bad(
                node,
                N_("%(value)s is not a prompt language (%(allowed)s)"),
                value=describe(value),
                allowed=allowed,
            )
        return str(value)

    return read


def column_length(model: type[Any], attr: str) -> int:
    """The length of a model's text column: the longest value a reader lets through."""
    return int(model.__table__.c[attr].type.length)


# --------------------------------------------------------------------------- writers (export)


def plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bool | int | str | date):
        return value
    raise TypeError(f"cannot export {value!r}")


def enum_value(value: Any) -> str:
    return str(value.value)


def time_text(value: time) -> str:
    return value.strftime("%H:%M" if value.second == 0 else "%H:%M:%S")


def weekday_name(value: int | None) -> str | None:
    return None if value is None else WEEKDAYS[value]


# ---- a report schedule's values: refused in the words of /reports/schedules


def _refused_as_bad(node: Node, refused: BadInputError) -> Bad:
    return Bad(node, refused.message, **refused.params)


def read_recipients(node: Node) -> str:
    """A schedule's ``email_to``: at most ten addresses, stored as the page stores them."""
    value = scalar(node)
    if not isinstance(value, str):
        raise Bad(node, schedule_rules.FILL_IN, field="email_to")
    try:
        return ", ".join(schedule_rules.parse_recipients(value, "email_to"))
    except BadInputError as refused:
        raise _refused_as_bad(node, refused) from None


def read_send_at(node: Node) -> time:
    value = scalar(node)
    try:
        if not isinstance(value, str):
            raise BadInputError(schedule_rules.BAD_TIME, {"field": "send_at"})
        return schedule_rules.time_of_day(value, "send_at")
    except BadInputError as refused:
        raise _refused_as_bad(node, refused) from None


def read_report_language(node: Node) -> str | None:
    value = scalar(node)
    if value is None:
        return None
    try:
        return schedule_rules.report_language(value, "language")
    except BadInputError as refused:
        raise _refused_as_bad(node, refused) from None


def read_schedule_day(key: str) -> Read:
    def read(node: Node) -> date | None:
        value = scalar(node)
        if value is None or isinstance(value, date):
            return value
        try:
            return schedule_rules.day(str(value), key)
        except BadInputError as refused:
            raise _refused_as_bad(node, refused) from None

    return read
