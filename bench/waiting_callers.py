"""Thousands of callers waiting in one Hotline process with nobody free (issue 12; R-1.5).

``hotline serve`` (the real service, started by this script so it can count the database
transactions it commits) runs pinned to CPU 0 with a centre whose agents are all off air.
On CPU 1 a fake Asterisk (asyncio, real loopback TCP) brings ``--callers`` calls to the
queue's number, ``--ramp-s`` seconds apart in all, and answers every command the way a
real Asterisk 22 does (``WAIT FOR DIGIT`` after its whole timeout, as a caller who presses
nothing). Once every caller waits, the bench measures for ``--seconds``:

- turnaround: from each reply of the fake Asterisk to the server's next command (the time a
  caller's session spends in Hotline), p50 / p99 / max;
- the server's memory per waiting caller (RSS with the callers minus RSS before them);
- the server's CPU time and the transactions it committed, per waiting caller per minute.

Then every caller hangs up and the bench checks from the database that each call was
recorded as abandoned in the queue: ``served`` counts the callers that waited to the end
with their session alive and their call recorded truthfully; ``dropped`` the rest.

Run (from the repository root)::

    .venv/bin/python bench/waiting_callers.py --callers 5000
    .venv/bin/python bench/waiting_callers.py --callers 1000 \\
        --database postgresql://postgres@127.0.0.1:5432/perf_bench

The last line: ``waiting_callers N=… served=… p99_ms=… kib_per_caller=…
db_tx_per_caller_min=…``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.call_throughput import (
    DID,
    LOAD_CPU,
    SERVER_CPU,
    _cpu_s,
    _free_port,
    _transactions,
    _wait_port,
    clean_schema,
    prepare,
    run_server,
    serve_env,
)
from bench.sign_in_flood import percentile_ms

AGENTS = 10


# -- the fake Asterisk ----------------------------------------------------------------------


def environment(n: int) -> bytes:
    lines = [
        "agi_network: yes",
        "agi_network_script: inbound",
        "agi_request: agi://127.0.0.1/inbound",
        f"agi_channel: PJSIP/trunk-{n:08x}",
        "agi_language: en",
        "agi_type: PJSIP",
        f"agi_uniqueid: 1795313168.{n}",
        "agi_version: 22.0.0",
        f"agi_callerid: 777{n:06d}",
        "agi_calleridname: Bench Caller",
        "agi_callingpres: 0",
        "agi_callingani2: 0",
        "agi_callington: 0",
        "agi_callingtns: 0",
        f"agi_dnid: {DID}",
        "agi_rdnis: unknown",
        "agi_context: hotline-inbound",
        f"agi_extension: {DID}",
        "agi_priority: 3",
        "agi_enhanced: 0.0",
        "agi_accountcode: ",
        "agi_threadid: 140515063908032",
        f"agi_arg_1: {DID}",
    ]
    return ("\n".join(lines) + "\n\n").encode()


@dataclass
class Load:
    measuring: bool = False
    turnarounds_s: list[float] = field(default_factory=list)
    waiting: int = 0  # sessions that have asked WAIT FOR DIGIT at least once
    lost: int = 0  # sessions the server closed while the caller was still there
    commands: dict[str, int] = field(default_factory=dict)


class Caller(asyncio.Protocol):
    """One caller's channel, Asterisk's side of its AGI session."""

    def __init__(self, n: int, load: Load, closed: asyncio.Future[None]) -> None:
        self.n = n
        self.load = load
        self.closed = closed
        self.buffer = b""
        self.sent_at = 0.0
        self.waited = False
        self.hanging_up = False
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(environment(self.n))
        self.sent_at = time.perf_counter()

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buffer += data
        while b"\n" in self.buffer:
            raw, self.buffer = self.buffer.split(b"\n", 1)
            self.command(raw.decode(errors="replace").strip(), now)

    def command(self, line: str, now: float) -> None:
        if self.load.measuring and self.waited:
            self.load.turnarounds_s.append(now - self.sent_at)
        words = line.split()
        verb = " ".join(words[:3]) if line.startswith("WAIT FOR DIGIT") else " ".join(words[:2])
        self.load.commands[verb] = self.load.commands.get(verb, 0) + 1
        if self.hanging_up:
            self.reply(b"511 Command Not Permitted on a dead channel or intercept routine\n")
            return
        if line.startswith("WAIT FOR DIGIT"):
            if not self.waited:
                self.waited = True
                self.load.waiting += 1
            timeout_ms = int(words[3]) if len(words) > 3 else 1000
            loop = asyncio.get_running_loop()
            self.timer = loop.call_later(timeout_ms / 1000, self.reply, b"200 result=0\n")
        elif line.startswith("STREAM FILE"):
            self.reply(b"200 result=0 endpos=8000\n")
        elif line.startswith("GET DATA"):
            self.reply(b"200 result= (timeout)\n")
        elif line.startswith("GET"):
            self.reply(b"200 result=0\n")  # the variable is not set
        elif line.startswith("HANGUP"):
            self.reply(b"200 result=1\n")
        else:
            self.reply(b"200 result=1\n" if line.startswith("SET") else b"200 result=0\n")

    def reply(self, data: bytes) -> None:
        self.timer = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
        self.sent_at = time.perf_counter()

    def hang_up(self) -> None:
        """The caller hangs up: the pending command gets Asterisk's HANGUP notice."""
        self.hanging_up = True
        if self.timer is not None:
            self.timer.cancel()
            self.reply(b"200 result=-1\nHANGUP\n")
        elif self.transport is not None:
            self.transport.write(b"HANGUP\n")

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.hanging_up:
            self.load.lost += 1
        if self.timer is not None:
            self.timer.cancel()
        if not self.closed.done():
            self.closed.set_result(None)


