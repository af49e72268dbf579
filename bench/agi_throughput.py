"""FastAGI throughput and memory: Hotline's server against panoramisk 1.4, one load generator.

The load generator is a fake Asterisk written here (asyncio, raw protocols): over real loopback
TCP it opens sessions exactly as Asterisk 22 does in ``shared/asterisk-facts/`` (the
environment block of transcript 001, then one reply per command, ``HANGUP`` after the hang-up)
and measures, per command, the time from its own last write to the server's next command
(the server's turnaround). Each server runs in its own process, pinned to CPU 0; the generator
is pinned to CPU 1.

Short sessions: ``ANSWER``, ``GET VARIABLE``, ``STREAM FILE``, ``GET DATA``, ``HANGUP`` at
concurrency 1, 50 and 200, against Hotline and -- with the same generator, in the same run --
against a panoramisk 1.4 FastAGI server doing the same commands.

Long-lived sessions: 5,000 concurrent calls with 1 s replies: the fake Asterisk answers every
command (``ANSWER``, 15 x ``GET VARIABLE``, ``HANGUP``) one second after it arrived, as a
1-second prompt would, so each call always has a command in flight on the server; failures,
p99 turnaround and the server's resident memory per session (VmRSS from
``/proc/<server pid>/status`` -- the server process's own ``/proc/self/status`` -- idle
before, at the plateau with every call open).

panoramisk must not go into the project's virtualenv; ``scripts/bench-setup`` makes the
bench's own, ``bench/.venv`` (git-ignored), which the bench uses by default.

Run (from the repository root; without the peer's interpreter the peer is skipped, unless
``--require-peer`` makes that an error)::

    scripts/bench-setup                                        # once
    .venv/bin/python bench/agi_throughput.py --require-peer   # everything
    .venv/bin/python bench/agi_throughput.py --peer-python /path/to/python --seconds 5
    .venv/bin/python bench/agi_throughput.py --long-only --sessions 5000

Internally the same file is the server: ``agi_throughput.py serve hotline|panoramisk ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The peer's own environment, made by scripts/bench-setup (see above).
DEFAULT_PEER_PYTHON = ROOT / "bench" / ".venv" / "bin" / "python"
PEER_VERSION = "1.4"
SERVER_CPU = 0
GENERATOR_CPU = 1

ENVIRONMENT = (
    "agi_network: yes\n"
    "agi_network_script: {script}\n"
    "agi_request: agi://127.0.0.1:4573/{script}\n"
    "agi_channel: Local/{script}@probe-00000000;2\n"
    "agi_language: en\n"
    "agi_type: Local\n"
    "agi_uniqueid: 1795313168.{n}\n"
    "agi_version: GIT-22-69535d4\n"
    "agi_callerid: 777123456\n"
    "agi_calleridname: Jan Novak\n"
    "agi_callingpres: 0\n"
    "agi_callingani2: 0\n"
    "agi_callington: 0\n"
    "agi_callingtns: 0\n"
    "agi_dnid: unknown\n"
    "agi_rdnis: unknown\n"
    "agi_context: probe\n"
    "agi_extension: {script}\n"
    "agi_priority: 1\n"
    "agi_enhanced: 0.0\n"
    "agi_accountcode: \n"
    "agi_threadid: 140515063908032\n"
    "\n"
)

# The recorded replies (transcript 001) to each command the flows send.
REPLIES = {
    "ANSWER": b"200 result=0\n",
    "GET VARIABLE": b"200 result=1 (777123456)\n",
    "STREAM FILE": b"200 result=0 endpos=3520\n",
    "GET DATA": b"200 result= (timeout)\n",
    "HANGUP": b"200 result=1\nHANGUP\n",
}
SHORT_SCRIPT = ["ANSWER", "GET VARIABLE", "STREAM FILE", "GET DATA", "HANGUP"]


def long_script(commands: int) -> list[str]:
    return ["ANSWER", *(["GET VARIABLE"] * commands), "HANGUP"]


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def freeze_startup_objects() -> None:
    """Move everything allocated at start-up (modules, classes: ~230k objects with Twisted) out
    of the cyclic GC's reach. Its full passes otherwise re-walk them while thousands of calls
    are live -- a quarter of the server's CPU in the 5,000-call test. Applied to both servers;
    Hotline's composition root should do the same."""
    gc.collect()
    gc.freeze()


def pin_to(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})


# ---------------------------------------------------------------------------------------------
# The servers (run as subprocesses)


