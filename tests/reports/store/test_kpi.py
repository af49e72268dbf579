"""Reachability and service level (R-5.4) on a small day of calls, as the flows record them.

Runs on SQLite and, with HOTLINE_TEST_DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from db.models import Call, Queue, Setting
from dialplan.store import calls
from domain.enums import CallState, Direction, RingOutcome
from reports.store.kpi import kpi_for_calls
from tests.support.back_office import Office, answer, build_office, inbound_call, leave
from tests.support.time import T0, t

DAY = (T0, T0 + timedelta(days=1))


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
        kpi = kpi_for_calls(s, *DAY)
    assert kpi.service_level_s == 20
    assert (kpi.calls, kpi.in_progress) == (9, 1)  # A B C D J E F F' G; H is live
    assert (kpi.answered, kpi.voicemail, kpi.callback) == (2, 2, 1)
    assert (kpi.abandoned, kpi.closed, kpi.other) == (3, 1, 0)
    assert kpi.reached == 5  # A B C D J
    assert kpi.within_service_level == 3  # A (10 s), C (# at 15 s), J (# at 15 s)
    assert (kpi.lost, kpi.lost_not_recovered) == (3, 2)  # E was called back and answered
    assert kpi.reachability == pytest.approx(5 / 9)
    assert kpi.service_level == pytest.approx(3 / 9)


def test_a_threshold_argument_recomputes_from_the_same_moments(engine: Engine, day: Office) -> None:
    with Session(engine) as s, s.begin():
        assert kpi_for_calls(s, *DAY, service_level_s=50).within_service_level == 5
        assert kpi_for_calls(s, *DAY, service_level_s=9).within_service_level == 0
        assert kpi_for_calls(s, *DAY, service_level_s=45).within_service_level == 4  # A B C J
        assert kpi_for_calls(s, *DAY, service_level_s=20) == kpi_for_calls(s, *DAY)
        stored = dict(s.execute(select(Call.caller_number, Call.within_service_level)).all())
    # What the flows stored on each call when it happened, with the default 20 s.
    assert {n: stored[n] for n in ("600000001", "600000002", "600000003", "600000004")} == {
        "600000001": True,  # A: answered after 10 s
        "600000002": False,  # B: answered after 45 s
        "600000003": True,  # C: # while ringing, 15 s in
        "600000004": False,  # D: 0 after 50 s
    }
    assert stored["600000010"] is True  # J: # after 12 s, greeting and message later


def test_per_queue_and_empty_windows(engine: Engine, day: Office) -> None:
    with Session(engine) as s, s.begin():
        other = Queue(code="billing", name="Billing")
        s.add(other)
        s.flush()
        assert kpi_for_calls(s, *DAY, queue_id=day.queue).calls == 9
        empty = kpi_for_calls(s, *DAY, queue_id=other.id)
        assert (empty.calls, empty.reachability, empty.service_level) == (0, None, None)
        before = kpi_for_calls(s, t(-7200), T0)
        assert (before.calls, before.lost, before.lost_not_recovered) == (1, 1, 1)


def test_the_setting_applies_to_calls_from_when_it_is_set(engine: Engine) -> None:
    """Each call keeps the threshold in force when it was answered or chose a box: a
    changed setting does not rewrite yesterday's service level."""
    with Session(engine) as s, s.begin():
        office = build_office(s)
        s.add(Setting(key="service_level_s", value="45"))
        s.flush()
        slow = inbound_call(s, office, "600000001", t(0))
        answer(s, slow, t(40))  # within 45 s
        calls.close_call(s, slow, CallState.ANSWERED, t(100))
        late = inbound_call(s, office, "600000002", t(200))
        leave(s, office.callbacks, "callback", "600000002", t(240), call_id=late)
        calls.close_call(s, late, CallState.CALLBACK, t(241))
        s.get(Setting, "service_level_s").value = "20"  # type: ignore[union-attr]
        s.flush()
        later = inbound_call(s, office, "600000003", t(300))
        answer(s, later, t(340))  # not within 20 s
        calls.close_call(s, later, CallState.ANSWERED, t(400))
        stored = {c.id: c.within_service_level for c in s.scalars(select(Call))}
        kpi = kpi_for_calls(s, *DAY)
        what_if = kpi_for_calls(s, *DAY, service_level_s=45)
    assert stored == {slow: True, late: True, later: False}
    assert (kpi.service_level_s, kpi.within_service_level) == (20, 2)
    assert what_if.within_service_level == 3


