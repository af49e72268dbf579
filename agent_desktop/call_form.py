"""The Active call form's rules (R-2.6 .. R-2.13), pure.

No Twisted, SQLAlchemy, Klein or Jinja2 here (an import-linter contract enforces it): the
store ``agent_desktop/store/call_form.py`` loads plain records, calls these functions and
stores what they decide. Time comes in as values; the time zone as a name.

- :func:`match_customer` picks the customer a caller's number belongs to (R-2.6, R-2.7);
- :class:`ReasonTree`, :func:`reason_cascade` and :func:`choose_reason` are the cascading
  call-reason field (R-2.8);
- :func:`check_form` is Save's validation (R-2.7, R-2.8, R-2.9, R-2.12);
- :func:`unprocessed_notice` is the recovery notice (R-2.13).

Messages the agent sees are module constants so that tests and templates use the very text.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from domain.texts import N_

# what the name field shows for a caller nobody knows (number not found or hidden).
UNKNOWN_NAME = "?????"
# an overflowed call shows its queue name with this suffix.
OVERFLOWED_SUFFIX = " (overflowed call)"

FIRST_SEARCH = N_("First search for the customer")  # exact
RT_NOT_A_NUMBER = N_("The RT number is not a number")  # exact
REASON_REQUIRED = N_("Choose the call reason and the reason code.")
UNKNOWN_AND_OPERATOR = N_(
    'Either tick "customer is unknown" or assign the call to the location\'s operator, not both.'
)
NOTE_TOO_LONG = N_("The note is too long: at most 4000 characters.")  # NOTE_MAX_CHARS
NOTE_BAD_CHARACTERS = N_("The note contains characters that cannot be stored.")
PICK_LIST_NOTICE = N_("Several customers have the caller's number: pick the one who is calling.")
UNPROCESSED_NOTICE = "Showing unprocessed call from {when}"  # DD.MM.YYYY HH:MM
PROCESS_TITLE_REQUIRED = N_("Give the process a title.")
PROCESS_TITLE_TOO_LONG = N_("The process title is too long: at most 200 characters.")
# Refusals of the store (agent_desktop.store.call_form).
ALREADY_PROCESSED = N_("This call has been processed already.")
NOTHING_TO_PROCESS = N_("This call has nothing to process.")
CALL_STILL_CONNECTED = N_("The call is still connected: save it when it has ended.")
NOT_YOUR_CALL = N_("You may not process this call.")
NO_SUCH_CUSTOMER = N_("There is no such customer.")
CUSTOMER_INACTIVE = N_("This customer is inactive: re-activate them first.")
CUSTOMER_OUTSIDE_QUEUE = N_("This customer does not belong to a location of the call's queue.")
CONTACT_NOT_OF_CUSTOMER = N_("This contact person does not belong to the customer.")
NO_LOCATION_OPERATOR = N_("This location has no operator to assign the call to.")
CHOOSE_OPERATOR_LOCATION = N_("Choose the location whose operator the call is assigned to.")
REPLACE_NEEDS_CUSTOMER = N_("Pick the customer whose main number the caller's number becomes.")
NO_NUMBER_TO_SAVE = N_("The caller's number is hidden: there is no number to save.")
RECOVERY_ONLY_OFF_AIR = N_(
    "Only an off-air agent who is not handling a call can load an unprocessed call."
)
NO_SUCH_PROCESS = N_("There is no such process.")
PROCESS_OF_ANOTHER_CUSTOMER = N_("This process is about another customer, or it is closed.")
INACTIVE_ONLY_MANY = N_(
    "The caller's number belongs only to inactive customers. Re-activate one to work with"
    " them, or process the call as for an unknown caller."
)

# the RT (request ticket) number has at most ten digits (the column's CHECK agrees).
RT_MAX_DIGITS = 10
# A note is free text, but bounded: a form field must not grow a call row without limit.
NOTE_MAX_CHARS = 4000
# The column ``follow_up_processes.title`` is VARCHAR(200).
PROCESS_TITLE_MAX_CHARS = 200

_ASCII_DIGITS = frozenset("0123456789")
# Tab and line breaks are text; every other C0 control (NUL above all: PostgreSQL refuses it
# in a text column) would either fail the insert or corrupt what the next reader sees.
_NOTE_CONTROLS = frozenset(chr(c) for c in range(32) if chr(c) not in "\t\n\r") | {"\x7f"}


def queue_label(queue_name: str, overflowed: bool) -> str:
    """The queue name the form shows, marked when the call overflowed (R-1.6)."""
    return queue_name + OVERFLOWED_SUFFIX if overflowed else queue_name


# --------------------------------------------------------------------------- matching


class MatchedVia(StrEnum):
    """How a caller's number led to a customer; ``MAIN`` beats ``OTHER`` beats ``CONTACT``."""

    MAIN = "main"  # the customer's first number (position 1, R-2.10)
    OTHER = "other"  # any further number of the customer
    CONTACT = "contact"  # a contact person's number (R-2.6: "Company (contact name)")