# -- the measurement ------------------------------------------------------------------------


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def abandoned_in_queue(url: str) -> int:
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from db.engine import make_engine
    from db.models import Call
    from domain.enums import CallState

    engine = make_engine(url)
    with Session(engine) as s:
        count = s.scalar(
            select(func.count()).select_from(Call).where(Call.state == CallState.ABANDONED_QUEUE)
        )
    engine.dispose()
    return int(count or 0)


async def drive(
    args: argparse.Namespace, port: int, pid: int, counter_file: Path
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    load = Load()
    callers: list[Caller] = []
    closed: list[asyncio.Future[None]] = []
    rss_before = _rss_kib(pid)
    gap_s = args.ramp_s / max(1, args.callers)
    for n in range(args.callers):
        done: asyncio.Future[None] = loop.create_future()
        closed.append(done)
        _, caller = await loop.create_connection(
            lambda n=n, done=done: Caller(n, load, done), "127.0.0.1", port
        )
        callers.append(caller)
        await asyncio.sleep(gap_s)
    deadline = time.monotonic() + 120
    while load.waiting < args.callers and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    await asyncio.sleep(3)  # every caller past its first poll
    load.measuring = True
    cpu_before, tx_before = _cpu_s(pid), _transactions(counter_file)
    await asyncio.sleep(args.seconds)
    load.measuring = False
    cpu_s = _cpu_s(pid) - cpu_before
    transactions = _transactions(counter_file) - tx_before
    rss_with = _rss_kib(pid)
    lost_while_waiting = load.lost
    for caller in callers:
        caller.hang_up()
    await asyncio.wait_for(asyncio.gather(*closed), timeout=120)
    await asyncio.sleep(2)  # the last ends committed
    minutes = args.seconds / 60
    return {
        "waiting": load.waiting,
        "lost": lost_while_waiting,
        "turnarounds": load.turnarounds_s,
        "kib_per_caller": (rss_with - rss_before) / max(1, args.callers),
        "cpu_ms_per_caller_min": 1000 * cpu_s / max(1, args.callers) / minutes,
        "tx_per_caller_min": transactions / max(1, args.callers) / minutes,
        "commands": dict(sorted(load.commands.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--callers", type=int, default=1000)
    parser.add_argument("--database", default=None, help="a database URL (default: SQLite)")
    parser.add_argument("--ramp-s", type=float, default=None, help="default: callers / 250")
    parser.add_argument("--seconds", type=float, default=60, help="measured waiting")
    parser.add_argument("--serve", metavar="COUNTER_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        raise SystemExit(run_server(Path(args.serve)))
    if args.ramp_s is None:
        args.ramp_s = args.callers / 250
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the server inherits it
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        url = args.database or f"sqlite:///{tmp / 'waiting.db'}"
        database = "postgresql" if url.startswith("postgresql") else "sqlite"
        if database == "postgresql":
            clean_schema(url)
        prepare(url, AGENTS)  # nobody logs in: nobody is free
        agi_port, web_port = _free_port(), _free_port()
        counter_file = tmp / "transactions"
        env = serve_env(url, tmp, f"tcp:{agi_port}:interface=127.0.0.1:backlog=4096", web_port)
        log = (tmp / "serve.log").open("w")
        server = subprocess.Popen(
            ["taskset", "-c", str(SERVER_CPU), sys.executable, __file__,
             "--serve", str(counter_file)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            try:
                _wait_port(agi_port, timeout_s=180)
            except SystemExit:
                print((tmp / "serve.log").read_text()[-3000:])
                raise
            os.sched_setaffinity(0, {LOAD_CPU})
            result = asyncio.run(drive(args, agi_port, server.pid, counter_file))
            recorded = abandoned_in_queue(url)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    turnarounds = result["turnarounds"]
    served = min(result["waiting"] - result["lost"], recorded)
    p50 = percentile_ms(turnarounds, 0.5) if turnarounds else 0.0
    p99 = percentile_ms(turnarounds, 0.99) if turnarounds else 0.0
    worst = 1000 * max(turnarounds) if turnarounds else 0.0
    print(f"database: {database}; callers: {args.callers}; measured: {args.seconds:g} s")
    print(f"commands seen: {result['commands']}")
    print(
        f"waiting: {result['waiting']}; lost while waiting: {result['lost']};"
        f" recorded abandoned in the queue: {recorded}"
    )
    print(
        f"turnaround while waiting: {len(turnarounds)} replies, p50 {p50:.1f} ms,"
        f" p99 {p99:.1f} ms, max {worst:.1f} ms"
    )
    print(
        f"per waiting caller: {result['kib_per_caller']:.1f} KiB,"
        f" {result['cpu_ms_per_caller_min']:.1f} ms CPU a minute,"
        f" {result['tx_per_caller_min']:.3f} transactions a minute"
    )
    print(
        f"waiting_callers N={args.callers} served={served} p99_ms={p99:.1f}"
        f" kib_per_caller={result['kib_per_caller']:.1f}"
        f" db_tx_per_caller_min={result['tx_per_caller_min']:.3f}"
    )


if __name__ == "__main__":
    main()
