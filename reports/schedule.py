"""When a scheduled report is due, and which period it covers (R-5.5). Pure: ``now`` is
passed in.

A daily report covers yesterday, a weekly one the last Monday-to-Sunday week, a monthly one
the last calendar month: always whole local days of the centre's time zone
(:class:`~reports.report_period.Period`). It is due at ``send_at`` local time on the day
after its period ends; that moment is taken through ``zoneinfo``, so across a clock change
a sending is neither skipped nor made twice (a time that does not exist that night, in the
spring gap, is sent at the same wall time shifted by the change, i.e. an hour later). A
one-off ("once") report covers the period it names and is due once the period is over.

:func:`due_periods` lists every period due at ``now`` that is not sent yet, oldest first:
after downtime the missed ones are caught up (at most :data:`MAX_CATCH_UP`). Sending each
exactly once across processes is the store's part: it records a sending per schedule and
period under a unique key before mailing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from domain.refusals import BadInputError
from domain.texts import N_
from reports.report_period import Period

# After a long outage, send at most this many missed periods per schedule (a month of
# daily reports); older ones are left out rather than flooding the recipients.
MAX_CATCH_UP = 31


class Cadence(StrEnum):
    ONCE = "once"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


_LONGEST_DAYS = {Cadence.ONCE: 1, Cadence.DAILY: 1, Cadence.WEEKLY: 7, Cadence.MONTHLY: 31}


@dataclass(frozen=True)
class Timing:
    """How one schedule repeats: ``once`` covers ``first_day``..``last_day``; the others
    start covering periods from ``first_day`` on."""

    cadence: Cadence
    send_at: time
    first_day: date
    last_day: date | None = None  # a one-off's last day
    time_zone: str = "Europe/Prague"


def period_containing(cadence: Cadence, day: date, time_zone: str) -> Period:
    """The daily, weekly or monthly period that holds ``day``."""
    if cadence is Cadence.DAILY:
        return Period(day, day, time_zone)
    if cadence is Cadence.WEEKLY:
        monday = day - timedelta(days=day.weekday())
        return Period(monday, monday + timedelta(days=6), time_zone)
    if cadence is Cadence.MONTHLY:
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return Period(first, following - timedelta(days=1), time_zone)
    raise ValueError("a one-off report names its own period")


def sending_moment(period: Period, send_at: time) -> datetime:
    """``send_at`` local time on the day after ``period`` ends, in UTC."""
    day = period.last_day + timedelta(days=1)
    local = datetime.combine(day, send_at, tzinfo=ZoneInfo(period.time_zone))
    # zoneinfo reads a wall time in the spring gap with the offset before the change,
    # which lands after the gap in UTC: later, never earlier, never twice.
    return local.astimezone(UTC)


def due_periods(timing: Timing, sent: frozenset[date], now: datetime) -> list[Period]:
    """The periods due at ``now`` whose first day is not in ``sent``, oldest first."""
    if timing.cadence is Cadence.ONCE:
        once = Period(timing.first_day, timing.last_day or timing.first_day, timing.time_zone)
        due = sending_moment(once, timing.send_at) <= now and once.first_day not in sent
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

MAX_RECIPIENTS = 10
RECIPIENTS_MAX_CHARS = 300  # the stored list, ", "-joined (report_schedules.email_to)
NOT_AN_ADDRESS = N_("“%(field)s”: “%(value)s” is not an e-mail address.")
TOO_MANY_RECIPIENTS = N_("“%(field)s” takes at most %(limit)s addresses.")
RECIPIENTS_TOO_LONG = N_("“%(field)s” may be at most %(limit)s characters long.")
NO_RECIPIENT = N_("Please fill in “%(field)s”.")
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


def parse_recipients(text: str, label: str) -> tuple[str, ...]:
    """The addresses of a recipients' field (one a line, or commas or semicolons between
    them), each once; a clear refusal naming the field by ``label``."""
    found: list[str] = []
    for part in re.split(r"[,;\r\n]+", text):
        address = part.strip()
        if not address:
            continue
        if not _ADDRESS.fullmatch(address):
            raise BadInputError(NOT_AN_ADDRESS, {"field": label, "value": address[:80]})
        if address.lower() not in (a.lower() for a in found):
            found.append(address)
    if not found:
        raise BadInputError(NO_RECIPIENT, {"field": label})
    if len(found) > MAX_RECIPIENTS:
        raise BadInputError(TOO_MANY_RECIPIENTS, {"field": label, "limit": MAX_RECIPIENTS})
    if len(", ".join(found)) > RECIPIENTS_MAX_CHARS:
        raise BadInputError(RECIPIENTS_TOO_LONG, {"field": label, "limit": RECIPIENTS_MAX_CHARS})
    return tuple(found)


def stored_recipients(email_to: str) -> tuple[str, ...]:
    """The addresses of a stored ``email_to`` (the catalog writes them comma-separated)."""
    return tuple(a for a in (part.strip() for part in re.split(r"[,;\s]+", email_to)) if a)


def first_period_day(cadence: Cadence, today: date, time_zone: str) -> date:
    """A new schedule's first day: the period running today is the first one sent."""
    return period_containing(cadence, today, time_zone).first_day


def sent_first_days(
    cadence: Cadence, logged: Iterable[tuple[date, date]], time_zone: str
) -> frozenset[date]:
    """The first days of the logged periods that are periods of ``cadence``: a schedule
    changed from daily to weekly does not take a sent Monday for a sent week."""
    return frozenset(
        first
        for first, last in logged
        if (p := period_containing(cadence, first, time_zone)).first_day == first
        and p.last_day == last
    )