_VIA_RANK = {MatchedVia.MAIN: 0, MatchedVia.OTHER: 1, MatchedVia.CONTACT: 2}


@dataclass(frozen=True)
class Candidate:
    """A customer whose number (or whose contact person's number) is the caller's."""

    customer_id: int
    name: str
    active: bool
    location_id: int
    via: MatchedVia
    contact_id: int | None = None
    contact_name: str = ""

    @property
    def display_name(self) -> str:
        """R-2.6: a match through a contact person shows "Company (contact name)"."""
        if self.via is MatchedVia.CONTACT and self.contact_name:
            return f"{self.name} ({self.contact_name})"
        return self.name


class MatchKind(StrEnum):
    MATCHED = "matched"  # one customer: the form opens with them
    PICK_LIST = "pick_list"  # several active ones remain: the agent picks, with a notice
    INACTIVE_ONLY = "inactive_only"  # only inactive ones: offer re-activation (optional)
    UNKNOWN = "unknown"  # nobody, or a hidden number: "?????" and the queue name


@dataclass(frozen=True)
class CallerMatch:
    """Which case of R-2.6/R-2.7 the caller is, and what the form shows."""

    kind: MatchKind
    display_name: str
    queue_name: str
    customer: Candidate | None = None  # MATCHED; INACTIVE_ONLY when exactly one is offered
    choices: tuple[Candidate, ...] = ()  # PICK_LIST and INACTIVE_ONLY
    notice: str = ""
    number_hidden: bool = False


def inactive_notice(choices: tuple[Candidate, ...]) -> str:
    """The re-activation offer (R-2.6); the agent may also process the call as unknown."""
    if len(choices) == 1:
        return (
            f"The caller's number belongs to the inactive customer {choices[0].name}. "
            "Re-activate them to work with them, or process the call as for an unknown caller."
        )
    return INACTIVE_ONLY_MANY


def _best_per_customer(candidates: Iterable[Candidate]) -> list[Candidate]:
    # One customer can match several ways (own number and a contact's); their own number
    # wins, so the form shows the customer and not "Company (someone)".
    best: dict[int, Candidate] = {}
    for cand in candidates:
        held = best.get(cand.customer_id)
        if held is None or _rank(cand) < _rank(held):
            best[cand.customer_id] = cand
    return sorted(best.values(), key=lambda c: (c.name.casefold(), c.customer_id))


def _rank(cand: Candidate) -> tuple[int, int]:
    return (_VIA_RANK[cand.via], cand.contact_id or 0)


def _prefer_location(found: list[Candidate], location_id: int | None) -> list[Candidate]:
    """The ones at the agent's selected location, if any are; else all of them."""
    local = [c for c in found if c.location_id == location_id]
    return local or found


def match_customer(
    candidates: Iterable[Candidate],
    *,
    queue_location_ids: Collection[int],
    selected_location_id: int | None,
    queue_name: str,
    number_hidden: bool = False,
) -> CallerMatch:
    """The customer for a caller's number, by the rules of R-2.6 and R-2.7.

    Only customers of the queue's locations count. Active before inactive; among several
    active, the agent's selected location decides; if that still leaves several, a pick list
    with a notice. Only inactive ones: an offer to re-activate. Nobody (or a hidden number):
    the unknown caller, "?????" and the queue name.
    """
    if number_hidden:
        return CallerMatch(MatchKind.UNKNOWN, UNKNOWN_NAME, queue_name, number_hidden=True)
    allowed = set(queue_location_ids)
    found = _best_per_customer(c for c in candidates if c.location_id in allowed)
    active = [c for c in found if c.active]
    if active:
        remaining = _prefer_location(active, selected_location_id) if len(active) > 1 else active
        if len(remaining) == 1:
            only = remaining[0]
            return CallerMatch(MatchKind.MATCHED, only.display_name, queue_name, customer=only)
        return CallerMatch(
            MatchKind.PICK_LIST,
            UNKNOWN_NAME,
            queue_name,
            choices=tuple(remaining),
            notice=PICK_LIST_NOTICE,
        )
    if found:
        offered = tuple(_prefer_location(found, selected_location_id))
        return CallerMatch(
            MatchKind.INACTIVE_ONLY,
            UNKNOWN_NAME,
            queue_name,
            customer=offered[0] if len(offered) == 1 else None,
            choices=offered,
            notice=inactive_notice(offered),
        )
    return CallerMatch(MatchKind.UNKNOWN, UNKNOWN_NAME, queue_name)


