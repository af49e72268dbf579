"""Business hours, holidays and weekends in the contact centre's time zone (R-1.10, R-1.11);
outside them a call goes to voicemail or a callback (R-3.4).

Pure: no I/O, time passed in as an aware ``now``. Local time comes from ``zoneinfo``, so a
window such as Mon-Fri 08:00-17:00 means 08:00 on the wall clock in Prague on both sides of a
daylight-saving change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from domain.enums import ClosedAction

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class ClosedReason(StrEnum):
    OPEN = "open"
    HOLIDAY = "holiday"
    WEEKEND = "weekend"
    OUTSIDE_HOURS = "outside_hours"


@dataclass(frozen=True)
class OpenWindow:
    """Open on ``weekday`` (Monday = 0) from ``opens`` to ``closes`` (local wall clock)."""

    weekday: int
    opens: time
    closes: time

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0-6, got {self.weekday}")
        if not self.opens < self.closes:
            raise ValueError(f"a window must open before it closes: {self.opens}-{self.closes}")


@dataclass(frozen=True)
class ClosedRule:
    """A closed-time window with its own action; ``weekday`` None means every day."""

    weekday: int | None
    starts: time
    ends: time
    action: ClosedAction

    def covers(self, local: datetime) -> bool:
        if self.weekday is not None and local.weekday() != self.weekday:
            return False
        moment = local.time()
        if self.starts <= self.ends:
            return self.starts <= moment < self.ends
        return moment >= self.starts or moment < self.ends  # wraps midnight (e.g. 20:00-06:00)


@dataclass(frozen=True)
class Schedule:
    """When a queue takes calls, and what it does with the others."""

    time_zone: str
    windows: tuple[OpenWindow, ...] = ()
    holidays: frozenset[date] = frozenset()
    closed_on_weekends: bool = False
    closed_action: ClosedAction = ClosedAction.ANNOUNCE
    closed_rules: tuple[ClosedRule, ...] = ()
    zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone", ZoneInfo(self.time_zone))

    def local(self, now: datetime) -> datetime:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        return now.astimezone(self.zone)

    def status(self, now: datetime) -> ClosedReason:
        """Open, or why not, at the instant ``now``."""
        local = self.local(now)
        if local.date() in self.holidays:
            return ClosedReason.HOLIDAY
        if self.closed_on_weekends and local.weekday() >= 5:
            return ClosedReason.WEEKEND
        moment = local.time()
        for window in self.windows:
            if window.weekday == local.weekday() and window.opens <= moment < window.closes:
                return ClosedReason.OPEN
        return ClosedReason.OUTSIDE_HOURS

    def is_open(self, now: datetime) -> bool:
        return self.status(now) is ClosedReason.OPEN

    def closed_day(self, now: datetime) -> bool:
        """A holiday, or a weekend the queue is closed on: closed all day."""
        return self.status(now) in (ClosedReason.HOLIDAY, ClosedReason.WEEKEND)

    def rule_action(self, now: datetime) -> ClosedAction | None:
        """The action of the closed-time rule covering ``now``, if one does."""
        local = self.local(now)
        return next((rule.action for rule in self.closed_rules if rule.covers(local)), None)

    def action_when_closed(self, now: datetime) -> ClosedAction:
        """The closed action in force at ``now``: the first covering rule, else the queue's."""
        action = self.rule_action(now)
        return self.closed_action if action is None else action

    def next_opening(self, now: datetime, horizon_days: int = 370) -> datetime | None:
        """The next instant the queue opens (aware, in the centre's zone), or None."""
        local = self.local(now)
        for offset in range(horizon_days + 1):
            day = local.date() + timedelta(days=offset)
            if day in self.holidays or (self.closed_on_weekends and day.weekday() >= 5):
                continue
            for window in sorted(
                (w for w in self.windows if w.weekday == day.weekday()), key=lambda w: w.opens
            ):
                opening = datetime.combine(day, window.opens, tzinfo=self.zone)
                closing = datetime.combine(day, window.closes, tzinfo=self.zone)
                if offset == 0 and local >= closing:
                    continue
                return max(opening, local) if offset == 0 and opening <= local else opening
        return None


def week_summary(windows: Iterable[OpenWindow]) -> list[tuple[int, time, time]]:
    """Opening hours sorted by weekday and time, for announcing them (R-1.10)."""
    return sorted((w.weekday, w.opens, w.closes) for w in windows)
