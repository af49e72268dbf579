"""When a scheduled report is due and which period it covers (R-5.5): whole local days,
the clock changes of Prague, catch-up after downtime, each period once."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.enums import ReportPeriod
from reports.schedule import (
    MAX_CATCH_UP,
    Timing,
    due_periods,
    period_containing,
    sending_moment,
)

ZONE = "Europe/Prague"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def days(periods: list) -> list[tuple[date, date]]:  # type: ignore[type-arg]
    return [(p.first_day, p.last_day) for p in periods]


def test_a_daily_report_covers_yesterday_and_is_due_at_its_local_time() -> None:
    timing = Timing(ReportPeriod.DAILY, time(6, 0), date(2026, 1, 10))
    # 06:00 in Prague in winter is 05:00 UTC
    assert due_periods(timing, frozenset(), utc(2026, 1, 11, 4, 59)) == []
    assert days(due_periods(timing, frozenset(), utc(2026, 1, 11, 5, 0))) == [
        (date(2026, 1, 10), date(2026, 1, 10))
    ]
    assert due_periods(timing, frozenset({date(2026, 1, 10)}), utc(2026, 1, 11, 5, 0)) == []


def test_weekly_covers_monday_to_sunday_and_monthly_the_last_calendar_month() -> None:
    week = period_containing(ReportPeriod.WEEKLY, date(2026, 3, 4), ZONE)
    assert (week.first_day, week.last_day) == (date(2026, 3, 2), date(2026, 3, 8))
    february = period_containing(ReportPeriod.MONTHLY, date(2028, 2, 10), ZONE)
    assert (february.first_day, february.last_day) == (date(2028, 2, 1), date(2028, 2, 29))
    monthly = Timing(ReportPeriod.MONTHLY, time(7, 0), date(2026, 1, 1))
    assert days(due_periods(monthly, frozenset({date(2026, 1, 1)}), utc(2026, 3, 1, 6, 0))) == [
        (date(2026, 2, 1), date(2026, 2, 28))
    ]


def test_the_clock_changes_neither_skip_nor_double_a_sending() -> None:
    # 29 March 2026: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that night.
    spring = period_containing(ReportPeriod.DAILY, date(2026, 3, 28), ZONE)
    assert sending_moment(spring, time(2, 30)) == utc(2026, 3, 29, 1, 30)  # 03:30 CEST
    assert spring.until - spring.since == timedelta(hours=24)
    assert (
        period_containing(ReportPeriod.DAILY, date(2026, 3, 29), ZONE).until
        - period_containing(ReportPeriod.DAILY, date(2026, 3, 29), ZONE).since
    ) == timedelta(hours=23)
    # 25 October 2026: 02:30 happens twice; the report goes at the first one.
    autumn = period_containing(ReportPeriod.DAILY, date(2026, 10, 24), ZONE)
    assert sending_moment(autumn, time(2, 30)) == utc(2026, 10, 25, 0, 30)
    timing = Timing(ReportPeriod.DAILY, time(2, 30), date(2026, 3, 27))
    sent: set[date] = set()
    moments = []
    now = utc(2026, 3, 27, 0, 0)
    while now < utc(2026, 3, 31, 0, 0):  # a poll every 10 minutes across the change
        for period in due_periods(timing, frozenset(sent), now):
            sent.add(period.first_day)
            moments.append((period.first_day, now))
        now += timedelta(minutes=10)
    # 30 March's report is due on 31 March: after the last poll
    assert [d for d, _ in moments] == [date(2026, 3, d) for d in (27, 28, 29)]
    assert moments[1][1] == utc(2026, 3, 29, 1, 30)  # at the first poll after 03:30 CEST


def test_after_downtime_the_missed_periods_are_caught_up_oldest_first() -> None:
    timing = Timing(ReportPeriod.DAILY, time(6, 0), date(2026, 1, 1))
    sent = frozenset(date(2026, 1, d) for d in range(1, 6))
    due = due_periods(timing, sent, utc(2026, 1, 10, 12, 0))
    assert [p.first_day for p in due] == [date(2026, 1, d) for d in range(6, 10)]
    # a year down: only the last MAX_CATCH_UP days go out
    due = due_periods(timing, sent, utc(2027, 1, 10, 12, 0))
    assert len(due) == MAX_CATCH_UP and due[-1].first_day == date(2027, 1, 9)


def test_a_one_off_report_is_due_once_its_period_is_over() -> None:
    timing = Timing(ReportPeriod.ONCE, time(8, 0), date(2026, 3, 1), date(2026, 3, 31))
    assert due_periods(timing, frozenset(), utc(2026, 4, 1, 5, 59)) == []
    [period] = due_periods(timing, frozenset(), utc(2026, 4, 1, 6, 0))  # 08:00 CEST
    assert (period.first_day, period.last_day) == (date(2026, 3, 1), date(2026, 3, 31))
    assert due_periods(timing, frozenset({date(2026, 3, 1)}), utc(2026, 5, 1)) == []


@settings(max_examples=60, deadline=None)
@given(
    cadence=st.sampled_from((ReportPeriod.DAILY, ReportPeriod.WEEKLY, ReportPeriod.MONTHLY)),
    send_at=st.times(),
    polls=st.lists(st.integers(1, 3 * 24 * 3600), min_size=1, max_size=60),
)
def test_polling_at_any_times_sends_every_period_once_in_order_never_early(
    cadence: ReportPeriod, send_at: time, polls: list[int]
) -> None:
    timing = Timing(cadence, send_at.replace(tzinfo=None), date(2026, 3, 2))
    now = utc(2026, 3, 2, 0, 0)
    sent: list[date] = []
    for step_s in polls:
        now += timedelta(seconds=step_s * (10 if cadence is ReportPeriod.MONTHLY else 1))
        for period in due_periods(timing, frozenset(sent), now):
            assert sending_moment(period, timing.send_at) <= now
            sent.append(period.first_day)
    assert len(sent) == len(set(sent)) and sent == sorted(sent)
    # every period that ended and whose moment passed is sent: nothing left behind
    assert due_periods(timing, frozenset(sent), now) == []
    expected = []
    period = period_containing(cadence, timing.first_day, ZONE)
    while sending_moment(period, timing.send_at) <= now:
        if period.first_day >= timing.first_day:  # a period begun before the schedule: no
            expected.append(period.first_day)
        period = period_containing(cadence, period.last_day + timedelta(days=1), ZONE)
    assert sent == expected[-len(sent) :] if sent else expected == []
