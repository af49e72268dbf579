"""The figures of the supervisor's live screen (R-4.4, R-4.5), from plain facts.

Pure: the store (``supervisor.store.live``) reads the open sessions, the open calls and
today's KPI rows within what the viewer may see (R-4.6) and hands them here as frozen facts
with ``now``; these functions count. Nothing is kept between two snapshots, so a figure
never drifts from the rows it was counted from.

- :func:`queue_figures` (R-4.4), per queue: agents logged in, available, talking and
  paused (count and share of those logged in), calls in progress and waiting (count and
  share of those in progress), the longest wait (with its start, so the browser's clock
  ticks it), today's service level, and whether the longest wait is past the threshold.
- :func:`today_figures` (R-4.5): answered, lost and not yet recovered (``docs/kpi.md``),
  average wait of today's answered calls, calls in IVR, waiting and talking; agents free,
  talking, ringing and on outbound calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

# The activities and call states as the store spells them (``domain.enums`` values).
FREE, RINGING, IN_CALL, PROCESSING, OUTBOUND, PAUSED = (
    "idle",
    "ringing",
    "in_call",
    "processing",
    "outbound",
    "paused",
)
ON_AIR = "on_air"
WAITING_STATES = frozenset({"waiting", "ringing"})  # the caller still waits for an agent
IN_PROGRESS_STATES = WAITING_STATES | {"talking"}


@dataclass(frozen=True)
class AgentFact:
    """A logged-in agent as the screen sees them."""

    agent_id: int
    state: str  # on_air / off_air
    activity: str
    queue_ids: frozenset[int]


@dataclass(frozen=True)
class CallFact:
    """An open inbound call: its state, queue and when it began to wait."""

    call_id: int
    state: str
    queue_id: int | None
    waiting_since: datetime | None


@dataclass(frozen=True)
class QueueToday:
    """Today's finished calls of one queue (``reports.store.kpi`` counts)."""

    calls: int
    within_service_level: int
    answered: int
    lost_not_recovered: int
    answered_wait_s: float  # the waits of the answered calls, added up


@dataclass(frozen=True)
class QueueFigures:
    queue_id: int
    name: str
    logged_in: int
    available: int
    talking: int
    paused: int
    in_progress: int
    waiting: int
    longest_wait_since: datetime | None
    longest_wait_s: int
    service_level_pct: int | None  # today's, None before the first finished call
    over_threshold: bool  # the longest wait is past the threshold: shown in colour

    def pct(self, part: int, of: int) -> int:
        return round(100 * part / of) if of else 0

    @property
    def available_pct(self) -> int:
        return self.pct(self.available, self.logged_in)

    @property
    def talking_pct(self) -> int:
        return self.pct(self.talking, self.logged_in)

    @property
    def paused_pct(self) -> int:
        return self.pct(self.paused, self.logged_in)

    @property
    def waiting_pct(self) -> int:
        return self.pct(self.waiting, self.in_progress)


@dataclass(frozen=True)
class TodayFigures:
    answered: int
    lost_not_recovered: int
    average_wait_s: int | None
    in_ivr: int
    waiting: int
    talking: int
    agents_free: int
    agents_talking: int
    agents_ringing: int
    agents_outbound: int


def is_available(agent: AgentFact) -> bool:
    return agent.state == ON_AIR and agent.activity == FREE


def queue_figures(
    queues: Sequence[tuple[int, str]],
    agents: Iterable[AgentFact],
    calls: Iterable[CallFact],
    today: Mapping[int, QueueToday],
    threshold_s: int,
    now: datetime,
) -> list[QueueFigures]:
    """One row per queue of ``queues`` (id, name), in that order."""
    agents, calls = list(agents), list(calls)
    rows = []
    for queue_id, name in queues:
        members = [a for a in agents if queue_id in a.queue_ids]
        mine = [c for c in calls if c.queue_id == queue_id and c.state in IN_PROGRESS_STATES]
        waiting = [c for c in mine if c.state in WAITING_STATES]
        starts = [c.waiting_since for c in waiting if c.waiting_since is not None]
        since = min(starts) if starts else None
        longest_s = max(0, int((now - since).total_seconds())) if since else 0
        done = today.get(queue_id)
        level = round(100 * done.within_service_level / done.calls) if done and done.calls else None
        rows.append(
            QueueFigures(
                queue_id=queue_id,
                name=name,
                logged_in=len(members),
                available=sum(1 for a in members if is_available(a)),
                talking=sum(1 for a in members if a.activity == IN_CALL),
                paused=sum(1 for a in members if a.activity == PAUSED),
                in_progress=len(mine),
                waiting=len(waiting),
                longest_wait_since=since,
                longest_wait_s=longest_s,
                service_level_pct=level,
                over_threshold=since is not None and longest_s > threshold_s,
            )
        )
    return rows