def serve_hotline(mode: str, commands: int) -> None:
    """Hotline's FastAGI server with the benchmark flows (a composition root: real reactor)."""
    from twisted.internet import reactor as the_reactor
    from twisted.logger import (
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
        textFileLogObserver,
    )

    from fastagi.channel import AGIChannel
    from fastagi.server import FastAGIFactory, listen_agi

    reactor: Any = the_reactor
    # (zope interfaces confuse mypy here, hence the Any)
    warn_and_up: Any = LogLevelFilterPredicate(defaultLogLevel=LogLevel.warn)
    to_stderr: Any = textFileLogObserver(sys.stderr)
    warnings_only: Any = FilteringLogObserver(to_stderr, [warn_and_up])
    globalLogBeginner.beginLoggingTo([warnings_only], redirectStandardIO=False)

    async def short_flow(ch: AGIChannel) -> None:
        await ch.answer()
        await ch.get_variable("CALLERID(num)")
        await ch.stream_file("beep", "#0")
        await ch.get_data("beep", 100, 4)
        await ch.hangup()

    async def long_flow(ch: AGIChannel) -> None:
        # Back to back: the fake Asterisk takes 1 s over every reply.
        await ch.answer()
        for _ in range(commands):
            await ch.get_variable("CALLERID(num)")
        await ch.hangup()

    flow = short_flow if mode == "short" else long_flow
    factory = FastAGIFactory(lambda request: flow, reactor)
    freeze_startup_objects()
    listening = listen_agi(reactor, "tcp:0:interface=127.0.0.1", factory, backlog=4096)

    def ready(port: Any) -> None:
        print(f"READY {port.getHost().port}", flush=True)

    listening.addCallback(ready)
    reactor.run()


def serve_panoramisk(mode: str, commands: int) -> None:
    """panoramisk 1.4's FastAGI Application with the same commands."""
    from panoramisk.fast_agi import Application  # type: ignore[import-not-found]

    async def short_flow(request: Any) -> None:
        await request.send_command("ANSWER")
        await request.send_command("GET VARIABLE CALLERID(num)")
        await request.send_command('STREAM FILE beep "#0"')
        await request.send_command("GET DATA beep 100 4")
        await request.send_command("HANGUP")

    async def long_flow(request: Any) -> None:
        await request.send_command("ANSWER")
        for _ in range(commands):
            await request.send_command("GET VARIABLE CALLERID(num)")
        await request.send_command("HANGUP")

    async def run() -> None:
        app = Application(loop=asyncio.get_running_loop())
        app.add_route("bench", short_flow if mode == "short" else long_flow)
        freeze_startup_objects()
        server = await asyncio.start_server(app.handler, "127.0.0.1", 0, backlog=4096)
        print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
        await server.serve_forever()

    asyncio.run(run())


# ---------------------------------------------------------------------------------------------
# The load generator


@dataclass
class Stats:
    """What one load phase measured."""

    completed: int = 0
    failed: int = 0
    all_sessions: int = 0  # including the warm-up, for CPU per session
    latencies_s: list[float] = field(default_factory=list)
    latency_times: list[float] = field(default_factory=list)  # when each was measured
    failures: dict[str, int] = field(default_factory=dict)

    def fail(self, why: str) -> None:
        self.failed += 1
        self.failures[why] = self.failures.get(why, 0) + 1


class FakeAsterisk(asyncio.Protocol):
    """One AGI session, Asterisk's side: the environment block, then a reply per command."""

    def __init__(
        self,
        script: list[str],
        n: int,
        stats: Stats,
        record: bool,
        done: asyncio.Future[bool],
        on_first_command: Callable[[], None] | None = None,
        reply_delay_s: float = 0.0,
    ) -> None:
        self.script = script
        # How long "Asterisk" takes over each reply (a prompt playing); 0: at once.
        self.reply_delay_s = reply_delay_s
        self.n = n
        self.stats = stats
        self.record = record
        self.done = done
        self.on_first_command = on_first_command
        self.seen = 0
        self.ok = True
        self.buffer = b""
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(ENVIRONMENT.format(script="bench", n=self.n).encode())
        self.sent_at = time.perf_counter()

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buffer += data
        assert self.transport is not None
        while b"\n" in self.buffer:
            raw, self.buffer = self.buffer.split(b"\n", 1)
            line = raw.decode(errors="replace")
            if self.record:
                self.stats.latencies_s.append(now - self.sent_at)
                self.stats.latency_times.append(now)
            expected = self.script[self.seen] if self.seen < len(self.script) else None
            if expected is None or not line.startswith(expected):
                self.ok = False
                reply = b"510 Invalid or unknown command\n"
            else:
                reply = REPLIES[expected]
            if self.seen == 0 and self.on_first_command is not None:
                self.on_first_command()
            self.seen += 1
            if self.reply_delay_s > 0:
                asyncio.get_running_loop().call_later(self.reply_delay_s, self._reply, reply)
            else:
                self._reply(reply)

    def _reply(self, reply: bytes) -> None:
        # Turnaround is measured from here: the server's time, not the simulated prompt's.
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(reply)
        self.sent_at = time.perf_counter()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(self.ok and self.seen == len(self.script) and exc is None)


