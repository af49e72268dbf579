"""Reachability and service level (R-5.4) on a small day of calls, as the flows record them.

Runs on SQLite and, with HOTLINE_TEST_DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db import backoffice_queue as bq
from db import calls
from db.models import Call, CallState, Direction, Queue, RingOutcome, Setting
from tests.backoffice.office import Office, answer, build_office, inbound_call, leave

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DAY = (T0, T0 + timedelta(days=1))


def t(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


@pytest.fixture
def day(engine: Engine) -> Office:
    """Eight finished inbound calls, one live, one outbound, one the day before."""
    with Session(engine) as s, s.begin():
        office = build_office(s)
        # A: answered after 10 s of waiting
        a = inbound_call(s, office, "600000001", t(0))
        answer(s, a, t(10))
        calls.close_call(s, a, CallState.ANSWERED, t(100))
        # B: answered after 45 s
        b = inbound_call(s, office, "600000002", t(200))
        answer(s, b, t(245))
        calls.close_call(s, b, CallState.ANSWERED, t(300))
        # C: pressed # 15 s in while an agent rang, left a 30 s message
        c = inbound_call(s, office, "600000003", t(400))
        ring = calls.direct_offer(s, c, None, "PJSIP/101", t(405))
        assert ring is not None
        calls.end_offer(s, ring.attempt_id, RingOutcome.CANCELLED, t(415))
        leave(s, office.messages, "message", "600000003", t(450), call_id=c, duration_s=30)
        calls.close_call(s, c, CallState.VOICEMAIL, t(452))
        # D: pressed 0 for a callback after 50 s of music
        d = inbound_call(s, office, "600000004", t(500))
        leave(s, office.callbacks, "callback", "600000004", t(550), call_id=d)
        calls.close_call(s, d, CallState.CALLBACK, t(553))
        # J: pressed # after 12 s of music; 3 s greeting, 30 s message stored at 45 s
        j = inbound_call(s, office, "600000010", t(600))
        leave(s, office.messages, "message", "600000010", t(645), call_id=j, duration_s=30)
        calls.close_call(s, j, CallState.VOICEMAIL, t(646))
        # E: hung up waiting, then called back by an agent who got through: recovered
        inbound_call(s, office, "600000005", t(700), end=CallState.ABANDONED_QUEUE)
        back = calls.open_call(
            s,
            uniqueid=uuid.uuid4().hex,
            direction=Direction.OUTBOUND,
            now=t(900),
            callee_number="+420600000005",
        )
        row = s.get(Call, back.id)
        assert row is not None
        row.answered_at, row.state = t(910), CallState.ANSWERED
        # F: hung up while ringing, never reached again (a later attempt was not answered)
        f = inbound_call(s, office, "600000006", t(1000))
        calls.direct_offer(s, f, None, "PJSIP/101", t(1005))
        calls.close_call(s, f, CallState.ABANDONED_RINGING, t(1020))
        inbound_call(s, office, "600000006", t(2000), end=CallState.ABANDONED_QUEUE)
        # G: a closed queue, no request left
        inbound_call(s, office, "600000007", t(1100), end=CallState.CLOSED)
        # H: still waiting: not counted yet
        inbound_call(s, office, "600000008", t(1200))
        # the day before: outside the window
        inbound_call(s, office, "600000009", t(-3600), end=CallState.ABANDONED_QUEUE)
    return office


def test_the_days_figures(engine: Engine, day: Office) -> None:
    with Session(engine) as s:
        kpi = bq.kpi_for_calls(s, *DAY)
    assert kpi.service_level_s == 20
    assert (kpi.calls, kpi.in_progress) == (9, 1)  # A B C D J E F F' G; H is live
    assert (kpi.answered, kpi.voicemail, kpi.callback) == (2, 2, 1)
    assert (kpi.abandoned, kpi.closed, kpi.other) == (3, 1, 0)
    assert kpi.reached == 5  # A B C D J
    assert kpi.within_service_level == 3  # A (10 s), C (# at 15 s), J (# at 15 s)
    assert (kpi.lost, kpi.lost_not_recovered) == (3, 2)  # E was called back and answered
    assert kpi.reachability == pytest.approx(5 / 9)
    assert kpi.service_level == pytest.approx(3 / 9)


def test_the_threshold_comes_from_the_argument_or_the_setting(engine: Engine, day: Office) -> None:
    with Session(engine) as s, s.begin():
        assert bq.kpi_for_calls(s, *DAY, service_level_s=50).within_service_level == 5
        assert bq.kpi_for_calls(s, *DAY, service_level_s=9).within_service_level == 0
        s.add(Setting(key="service_level_s", value="45"))
        s.flush()
        kpi = bq.kpi_for_calls(s, *DAY)
    assert (kpi.service_level_s, kpi.within_service_level) == (45, 4)  # A B C J


def test_per_queue_and_empty_windows(engine: Engine, day: Office) -> None:
    with Session(engine) as s, s.begin():
        other = Queue(code="billing", name="Billing")
        s.add(other)
        s.flush()
        assert bq.kpi_for_calls(s, *DAY, queue_id=day.queue).calls == 9
        empty = bq.kpi_for_calls(s, *DAY, queue_id=other.id)
        assert (empty.calls, empty.reachability, empty.service_level) == (0, None, None)
        before = bq.kpi_for_calls(s, t(-7200), T0)
        assert (before.calls, before.lost, before.lost_not_recovered) == (1, 1, 1)