# --------------------------------------------------------------------------- through the flows

SUPPORT_DID = "222111001"  # straight to the support queue; nobody is logged in


def test_a_box_chosen_within_the_threshold_is_stored_on_the_call_as_within(
    db_url: str, tmp_path: Path
) -> None:
    """Real callers through the real flows (simulated Asterisk): # and 0 pressed after 10 s
    of waiting count as reached within the 20 s service level, after 30 s as reached but
    not within; the report counts what the calls carry. With a 45 s threshold set, the
    same choices are all within."""
    from simulator.switch import CallerScript
    from tests.support.e2e_world import make_e2e_world

    world = make_e2e_world(db_url, tmp_path)
    for number, key, at_s in (
        ("600000010", "#", 10.0),
        ("600000030", "#", 30.0),
        ("600000011", "0", 10.0),
        ("600000031", "0", 30.0),
    ):
        world.call(CallerScript(did=SUPPORT_DID, caller_id_num=number, keys=((at_s, key),)))
    world.run(120)
    start = world.now()
    with Session(world.engine) as s, s.begin():
        s.add(Setting(key="service_level_s", value="45"))
    for number in ("600000130", "600000131"):
        key = "#" if number.endswith("0") else "0"
        world.call(CallerScript(did=SUPPORT_DID, caller_id_num=number, keys=((30.0, key),)))
    world.run(120)
    with Session(world.engine) as s:
        stored = {
            c.caller_number: (c.state.value, c.reached, c.within_service_level)
            for c in s.scalars(select(Call))
        }
        first = kpi_for_calls(s, T0, start)
        second = kpi_for_calls(s, start, world.now())
    assert stored == {
        "600000010": ("voicemail", True, True),
        "600000030": ("voicemail", True, False),
        "600000011": ("callback", True, True),
        "600000031": ("callback", True, False),
        "600000130": ("voicemail", True, True),
        "600000131": ("callback", True, True),
    }
    assert (first.calls, first.reached, first.within_service_level) == (4, 4, 2)
    assert (second.calls, second.reached, second.within_service_level) == (2, 2, 2)
    world.engine.dispose()


def test_a_lost_caller_counts_as_recovered_by_any_of_their_numbers_or_their_customer(
    engine: Engine,
) -> None:
    """R-4.5: a lost caller later connected in either direction stops counting: through
    another number of the customer they are, the same number written another way, or any
    call matched to their customer; an answer before they hung up does not count."""
    with Session(engine) as s, s.begin():
        office = build_office(s)
        # Novák hangs up from one of his numbers, then gets through from the other one.
        inbound_call(s, office, "777123456", t(0), end=CallState.ABANDONED_QUEUE)
        later = inbound_call(s, office, "+420602111222", t(100))
        answer(s, later, t(110))
        calls.close_call(s, later, CallState.ANSWERED, t(200))
        # Svobodová hangs up; an agent's call that the form matched to her gets through.
        inbound_call(s, office, "00420731000111", t(300), end=CallState.ABANDONED_QUEUE)
        back = calls.open_call(
            s,
            uniqueid=uuid.uuid4().hex,
            direction=Direction.OUTBOUND,
            now=t(400),
            callee_number="555",  # a colleague's line she was reached at
        )
        row = s.get(Call, back.id)
        assert row is not None
        row.customer_id, row.answered_at, row.state = office.svoboda, t(410), CallState.ANSWERED
        # A stranger was answered once, then hung up waiting: not recovered.
        first = inbound_call(s, office, "600000099", t(500))
        answer(s, first, t(505))
        calls.close_call(s, first, CallState.ANSWERED, t(600))
        inbound_call(s, office, "+420600000099", t(700), end=CallState.ABANDONED_QUEUE)
        # Another stranger, never reached again.
        inbound_call(s, office, "600000098", t(800), end=CallState.ABANDONED_RINGING)
    with Session(engine) as s:
        kpi = kpi_for_calls(s, *DAY)
    assert (kpi.lost, kpi.lost_not_recovered) == (4, 2)
