"""Offers per second with two ``hotline serve`` processes on one PostgreSQL (issue 12; R-1.3,
R-1.5, R-7.1), and never two live offers for one agent or one call.

A centre of ``--agents`` agents, each at a seat of their own and on air (the desk robot of
``bench/call_throughput.py``), in one queue open around the clock. Two ``hotline serve``
processes share the database; each gets ``--callers`` callers from its own ``hotline
simulate``, who wait to be answered. Every agent phone is busy (``--phones busy=1``): each
offer ends at once and the caller is offered to the next agent, so the processes offer as
fast as they can, competing for the same agents. For ``--seconds`` the bench counts the ring
attempts created (offers) and samples the live offers all along: no agent may ever be rung
by two offers at once, and no call ring two agents at once.

Run (from the repository root; a PostgreSQL database of the bench's own: its public schema
is emptied at the start)::

    .venv/bin/python bench/offers.py --database postgresql://postgres@127.0.0.1:5432/perf_bench

The last line: ``offers processes=2 offers_per_s=… double_offers=… target_per_s=500``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.call_throughput import (
    DID,
    _cpu_s,
    _free_port,
    _wait_port,
    clean_schema,
    prepare,
    serve_env,
)

TARGET_PER_S = 500
PROCESSES = 2


def offers_between(url: str, since: datetime, until: datetime) -> int:
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from db.engine import make_engine
    from db.models import RingAttempt

    engine = make_engine(url)
    with Session(engine) as s:
        count = s.scalar(
            select(func.count())
            .select_from(RingAttempt)
            .where(RingAttempt.started_at >= since, RingAttempt.started_at < until)
        )
    engine.dispose()
    return int(count or 0)


class LiveOffers:
    """Samples, while the offers go round, the live offers (ring attempts still ringing) of
    every agent and every call: two at once for one of them would be a double offer. (The
    attempts' own start and end times cannot tell: each is stamped with its process's clock
    when the flow asked, before its transaction waited for a thread and the locks.)"""

    QUERY = """
        SELECT (SELECT count(*) FROM (SELECT agent_id FROM ring_attempts
                 WHERE outcome = 'ringing' AND agent_id IS NOT NULL
                 GROUP BY agent_id HAVING count(*) > 1) AS a)
             + (SELECT count(*) FROM (SELECT call_id FROM ring_attempts
                 WHERE outcome = 'ringing' GROUP BY call_id HAVING count(*) > 1) AS c)
    """

    def __init__(self, url: str) -> None:
        from db.engine import make_engine

        self.engine = make_engine(url)
        self.samples = 0
        self.doubles = 0

    def sample(self) -> None:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            self.doubles += int(conn.execute(text(self.QUERY)).scalar() or 0)
        self.samples += 1

    def close(self) -> None:
        self.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True, help="a PostgreSQL URL of the bench's own")
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--callers", type=int, default=100, help="per process")
    parser.add_argument("--seconds", type=float, default=20, help="measured")
    args = parser.parse_args()
    url = args.database
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        clean_schema(url)
        prepare(url, args.agents)
        procs: list[subprocess.Popen[bytes]] = []
        servers: list[subprocess.Popen[bytes]] = []
        try:
            ports = []
            for n in range(PROCESSES):
                agi_port, web_port = _free_port(), _free_port()
                home = tmp / f"serve-{n}"
                home.mkdir()
                env = serve_env(url, home, f"tcp:{agi_port}:interface=127.0.0.1", web_port)
                log = (home / "serve.log").open("wb")
                server = subprocess.Popen(
                    [sys.executable, "-m", "hotline", "serve"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                servers.append(server)
                ports.append(agi_port)
            robot = str(Path(__file__).with_name("call_throughput.py"))
            desks = subprocess.Popen([sys.executable, robot, "--desks", url, str(args.agents)])
            procs.append(desks)
            for port in ports:
                _wait_port(port, timeout_s=180)
            time.sleep(3)  # the desk robot logs everyone in and puts them on air
            for n, port in enumerate(ports):
                load = subprocess.Popen(
                    [
                        *(sys.executable, "-m", "hotline", "simulate"),
                        *("--agi", f"tcp:127.0.0.1:{port}", "--calls-per-second", "200"),
                        *("--total", str(args.callers), "--concurrency", str(args.callers)),
                        *("--did", DID, "--phones", "busy=1", "--quiet", "--seed", str(n + 1)),
                        *("--duration", str(args.seconds + 15)),
                        *("--spool-dir", str(tmp / f"sim-{n}")),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                procs.append(load)
            time.sleep(5)  # every caller in the queue, the offers going round
            cpu_before = [_cpu_s(s.pid) for s in servers]
            since = datetime.now(UTC)
            live = LiveOffers(url)
            ends = time.monotonic() + args.seconds
            while time.monotonic() < ends:
                live.sample()
                time.sleep(0.02)
            live.close()
            until = datetime.now(UTC)
            cpu_s = [_cpu_s(s.pid) - before for s, before in zip(servers, cpu_before, strict=True)]
        finally:
            for proc in [*procs, *servers]:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        offers = offers_between(url, since, until)
        doubles = live.doubles
    per_s = offers / args.seconds
    print(
        f"offers: {offers} in {args.seconds:g} s = {per_s:.0f}/s; server CPU "
        + ", ".join(f"{c:.1f} s" for c in cpu_s)
        + f" ({1000 * sum(cpu_s) / max(1, offers):.1f} ms per offer); "
        f"{live.samples} samples of the live offers, two at once for one agent or call: {doubles}"
    )
    print(
        f"offers processes={PROCESSES} offers_per_s={per_s:.0f} double_offers={doubles}"
        f" target_per_s={TARGET_PER_S}"
    )


if __name__ == "__main__":
    main()
