"""When a scheduled report is due, and which period it covers (R-5.5). Pure: ``now`` is
passed in.

A daily report covers yesterday, a weekly one the last Monday-to-Sunday week, a monthly one
the last calendar month: always whole local days of the centre's time zone
(:class:`~reports.report_period.Period`). It is due at ``send_at`` local time on the day
after its period ends; that moment is taken through ``zoneinfo``, so across a clock change
a sending is neither skipped nor made twice (a time that does not exist that night, in the
spring gap, is sent at the same wall time shifted by the change, i.e. an hour later). A
one-off ("once") report covers the period it names and is due at ``send_at`` on the day it
names (``send_on``; none: the day after its period), once: when it is sent, it is done.

:func:`due_periods` lists every period due at ``now`` that is not sent yet, oldest first:
after downtime the missed ones are caught up (at most :data:`MAX_CATCH_UP`). Sending each
exactly once across processes is the store's part: it records a sending per schedule and
period under a unique key before mailing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.enums import ReportPeriod
from domain.report_schedules import (  # noqa: F401 (the page's and the catalog's rules)
    MAX_RECIPIENTS,
    parse_recipients,
    stored_recipients,
)
from reports.report_period import Period

# After a long outage, send at most this many missed periods per schedule (a month of
# daily reports); older ones are left out rather than flooding the recipients.
MAX_CATCH_UP = 31


_LONGEST_DAYS = {
    ReportPeriod.ONCE: 1,
    ReportPeriod.DAILY: 1,
    ReportPeriod.WEEKLY: 7,
    ReportPeriod.MONTHLY: 31,
}


@dataclass(frozen=True)
class Timing:
    """How one schedule repeats: ``once`` covers ``first_day``..``last_day``; the others
    start covering periods from ``first_day`` on."""

    cadence: ReportPeriod
    send_at: time
    first_day: date
    last_day: date | None = None  # a one-off's last day
    time_zone: str = "Europe/Prague"
    send_on: date | None = None  # a one-off's sending day; None: the day after its period


def period_containing(cadence: ReportPeriod, day: date, time_zone: str) -> Period:
    """The daily, weekly or monthly period that holds ``day``."""
    if cadence is ReportPeriod.DAILY:
        return Period(day, day, time_zone)
    if cadence is ReportPeriod.WEEKLY:
        monday = day - timedelta(days=day.weekday())
        return Period(monday, monday + timedelta(days=6), time_zone)
    if cadence is ReportPeriod.MONTHLY:
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return Period(first, following - timedelta(days=1), time_zone)
    raise ValueError("a one-off report names its own period")


def sending_moment(period: Period, send_at: time, send_on: date | None = None) -> datetime:
    """``send_at`` local time on ``send_on`` (None: the day after ``period`` ends), in UTC."""
    day = send_on or period.last_day + timedelta(days=1)
    local = datetime.combine(day, send_at, tzinfo=ZoneInfo(period.time_zone))
    # zoneinfo reads a wall time in the spring gap with the offset before the change,
    # which lands after the gap in UTC: later, never earlier, never twice.
    return local.astimezone(UTC)


def due_periods(timing: Timing, sent: frozenset[date], now: datetime) -> list[Period]:
    """The periods due at ``now`` whose first day is not in ``sent``, oldest first."""
    if timing.cadence is ReportPeriod.ONCE:
        once = Period(timing.first_day, timing.last_day or timing.first_day, timing.time_zone)
        moment = sending_moment(once, timing.send_at, timing.send_on)
        due = moment <= now and once.first_day not in sent
        return [once] if due else []
    found: list[Period] = []
    # Start no further back than the catch-up reaches: a schedule years old costs the same.
    today = now.astimezone(ZoneInfo(timing.time_zone)).date()
    reach = timedelta(days=_LONGEST_DAYS[timing.cadence] * (MAX_CATCH_UP + 2))
    start = max(timing.first_day, today - reach)
    period = period_containing(timing.cadence, start, timing.time_zone)
    while sending_moment(period, timing.send_at) <= now:
        if period.first_day not in sent and period.first_day >= timing.first_day:
            found.append(period)
        period = period_containing(
            timing.cadence, period.last_day + timedelta(days=1), timing.time_zone
        )
    return found[-MAX_CATCH_UP:]


# --------------------------------------------------------------------------- the schedules


def first_period_day(cadence: ReportPeriod, today: date, time_zone: str) -> date:
    """A new schedule's first day: the period running today is the first one sent."""
    return period_containing(cadence, today, time_zone).first_day


def sent_first_days(
    cadence: ReportPeriod,
    logged: Iterable[tuple[date, date]],
    time_zone: str,
    last_day: date | None = None,
) -> frozenset[date]:
    """The first days of the logged periods that are periods of ``cadence``: a schedule
    changed from daily to weekly does not take a sent Monday for a sent week; a one-off's
    (``last_day``: its last day) only its own period."""
    if cadence is ReportPeriod.ONCE:
        return frozenset(first for first, last in logged if last == last_day)
    return frozenset(
        first
        for first, last in logged
        if (p := period_containing(cadence, first, time_zone)).first_day == first
        and p.last_day == last
    )
