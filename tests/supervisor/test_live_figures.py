"""The live screen's figures against a brute-force recount (R-4.1 .. R-4.6).

Hypothesis writes random agent sessions (with pause types) and call histories into the real
database and picks a random moment; every figure of ``supervisor.store.live.screen``
(Queues and Today; the Activities' calls by phase, each agent's state on the Agents panel,
the Pauses panel's agents per type; for an admin and for a supervisor of one department)
must equal a plain recount of the rows it wrote, done here without the code under test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from db.models import (
    Agent,
    AgentSession,
    Call,
    Department,
    PauseType,
    PhoneSeat,
    Queue,
    QueueRight,
    Setting,
    SupervisorDepartment,
)
from domain.enums import Activity, AgentState, CallState, Direction, Role
from supervisor.live_figures import (
    AgentFact,
    CallFact,
    Span,
    activity_phase,
    agent_status,
    call_times,
    queue_figures,
)
from supervisor.store.live import Filters, screen

DAY = datetime(2026, 3, 2, tzinfo=UTC)  # midnight of "today"
THRESHOLD_S = 20
OPEN = ("waiting", "ringing", "talking")
STATES = (*OPEN, "ivr", "answered", "abandoned_queue", "abandoned_ringing", "voicemail")


def test_queue_figures_count_shares_and_colour_past_the_threshold() -> None:
    now = DAY + timedelta(hours=9)
    agents = [
        AgentFact(1, "on_air", "idle", frozenset({7})),
        AgentFact(2, "on_air", "in_call", frozenset({7})),
        AgentFact(3, "on_air", "paused", frozenset({7})),
        AgentFact(4, "off_air", "idle", frozenset({7})),
    ]
    calls = [
        CallFact(1, "waiting", 7, now - timedelta(seconds=25)),
        CallFact(2, "ringing", 7, now - timedelta(seconds=3)),
        CallFact(3, "talking", 7, now - timedelta(seconds=90)),
    ]
    (row,) = queue_figures([(7, "Support")], agents, calls, {}, THRESHOLD_S, now)
    assert (row.logged_in, row.available, row.talking, row.paused) == (4, 1, 1, 1)
    assert (row.available_pct, row.paused_pct) == (25, 25)
    assert (row.in_progress, row.waiting, row.waiting_pct) == (3, 2, 67)
    assert row.longest_wait_s == 25 and row.over_threshold
    assert row.service_level_pct is None  # no finished call yet today


agent_rows = st.lists(
    st.tuples(
        st.booleans(),  # logged in
        st.sampled_from(list(AgentState)),
        st.sampled_from(list(Activity)),
        st.sampled_from([None, 0, 1]),  # which pause type, if any
    ),
    min_size=4,
    max_size=4,
)
call_rows = st.lists(
    st.tuples(
        st.sampled_from(STATES),
        st.integers(0, 1),  # which queue
        st.integers(-7200, 36000),  # started, seconds after midnight (before: yesterday)
        st.integers(0, 300),  # waited
        st.integers(0, 600),  # talked or lasted after that
        st.booleans(),  # within the service level (stored flag)
        st.integers(0, 3),  # which caller number
    ),
    max_size=14,
)


def build(session: Session) -> dict[str, Any]:
    support, sales = Department(name="Support"), Department(name="Sales")
    q1, q2 = Queue(code="q1", name="Alpha"), Queue(code="q2", name="Beta")
    session.add_all([support, sales, q1, q2, Setting(key="service_level_s", value="20")])
    pauses = [
        PauseType(position=1, name="Lunch", paid=False),
        PauseType(position=2, name="Training", paid=True),
    ]
    session.add_all(pauses)
    session.flush()
    agents = []
    for i in range(4):
        agent = Agent(login=f"a{i}", name=f"A{i}", password_hash="x")
        agent.department_id = support.id if i < 2 else sales.id
        seat = PhoneSeat(name=f"{100 + i}", dial_string=f"PJSIP/{100 + i}")
        session.add_all([agent, seat])
        session.flush()
        # a0: Alpha; a1: Alpha and Beta; a2: Beta; a3: Beta.
        for queue in {0: [q1], 1: [q1, q2], 2: [q2], 3: [q2]}[i]:
            session.add(QueueRight(agent_id=agent.id, queue_id=queue.id))
        agents.append((agent.id, seat.id))
    sue = Agent(login="sue", name="Sue", password_hash="x", role=Role.SUPERVISOR)
    ada = Agent(login="ada", name="Ada", password_hash="x", role=Role.ADMIN)
    session.add_all([sue, ada])
    session.flush()
    session.add(SupervisorDepartment(agent_id=sue.id, department_id=support.id))
    return {
        "queues": [q1.id, q2.id],
        "agents": agents,
        "sue": sue.id,
        "ada": ada.id,
        "pauses": [p.id for p in pauses],
    }


def recount(
    agents: list[tuple[bool, AgentState, Activity, int | None]],
    calls: list[dict[str, Any]],
    visible_agents: set[int],
    queues: list[int],
    now: datetime,
) -> dict[str, Any]:
    """Every figure, counted the long way round from what was written."""
    rights = {0: {0}, 1: {0, 1}, 2: {1}, 3: {1}}
    logged = [
        (i, state, activity)
        for i, (on, state, activity, _) in enumerate(agents)
        if on and i in visible_agents
    ]
    rows = []
    for qi, _queue_id in enumerate(queues):
        members = [(s, a) for i, s, a in logged if qi in rights[i]]
        live = [c for c in calls if c["queue"] == qi and c["state"] in OPEN and c["open"]]
        waits = [c for c in live if c["state"] != "talking"]
        longest = max(((now - c["entered"]).total_seconds() for c in waits), default=None)
        today = [
            c
            for c in calls
            if c["queue"] == qi
            and DAY <= c["started"] < now
            and c["state"] not in (*OPEN, "ivr")
            and not c["open"]
        ]
        within = sum(1 for c in today if c["within"])
        rows.append(
            (
                len(members),
                sum(1 for s, a in members if s is AgentState.ON_AIR and a is Activity.IDLE),
                sum(1 for _, a in members if a is Activity.IN_CALL),
                sum(1 for _, a in members if a is Activity.PAUSED),
                len(live),
                len(waits),
                None if longest is None else int(longest),
                round(100 * within / len(today)) if today else None,
            )
        )
    answered = [
        c for c in calls if c["state"] == "answered" and not c["open"] and DAY <= c["started"] < now
    ]
    lost = [
        c
        for c in calls
        if c["state"].startswith("abandoned_") and not c["open"] and DAY <= c["started"] < now
    ]
    recovered = [
        c
        for c in lost
        if any(
            o is not c
            and o["number"] == c["number"]
            and o["answered"] is not None
            and o["answered"] >= c["ended"]
            for o in calls
        )
    ]
    wait_s = sum((c["answered"] - c["entered"]).total_seconds() for c in answered)
    all_open = [c for c in calls if c["open"] and c["state"] in OPEN]
    visible_open = [c for c in all_open if c["queue"] < len(queues)]
    return {
        "rows": rows,
        "answered": len(answered),
        "lost_not_recovered": len(lost) - len(recovered),
        "average_wait_s": round(wait_s / len(answered)) if answered else None,
        "waiting": sum(1 for c in visible_open if c["state"] != "talking"),
        "talking": sum(1 for c in visible_open if c["state"] == "talking"),
        "agents_free": sum(
            1 for _, s, a in logged if s is AgentState.ON_AIR and a is Activity.IDLE
        ),
        "agents_talking": sum(1 for _, _, a in logged if a is Activity.IN_CALL),
        "agents_ringing": sum(1 for _, _, a in logged if a is Activity.RINGING),
        "agents_outbound": sum(1 for _, _, a in logged if a is Activity.OUTBOUND),
        # every open call the viewer may see, by phase (IVR only for an admin).
        "phases": sorted(c["state"] for c in visible_open),
        # what each visible agent is doing, said the long way round.
        "statuses": [_status_by_hand(agents[i]) for i in sorted(visible_agents)],
        # per pause type index, how many visible agents are on it.
        "pauses": {
            p: sum(
                1
                for i in visible_agents
                if agents[i][0] and agents[i][2] is Activity.PAUSED and agents[i][3] == p
            )
            for p in (0, 1)
        },
    }


def _status_by_hand(agent: tuple[bool, AgentState, Activity, int | None]) -> str:
    on, state, activity, pause = agent
    if not on:
        return "logged_out"
    if activity is Activity.PAUSED:
        return "off_air" if pause is None else "paused"
    if activity is Activity.IDLE:
        return "free" if state is AgentState.ON_AIR else "off_air"
    return {
        Activity.RINGING: "ringing",
        Activity.IN_CALL: "in_call",
        Activity.PROCESSING: "processing",
        Activity.OUTBOUND: "outbound",
        Activity.BACKOFFICE: "backoffice",
    }[activity]


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(agents=agent_rows, calls=call_rows, now_s=st.integers(60, 36000))
def test_every_figure_equals_a_recount_of_the_rows(
    engine: Engine, agents: list[Any], calls: list[Any], now_s: int
) -> None:
    now = DAY + timedelta(seconds=now_s)
    with Session(engine) as session, session.begin():
        for table in (Call, AgentSession, SupervisorDepartment, QueueRight):
            session.execute(delete(table))
        for table in (Agent, PhoneSeat, Queue, Department, Setting, PauseType):
            session.execute(delete(table))
    with Session(engine) as session, session.begin():
        centre = build(session)
        for i, (on, state, activity, pause) in enumerate(agents):
            if on:
                agent_id, seat_id = centre["agents"][i]
                session.add(
                    AgentSession(
                        agent_id=agent_id,
                        seat_id=seat_id,
                        logged_in_at=now - timedelta(hours=1),
                        state=state,
                        activity=activity,
                        state_since=now - timedelta(minutes=5),
                        idle_since=now - timedelta(minutes=5),
                        pause_type_id=None if pause is None else centre["pauses"][pause],
                    )
                )
        written = []
        for n, (state, qi, start_s, wait_s, after_s, within, number) in enumerate(calls):
            started = DAY + timedelta(seconds=start_s)
            if started >= now:
                continue  # not yet happened at the chosen moment
            entered = started + timedelta(seconds=5)
            answered = (
                entered + timedelta(seconds=wait_s) if state in ("talking", "answered") else None
            )
            ended = entered + timedelta(seconds=wait_s + after_s)
            is_open = state in (*OPEN, "ivr")
            if (not is_open and ended > now) or entered > now:
                continue  # keep the history consistent with the moment
            if answered is not None and answered > now:
                continue
            c = {
                "state": state,
                "queue": qi,
                "started": started,
                "entered": entered,
                "answered": answered,
                "ended": None if is_open else ended,
                # Only an answered call or a box choice can be within the service level.
                "within": within and state in ("answered", "voicemail"),
                "open": is_open,
                "number": f"77700000{number}",
            }
            written.append(c)
            session.add(
                Call(
                    uniqueid=f"u{n}",
                    direction=Direction.INBOUND,
                    caller_number=c["number"],
                    queue_id=None if state == "ivr" else centre["queues"][qi],
                    state=CallState(state),
                    started_at=started,
                    queue_entered_at=None if state == "ivr" else entered,
                    answered_at=answered,
                    ended_at=c["ended"],
                    within_service_level=c["within"],
                    reached=state in ("answered", "voicemail"),
                )
            )
        for c in written:
            if c["state"] == "ivr":
                c["queue"] = 99  # in no queue
    for viewer, visible, queues in (
        ("ada", {0, 1, 2, 3}, centre["queues"]),
        ("sue", {0, 1}, centre["queues"]),  # a0 and a1 work Alpha and Beta both
    ):
        with Session(engine) as session, session.begin():
            found = screen(session, centre[viewer], Filters(), now, DAY)
        expected = recount(agents, written, visible, queues, now)
        got_rows = [
            (
                q.logged_in,
                q.available,
                q.talking,
                q.paused,
                q.in_progress,
                q.waiting,
                q.longest_wait_s if q.longest_wait_since else None,
                q.service_level_pct,
            )
            for q in found.queues
        ]
        assert got_rows == expected["rows"], viewer
        t = found.today
        for name in (
            "answered",
            "lost_not_recovered",
            "average_wait_s",
            "waiting",
            "talking",
            "agents_free",
            "agents_talking",
            "agents_ringing",
            "agents_outbound",
        ):
            assert getattr(t, name) == expected[name], (viewer, name)
        ivr = sum(1 for c in written if c["state"] == "ivr")
        assert t.in_ivr == (ivr if viewer == "ada" else 0)
        phases = expected["phases"] + (["ivr"] * ivr if viewer == "ada" else [])
        assert sorted(a.phase for a in found.activities) == sorted(phases), viewer
        assert [a.status for a in found.agents] == expected["statuses"], viewer
        in_use = {p.pause_type_id: p.count for p in found.pauses}
        for index, count in expected["pauses"].items():
            assert in_use.get(centre["pauses"][index], 0) == count, (viewer, index)
        assert sum(in_use.values()) == sum(expected["pauses"].values())


def test_a_calls_times_run_in_its_phase_and_stop_after_it() -> None:
    t0 = DAY + timedelta(hours=9)
    entered, answered, ended = (t0 + timedelta(seconds=s) for s in (5, 35, 95))
    waiting = call_times("waiting", t0, entered, None, None, None)
    assert waiting.waiting == Span(entered, None) and waiting.talking is None
    talking = call_times("talking", t0, entered, answered, None, None)
    assert talking.waiting is not None and talking.waiting.seconds == 30
    assert talking.talking == Span(answered, None) and talking.processing is None
    after = call_times("processing", t0, entered, answered, ended, ended)
    assert after.talking is not None and after.talking.seconds == 60
    assert after.processing == Span(ended, None)
    assert activity_phase("answered", in_processing=False) is None  # over and saved
    assert activity_phase("answered", in_processing=True) == "processing"
    assert agent_status(True, "off_air", "paused", None) == "off_air"
    assert agent_status(True, "off_air", "paused", 3) == "paused"
    assert agent_status(False, "on_air", "idle", None) == "logged_out"