# --------------------------------------------------------------------------- reasons


@dataclass(frozen=True)
class ReasonOption:
    """A node of a queue's reason tree; a leaf carries the reason code."""

    id: int
    parent_id: int | None
    label: str
    code: str = ""
    position: int = 0


@dataclass(frozen=True)
class ReasonLevel:
    """One select of the cascade: its options and the one chosen, if any."""

    options: tuple[ReasonOption, ...]
    selected_id: int | None
    # the last level is the "reason code" field; a level of leaves only is that field.
    is_code_level: bool


@dataclass(frozen=True)
class ReasonCascade:
    """The reason field as the form shows it for a chosen path (R-2.8)."""

    levels: tuple[ReasonLevel, ...]
    path: tuple[int, ...]  # the valid part of the path asked for; the rest was cleared
    leaf_id: int | None  # the chosen leaf, when the path reached one
    code: str  # that leaf's reason code ("" until chosen)

    @property
    def has_tree(self) -> bool:
        """No tree for the queue and direction: the field is hidden (R-2.8)."""
        return bool(self.levels)

    @property
    def complete(self) -> bool:
        """Chosen down to a leaf that has a code: what Save needs (R-2.12)."""
        return self.leaf_id is not None and self.code != ""


class ReasonTree:
    """A queue's reason tree for one direction, from its flat list of nodes."""

    def __init__(self, nodes: Iterable[ReasonOption]) -> None:
        self._nodes: dict[int, ReasonOption] = {}
        children: dict[int | None, list[ReasonOption]] = {}
        for node in nodes:
            self._nodes[node.id] = node
            children.setdefault(node.parent_id, []).append(node)
        # A node whose parent is not in this tree (another queue's, or deleted) is unreachable.
        self._children = {
            parent: tuple(sorted(kids, key=lambda n: (n.position, n.label, n.id)))
            for parent, kids in children.items()
            if parent is None or parent in self._nodes
        }

    def __bool__(self) -> bool:
        return bool(self._children.get(None))

    def node(self, node_id: int) -> ReasonOption | None:
        return self._nodes.get(node_id)

    def children(self, parent_id: int | None) -> tuple[ReasonOption, ...]:
        return self._children.get(parent_id, ())

    def is_leaf(self, node_id: int) -> bool:
        return node_id in self._nodes and not self.children(node_id)

    def valid_prefix(self, path: Iterable[int]) -> tuple[int, ...]:
        """The longest start of ``path`` that walks down the tree from its root."""
        kept: list[int] = []
        parent: int | None = None
        for node_id in path:
            if node_id not in {n.id for n in self.children(parent)}:
                break
            kept.append(node_id)
            parent = node_id
        return tuple(kept)


def reason_cascade(tree: ReasonTree, path: Iterable[int]) -> ReasonCascade:
    """The levels to show for ``path``: each chosen level and, unless a leaf was reached,
    the options of the next one (R-2.8: choosing a level loads the next)."""
    kept = tree.valid_prefix(path)
    levels: list[ReasonLevel] = []
    parent: int | None = None
    for depth in range(len(kept) + 1):
        options = tree.children(parent)
        if not options:
            break
        selected = kept[depth] if depth < len(kept) else None
        is_code = all(tree.is_leaf(o.id) for o in options)
        levels.append(ReasonLevel(options, selected, is_code))
        if selected is None:
            break
        parent = selected
    leaf = kept[-1] if kept and tree.is_leaf(kept[-1]) else None
    leaf_node = tree.node(leaf) if leaf is not None else None
    return ReasonCascade(tuple(levels), kept, leaf, leaf_node.code if leaf_node else "")


def choose_reason(
    tree: ReasonTree, path: Iterable[int], level: int, node_id: int
) -> tuple[int, ...]:
    """The path after choosing ``node_id`` at ``level`` (0 = top).

    R-2.8: changing a level clears every level below it. A choice that is not an option of
    that level (a stale or forged form) leaves the valid levels above it and nothing else.
    """
    if level < 0:
        raise ValueError("a reason level is 0 or more")
    kept = tree.valid_prefix(path)[:level]
    if len(kept) < level:
        return kept  # a level above is missing: nothing below it can be chosen
    parent = kept[-1] if kept else None
    if node_id in {n.id for n in tree.children(parent)}:
        return (*kept, node_id)
    return kept


