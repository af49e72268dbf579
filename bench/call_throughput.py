"""Whole inbound calls through ``hotline serve`` at rising rates (issue 12; R-1.x, R-7.1).

A realistic centre: ``--agents`` agents (300 by default), each at a seat of their own and on
air, in one queue open around the clock behind one number. ``hotline serve`` runs pinned to
CPU 0. On CPU 1 run the load: ``hotline simulate`` places ``--seconds`` worth of calls at
each rate of ``--rates`` (every caller waits, is rung through, talks, hangs up; every agent
phone answers after 3 s), and a desk robot (``simulator.desk_robot``, Hotline's own store
functions, as the desktop's Save) saves each finished call so its agent goes back on air.

Per rate: calls placed, calls never answered (``failed``), the server's CPU time per call
(``/proc/<pid>/stat``), the transactions the server committed or rolled back per call
(counted by an SQLAlchemy hook in the server process), and the time from a caller entering
the queue to the first ring of their call (from the database:
``ring_attempts.started_at - calls.queue_entered_at``). ``--py-spy FILE`` records the
server's stacks while the load runs (py-spy's raw format, for a flame graph).

Run (from the repository root)::

    .venv/bin/python bench/call_throughput.py --rates 5,10,20
    .venv/bin/python bench/call_throughput.py --database postgresql://postgres@127.0.0.1:5432/bench

The last line: ``call_throughput database=D max_calls_per_s=X cpu_ms_per_call=Y
ring_p99_ms=Z failed=F tx_per_call=T`` for the highest rate with no failed call (X=0: none).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SERVER_CPU = 0
LOAD_CPU = 1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
DID = "100"


def centre_yaml(agents: int) -> str:
    from db.passwords import hash_password

    hashed = hash_password("x", n=2**10)  # nobody signs in: a cheap hash will do
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    lines = [
        "settings: {time_zone: Europe/Prague, country_prefix: '420'}",
        "pause_types:",
        "  - {position: 9, name: Missed call}",
        "phone_seats:",
        *(f"  - {{name: 's{i}', dial_string: PJSIP/s{i}}}" for i in range(agents)),
        "agents:",
        *(
            f"  - {{login: a{i}, name: Agent {i}, password_hash: '{hashed}', seats: ['s{i}']}}"
            for i in range(agents)
        ),
        "queues:",
        "  - code: LOAD",
        "    name: Load",
        "    ring_timeout_s: 20",
        "    closed_on_weekends: false",
        f"    agents: [{', '.join(f'a{i}' for i in range(agents))}]",
        "    hours:",
        *(f"      - {{weekday: {d}, opens: '00:00', closes: '23:59:59'}}" for d in days),
        "dids:",
        f"  - {{number: '{DID}', name: Load line, queue: LOAD}}",
    ]
    return "\n".join(lines) + "\n"


def prepare(url: str, agents: int) -> None:
    from sqlalchemy.orm import Session

    from db.catalog import load_catalog
    from db.engine import make_engine
    from db.migrate import upgrade

    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as s, s.begin():
        load_catalog(s, centre_yaml(agents), source="bench")
    engine.dispose()


def clean_schema(url: str) -> None:
    """A PostgreSQL bench database's public schema emptied: each run starts clean."""
    from sqlalchemy import create_engine, text

    from db.engine import with_driver

    with create_engine(with_driver(url)).begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))


def serve_env(url: str, tmp: Path, agi_listen: str, web_port: int) -> dict[str, str]:
    """The environment of a bench's `hotline serve`: none of the caller's HOTLINE_ settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")} | {
        "HOTLINE_DATABASE_URL": url,
        "HOTLINE_AGI_LISTEN": agi_listen,
        "HOTLINE_WEB_LISTEN": f"tcp:{web_port}:interface=127.0.0.1",
        "HOTLINE_SPOOL_DIR": str(tmp / "spool"),
        "HOTLINE_RECORDINGS_DIR": str(tmp / "recordings"),
    }


def run_server(counter_file: Path) -> int:
    """``hotline serve`` from the environment, writing how many transactions it has
    committed or rolled back to ``counter_file`` every half second."""
    from sqlalchemy import Engine, event

    from hotline.commands import serve
    from hotline.config import load_settings

    count = [0]
    lock = threading.Lock()

    def ended(_conn: Any) -> None:
        with lock:
            count[0] += 1

    event.listen(Engine, "commit", ended)
    event.listen(Engine, "rollback", ended)

    def started(_service: object) -> None:
        from twisted.internet.task import LoopingCall

        def write() -> None:
            with lock:
                value = count[0]
            counter_file.write_text(str(value))

        LoopingCall(write).start(0.5)

    return serve(load_settings(), on_started=started)


def _transactions(counter_file: Path) -> int:
    try:
        return int(counter_file.read_text() or 0)
    except (OSError, ValueError):
        return 0


def run_desks(url: str, agents: int) -> None:
    """The desk robot's process: every agent logged in, on air, Save after each call."""
    from twisted.internet import reactor as installed
    from twisted.internet.defer import Deferred

    from db.engine import make_engine
    from db.runner import DBRunner
    from simulator.desk_robot import DeskRobot, RobotDesk

    reactor: Any = installed
    db = DBRunner(make_engine(url), reactor)
    robot = DeskRobot(db, reactor, [RobotDesk(f"a{i}", after_call_s=1.0) for i in range(agents)])
    reactor.callWhenRunning(lambda: Deferred.fromCoroutine(robot.start()))
    reactor.addSystemEventTrigger("before", "shutdown", db.stop)
    reactor.run()