async def one_session(
    port: int,
    script: list[str],
    n: int,
    stats: Stats,
    record: bool,
    on_first_command: Callable[[], None] | None = None,
    connect_gate: asyncio.Semaphore | None = None,
    reply_delay_s: float = 0.0,
) -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bool] = loop.create_future()

    def build() -> FakeAsterisk:
        return FakeAsterisk(script, n, stats, record, done, on_first_command, reply_delay_s)

    try:
        if connect_gate is not None:
            async with connect_gate:
                transport, _ = await loop.create_connection(build, "127.0.0.1", port)
        else:
            transport, _ = await loop.create_connection(build, "127.0.0.1", port)
    except OSError as exc:
        if record:
            stats.fail(f"connect: {exc.__class__.__name__}")
        return
    try:
        budget_s = max(60.0, 3.0 * len(script) * max(1.0, reply_delay_s))
        ok = await asyncio.wait_for(done, timeout=budget_s)
    except TimeoutError:
        transport.close()
        ok = False
    stats.all_sessions += 1
    if record:
        if ok:
            stats.completed += 1
        else:
            stats.fail("wrong or incomplete session")


async def short_phase(port: int, concurrency: int, warmup_s: float, seconds: float) -> Stats:
    """``concurrency`` callers back to back; only sessions ending inside the window count."""
    stats = Stats()
    loop = asyncio.get_running_loop()
    start = loop.time()
    window_start, window_end = start + warmup_s, start + warmup_s + seconds
    counter = iter(range(10**9))

    async def caller() -> None:
        while loop.time() < window_end:
            record = loop.time() >= window_start
            await one_session(port, SHORT_SCRIPT, next(counter), stats, record)

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return stats


@dataclass
class Server:
    """A server subprocess."""

    name: str
    process: subprocess.Popen[str]
    port: int

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_s(self) -> float:
        fields_ = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields_[11]) + int(fields_[12])) / ticks

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(name: str, python: str, mode: str, commands: int = 10) -> Server:
    command = [
        python,
        str(Path(__file__).resolve()),
        "serve",
        name,
        "--mode",
        mode,
        "--commands",
        str(commands),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("READY "):
        process.kill()
        raise RuntimeError(f"{name} server did not start: {line!r}")
    return Server(name, process, int(line.split()[1]))


def percentile_ms(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))
    return ordered[index] * 1000


@dataclass
class ShortRow:
    server: str
    concurrency: int
    sessions_per_s: float
    p50_ms: float
    p99_ms: float
    failed: int
    server_cpu_pct: float
    server_cpu_us_per_session: float
    generator_cpu_pct: float


@dataclass
class Round:
    """One measured run of one server at one concurrency."""

    sessions_per_s: float
    latencies_s: list[float]
    failed: int
    server_cpu_pct: float
    server_cpu_us_per_session: float
    generator_cpu_pct: float


async def measure_round(server: Server, concurrency: int, warmup_s: float, seconds: float) -> Round:
    cpu_before, own_before = server.cpu_s(), time.process_time()
    wall_before = time.perf_counter()
    stats = await short_phase(server.port, concurrency, warmup_s, seconds)
    wall = time.perf_counter() - wall_before
    server_cpu = server.cpu_s() - cpu_before
    return Round(
        stats.completed / seconds,
        stats.latencies_s,
        stats.failed,
        100 * server_cpu / wall,
        1e6 * server_cpu / max(1, stats.all_sessions),
        100 * (time.process_time() - own_before) / wall,
    )