# --------------------------------------------------------------------------- save


@dataclass(frozen=True)
class CallForm:
    """What the agent submits with Save.

    ``customer_id`` is the customer the form holds (matched or picked); None when there is
    none. Ticking ``customer_unknown`` or ``assign_to_location_operator`` is the way to save
    without one (R-2.7). ``reason_path`` is the chosen node ids from the top level down.
    """

    customer_id: int | None = None
    contact_person_id: int | None = None
    customer_unknown: bool = False
    assign_to_location_operator: bool = False
    operator_location_id: int | None = None
    reason_path: tuple[int, ...] = ()
    note: str = ""
    rt_number: str = ""
    replace_number: bool = False  # applied with the save


@dataclass(frozen=True)
class FormProblem:
    field: str  # "customer", "reason", "rt_number", "note"
    message: str


@dataclass(frozen=True)
class FormCheck:
    """The outcome of Save's validation; the cleaned values are what gets stored."""

    problems: tuple[FormProblem, ...]
    note: str
    rt_number: str | None
    reason_leaf_id: int | None
    reason_code: str

    @property
    def ok(self) -> bool:
        return not self.problems


def clean_rt_number(raw: str) -> str | None:
    """The RT number to store, None when left empty; ValueError(RT_NOT_A_NUMBER) otherwise.

    R-2.9: optional, ASCII digits only, at most ten. Spaces around it (a paste) are dropped;
    ``str.isdigit`` is not used on purpose: it accepts "²" and other scripts' digits.
    """
    value = raw.strip()
    if not value:
        return None
    if len(value) > RT_MAX_DIGITS or not set(value) <= _ASCII_DIGITS:
        raise ValueError(RT_NOT_A_NUMBER)
    return value


def clean_note(raw: str) -> str:
    """The note to store: free text with line breaks (as LF), bounded; ValueError if not."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    if any(ch in _NOTE_CONTROLS for ch in text):
        raise ValueError(NOTE_BAD_CHARACTERS)
    if len(text) > NOTE_MAX_CHARS:
        raise ValueError(NOTE_TOO_LONG)
    return text


def check_form(form: CallForm, tree: ReasonTree, *, customer_chosen: bool) -> FormCheck:
    """Save's checks (R-2.7, R-2.8, R-2.9, R-2.12), every problem at once, in form order.

    ``customer_chosen``: the form holds an active customer (matched or picked). ``tree`` is
    the queue's reason tree for the call's direction; an empty one needs no reason.
    """
    problems: list[FormProblem] = []
    if form.customer_unknown and form.assign_to_location_operator:
        problems.append(FormProblem("customer", UNKNOWN_AND_OPERATOR))
    elif not (customer_chosen or form.customer_unknown or form.assign_to_location_operator):
        problems.append(FormProblem("customer", FIRST_SEARCH))
    cascade = reason_cascade(tree, form.reason_path)
    if cascade.has_tree and not cascade.complete:
        problems.append(FormProblem("reason", REASON_REQUIRED))
    note = ""
    try:
        note = clean_note(form.note)
    except ValueError as exc:
        problems.append(FormProblem("note", str(exc)))
    rt_number: str | None = None
    try:
        rt_number = clean_rt_number(form.rt_number)
    except ValueError as exc:
        problems.append(FormProblem("rt_number", str(exc)))
    return FormCheck(
        problems=tuple(problems),
        note=note,
        rt_number=rt_number,
        reason_leaf_id=cascade.leaf_id if cascade.complete else None,
        reason_code=cascade.code if cascade.complete else "",
    )


def clean_process_title(raw: str) -> str:
    """A follow-up process's title (R-2.11): one line, not empty, bounded."""
    title = " ".join(raw.split())  # line breaks and runs of spaces become one space
    if not title:
        raise ValueError(PROCESS_TITLE_REQUIRED)
    if len(title) > PROCESS_TITLE_MAX_CHARS:
        raise ValueError(PROCESS_TITLE_TOO_LONG)
    return title


# --------------------------------------------------------------------------- recovery


def unprocessed_notice(call_at: datetime, time_zone: str) -> str:
    """ "Showing unprocessed call from DD.MM.YYYY HH:MM" in the centre's time zone (R-2.13)."""
    if call_at.tzinfo is None:
        raise ValueError("call_at must be timezone-aware")
    local = call_at.astimezone(ZoneInfo(time_zone))
    return UNPROCESSED_NOTICE.format(when=local.strftime("%d.%m.%Y %H:%M"))
