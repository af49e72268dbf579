"""Every report's numbers (R-5.3, as R-5.4's docs/kpi.md defines them) against a brute-force
recount of generated histories.

Hypothesis draws a few days of call records around a period that holds the spring clock
change in Prague (29 March 2026): inbound and outbound calls in two queues and none,
answered, in a box, abandoned, closed, transferred or still live, with ring attempts, IVR
keys, reason paths, processing, agent sessions and pauses. The test stores them, asks the
store for each report, and recounts the same from the drawn history in plain Python, for
the whole centre and for a supervisor who has the right to one queue only (R-7.4).
Runs on SQLite and, with HOTLINE_TEST_DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.models import (
    Agent,
    AgentSession,
    Call,
    Did,
    IvrKeyPress,
    IvrMenu,
    IvrOption,
    PauseRecord,
    PauseType,
    PhoneSeat,
    Queue,
    QueueRight,
    ReasonNode,
    RingAttempt,
)
from domain.enums import (
    AgentState,
    CallState,
    Direction,
    IvrOutcome,
    ReasonDirection,
    RingOutcome,
)
from reports.report_period import Period
from reports.store import figures

PRAGUE = ZoneInfo("Europe/Prague")
PERIOD = Period(date(2026, 3, 28), date(2026, 3, 30), "Europe/Prague")  # holds the DST change
ORIGIN = PERIOD.since - timedelta(hours=12)  # calls start from half a day before
SPAN_S = int((PERIOD.until - ORIGIN).total_seconds()) + 12 * 3600
NOW = PERIOD.until + timedelta(hours=6)
AGENTS = ("Ann", "Bob", "Cyril")
PAUSES = ("Lunch", "Training")
DIDS = ("+420500000001", "+420500000002", "")

INBOUND_ENDS = (
    CallState.ANSWERED,
    CallState.VOICEMAIL,
    CallState.CALLBACK,
    CallState.ABANDONED_QUEUE,
    CallState.ABANDONED_RINGING,
    CallState.ABANDONED_IVR,
    CallState.CLOSED,
    CallState.TRANSFERRED,
    CallState.WAITING,
)
OUTBOUND_ENDS = (CallState.ANSWERED, CallState.NO_ANSWER, CallState.BUSY, CallState.RINGING)


@dataclass(frozen=True)
class Ring:
    agent: int
    outcome: RingOutcome
    after_s: int


@dataclass(frozen=True)
class CallSpec:
    direction: Direction
    state: CallState
    queue: int | None  # 0 or 1, None: never reached a queue
    start_s: int
    wait_s: int
    talk_s: int
    agent: int | None
    did: int
    reason: int | None  # index into the reason leaves
    processed: tuple[int, int] | None  # (agent, seconds after the end)
    keys: tuple[tuple[str, IvrOutcome], ...]
    rings: tuple[Ring, ...]

    @property
    def started_at(self) -> datetime:
        return ORIGIN + timedelta(seconds=self.start_s)

    @property
    def answered(self) -> bool:
        return self.state is CallState.ANSWERED

    @property
    def live(self) -> bool:
        return self.state in (CallState.WAITING, CallState.RINGING)

    @property
    def queue_entered_at(self) -> datetime | None:
        if self.direction is Direction.OUTBOUND or self.queue is None:
            return None
        return self.started_at + timedelta(seconds=5)

    @property
    def answered_at(self) -> datetime | None:
        if not self.answered:
            return None
        return self.started_at + timedelta(seconds=5 + self.wait_s)

    @property
    def ended_at(self) -> datetime | None:
        if self.live:
            return None
        end = self.started_at + timedelta(seconds=5 + self.wait_s)
        return end + timedelta(seconds=self.talk_s) if self.answered else end


@dataclass(frozen=True)
class Interval:
    agent: int
    kind: int  # pause type index; unused for sessions
    start_s: int
    length_s: int | None  # None: still open


@dataclass(frozen=True)
class History:
    calls: tuple[CallSpec, ...]
    sessions: tuple[Interval, ...]
    pauses: tuple[Interval, ...]


KEYS = st.tuples(st.sampled_from(("1", "2", "9")), st.sampled_from(tuple(IvrOutcome))).map(
    lambda k: (k[0] if k[1] is not IvrOutcome.TIMEOUT else "", k[1])
)


@st.composite
def call_specs(draw: st.DrawFn) -> CallSpec:
    direction = draw(st.sampled_from((Direction.INBOUND, Direction.INBOUND, Direction.OUTBOUND)))
    if direction is Direction.INBOUND:
        state = draw(st.sampled_from(INBOUND_ENDS))
        queue = None if state is CallState.ABANDONED_IVR else draw(st.sampled_from((0, 1)))
    else:
        state = draw(st.sampled_from(OUTBOUND_ENDS))
        queue = draw(st.sampled_from((0, 1, None)))
    answered = state is CallState.ANSWERED
    agent = (
        draw(st.sampled_from((0, 1, 2))) if answered or direction is Direction.OUTBOUND else None
    )
    processed = None
    if answered and draw(st.booleans()):
        processed = (draw(st.sampled_from((0, 1, 2))), draw(st.integers(0, 600)))
    return CallSpec(
        direction=direction,
        state=state,
        queue=queue,
        start_s=draw(st.integers(0, SPAN_S)),
        wait_s=draw(st.integers(0, 90)),
        talk_s=draw(st.integers(1, 900)),
        agent=agent,
        did=draw(st.sampled_from((0, 1, 2))),
        reason=draw(st.sampled_from((None, 0, 1, 2))) if queue == 0 else None,
        processed=processed,
        keys=tuple(draw(st.lists(KEYS, max_size=3))) if direction is Direction.INBOUND else (),
        rings=tuple(
            draw(
                st.lists(
                    st.builds(
                        Ring,
                        st.sampled_from((0, 1, 2)),
                        st.sampled_from(
                            (RingOutcome.NO_ANSWER, RingOutcome.BUSY, RingOutcome.CANCELLED)
                        ),
                        st.integers(0, 60),
                    ),
                    max_size=2,
                )
            )
        )
        if queue is not None and direction is Direction.INBOUND
        else (),
    )


INTERVALS = st.builds(
    Interval,
    st.sampled_from((0, 1, 2)),
    st.sampled_from((0, 1)),
    st.integers(0, SPAN_S),
    st.one_of(st.none(), st.integers(60, 20 * 3600)),
)


def one_open_each(intervals: list[Interval]) -> tuple[Interval, ...]:
    """An agent has one open session at most (the database's rule): later ones close."""
    open_agents: set[int] = set()
    out = []
    for iv in intervals:
        if iv.length_s is None and iv.agent in open_agents:
            iv = Interval(iv.agent, iv.kind, iv.start_s, 3600)
        elif iv.length_s is None:
            open_agents.add(iv.agent)
        out.append(iv)
    return tuple(out)


HISTORIES = st.builds(
    History,
    st.lists(call_specs(), max_size=25).map(tuple),
    st.lists(INTERVALS, max_size=4).map(one_open_each),
    st.lists(INTERVALS, max_size=4).map(tuple),
)


@dataclass(frozen=True)
class World:
    queues: tuple[int, int]
    agents: tuple[int, int, int]
    pauses: tuple[int, int]
    menu: int
    leaves: tuple[int, int, int]


REASON_PATHS = ("Support: Hardware › Printer", "Support: Hardware › Screen", "Support: Billing")


def build_world(s: Session) -> World:
    support = Queue(code="support", name="Support")
    sales = Queue(code="sales", name="Sales")
    s.add_all([support, sales])
    s.flush()
    agents = [Agent(login=n.lower(), name=n, password_hash="x") for n in AGENTS]
    pauses = [PauseType(position=i + 1, name=n) for i, n in enumerate(PAUSES)]
    s.add_all([*agents, *pauses])
    menu = IvrMenu(code="main", name="Main menu", prompt="p")
    s.add(menu)
    s.flush()
    s.add_all(
        [
            IvrOption(menu_id=menu.id, digit="1", queue_id=support.id),
            IvrOption(menu_id=menu.id, digit="2", queue_id=sales.id),
            Did(number=DIDS[0], name="Main line", queue_id=support.id),
            Did(number=DIDS[1], name="Sales line", ivr_menu_id=menu.id),
        ]
    )
    hardware = ReasonNode(queue_id=support.id, direction=ReasonDirection.INBOUND, label="Hardware")
    billing = ReasonNode(queue_id=support.id, direction=ReasonDirection.INBOUND, label="Billing")
    s.add_all([hardware, billing])
    s.flush()
    printer = ReasonNode(
        queue_id=support.id,
        direction=ReasonDirection.INBOUND,
        parent_id=hardware.id,
        label="Printer",
    )
    screen = ReasonNode(
        queue_id=support.id,
        direction=ReasonDirection.INBOUND,
        parent_id=hardware.id,
        label="Screen",
    )
    s.add_all([printer, screen])
    # Every agent has the right to Support, none to Sales: a Sales-only reader sees only
    # the agents who worked on its calls.
    s.add_all(QueueRight(agent_id=a.id, queue_id=support.id) for a in agents)
    s.flush()
    return World(
        (support.id, sales.id),
        (agents[0].id, agents[1].id, agents[2].id),
        (pauses[0].id, pauses[1].id),
        menu.id,
        (printer.id, screen.id, billing.id),
    )


def store(s: Session, world: World, history: History) -> None:
    seats = [PhoneSeat(name=f"10{i}", dial_string=f"PJSIP/10{i}") for i in range(3)]
    s.add_all(seats)
    s.flush()
    for n, spec in enumerate(history.calls):
        answered_at, ended_at = spec.answered_at, spec.ended_at
        queue_entered = spec.queue_entered_at
        reached = spec.answered or spec.state in (CallState.VOICEMAIL, CallState.CALLBACK)
        call = Call(
            uniqueid=uuid.uuid4().hex,
            direction=spec.direction,
            did=DIDS[spec.did] if spec.direction is Direction.INBOUND else "",
            caller_number=f"+42060{n:07d}",  # nobody calls twice: nothing is recovered
            queue_id=world.queues[spec.queue] if spec.queue is not None else None,
            agent_id=world.agents[spec.agent] if spec.agent is not None else None,
            state=spec.state,
            started_at=spec.started_at,
            queue_entered_at=queue_entered,
            answered_at=answered_at,
            ended_at=ended_at,
            reached=reached,
            within_service_level=reached and spec.wait_s <= 20,
            reason_node_id=world.leaves[spec.reason] if spec.reason is not None else None,
            processed_by_id=world.agents[spec.processed[0]] if spec.processed else None,
            processed_at=ended_at + timedelta(seconds=spec.processed[1])
            if spec.processed and ended_at
            else None,
        )
        s.add(call)
        s.flush()
        for i, (digit, outcome) in enumerate(spec.keys):
            s.add(
                IvrKeyPress(
                    call_id=call.id,
                    menu_id=world.menu,
                    digit=digit,
                    outcome=outcome,
                    at=spec.started_at + timedelta(seconds=i),
                )
            )
        for ring in spec.rings:
            at = spec.started_at + timedelta(seconds=5 + ring.after_s)
            s.add(
                RingAttempt(
                    call_id=call.id,
                    agent_id=world.agents[ring.agent],
                    dial_string="PJSIP/101",
                    started_at=at,
                    ended_at=at + timedelta(seconds=20),
                    outcome=ring.outcome,
                )
            )
    for iv in history.sessions:
        start = ORIGIN + timedelta(seconds=iv.start_s)
        end = None if iv.length_s is None else start + timedelta(seconds=iv.length_s)
        s.add(
            AgentSession(
                agent_id=world.agents[iv.agent],
                seat_id=seats[iv.agent].id,
                logged_in_at=start,
                logged_out_at=end,
                state=AgentState.OFF_AIR,
                state_since=start,
                idle_since=start,
            )
        )
    for iv in history.pauses:
        start = ORIGIN + timedelta(seconds=iv.start_s)
        end = None if iv.length_s is None else start + timedelta(seconds=iv.length_s)
        s.add(
            PauseRecord(
                agent_id=world.agents[iv.agent],
                pause_type_id=world.pauses[iv.kind],
                paid=False,
                started_at=start,
                ended_at=end,
            )
        )
    s.flush()


# ---------------------------------------------------------------- the brute-force recount


def in_period(at: datetime) -> bool:
    return PERIOD.since <= at < PERIOD.until


def seen(spec: CallSpec, queues: frozenset[int] | None) -> bool:
    """queues: indexes of the queues in scope; None: the whole centre."""
    return in_period(spec.started_at) and (
        queues is None or (spec.queue is not None and spec.queue in queues)
    )


def overlap(iv: Interval) -> float:
    start = ORIGIN + timedelta(seconds=iv.start_s)
    end = NOW if iv.length_s is None else start + timedelta(seconds=iv.length_s)
    lo, hi = max(start, PERIOD.since), min(end, PERIOD.until)
    return max(0.0, (hi - lo).total_seconds())


def expected_queues(h: History, queues: frozenset[int] | None) -> dict[str, dict[str, object]]:
    out = {}
    for q, name in ((0, "Support"), (1, "Sales")):
        if queues is not None and q not in queues:
            continue
        population = [
            c
            for c in h.calls
            if c.direction is Direction.INBOUND
            and c.queue == q
            and in_period(c.started_at)
            and not c.live
            and c.state is not CallState.TRANSFERRED
        ]
        answered = [c for c in population if c.answered]
        by_state = Counter(c.state for c in population)
        abandoned = by_state[CallState.ABANDONED_QUEUE] + by_state[CallState.ABANDONED_RINGING]
        boxes = by_state[CallState.VOICEMAIL] + by_state[CallState.CALLBACK]
        n = len(population)
        out[name] = {
            "calls": n,
            "answered": len(answered),
            "average_wait_s": sum(c.wait_s for c in answered) / len(answered) if answered else None,
            "average_talk_s": sum(c.talk_s for c in answered) / len(answered) if answered else None,
            "service_level": sum(
                1
                for c in population
                if (c.answered or c.state in (CallState.VOICEMAIL, CallState.CALLBACK))
                and c.wait_s <= 20
            )
            / n
            if n
            else None,
            "abandoned": abandoned,
            "abandonment": abandoned / n if n else None,
            "reachability": (len(answered) + boxes) / n if n else None,
            "voicemail": by_state[CallState.VOICEMAIL],
            "callback": by_state[CallState.CALLBACK],
            "closed": by_state[CallState.CLOSED],
            "lost_not_recovered": abandoned,
        }
    return out


def expected_agents(h: History, queues: frozenset[int] | None) -> dict[str, dict[str, object]]:
    rows: dict[int, Counter[str]] = defaultdict(Counter)
    times: dict[int, defaultdict[str, float]] = defaultdict(lambda: defaultdict(float))
    listed: set[int] = set()
    for c in h.calls:
        for ring in c.rings:  # rings started in the period, of calls in scope
            ring_at = c.started_at + timedelta(seconds=5 + ring.after_s)
            if (
                ring.outcome in (RingOutcome.NO_ANSWER, RingOutcome.BUSY)
                and in_period(ring_at)
                and (queues is None or c.queue in queues)
            ):
                rows[ring.agent]["missed_rings"] += 1
                listed.add(ring.agent)
        if not seen(c, queues):
            continue
        if c.processed is not None and c.ended_at is not None:
            times[c.processed[0]]["processing_s"] += c.processed[1]
            listed.add(c.processed[0])
        if c.agent is None:
            continue
        listed.add(c.agent)
        if c.answered:
            times[c.agent]["talk_s"] += c.talk_s
            key = "answered" if c.direction is Direction.INBOUND else "outbound_answered"
            rows[c.agent][key] += 1
        elif c.direction is Direction.OUTBOUND and not c.live:
            rows[c.agent]["outbound_unanswered"] += 1
    listed.update((0, 1, 2) if queues is None or 0 in queues else ())  # rights: support
    out = {}
    for a in listed:
        login = sum(overlap(iv) for iv in h.sessions if iv.agent == a)
        pauses = {
            PAUSES[k]: sum(overlap(iv) for iv in h.pauses if iv.agent == a and iv.kind == k)
            for k in (0, 1)
        }
        out[AGENTS[a]] = {
            "answered": rows[a]["answered"],
            "outbound_answered": rows[a]["outbound_answered"],
            "outbound_unanswered": rows[a]["outbound_unanswered"],
            "talk_s": times[a]["talk_s"],
            "processing_s": times[a]["processing_s"],
            "missed_rings": rows[a]["missed_rings"],
            "login_s": login,
            **{f"pause:{k}": v for k, v in pauses.items() if v},
        }
    return out


def activity(h: History, queues: frozenset[int] | None, key: str) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for c in h.calls:
        if not seen(c, queues):
            continue
        local = c.started_at.astimezone(PRAGUE)
        bucket = out[f"{local.hour:02d}" if key == "hour" else local.date().isoformat()]
        if c.direction is Direction.INBOUND:
            bucket["inbound"] += 1
            if c.answered:
                bucket["answered"] += 1
            elif c.state.value.startswith("abandoned"):
                bucket["abandoned"] += 1
        else:
            bucket["outbound"] += 1
    return out


def expected_dids(h: History, queues: frozenset[int] | None) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for c in h.calls:
        if c.direction is not Direction.INBOUND or not seen(c, queues):
            continue
        bucket = out[DIDS[c.did]]
        bucket["calls"] += 1
        if c.answered:
            bucket["answered"] += 1
        elif c.state in (CallState.VOICEMAIL, CallState.CALLBACK):
            bucket["boxes"] += 1
        elif c.state.value.startswith("abandoned"):
            bucket["abandoned"] += 1
        else:
            bucket["other"] += 1
    return out


def expected_ivr(h: History, queues: frozenset[int] | None) -> dict[tuple[str, str], list[int]]:
    out: dict[tuple[str, str], list[int]] = {}
    for n, c in enumerate(h.calls):
        if not seen(c, queues):
            continue
        for digit, outcome in c.keys:
            row = out.setdefault((digit, outcome.value), [0, 0, -1])
            row[0] += 1
            if row[2] != n:
                row[1], row[2] = row[1] + 1, n
    return out


def expected_reasons(
    h: History, queues: frozenset[int] | None
) -> dict[tuple[str, str], list[float]]:
    out: dict[tuple[str, str], list[float]] = {}
    for c in h.calls:
        if c.reason is None or not seen(c, queues):
            continue
        row = out.setdefault((REASON_PATHS[c.reason], c.direction.value), [0, 0.0])
        row[0] += 1
        row[1] += c.talk_s if c.answered else 0
    return out


SCOPES = st.sampled_from((None, frozenset({0}), frozenset({1})))


@pytest.mark.parametrize("_", [0])  # one test function per database, hypothesis inside
@settings(
    max_examples=int(os.environ.get("HOTLINE_REPORT_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=HISTORIES, queues=SCOPES)
def test_each_report_matches_a_recount_of_the_history(
    engine: Engine, _: int, history: History, queues: frozenset[int] | None
) -> None:
    with Session(engine) as s:
        world = build_world(s)
        store(s, world, history)
        scope = figures.Scope(
            None if queues is None else frozenset(world.queues[q] for q in queues)
        )

        got_queues = {r.queue: r for r in figures.queue_rows(s, PERIOD, scope)}
        want_queues = expected_queues(history, queues)
        assert set(got_queues) == set(want_queues)
        for name, want in want_queues.items():
            for field, value in want.items():
                assert getattr(got_queues[name], field) == pytest.approx(value), (name, field)

        report = figures.agent_report(s, PERIOD, scope, NOW)
        got_agents = {
            r.agent: {
                "answered": r.answered,
                "outbound_answered": r.outbound_answered,
                "outbound_unanswered": r.outbound_unanswered,
                "talk_s": r.talk_s,
                "processing_s": r.processing_s,
                "missed_rings": r.missed_rings,
                "login_s": r.login_s,
                **{
                    f"pause:{k}": v for k, v in zip(report.pause_types, r.pause_s, strict=True) if v
                },
            }
            for r in report.rows
        }
        want_agents = expected_agents(history, queues)
        assert set(got_agents) == set(want_agents)
        for name, want_row in want_agents.items():
            assert got_agents[name] == pytest.approx(want_row), name

        hours = {r.label: r for r in figures.hour_rows(s, PERIOD, scope)}
        assert list(hours) == [f"{h:02d}" for h in range(24)]
        want_hours = activity(history, queues, "hour")
        for label, row in hours.items():
            want = want_hours.get(label, Counter())
            got = (row.inbound, row.answered, row.abandoned, row.outbound)
            assert got == (want["inbound"], want["answered"], want["abandoned"], want["outbound"])

        days = {r.label: r for r in figures.day_rows(s, PERIOD, scope)}
        assert list(days) == ["2026-03-28", "2026-03-29", "2026-03-30"]
        want_days = activity(history, queues, "day")
        assert set(want_days) <= set(days)
        for label, row in days.items():
            want = want_days.get(label, Counter())
            got = (row.inbound, row.answered, row.abandoned, row.outbound)
            assert got == (want["inbound"], want["answered"], want["abandoned"], want["outbound"])

        got_dids = {
            r.did: Counter(
                {k: getattr(r, k) for k in ("calls", "answered", "boxes", "abandoned", "other")}
            )
            for r in figures.did_rows(s, PERIOD, scope)
        }
        assert {k: +v for k, v in got_dids.items()} == {
            k: +v for k, v in expected_dids(history, queues).items()
        }

        got_ivr = {
            (r.digit, r.outcome): [r.presses, r.calls] for r in figures.ivr_rows(s, PERIOD, scope)
        }
        assert got_ivr == {k: v[:2] for k, v in expected_ivr(history, queues).items()}
        for r in figures.ivr_rows(s, PERIOD, scope):
            assert r.menu == "Main menu"
            assert (
                r.target == {"1": "Support", "2": "Sales"}.get(r.digit, "") or r.outcome != "option"
            )

        got_reasons = {
            (r.path, r.direction): [r.calls, r.talk_s]
            for r in figures.reason_rows(s, PERIOD, scope)
        }
        assert got_reasons == expected_reasons(history, queues)
        s.rollback()


def test_a_day_with_the_clock_change_has_23_hours_and_counts_each_call_once() -> None:
    assert PERIOD.since == datetime(2026, 3, 27, 23, 0, tzinfo=UTC)
    assert PERIOD.until == datetime(2026, 3, 30, 22, 0, tzinfo=UTC)
    spring = Period(date(2026, 3, 29), date(2026, 3, 29), "Europe/Prague")
    assert spring.until - spring.since == timedelta(hours=23)
