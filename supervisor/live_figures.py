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