async def run_short(
    python_by_server: dict[str, str],
    levels: list[int],
    warmup_s: float,
    seconds: float,
    rounds: int,
) -> list[ShortRow]:
    """Both servers run side by side (idle while the other is measured); each level is
    measured in ``rounds`` alternating runs and the median is reported, so a noisy neighbour
    on the machine cannot favour one server."""
    servers = [start_server(name, python, "short") for name, python in python_by_server.items()]
    rows: list[ShortRow] = []
    try:
        for concurrency in levels:
            results: dict[str, list[Round]] = {server.name: [] for server in servers}
            for number in range(rounds):
                order = servers if number % 2 == 0 else servers[::-1]
                for server in order:
                    result = await measure_round(server, concurrency, warmup_s, seconds)
                    results[server.name].append(result)
                    print(
                        f"  {server.name:<10} c={concurrency:<4} round {number + 1}: "
                        f"{result.sessions_per_s:.0f}/s, server CPU {result.server_cpu_pct:.0f}%, "
                        f"{result.server_cpu_us_per_session:.0f} us/session",
                        file=sys.stderr,
                        flush=True,
                    )
            for server in servers:
                runs = results[server.name]
                latencies = [value for run in runs for value in run.latencies_s]
                rows.append(
                    ShortRow(
                        server.name,
                        concurrency,
                        statistics.median(run.sessions_per_s for run in runs),
                        percentile_ms(latencies, 50),
                        percentile_ms(latencies, 99),
                        sum(run.failed for run in runs),
                        statistics.median(run.server_cpu_pct for run in runs),
                        statistics.median(run.server_cpu_us_per_session for run in runs),
                        statistics.median(run.generator_cpu_pct for run in runs),
                    )
                )
    finally:
        for server in servers:
            server.stop()
    return rows


@dataclass
class LongResult:
    server: str
    sessions: int
    completed: int
    failed: int
    failures: dict[str, int]
    p50_ms: float
    p99_ms: float
    rss_before_kib: int
    rss_peak_kib: int
    open_at_peak: int
    seconds: float
    server_cpu_s: float
    plateau_p99_ms: float

    @property
    def kib_per_session(self) -> float:
        return (self.rss_peak_kib - self.rss_before_kib) / max(1, self.open_at_peak)


async def run_long(
    name: str,
    python: str,
    sessions: int,
    commands: int,
    reply_delay_s: float,
    connect_parallel: int,
) -> LongResult:
    server = start_server(name, python, "long", commands)
    try:
        await asyncio.sleep(0.5)
        rss_before = server.rss_kib()
        cpu_before = server.cpu_s()
        stats = Stats()
        established = 0
        all_open = asyncio.Event()

        def first_command() -> None:
            nonlocal established
            established += 1
            if established == sessions:
                all_open.set()

        gate = asyncio.Semaphore(connect_parallel)
        script = long_script(commands)
        started = time.perf_counter()
        tasks = [
            asyncio.ensure_future(
                one_session(server.port, script, n, stats, True, first_command, gate, reply_delay_s)
            )
            for n in range(sessions)
        ]
        peak, open_at_peak = 0, 0
        waiter = asyncio.ensure_future(all_open.wait())
        await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        plateau_from = time.perf_counter()
        # Sample while (nearly) every call is open: until the first sessions finish.
        while stats.completed + stats.failed == 0 and not all(t.done() for t in tasks):
            rss = server.rss_kib()
            if rss > peak:
                peak, open_at_peak = rss, established - stats.completed - stats.failed
            await asyncio.sleep(0.25)
        await asyncio.gather(*tasks)
        waiter.cancel()
        return LongResult(
            name,
            sessions,
            stats.completed,
            stats.failed,
            stats.failures,
            percentile_ms(stats.latencies_s, 50),
            percentile_ms(stats.latencies_s, 99),
            rss_before,
            peak,
            open_at_peak,
            time.perf_counter() - started,
            server.cpu_s() - cpu_before,
            percentile_ms(
                [
                    value
                    for value, at in zip(stats.latencies_s, stats.latency_times, strict=True)
                    if at >= plateau_from
                ],
                99,
            ),
        )
    finally:
        server.stop()