def _py_spy() -> str:
    """py-spy from PATH, or from the venv the docs install it into."""
    import shutil

    return shutil.which("py-spy") or "/tmp/spy-calls/bin/py-spy"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _wait_port(port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listens on {port}")


def ring_delays_ms(url: str, since: datetime) -> list[float]:
    """Queue entry to first ring of every call that entered the queue since ``since``."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from db.engine import make_engine
    from db.models import Call, RingAttempt

    engine = make_engine(url)
    with Session(engine) as s:
        rows = s.execute(
            select(Call.queue_entered_at, func.min(RingAttempt.started_at))
            .join(RingAttempt, RingAttempt.call_id == Call.id)
            .where(Call.queue_entered_at >= since)
            .group_by(Call.id, Call.queue_entered_at)
        ).all()
    engine.dispose()
    return sorted(
        max(0.0, (ring - entered).total_seconds() * 1000)
        for entered, ring in rows
        if entered is not None and ring is not None
    )


def simulate(agi_port: int, rate: float, total: int, spool: Path) -> dict[str, int]:
    """One ``hotline simulate`` load on CPU 1: its call categories (answered, …)."""
    out = subprocess.run(
        [
            "taskset", "-c", str(LOAD_CPU), sys.executable, "-m", "hotline", "simulate",
            "--agi", f"tcp:127.0.0.1:{agi_port}", "--calls-per-second", str(rate),
            "--total", str(total), "--concurrency", "5000", "--did", DID, "--quiet",
            "--spool-dir", str(spool),
        ],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    tail = out[out.rfind("calls: ") :]
    return {k: int(v) for k, v in re.findall(r"^\s+(\S+): (\d+)$", tail, re.M)} | {
        "calls": int(re.search(r"calls: (\d+)", tail).group(1)) if "calls: " in tail else 0  # type: ignore[union-attr]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default=None, help="a database URL (default: SQLite)")
    parser.add_argument("--rates", default="5,10,20", help="calls per second, rising")
    parser.add_argument("--seconds", type=float, default=20, help="of calls at each rate")
    parser.add_argument("--agents", type=int, default=300)
    parser.add_argument(
        "--py-spy",
        metavar="FILE",
        help="record the server with py-spy (raw format) into FILE while the load runs",
    )
    parser.add_argument("--desks", nargs=2, metavar=("URL", "AGENTS"), help=argparse.SUPPRESS)
    parser.add_argument("--serve", metavar="COUNTER_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        raise SystemExit(run_server(Path(args.serve)))
    if args.desks:
        os.sched_setaffinity(0, {LOAD_CPU})
        run_desks(args.desks[0], int(args.desks[1]))
        return
    rates = [float(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        url = args.database or f"sqlite:///{tmp / 'calls.db'}"
        database = "postgresql" if url.startswith("postgresql") else "sqlite"
        if database == "postgresql":
            clean_schema(url)
        prepare(url, args.agents)
        agi_port, web_port = _free_port(), _free_port()
        env = serve_env(url, tmp, f"tcp:{agi_port}:interface=127.0.0.1", web_port)
        log = (tmp / "serve.log").open("w")
        counter_file = tmp / "transactions"
        serve = subprocess.Popen(
            ["taskset", "-c", str(SERVER_CPU), sys.executable, __file__,
             "--serve", str(counter_file)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        desks = subprocess.Popen([sys.executable, __file__, "--desks", url, str(args.agents)])
        rows = []
        try:
            try:
                _wait_port(agi_port, timeout_s=180)
            except SystemExit:
                print((tmp / "serve.log").read_text()[-3000:])
                raise
            time.sleep(3)  # the desk robot logs everyone in
            spy = None
            if args.py_spy:
                spy = subprocess.Popen(
                    [_py_spy(), "record", "--pid", str(serve.pid), "--format", "raw",
                     "--rate", "200", "--gil", "--output", args.py_spy],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
            for rate in rates:
                total = max(1, round(rate * args.seconds))
                since = datetime.now(UTC)
                before, tx_before = _cpu_s(serve.pid), _transactions(counter_file)
                started = time.monotonic()
                counts = simulate(agi_port, rate, total, tmp / "sim-spool")
                wall_s = time.monotonic() - started
                cpu_ms = 1000 * (_cpu_s(serve.pid) - before) / total
                time.sleep(1)  # the counter file is written every half second
                tx = (_transactions(counter_file) - tx_before) / total
                delays = ring_delays_ms(url, since)
                p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))] if delays else 0.0
                answered = counts.get("answered", 0)
                rows.append((rate, total, answered, total - answered, cpu_ms, p99, tx))
                print(
                    f"rate={rate:g}/s calls={total} answered={answered}"
                    f" failed={total - answered} cpu_ms_per_call={cpu_ms:.1f}"
                    f" tx_per_call={tx:.1f} ring_p99_ms={p99:.0f} wall_s={wall_s:.0f} {counts}",
                    flush=True,
                )
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
                spy.wait(timeout=60)
        finally:
            for proc in (desks, serve):
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    clean = [r for r in rows if r[3] == 0]
    best = max(clean, key=lambda r: r[0]) if clean else None
    if best is None:
        print(f"call_throughput database={database} max_calls_per_s=0 failed={rows[0][3]}")
        return
    print(
        f"call_throughput database={database} max_calls_per_s={best[0]:g}"
        f" cpu_ms_per_call={best[4]:.1f} ring_p99_ms={best[5]:.0f} failed={best[3]}"
        f" tx_per_call={best[6]:.1f}"
    )


if __name__ == "__main__":
    main()
