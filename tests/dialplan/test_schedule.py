"""Opening hours, holidays, weekends and closed-time actions in Prague time (R-1.10), which
send a closed-time call to voicemail when the rules say so (R-3.4)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialplan.schedule import (
    ClosedReason,
    ClosedRule,
    OpenWindow,
    Schedule,
)
from domain.enums import ClosedAction

PRAGUE = ZoneInfo("Europe/Prague")
WEEKDAYS_8_TO_17 = tuple(OpenWindow(d, time(8), time(17)) for d in range(5))


def at(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    """A wall-clock moment in Prague, as the UTC instant the server would see."""
    return datetime(y, mo, d, h, mi, tzinfo=PRAGUE).astimezone(UTC)


def test_open_inside_the_window_and_closed_at_closing_time() -> None:
    s = Schedule("Europe/Prague", windows=WEEKDAYS_8_TO_17)
    assert s.status(at(2026, 11, 23, 7, 59)) is ClosedReason.OUTSIDE_HOURS  # a Monday
    assert s.status(at(2026, 11, 23, 8, 0)) is ClosedReason.OPEN
    assert s.status(at(2026, 11, 23, 16, 59)) is ClosedReason.OPEN
    assert s.status(at(2026, 11, 23, 17, 0)) is ClosedReason.OUTSIDE_HOURS


@pytest.mark.parametrize(
    "moment",
    [
        at(2026, 3, 27, 8, 30),  # Friday before the spring change: UTC+1
        at(2026, 3, 30, 8, 30),  # Monday after it: UTC+2
        at(2026, 10, 26, 8, 30),  # Monday after the autumn change: UTC+1 again
    ],
)
def test_hours_follow_the_wall_clock_across_daylight_saving(moment: datetime) -> None:
    s = Schedule("Europe/Prague", windows=WEEKDAYS_8_TO_17)
    assert s.is_open(moment)
    assert not s.is_open(moment - timedelta(minutes=31))


def test_the_same_utc_hour_is_open_in_summer_and_closed_in_winter() -> None:
    s = Schedule("Europe/Prague", windows=WEEKDAYS_8_TO_17)
    # 06:30 UTC is 08:30 in summer (open) but 07:30 in winter (closed).
    assert s.is_open(datetime(2026, 7, 6, 6, 30, tzinfo=UTC))
    assert not s.is_open(datetime(2026, 12, 7, 6, 30, tzinfo=UTC))


def test_a_holiday_closes_a_working_day() -> None:
    s = Schedule(
        "Europe/Prague", windows=WEEKDAYS_8_TO_17, holidays=frozenset({date(2026, 12, 24)})
    )
    assert s.status(at(2026, 12, 24, 10)) is ClosedReason.HOLIDAY
    assert s.is_open(at(2026, 12, 23, 10))


def test_weekend_rule_closes_even_configured_saturday_hours() -> None:
    windows = (*WEEKDAYS_8_TO_17, OpenWindow(5, time(9), time(12)))
    assert Schedule("Europe/Prague", windows=windows).is_open(at(2026, 11, 28, 10))
    closed = Schedule("Europe/Prague", windows=windows, closed_on_weekends=True)
    assert closed.status(at(2026, 11, 28, 10)) is ClosedReason.WEEKEND


def test_closed_rules_pick_the_action_per_time_window() -> None:
    night_to_voicemail = ClosedRule(None, time(20), time(6), ClosedAction.VOICEMAIL)
    s = Schedule(
        "Europe/Prague",
        windows=WEEKDAYS_8_TO_17,
        closed_action=ClosedAction.ANNOUNCE,
        closed_rules=(night_to_voicemail,),
    )
    assert s.action_when_closed(at(2026, 11, 23, 18)) is ClosedAction.ANNOUNCE
    assert s.action_when_closed(at(2026, 11, 23, 22)) is ClosedAction.VOICEMAIL
    assert s.action_when_closed(at(2026, 11, 24, 5, 59)) is ClosedAction.VOICEMAIL
    assert s.action_when_closed(at(2026, 11, 24, 6)) is ClosedAction.ANNOUNCE
    # Only a covering rule has an action of its own (a support-turn queue asks, R-1.11).
    assert s.rule_action(at(2026, 11, 23, 22)) is ClosedAction.VOICEMAIL
    assert s.rule_action(at(2026, 11, 23, 18)) is None


def test_a_holiday_and_a_closed_weekend_are_closed_days() -> None:
    s = Schedule(
        "Europe/Prague",
        windows=WEEKDAYS_8_TO_17,
        holidays=frozenset({date(2026, 11, 24)}),
        closed_on_weekends=True,
    )
    assert s.closed_day(at(2026, 11, 24, 10))  # the holiday, inside the usual hours
    assert s.closed_day(at(2026, 11, 28, 10))  # Saturday
    assert not s.closed_day(at(2026, 11, 23, 20))  # an ordinary Monday evening


def test_next_opening_skips_holidays_and_weekends() -> None:
    s = Schedule(
        "Europe/Prague",
        windows=WEEKDAYS_8_TO_17,
        holidays=frozenset({date(2026, 12, 24), date(2026, 12, 25)}),
        closed_on_weekends=True,
    )
    # Wednesday 23 Dec after hours -> 24, 25 holidays, 26-27 weekend -> Monday 28 at 08:00.
    opening = s.next_opening(at(2026, 12, 23, 18))
    assert opening == datetime(2026, 12, 28, 8, 0, tzinfo=PRAGUE)
    assert s.next_opening(at(2026, 12, 28, 9)) == datetime(2026, 12, 28, 9, 0, tzinfo=PRAGUE)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Schedule("Europe/Prague").is_open(datetime(2026, 1, 1, 10))


def test_a_window_must_open_before_it_closes() -> None:
    with pytest.raises(ValueError):
        OpenWindow(0, time(17), time(8))


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1)))
def test_open_exactly_when_the_local_time_is_in_a_window(naive: datetime) -> None:
    moment = naive.replace(tzinfo=UTC)
    s = Schedule("Europe/Prague", windows=WEEKDAYS_8_TO_17)
    local = moment.astimezone(PRAGUE)
    expected = local.weekday() < 5 and time(8) <= local.time() < time(17)
    assert s.is_open(moment) is expected
    if not expected:
        nxt = s.next_opening(moment)
        assert nxt is not None and nxt > moment and s.is_open(nxt)
