"""The call records' pure core (R-5.1): the filter, the keyset cursor, times, reason paths,
the timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.enums import CallState, Direction
from domain.refusals import BadInputError
from reports.records import (
    Cursor,
    TimelineEvent,
    parse_call_filter,
    reason_paths,
    ringing_seconds,
    subtree,
    timeline,
)

PRAGUE = ZoneInfo("Europe/Prague")


def _parse(**fields: str):  # type: ignore[no-untyped-def]
    return parse_call_filter(fields.get, PRAGUE)


def test_a_day_period_is_the_local_day_also_across_a_dst_change() -> None:
    # 29 March 2026: Prague moves from CET to CEST, the day has 23 hours.
    flt = _parse(**{"from": "2026-03-29", "to": "2026-03-29"})
    assert flt.since == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert flt.until == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)


def test_fields_are_read_and_kept_for_the_links() -> None:
    flt = _parse(direction="in", state="answered", queue="3", overflowed="yes", rt="0042")
    assert flt.direction is Direction.INBOUND
    assert flt.state is CallState.ANSWERED
    assert flt.queue_id == 3
    assert flt.overflowed is True
    assert flt.rt_number == "0042"
    assert dict(flt.fields) == {
        "direction": "in",
        "state": "answered",
        "queue": "3",
        "overflowed": "yes",
        "rt": "0042",
    }


@pytest.mark.parametrize(
    "fields",
    [
        {"from": "yesterday"},
        {"from": "2026-03-05", "to": "2026-03-01"},
        {"direction": "sideways"},
        {"state": "happy"},
        {"queue": "-1"},
        {"overflowed": "maybe"},
        {"rt": "12345678901"},
        {"rt": "12a"},
        {"number": "no digits"},
    ],
)
def test_bad_fields_are_refused(fields: dict[str, str]) -> None:
    with pytest.raises(BadInputError):
        parse_call_filter(fields.get, PRAGUE)


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
    ),
    st.integers(min_value=1, max_value=10**12),
)
def test_a_cursor_survives_its_link(at: datetime, call_id: int) -> None:
    at = at.replace(microsecond=at.microsecond)
    back = Cursor.decode(Cursor(at, call_id).encode())
    assert back == Cursor(at, call_id)


@pytest.mark.parametrize("text", ["", "abc", "1.", ".2", "1.2.3", "9" * 30 + ".1"])
def test_a_damaged_cursor_is_refused(text: str) -> None:
    with pytest.raises(BadInputError):
        Cursor.decode(text)


def test_ringing_counts_every_attempt_and_an_open_one_up_to_the_end() -> None:
    t0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    attempts = [(t0, t0 + timedelta(seconds=20)), (t0 + timedelta(seconds=25), None)]
    assert ringing_seconds(attempts, t0 + timedelta(seconds=35)) == 30
    assert ringing_seconds(attempts, None) == 20


def test_reason_paths_and_subtrees() -> None:
    nodes = {1: (None, "Net"), 2: (1, "Outage"), 3: (2, "Fibre"), 4: (None, "Billing")}
    assert reason_paths(nodes)[3] == "Net › Outage › Fibre"
    assert subtree(nodes, 1) == {1, 2, 3}
    assert subtree(nodes, 4) == {4}
    looped = {1: (2, "a"), 2: (1, "b")}
    assert reason_paths(looped)[1] == "b › a"  # a broken tree still ends


def test_timeline_orders_by_time_then_by_the_calls_natural_order() -> None:
    t0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    events = [
        TimelineEvent(t0 + timedelta(seconds=40), "ended"),
        TimelineEvent(t0 + timedelta(seconds=40), "answered"),
        TimelineEvent(t0, "queue_entered"),
        TimelineEvent(t0, "started"),
    ]
    assert [e.kind for e in timeline(events)] == ["started", "queue_entered", "answered", "ended"]