def today_figures(
    agents: Iterable[AgentFact],
    calls: Iterable[CallFact],
    today: Iterable[QueueToday],
    in_ivr: int,
) -> TodayFigures:
    """Today's panel over the queues and agents the viewer sees."""
    agents, calls, today = list(agents), list(calls), list(today)
    answered = sum(t.answered for t in today)
    wait_s = sum(t.answered_wait_s for t in today)
    return TodayFigures(
        answered=answered,
        lost_not_recovered=sum(t.lost_not_recovered for t in today),
        average_wait_s=round(wait_s / answered) if answered else None,
        in_ivr=in_ivr,
        waiting=sum(1 for c in calls if c.state in WAITING_STATES),
        talking=sum(1 for c in calls if c.state == "talking"),
        agents_free=sum(1 for a in agents if is_available(a)),
        agents_talking=sum(1 for a in agents if a.activity == IN_CALL),
        agents_ringing=sum(1 for a in agents if a.activity == RINGING),
        agents_outbound=sum(1 for a in agents if a.activity == OUTBOUND),
    )


# --------------------------------------------------------------------------- activities

# A call's phase on the Activities panel, from its stored state; ``processing``:
# the call is over and its agent still has the Active call form open (after-call work).
LIVE_CALL_STATES = ("ivr", "waiting", "ringing", "in_box", "talking")
PHASES = (*LIVE_CALL_STATES, "processing")


def activity_phase(call_state: str, in_processing: bool) -> str | None:
    """The phase of a call on the Activities panel, None when the call is not open."""
    if call_state in LIVE_CALL_STATES:
        return call_state
    return "processing" if in_processing else None


@dataclass(frozen=True)
class Span:
    """One of a call's times: running (``until`` None, the browser ticks it) or done."""

    since: datetime
    until: datetime | None

    @property
    def seconds(self) -> int:
        return max(0, int((self.until - self.since).total_seconds())) if self.until else 0


@dataclass(frozen=True)
class CallTimes:
    waiting: Span | None
    talking: Span | None
    processing: Span | None


def call_times(
    phase: str,
    started_at: datetime,
    queue_entered_at: datetime | None,
    answered_at: datetime | None,
    ended_at: datetime | None,
    processing_since: datetime | None,
) -> CallTimes:
    """Waiting (from the queue, or the start of a call that never queued, to the answer),
    talking (answer to end) and processing (the form left open after the end), R-4.1."""
    waiting = talking = processing = None
    wait_from = queue_entered_at or started_at
    if phase in ("waiting", "ringing", "in_box"):
        waiting = Span(wait_from, None)
    elif answered_at is not None:
        waiting = Span(wait_from, answered_at) if queue_entered_at else None
        talking = Span(answered_at, None if phase == "talking" else (ended_at or answered_at))
    if phase == "processing":
        processing = Span(processing_since or ended_at or started_at, None)
    return CallTimes(waiting, talking, processing)


# --------------------------------------------------------------------------- agents

AGENT_STATUSES = (
    "free",
    "ringing",
    "in_call",
    "processing",
    "outbound",
    "backoffice",
    "paused",
    "off_air",
    "logged_out",
)


def agent_status(logged_in: bool, state: str, activity: str, pause_type_id: int | None) -> str:
    """What the Agents panel says an agent is doing (R-4.2): free (on air and idle), busy
    with a call (ringing, in a call, processing, outbound), back-office work, paused with a
    pause type, off air (no pause type), or logged out."""
    if not logged_in:
        return "logged_out"
    if activity == PAUSED:
        return "paused" if pause_type_id is not None else "off_air"
    if activity == FREE:
        return "free" if state == ON_AIR else "off_air"
    return activity


@dataclass(frozen=True)
class PausedAgent:
    agent_id: int
    name: str
    pause_type_id: int
    since: datetime


@dataclass(frozen=True)
class PauseUse:
    """One pause type in use now (R-4.3): paid or not, who, since when."""

    pause_type_id: int
    name: str
    paid: bool
    agents: tuple[PausedAgent, ...]

    @property
    def count(self) -> int:
        return len(self.agents)


def pause_uses(
    pause_types: Sequence[tuple[int, str, bool]], paused: Iterable[PausedAgent]
) -> list[PauseUse]:
    """The pause types (id, name, paid), in their order, that at least one agent is on;
    each with its agents, the longest paused first."""
    by_type: dict[int, list[PausedAgent]] = {}
    for agent in paused:
        by_type.setdefault(agent.pause_type_id, []).append(agent)
    return [
        PauseUse(type_id, name, paid, tuple(sorted(by_type[type_id], key=lambda a: a.since)))
        for type_id, name, paid in pause_types
        if by_type.get(type_id)
    ]
