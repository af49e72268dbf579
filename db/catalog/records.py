"""One record typed into a page, as the nodes the catalog's reader reads (R-6.2).

The administration pages have no rules of their own: what a person types for a queue, an
agent or a customer is turned into the same YAML node tree a file's record is, and loaded
by :func:`db.catalog.load_nodes`: the reader, the checker and the writer of ``hotline load``.
So a value the YAML refuses, the page refuses with the same reason, and a refused record
writes nothing.

Each key of a record is a :class:`Slot`:

- a single value (``ring_timeout_s``): typed as text. It is read as a file's plain value
  would be (``20`` the integer, ``true`` the boolean) and, when that is refused but the
  value as quoted text is fine, as text: a page has no quotes, so a name ``2024`` or a
  phone number ``777123456`` is text there;
- a list of children or of references (``hours``, ``seats``): YAML text, as in a file.

Every key gets lines of its own, so that each problem is told next to the key it is
about (:func:`problems_by_key`); problems of the record as a whole go to ``""``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import yaml

from db.catalog.fields import (
    AGENT_FIELDS,
    BOX_FIELDS,
    CUSTOMER_FIELDS,
    DEPARTMENT_FIELDS,
    DID_FIELDS,
    HOLIDAY_FIELDS,
    LOCATION_FIELDS,
    MENU_FIELDS,
    PAUSE_TYPE_FIELDS,
    QUEUE_EXTRA,
    QUEUE_FIELDS,
    REPORT_FIELDS,
    SEAT_FIELDS,
    Field,
)
from db.catalog.problems import FIELD_REASON, Bad, CatalogError, Node, Reason
from db.catalog.reader import compose, implicit_tag
from db.catalog.values import TAG, read_bool
from domain.prompts import PROMPT_LANGUAGES

# Lines: the record's mapping is on line 1, key number i on line 2 + i; the YAML text of a
# list key number i starts at line (i + 1) * _BLOCK (its own lines added).
_BLOCK = 100_000


@dataclass(frozen=True)
class Slot:
    """One key of a record on a page: ``field`` reads a single value (None: any text);
    ``nested``: the key holds YAML text (a list of children or references)."""

    key: str
    field: Field | None = None
    nested: bool = False
    optional: bool = False  # left out of the record when nothing is typed (a password)

    @property
    def is_bool(self) -> bool:
        """A true/false key: a check box on the page."""
        return self.field is not None and self.field.read is read_bool


def _slots(fields: Sequence[Field], nested: Sequence[str] = ()) -> tuple[Slot, ...]:
    return (*(Slot(f.key, f) for f in fields), *(Slot(k, nested=True) for k in nested))


SECTION_SLOTS: dict[str, tuple[Slot, ...]] = {
    "departments": _slots(DEPARTMENT_FIELDS),
    "locations": _slots(LOCATION_FIELDS),
    "pause_types": _slots(PAUSE_TYPE_FIELDS),
    "voicemail_boxes": _slots(BOX_FIELDS),
    "phone_seats": _slots(SEAT_FIELDS),
    "agents": (
        *_slots(AGENT_FIELDS),
        Slot("password", optional=True),
        *_slots((), ("seats", "boxes", "supervises")),
    ),
    "queues": _slots(QUEUE_FIELDS, QUEUE_EXTRA),
    "holidays": _slots(HOLIDAY_FIELDS),
    "ivr_menus": _slots(MENU_FIELDS, ("options",)),
    "dids": _slots(DID_FIELDS),
    "prompts": (Slot("name"), *(Slot(lang, optional=True) for lang in PROMPT_LANGUAGES)),
    "report_schedules": _slots(REPORT_FIELDS),
    "customers": _slots(CUSTOMER_FIELDS, ("phones", "contacts")),
}
"""The keys a page edits, per section of the catalog, in the format's order."""


def key_lines(section: str) -> dict[int, str]:
    """The key of each line of a record of ``section`` made by :func:`page_record` (a list
    key: the first line of its block); line 1, the record itself, is ``""``."""
    lines = {1: ""}
    for index, slot in enumerate(SECTION_SLOTS[section]):
        lines[(index + 1) * _BLOCK if slot.nested else 2 + index] = slot.key
    return lines


def _mark(line: int) -> yaml.Mark:
    return yaml.Mark("page", 0, line - 1, 0, None, None)


def _scalar(tag: str, value: str, line: int) -> Node:
    return yaml.ScalarNode(tag, value, _mark(line), _mark(line))


