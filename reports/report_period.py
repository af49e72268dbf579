"""The period of a report (R-5.3): whole days in the centre's time zone, DST-safe.

A report covers local days ``first_day`` to ``last_day`` inclusive. Its bounds in UTC are
the local midnights, taken through ``zoneinfo``, so a day with a clock change is 23 or 25
hours long and no call is counted twice or lost. Pure: the routes pass ``today``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.refusals import BadInputError
from domain.texts import N_

# A year and a day: a leap year's whole year fits; more is a job for the call records.
MAX_DAYS = 366

BAD_DATE = N_("Enter the dates as YYYY-MM-DD.")
BACKWARDS = N_("The period ends before it starts.")
TOO_LONG = N_("A report covers at most %(days)s days.")


@dataclass(frozen=True)
class Period:
    """Local days ``first_day`` to ``last_day`` inclusive in ``time_zone``."""

    first_day: date
    last_day: date
    time_zone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def since(self) -> datetime:
        """The first local midnight, in UTC."""
        return local_midnight(self.first_day, self.zone)

    @property
    def until(self) -> datetime:
        """The local midnight after the last day, in UTC (exclusive)."""
        return local_midnight(self.last_day + timedelta(days=1), self.zone)

    @property
    def days(self) -> list[date]:
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=i) for i in range(count)]


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def month_so_far(today: date, time_zone: str) -> Period:
    """The default period: the first of this month to today."""
    return Period(today.replace(day=1), today, time_zone)


def parse_period(first: str, last: str, time_zone: str) -> Period:
    """A period from the form's ``YYYY-MM-DD`` dates; a clear refusal when it cannot be one."""
    try:
        first_day = date.fromisoformat(first.strip())
        last_day = date.fromisoformat(last.strip())
    except ValueError:
        raise BadInputError(BAD_DATE) from None
    if last_day < first_day:
        raise BadInputError(BACKWARDS)
    if (last_day - first_day).days + 1 > MAX_DAYS:
        raise BadInputError(TOO_LONG, {"days": MAX_DAYS})
    return Period(first_day, last_day, time_zone)
