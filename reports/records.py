"""Call records (R-5.1): the filter, the keyset cursor, the times of a call, its timeline.

Pure: no framework, no database; time comes in as values. The same :class:`CallFilter` is
read from the ``/calls`` page's query, the CSV export's and the JSON API's
(:func:`parse_call_filter`), so the three show exactly the same set of calls.

Paging is by keyset, never OFFSET (a deep page of a million calls costs what the first
does): the list runs newest first by ``(started_at, id)`` and a :class:`Cursor` names the
last row shown; the next page starts strictly after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.enums import CallState, Direction
from domain.refusals import BadInputError
from domain.texts import N_

BAD_DATE = N_("The date in %(field)s is not a date (YYYY-MM-DD).")
BAD_PERIOD = N_("The period ends before it starts.")
BAD_CHOICE = N_("The value of %(field)s is not one of the choices.")
BAD_NUMBER = N_("The phone number %(number)s has no digits.")
BAD_ID = N_("The value of %(field)s is not a number.")
BAD_CURSOR = N_("The page link is damaged; start again from the first page.")
BAD_RT = N_("An RT number has one to ten digits.")

# Filter fields as they appear in a URL, in the order a rebuilt URL lists them.
FILTER_FIELDS = (
    "from",
    "to",
    "direction",
    "state",
    "queue",
    "agent",
    "did",
    "number",
    "rt",
    "reason",
    "overflowed",
    "recording",
)
YES_NO = ("yes", "no")
RT_DIGITS_MAX = 10
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class CallFilter:
    """Which calls to show (R-5.1); empty fields filter nothing.

    ``since``/``until`` are instants (UTC): a day period in the centre's time zone is turned
    into them by :func:`parse_call_filter`. ``number`` is as the user typed it; the store
    finds every way a caller ID may write it (R-2.6's normalisation).
    """

    since: datetime | None = None
    until: datetime | None = None
    direction: Direction | None = None
    state: CallState | None = None
    queue_id: int | None = None
    agent_id: int | None = None
    did: str = ""
    number: str = ""
    rt_number: str = ""
    reason_node_id: int | None = None
    overflowed: bool | None = None
    has_recording: bool | None = None
    # The fields as given, to rebuild the page's links (next page, CSV of the same set).
    fields: tuple[tuple[str, str], ...] = field(default=(), compare=False)


@dataclass(frozen=True, order=True)
class Cursor:
    """The last call shown: the next page starts strictly before it (newest first)."""

    started_at: datetime
    call_id: int

    def encode(self) -> str:
        micros = (self.started_at - _EPOCH) // timedelta(microseconds=1)  # exact, no float
        return f"{micros}.{self.call_id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The cursor of a page link; BadInputError for anything else."""
        micros_text, dot, id_text = text.strip().partition(".")
        if (
            not dot
            or not micros_text.lstrip("-").isdigit()
            or not id_text.isdigit()
            or len(micros_text) > 18
            or len(id_text) > 18
        ):
            raise BadInputError(BAD_CURSOR)
        try:
            at = _EPOCH + timedelta(microseconds=int(micros_text))
        except OverflowError:
            raise BadInputError(BAD_CURSOR) from None
        return cls(at, int(id_text))


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadInputError(BAD_DATE, {"field": name}) from None


def _direction(value: str) -> Direction | None:
    if not value:
        return None
    try:
        return Direction(value)
    except ValueError:
        raise BadInputError(BAD_CHOICE, {"field": "direction"}) from None


def _state(value: str) -> CallState | None:
    if not value:
        return None
    try:
        return CallState(value)
    except ValueError:
        raise BadInputError(BAD_CHOICE, {"field": "state"}) from None


def _identifier(value: str, name: str) -> int | None:
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 12:
        raise BadInputError(BAD_ID, {"field": name})
    return int(value)


def _yes_no(value: str, name: str) -> bool | None:
    if not value:
        return None
    if value not in YES_NO:
        raise BadInputError(BAD_CHOICE, {"field": name})
    return value == "yes"


def parse_call_filter(get: Callable[[str], str | None], zone: ZoneInfo) -> CallFilter:
    """The filter of a request's fields (``get(name)`` -> its one value or None).

    ``from``/``to`` are days in the centre's time zone, both included: ``to`` runs to the
    next local midnight, which is right across a DST change too.
    """
    raw = {name: (get(name) or "").strip() for name in FILTER_FIELDS}
    since = until = None
    if raw["from"]:
        since = datetime.combine(_day(raw["from"], "from"), time(0), zone)
    if raw["to"]:
        until = datetime.combine(_day(raw["to"], "to") + timedelta(days=1), time(0), zone)
    if since is not None and until is not None and until <= since:
        raise BadInputError(BAD_PERIOD)
    number = raw["number"]
    if number and not any(ch.isdigit() for ch in number):
        raise BadInputError(BAD_NUMBER, {"number": number})
    rt = raw["rt"]
    if rt and (not rt.isascii() or not rt.isdigit() or len(rt) > RT_DIGITS_MAX):
        raise BadInputError(BAD_RT)
    return CallFilter(
        since=since.astimezone(UTC) if since else None,
        until=until.astimezone(UTC) if until else None,
        direction=_direction(raw["direction"]),
        state=_state(raw["state"]),
        queue_id=_identifier(raw["queue"], "queue"),
        agent_id=_identifier(raw["agent"], "agent"),
        did=raw["did"][:32],
        number=number[:40],
        rt_number=rt,
        reason_node_id=_identifier(raw["reason"], "reason"),
        overflowed=_yes_no(raw["overflowed"], "overflowed"),
        has_recording=_yes_no(raw["recording"], "recording"),
        fields=tuple((name, raw[name]) for name in FILTER_FIELDS if raw[name]),
    )


# --------------------------------------------------------------------------- times


def seconds_between(start: datetime | None, end: datetime | None) -> int | None:
    """Whole seconds from ``start`` to ``end``; None when either is unknown."""
    if start is None or end is None:
        return None
    return max(0, int((end - start).total_seconds()))


def ringing_seconds(
    attempts: Iterable[tuple[datetime, datetime | None]], call_ended_at: datetime | None
) -> int:
    """The time agents' phones rang for a call: the sum of its ring attempts (R-5.1).

    A ring still open when the call ended (a crash, a lost event) counts up to the call's
    end; one still live counts nothing yet.
    """
    total = 0
    for started, ended in attempts:
        total += seconds_between(started, ended or call_ended_at) or 0
    return total


def reason_paths(nodes: Mapping[int, tuple[int | None, str]]) -> dict[int, str]:
    """Each reason node's path from its tree's root, ``"Internet › Outage › Fibre"``.

    ``nodes`` maps an id to (parent id, label); a broken parent link ends the path.
    """
    paths: dict[int, str] = {}
    for node_id in nodes:
        labels: list[str] = []
        seen: set[int] = set()
        current: int | None = node_id
        while current is not None and current in nodes and current not in seen:
            seen.add(current)
            parent, label = nodes[current]
            labels.append(label)
            current = parent
        paths[node_id] = " › ".join(reversed(labels))
    return paths


def subtree(nodes: Mapping[int, tuple[int | None, str]], root_id: int) -> set[int]:
    """``root_id`` and every node below it: filtering by a reason path takes its sub-reasons."""
    children: dict[int | None, list[int]] = {}
    for node_id, (parent, _label) in nodes.items():
        children.setdefault(parent, []).append(node_id)
    found: set[int] = set()
    todo = [root_id]
    while todo:
        current = todo.pop()
        if current in found:
            continue
        found.add(current)
        todo.extend(children.get(current, ()))
    return found


# --------------------------------------------------------------------------- timeline


@dataclass(frozen=True)
class TimelineEvent:
    """One thing that happened to a call, in the order it happened.

    ``kind`` names it (the page says it in the reader's language); ``detail`` holds the
    values it needs (an agent's name, a key, seconds, an outcome).
    """

    at: datetime
    kind: str
    detail: Mapping[str, object] = field(default_factory=dict)


# When two events share an instant, the one earlier in this list comes first.
TIMELINE_ORDER = (
    "started",
    "ivr_key",
    "transferred_in",
    "queue_entered",
    "ring",
    "overflow",
    "answered",
    "recording",
    "box_choice",
    "transferred_out",
    "ended",
    "processed",
    "follow_up",
    "item",
    "recording_deleted",
)


def timeline(events: Iterable[TimelineEvent]) -> list[TimelineEvent]:
    """The events in time order; at the same instant, in the call's natural order."""
    rank = {kind: position for position, kind in enumerate(TIMELINE_ORDER)}
    return sorted(events, key=lambda e: (e.at, rank.get(e.kind, len(rank))))


# --------------------------------------------------------------------------- labels

RING_OUTCOME_LABELS = {
    "ringing": N_("ringing now"),
    "answered": N_("answered"),
    "no_answer": N_("not answered"),
    "busy": N_("busy"),
    "cancelled": N_("ended by the caller's choice"),
    "caller_hung_up": N_("the caller hung up"),
    "failed": N_("failed"),
}
IVR_OUTCOME_LABELS = {
    "option": N_("chose an option"),
    "invalid": N_("invalid key"),
    "timeout": N_("no key pressed"),
}

# The CSV export's columns: a message id for the header row, in the user's language.
CSV_COLUMNS = (
    ("id", N_("Call id")),
    ("started_at", N_("Time")),
    ("from", N_("From")),
    ("to", N_("To")),
    ("did", N_("DID")),
    ("queue", N_("Queue")),
    ("agent", N_("Agent")),
    ("direction", N_("Direction")),
    ("state", N_("State")),
    ("total_s", N_("Total (s)")),
    ("ringing_s", N_("Ringing (s)")),
    ("talking_s", N_("Talking (s)")),
    ("hangup_cause", N_("Hang-up cause")),
    ("overflowed", N_("Overflowed")),
    ("transferred", N_("Transferred")),
    ("reason_path", N_("Reason")),
    ("rt_number", N_("RT number")),
    ("recordings", N_("Recordings")),
)


def duration_text(seconds: int | None) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour); empty when unknown."""
    if seconds is None or seconds < 0:
        return ""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"