def short_table(rows: list[ShortRow], peer: str | None) -> str:
    out = [
        "| server | concurrency | sessions/s | turnaround p50 ms | p99 ms | failed | server CPU % "
        "| server CPU µs/session | generator CPU % | sessions/s vs peer |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    peer_rate = {r.concurrency: r.sessions_per_s for r in rows if r.server == peer}
    for row in rows:
        ratio = ""
        if peer and row.server != peer and peer_rate.get(row.concurrency):
            ratio = f"{row.sessions_per_s / peer_rate[row.concurrency]:.2f}x"
        out.append(
            f"| {row.server} | {row.concurrency} | {row.sessions_per_s:.0f} | {row.p50_ms:.2f} "
            f"| {row.p99_ms:.2f} | {row.failed} | {row.server_cpu_pct:.0f} "
            f"| {row.server_cpu_us_per_session:.0f} | {row.generator_cpu_pct:.0f} | {ratio} |"
        )
    return "\n".join(out)


def long_table(results: list[LongResult]) -> str:
    out = [
        "| server | sessions | completed | failed | turnaround p50 ms | p99 ms "
        "| p99 ms, all open | RSS idle MiB "
        "| RSS plateau MiB | open at plateau | KiB per session | server CPU s | wall s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: |",
    ]
    for r in results:
        out.append(
            f"| {r.server} | {r.sessions} | {r.completed} | {r.failed} | {r.p50_ms:.2f} "
            f"| {r.p99_ms:.2f} | {r.plateau_p99_ms:.2f} | {r.rss_before_kib / 1024:.1f} "
            f"| {r.rss_peak_kib / 1024:.1f} "
            f"| {r.open_at_peak} | {r.kib_per_session:.1f} | {r.server_cpu_s:.1f} "
            f"| {r.seconds:.1f} |"
        )
    return "\n".join(out)


def peer_problem(python: Path) -> str | None:
    """Why the peer's interpreter cannot serve panoramisk 1.4, or None when it can."""
    if not python.exists():
        return f"peer interpreter {python} missing"
    check = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m, panoramisk.fast_agi; print(m.version('panoramisk'))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check.returncode != 0:
        return f"{python} cannot import panoramisk.fast_agi: {check.stderr.strip()[-200:]}"
    version = check.stdout.strip()
    if version != PEER_VERSION:
        return f"{python} has panoramisk {version}, the bench compares with {PEER_VERSION}"
    return None


async def run_all(args: argparse.Namespace) -> None:
    raise_fd_limit()
    pin_to(GENERATOR_CPU)
    servers = {"hotline": sys.executable}
    peer: str | None = None
    problem = peer_problem(Path(args.peer_python))
    if problem is None:
        servers["panoramisk"] = args.peer_python
        peer = "panoramisk"
    elif args.require_peer:
        raise SystemExit(f"the peer cannot run: {problem} (run scripts/bench-setup)")
    else:
        print(f"{problem}: panoramisk skipped (scripts/bench-setup makes it)", file=sys.stderr)
    print(f"# FastAGI benchmark ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs)\n")
    if not args.long_only:
        levels = [int(level) for level in args.concurrency.split(",")]
        rows = await run_short(servers, levels, args.warmup_s, args.seconds, args.rounds)
        print("## Short sessions (ANSWER, GET VARIABLE, STREAM FILE, GET DATA, HANGUP)\n")
        print(short_table(rows, peer) + "\n", flush=True)
    if not args.short_only:
        results = []
        for name, python in servers.items():
            if name != "hotline" and not args.long_peer:
                continue
            results.append(
                await run_long(
                    name,
                    python,
                    args.sessions,
                    args.commands,
                    args.reply_delay_s,
                    args.connect_parallel,
                )
            )
            print(f"  {results[-1]}", file=sys.stderr, flush=True)
        print(
            f"## {args.sessions} concurrent long-lived sessions "
            f"(ANSWER, {args.commands} x GET VARIABLE, HANGUP; every reply after "
            f"{args.reply_delay_s:g} s)\n"
        )
        print(long_table(results) + "\n", flush=True)
        for r in results:
            if r.failures:
                print(f"{r.server} failures: {r.failures}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run one server (used internally)")
    serve.add_argument("server", choices=["hotline", "panoramisk"])
    serve.add_argument("--mode", choices=["short", "long"], default="short")
    serve.add_argument("--commands", type=int, default=10)
    parser.add_argument("--peer-python", default=str(DEFAULT_PEER_PYTHON))
    parser.add_argument("--concurrency", default="1,50,200")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup-s", type=float, default=0.5)
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--commands", type=int, default=15)
    parser.add_argument(
        "--reply-delay-s",
        type=float,
        default=1.0,
        help="how long the fake Asterisk takes over each reply in the long test",
    )
    parser.add_argument("--connect-parallel", type=int, default=200)
    parser.add_argument("--short-only", action="store_true")
    parser.add_argument("--long-only", action="store_true")
    parser.add_argument(
        "--long-peer", action="store_true", help="also run the long test on the peer"
    )
    parser.add_argument(
        "--require-peer",
        action="store_true",
        help="exit non-zero when the peer cannot run (instead of skipping it)",
    )
    args = parser.parse_args(argv)
    if args.command == "serve":
        raise_fd_limit()
        pin_to(SERVER_CPU)
        serving = serve_hotline if args.server == "hotline" else serve_panoramisk
        serving(args.mode, args.commands)
        return
    asyncio.run(run_all(args))


if __name__ == "__main__":
    main()
