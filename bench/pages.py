"""GET /desktop of a signed-in agent beside a bare Klein app (issue 12; R-7.x).

Two servers, each its own process pinned to CPU 0: Hotline's web root (the real
``WebRoot.site`` on a real reactor, DBRunner threads and a database) and a bare Klein app
answering one short page. ``wrk`` (Debian's package) drives each in turn from CPU 1 over
loopback TCP with keep-alive connections, in alternating rounds; the median round counts.
Server CPU time per request is read from ``/proc/<pid>/stat``.

Run (from the repository root)::

    .venv/bin/python bench/pages.py                        # SQLite in a temporary folder
    .venv/bin/python bench/pages.py --database postgresql://postgres@127.0.0.1:5432/bench

The last line is ``pages desktop_req_per_s=… klein_req_per_s=… ratio=… cpu_ms_per_page=…
p99_ms=…``.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.call_throughput import LOAD_CPU, SERVER_CPU, _cpu_s, _free_port


def serve_hotline(url: str, port: int) -> None:
    """Hotline's web process as ``hotline serve`` runs it (without FastAGI)."""
    from twisted.internet import reactor as installed

    reactor: Any = installed

    from db.engine import make_engine
    from db.runner import DBRunner
    from hotline.web import WebRoot
    from web.request import ProcessInfo

    db = DBRunner(make_engine(url, must_exist=True), reactor)
    root = WebRoot(db, ProcessInfo(web_listen=f"tcp:{port}"), clock=reactor)
    reactor.listenTCP(port, root.site(reactor), interface="127.0.0.1")
    reactor.addSystemEventTrigger("before", "shutdown", root.stop)
    reactor.addSystemEventTrigger("before", "shutdown", db.stop)
    gc.collect()
    gc.freeze()
    reactor.run()


def serve_klein(port: int) -> None:
    """The peer: a bare Klein app, one route, a short HTML page."""
    from klein import Klein
    from twisted.internet import reactor as installed

    reactor: Any = installed
    from twisted.web.server import Site

    app = Klein()

    @app.route("/desktop")
    def desktop(request: object) -> bytes:
        return b"<!doctype html><title>Desktop</title><p>Hello</p>"

    reactor.listenTCP(port, Site(app.resource()), interface="127.0.0.1")
    gc.collect()
    gc.freeze()
    reactor.run()


def prepare(url: str) -> str:
    """The schema, the test centre's people, eva signed in and on air: her session token."""
    from sqlalchemy.orm import Session

    from agent_desktop.agent_state import GoOnAir
    from agent_desktop.store import agent_sessions
    from db.engine import make_engine
    from db.migrate import upgrade
    from tests.support.centre import build_staff_centre
    from web import sessions

    upgrade(url)
    now = datetime.now(UTC)
    engine = make_engine(url)
    with Session(engine) as s, s.begin():
        centre = build_staff_centre(s, now)
        eva = centre.agents["eva"]
        agent_sessions.log_in(s, eva, centre.seats["101"], now)
        agent_sessions.apply_event(s, eva, GoOnAir(), now)
        found = sessions.credentials(s, "eva")
        assert found is not None
        opened = sessions.open_session(s, found, now)
        assert opened is not None
    engine.dispose()
    return opened.token


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def _to_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk_round(
    port: int, pid: int, cookie: str, connections: int, seconds: int
) -> tuple[float, float, float, int]:
    """One wrk run: requests/s, server CPU ms per request, p99 ms, non-2xx answers."""
    before = _cpu_s(pid)
    out = subprocess.run(
        [
            "taskset", "-c", str(LOAD_CPU), "wrk", "-t1", f"-c{connections}",
            f"-d{seconds}s", "--latency", "-H", f"Cookie: hotline_session={cookie}",
            f"http://127.0.0.1:{port}/desktop",
        ],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    cpu_s = _cpu_s(pid) - before
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    p99 = _to_ms(re.search(r"99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rate, 1000 * cpu_s / max(1, total), p99, int(bad.group(1)) if bad else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default=None, help="a database URL (default: SQLite)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve-hotline", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--serve-klein", metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_hotline:
        os.sched_setaffinity(0, {SERVER_CPU})
        serve_hotline(args.serve_hotline[0], int(args.serve_hotline[1]))
        return
    if args.serve_klein:
        os.sched_setaffinity(0, {SERVER_CPU})
        serve_klein(int(args.serve_klein))
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'pages.db'}"
        if args.database and url.startswith("postgresql"):
            from sqlalchemy import create_engine, text

            from db.engine import with_driver

            with create_engine(with_driver(url)).begin() as conn:  # a clean schema each run
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        cookie = prepare(url)
        ports = {"hotline": _free_port(), "klein": _free_port()}
        me = [sys.executable, __file__]
        procs = {
            "hotline": subprocess.Popen([*me, "--serve-hotline", url, str(ports["hotline"])]),
            "klein": subprocess.Popen([*me, "--serve-klein", str(ports["klein"])]),
        }
        try:
            for port in ports.values():
                _wait_listening(port)
            results: dict[str, list[tuple[float, float, float, int]]] = {k: [] for k in procs}
            for name in procs:  # warm-up: templates, pools, caches
                wrk_round(ports[name], procs[name].pid, cookie, args.connections, 1)
            for _ in range(args.rounds):
                for name in procs:
                    results[name].append(
                        wrk_round(
                            ports[name], procs[name].pid, cookie, args.connections, args.seconds
                        )
                    )
        finally:
            for proc in procs.values():
                proc.terminate()
                proc.wait()
    print("server  round  req/s  cpu_ms/req  p99_ms  non-2xx")
    for name, rounds in results.items():
        for i, (rate, cpu_ms, p99, bad) in enumerate(rounds, 1):
            print(f"{name:8} {i:5} {rate:7.0f} {cpu_ms:10.3f} {p99:7.1f} {bad:8}")
    desk = statistics.median(r[0] for r in results["hotline"])
    klein = statistics.median(r[0] for r in results["klein"])
    cpu = statistics.median(r[1] for r in results["hotline"])
    p99 = statistics.median(r[2] for r in results["hotline"])
    failed = sum(r[3] for r in results["hotline"])
    print(
        f"pages desktop_req_per_s={desk:.0f} klein_req_per_s={klein:.0f} ratio={desk / klein:.2f}"
        f" cpu_ms_per_page={cpu:.2f} p99_ms={p99:.1f} non_2xx={failed}"
    )


if __name__ == "__main__":
    main()