def _value_node(slot: Slot, text: str, line: int) -> Node:
    """A single typed-in value: the file's plain reading, or text when only that fits."""
    plain = _scalar(implicit_tag(text), text, line)
    if slot.field is None:
        return _scalar(TAG + "str", text, line)
    try:
        slot.field.read(plain)
        return plain
    except Bad:
        pass
    quoted = _scalar(TAG + "str", text, line)
    try:
        slot.field.read(quoted)
        return quoted
    except Bad:
        # Neither fits: the plain reading's reason, except that an empty box is "must not
        # be empty" rather than "got null" for a text.
        return quoted if plain.tag == TAG + "null" and _reads_text(slot.field) else plain


def _reads_text(field: Field) -> bool:
    try:
        field.read(_scalar(TAG + "str", "x", 1))
        return True
    except Bad:
        return False


def _shift(node: Node, offset: int) -> Node:
    """``node`` and everything below it moved ``offset`` lines down."""
    line = node.start_mark.line + 1 + offset
    node.start_mark = node.end_mark = _mark(line)
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            _shift(child, offset)
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            _shift(key_node, offset)
            _shift(value_node, offset)
    return node


def page_record(section: str, entered: Mapping[str, str]) -> Node:
    """The record of ``section`` as typed (``entered``: key -> text) as a catalog document
    ``{section: [record]}``, its lines as :func:`key_lines` says.

    A list key that is not even YAML is refused here, as a file's would be
    (:class:`CatalogError`, source ``page``, on a line of that key's block).
    """
    slots = SECTION_SLOTS[section]
    pairs: list[tuple[Node, Node]] = []
    for index, slot in enumerate(slots):
        if slot.key not in entered or (slot.optional and entered[slot.key] == ""):
            continue
        text = entered[slot.key]
        if slot.nested:
            offset = (index + 1) * _BLOCK
            try:
                value = compose(text, "page")
            except CatalogError as error:
                moved = [(offset + line, reason) for line, reason in error.reasons]
                raise CatalogError("page", moved[0][0], moved[0][1], moved) from None
            if value is None:
                value = _scalar(TAG + "null", "", 1)
            node = _shift(value, offset)
        else:
            line = 2 + index
            node = _value_node(slot, text, line)
        pairs.append((_scalar(TAG + "str", slot.key, 2 + index), node))
    record = yaml.MappingNode(TAG + "map", pairs, _mark(1), _mark(1))
    sequence = yaml.SequenceNode(TAG + "seq", [record], _mark(1), _mark(1))
    section_key = _scalar(TAG + "str", section, 1)
    return yaml.MappingNode(TAG + "map", [(section_key, sequence)], _mark(1), _mark(1))


def problems_by_key(
    error: CatalogError, key_of_line: Mapping[int, str] | None = None
) -> dict[str, list[Reason]]:
    """The problems of a refused record, by the key they are about (``""``: the record).

    A key's own reason loses its ``key:`` prefix: the page shows it next to the key.
    """
    lines = key_of_line or {}
    shown: dict[str, list[Reason]] = {}
    for line, reason in error.reasons:
        key = lines.get(line, lines.get(line - line % _BLOCK, ""))
        if reason.template == FIELD_REASON and reason.param("key") == key and key:
            inner = reason.param("reason")
            reason = inner if isinstance(inner, Reason) else reason
        shown.setdefault(key, []).append(reason)
    return shown


SETTING_KEYS = (
    "country_prefix",
    "time_zone",
    "prompt_language",
    "service_level_s",
    "missed_call_pause_type",
    "centre_name",
)
"""The centre's settings a page edits (the catalog's ``settings`` section, R-6.2)."""


SETTING_LINES = {1: "", **{2 + index: key for index, key in enumerate(SETTING_KEYS)}}
"""The key of each line of :func:`page_settings`' document."""


def page_settings(entered: Mapping[str, str]) -> Node:
    """The typed-in settings as the document ``{settings: {key: value}}``."""
    pairs: list[tuple[Node, Node]] = []
    for index, key in enumerate(SETTING_KEYS):
        if entered.get(key, "") != "":  # an empty box: the setting as it is (as a file's)
            line = 2 + index
            # Settings are text, but a value is read from its node as a file's is: 4200
            # is the number 4200 there, and so it is here.
            tag = implicit_tag(entered[key])
            tag = tag if tag in (TAG + "int", TAG + "bool") else TAG + "str"
            pairs.append((_scalar(TAG + "str", key, line), _scalar(tag, entered[key], line)))
    mapping = yaml.MappingNode(TAG + "map", pairs, _mark(1), _mark(1))
    section_key = _scalar(TAG + "str", "settings", 1)
    return yaml.MappingNode(TAG + "map", [(section_key, mapping)], _mark(1), _mark(1))
