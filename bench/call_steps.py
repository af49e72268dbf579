"""The database side of one whole inbound call, step by step, in one process (issue 12).

``bench/call_throughput.py`` measures a call through ``hotline serve`` as a whole; this one
takes it apart. A centre of ``--agents`` agents on air (as the throughput bench builds it),
then ``--calls`` calls, each through the very store functions the inbound flow runs, in its
order, one transaction each as the flow's ``DBRunner`` runs them: open the call, read the
DID's route, enter the queue, read the matching, make the offer, the answer hook, the
conversation's end; then the desk robot's Save, which puts the agent back on air (the
desktop's work, not the call server's: shown, not counted in the total).

Per step: CPU ms per call (``time.process_time``, nothing else running in the process) and
the SQL statements it sends. The floor under them: the cost of one statement through the
raw driver, through SQLAlchemy Core with a statement built once, and with one built per call.

Run (from the repository root)::

    .venv/bin/python bench/call_steps.py
    .venv/bin/python bench/call_steps.py --database postgresql://postgres@127.0.0.1:5432/perf_bench
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import sessionmaker

from bench.call_throughput import DID, clean_schema, prepare
from db.engine import READ_ONLY, make_engine
from db.models import Queue
from dialplan.store import calls, routing
from domain.enums import CallState, Direction
from simulator.desk_robot import RobotDesk, _log_in, _save_finished_calls

SAVE = "save (desk robot)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default=None, help="a database URL (default: SQLite)")
    parser.add_argument("--agents", type=int, default=300)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'steps.db'}"
        if url.startswith("postgresql"):
            clean_schema(url)
        prepare(url, args.agents)
        run_steps(url, args.agents, args.calls)


def run_steps(url: str, agents: int, n: int) -> None:
    engine = make_engine(url)
    writes = sessionmaker(engine, expire_on_commit=False)
    reads = sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)
    cpu: Counter[str] = Counter()
    statements: Counter[str] = Counter()
    step = [""]

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*_args: Any) -> None:
        statements[step[0]] += 1

    def timed(name: str, read: bool, fn: Callable[..., Any], *a: Any, **k: Any) -> Any:
        step[0] = name
        started = time.process_time()
        with (reads if read else writes).begin() as session:
            result = fn(session, *a, **k)
        cpu[name] += time.process_time() - started
        return result

    start = datetime.now(UTC)
    with writes.begin() as session:
        for i in range(agents):
            _log_in(session, f"a{i}", start)
    desks = [RobotDesk(f"a{i}", after_call_s=0) for i in range(agents)]

    def one(i: int, now: datetime) -> None:
        path = f"calls/bench/{i}.wav"
        view = timed(
            "open_call", False, calls.open_call,
            uniqueid=f"bench-{i}", direction=Direction.INBOUND, now=now, did=DID,
            caller_number="604123456", driven_by="bench", channel="PJSIP/trunk-1", only_new=True,
        )  # fmt: skip
        route = timed("did_route", True, routing.did_route, DID, time_zone="Europe/Prague")
        timed(
            "enter_queue", False, calls.enter_queue, view.id, route.queue.id, now,
            keep_waiting_start=False, recording_path=path,
        )  # fmt: skip
        plan = timed("read_offer_plan", True, calls.read_offer_plan, now)
        offer = timed("offer_planned", False, calls.offer_planned, view.id, plan[view.id], now)
        timed("answered", False, calls.answered, offer.attempt_id, now + timedelta(seconds=3))
        timed(
            "end_conversation", False, calls.end_conversation, view.id, offer.attempt_id,
            offer.started_at, now + timedelta(seconds=30), recording_path=path,
            recording_started_at=now, state=CallState.ANSWERED,
        )  # fmt: skip
        timed(SAVE, False, _save_finished_calls, desks, now + timedelta(seconds=31), 7)

    for i in range(10):  # warm up: caches, the first connections
        one(-1 - i, start + timedelta(seconds=i))
    cpu.clear()
    statements.clear()
    for i in range(n):
        one(i, start + timedelta(seconds=100 + i))
    total_ms = total_statements = 0.0
    for name, seconds in cpu.items():
        ms, count = 1000 * seconds / n, statements[name] / n
        if name != SAVE:
            total_ms += ms
            total_statements += count
        print(f"{name:20s} {ms:6.2f} ms  {count:4.1f} statements")
    floor(engine)
    database = engine.dialect.name
    print(
        f"call_steps database={database} store_cpu_ms_per_call={total_ms:.2f}"
        f" statements_per_call={total_statements:.0f}"
    )
    engine.dispose()


def floor(engine: Any, n: int = 2000) -> None:
    """One small SELECT by primary key, three ways."""
    built_once = select(Queue.name).where(Queue.id == bindparam("queue_id"))
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        marker = "%s" if engine.dialect.name == "postgresql" else "?"
        sql = f"SELECT name FROM queues WHERE id = {marker}"

        def driver() -> None:
            cursor = raw.cursor()
            cursor.execute(sql, (1,))
            cursor.fetchone()

        ways: list[tuple[str, Callable[[], object]]] = [
            ("driver", driver),
            ("Core, built once", lambda: conn.execute(built_once, {"queue_id": 1}).scalar()),
            ("Core, built per call", lambda: conn.execute(_built(1)).scalar()),
        ]
        for name, way in ways:
            started = time.process_time()
            for _ in range(n):
                way()
            print(f"one SELECT, {name:22s} {1e6 * (time.process_time() - started) / n:7.1f} µs")


def _built(queue_id: int) -> Any:
    return select(Queue.name).where(Queue.id == queue_id)


if __name__ == "__main__":
    main()
