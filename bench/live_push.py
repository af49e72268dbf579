"""Live streams pushed, not polled (issue 13; R-4.8, R-7.1): the delay from a committed change
to its arrival on every one of ``--streams`` signed-in Server-Sent Events streams.

A back office of ``--streams`` people who all work one voicemail box, each signed in with a
session of their own (opened with the product's own ``web.sessions`` functions, without the
slow password check), each holding the live stream of their pages (``GET /events``), which
carries every change of the box's items (``backoffice`` events, R-3.1). A writer, signed in
and logged in at a phone seat, claims and releases one item in turn over HTTP (``POST
/backoffice/items/<id>/claim`` and ``.../release``), ``--changes`` times, one every
``--interval`` seconds: each is one committed transaction with a ``backoffice.*`` event (and,
the writer being at a seat, an ``agent.state`` event). Each change's delay on each stream is
from the event's own timestamp (``events.at``, stamped by the server before the transaction
commits, so the commit itself is counted) to the moment the stream's bytes reached the
client (``time.time()`` as they are read, on the same machine's clock).

- ``--database sqlite``: one ``hotline serve`` holds the streams and takes the writer's
  requests (a commit wakes the process's own streams at once); ``--servers 2`` makes the
  change in a second ``hotline serve`` on the same file (the streams' server hears of it by
  watching the database's files);
- ``--database postgresql``: two ``hotline serve`` processes, the change made in one and the
  streams held by the other (the writer's ``NOTIFY`` wakes it), in a database of its own
  (``live_bench`` on ``--pg-server``, created if missing, its schema made afresh each run).

The streams' server runs pinned to CPU 0; the writer's server and this client to CPU 1.

Then a supervisor screen: an admin's ``/supervisor/events``, which sends the whole panels
after each agent event (``--seated`` of the staff are at seats, so the panels are large),
read as a browser does for ``--slow-changes`` changes, then as many again by a client that
stops reading, the others' delays measured in both. The server must cut the slow one off at
its bounded buffer (``web.sse.MAX_PENDING_BYTES``; its log says so) without the others
losing anything or slowing beyond what a screen that is read costs them.

``--profile FILE`` records the streams' server with py-spy (``--py-spy``) meanwhile: during
the first changes, or (``--profile-phase screen``) while the supervisor screen is read.

Run (from the repository root)::

    .venv/bin/python bench/live_push.py --streams 1000 --database sqlite
    .venv/bin/python bench/live_push.py --streams 1000 --database postgresql

Prints p50 / p99 / max of the delays and the streams' server's RSS, and last one line:
``live_push streams=N database=D p50_ms=X p99_ms=Y max_ms=Z rss_mib=R`` (the first
``--changes``, before the supervisor screen; RSS the highest seen).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STREAMS_CPU = 0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LOAD_CPU = 1
PG_DATABASE = "live_bench"
BOX = "VM"
WRITER_SEAT = "w1"
OPEN_AT_ONCE = 50  # streams being opened at the same time
# Browsers come from many addresses: the server takes at most 50 connections from one
# (web.server.PER_ADDRESS_CONNECTIONS), so the streams come from 127.0.0.10 on, 40 from each.
PER_ADDRESS = 40
WRITER_ADDRESS = "127.0.0.2"
SLOW_ADDRESS = "127.0.0.3"
FRAME = re.compile(rb"id: (\d+)\nevent: backoffice\n")
STOPPED_READING = "the browser stopped reading"


# --------------------------------------------------------------------------- the database


def centre_yaml(streams: int, seated: int, hashed: str) -> str:
    """A box, its staff (one per stream, the first ``seated`` with a seat each), the writer
    at a seat, and an admin."""

    def seat(i: int) -> str:
        return f", seats: ['s{i}']" if i < seated else ""

    lines = [
        "settings: {time_zone: Europe/Prague, country_prefix: '420'}",
        "voicemail_boxes:",
        f"  - {{code: {BOX}, name: Bench voicemail, kind: voicemail}}",
        "phone_seats:",
        f"  - {{name: '{WRITER_SEAT}', dial_string: PJSIP/{WRITER_SEAT}}}",
        *(f"  - {{name: 's{i}', dial_string: PJSIP/s{i}}}" for i in range(seated)),
        "agents:",
        f"  - {{login: writer, name: Writer, password_hash: '{hashed}',"
        f" seats: ['{WRITER_SEAT}'], boxes: [{BOX}]}}",
        f"  - {{login: boss, name: Boss, role: admin, password_hash: '{hashed}'}}",
        *(
            f"  - {{login: b{i}, name: Staff {i}, password_hash: '{hashed}',"
            f" boxes: [{BOX}]{seat(i)}}}"
            for i in range(streams)
        ),
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Prepared:
    item_id: int
    writer_token: str
    writer_csrf: str
    boss_token: str
    tokens: tuple[str, ...]  # one per stream


def prepare(url: str, streams: int, seated: int) -> Prepared:
    """The centre, one open item, every session; the writer and ``seated`` of the staff
    logged in at their seats (the supervisor screen's Agents panel lists them)."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from agent_desktop.store.agent_sessions import log_in
    from db.catalog import load_catalog
    from db.engine import make_engine
    from db.migrate import upgrade
    from db.models import Agent, PhoneSeat, VoicemailBox, VoicemailItem
    from db.passwords import hash_password
    from domain.enums import ItemKind
    from web.sessions import credentials, open_session

    upgrade(url)
    engine = make_engine(url)
    hashed = hash_password("x", n=2**10)  # nobody types it: sessions are opened directly
    now = datetime.now(UTC)
    with Session(engine) as s, s.begin():
        load_catalog(s, centre_yaml(streams, seated, hashed), source="bench")
    with Session(engine) as s, s.begin():
        box_id = s.scalars(select(VoicemailBox.id).where(VoicemailBox.code == BOX)).one()
        item = VoicemailItem(box_id=box_id, kind=ItemKind.MESSAGE, created_at=now)
        s.add(item)
        s.flush()
        item_id = item.id
        writer = s.scalars(select(Agent.id).where(Agent.login == "writer")).one()
        seat = s.scalars(select(PhoneSeat.id).where(PhoneSeat.name == WRITER_SEAT)).one()
        log_in(s, writer, seat, now)
        seats = {name: id_ for name, id_ in s.execute(select(PhoneSeat.name, PhoneSeat.id))}
        logins = {login: id_ for login, id_ in s.execute(select(Agent.login, Agent.id))}
        for i in range(seated):
            log_in(s, logins[f"b{i}"], seats[f"s{i}"], now)

    def session_of(login: str) -> tuple[str, str]:
        with Session(engine) as s, s.begin():
            found = credentials(s, login)
            assert found is not None
            opened = open_session(s, found, datetime.now(UTC))
            assert opened is not None
            return opened.token, opened.csrf_token

    writer_token, writer_csrf = session_of("writer")
    boss_token, _ = session_of("boss")
    tokens = tuple(session_of(f"b{i}")[0] for i in range(streams))
    engine.dispose()
    return Prepared(item_id, writer_token, writer_csrf, boss_token, tokens)


def event_times(url: str, after_id: int) -> dict[int, float]:
    """When the server stamped each back-office event after ``after_id`` (epoch seconds)."""
    from sqlalchemy.orm import Session

    from db.engine import make_engine
    from db.events import events_after

    engine = make_engine(url)
    found: dict[int, float] = {}
    with Session(engine) as s:
        while True:
            batch = events_after(s, after_id, 1000)
            if not batch:
                break
            for event in batch:
                if event.kind.startswith("backoffice."):
                    at = event.at if event.at.tzinfo else event.at.replace(tzinfo=UTC)
                    found[event.id] = at.timestamp()
            after_id = batch[-1].id
    engine.dispose()
    return found


def newest_event(url: str) -> int:
    from sqlalchemy.orm import Session

    from db.engine import make_engine
    from db.events import newest_id

    engine = make_engine(url)
    with Session(engine) as s:
        found = newest_id(s)
    engine.dispose()
    return found


def fresh_postgresql(server: str) -> str:
    """``live_bench`` on ``server`` (created if missing), its schema dropped and made again."""
    from sqlalchemy import create_engine, text

    from db.engine import with_driver

    admin = create_engine(with_driver(f"{server}/postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": PG_DATABASE}
        )
        if not exists:
            conn.execute(text(f"CREATE DATABASE {PG_DATABASE}"))
    admin.dispose()
    url = f"{server}/{PG_DATABASE}"
    engine = create_engine(with_driver(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    return url


# --------------------------------------------------------------------------- the servers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    print(log.read_text()[-3000:])
    raise SystemExit(f"hotline serve did not listen on {port}")


def start_serve(url: str, work: Path, name: str, cpu: int) -> tuple[subprocess.Popen[bytes], int]:
    """``hotline serve`` on ``url`` pinned to ``cpu``, once it listens; (process, web port)."""
    web_port, agi_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")} | {
        "HOTLINE_DATABASE_URL": url,
        "HOTLINE_WEB_LISTEN": f"tcp:{web_port}:interface=127.0.0.1",
        "HOTLINE_AGI_LISTEN": f"tcp:{agi_port}:interface=127.0.0.1",
        "HOTLINE_SPOOL_DIR": str(work / f"spool-{name}"),
        "HOTLINE_RECORDINGS_DIR": str(work / "recordings"),
        "PYTHONPATH": str(ROOT),
    }
    log = work / f"{name}.log"
    server = subprocess.Popen(
        ["taskset", "-c", str(cpu), sys.executable, "-m", "hotline", "serve"],
        cwd=work, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    _wait_port(web_port, server, log)
    return server, web_port


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --------------------------------------------------------------------------- the clients


@dataclass(eq=False)
class Stream(asyncio.Protocol):
    """One signed-in browser's live stream: when each back-office event's bytes arrived."""

    request: bytes
    arrived: dict[int, float] = field(default_factory=dict)
    status: int = 0
    closed: bool = False
    transport: Any = None
    _buffer: bytes = b""
    _ready: asyncio.Future[None] | None = None

    def connection_made(self, transport: Any) -> None:
        self._ready = asyncio.get_running_loop().create_future()
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buffer = self._buffer + data
        if not self.status:
            head, sep, _ = buffer.partition(b"\r\n\r\n")
            if not sep:
                self._buffer = buffer
                return
            self.status = int(head.split(b" ", 2)[1])
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
        cut = 0
        for found in FRAME.finditer(buffer):
            self.arrived.setdefault(int(found.group(1)), now)
            cut = found.end()
        self._buffer = buffer[max(cut, len(buffer) - 200) :]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)

    async def ready(self) -> None:
        assert self._ready is not None
        await self._ready


def get(path: str, port: int, token: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Cookie: hotline_session={token}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()


async def open_streams(port: int, tokens: Sequence[str]) -> list[Stream]:
    loop = asyncio.get_running_loop()
    streams = [Stream(get("/events", port, t)) for t in tokens]
    gate = asyncio.Semaphore(OPEN_AT_ONCE)

    async def open_one(index: int, stream: Stream) -> None:
        source = (f"127.0.{10 + index // PER_ADDRESS // 240}.{10 + index // PER_ADDRESS % 240}", 0)
        async with gate:
            await loop.create_connection(lambda: stream, "127.0.0.1", port, local_addr=source)
            await asyncio.wait_for(stream.ready(), 120)

    await asyncio.gather(*(open_one(i, s) for i, s in enumerate(streams)))
    bad = [s.status for s in streams if s.status != 200 or s.closed]
    if bad:
        raise SystemExit(f"{len(bad)} streams were refused: {bad[:5]}")
    return streams


def slow_reader(port: int, token: str) -> socket.socket:
    """A supervisor screen whose browser reads its first bytes, then never again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.bind((SLOW_ADDRESS, 0))
    sock.connect(("127.0.0.1", port))
    sock.sendall(get("/supervisor/events", port, token))
    sock.settimeout(30)
    first = sock.recv(4096)
    if b" 200 " not in first.split(b"\r\n", 1)[0]:
        raise SystemExit(f"the supervisor screen was refused: {first[:80]!r}")
    return sock


def cut_off(sock: socket.socket) -> bool:
    """Did the server drop the slow reader? (Reads what is left: a reset or the end.)"""
    sock.settimeout(10)
    try:
        while sock.recv(1 << 20):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


class Writer:
    """The signed-in person who claims and releases the item, over HTTP (one connection)."""

    def __init__(self, port: int, prepared: Prepared) -> None:
        self._port = port
        self._prepared = prepared
        self._claimed = False
        self._conn = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=60, source_address=(WRITER_ADDRESS, 0)
        )
        self.round_trips: list[float] = []

    def change(self) -> None:
        action = "release" if self._claimed else "claim"
        started = time.perf_counter()
        self._conn.request(
            "POST",
            f"/backoffice/items/{self._prepared.item_id}/{action}",
            body=b"",
            headers={
                "Cookie": f"hotline_session={self._prepared.writer_token}",
                "X-CSRF-Token": self._prepared.writer_csrf,
                "Accept": "application/json",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        answer = self._conn.getresponse()
        body = answer.read()
        self.round_trips.append(time.perf_counter() - started)
        if answer.status != 200:
            raise SystemExit(f"{action} answered {answer.status}: {body[:200]!r}")
        self._claimed = not self._claimed


async def make_changes(writer: Writer, changes: int, interval_s: float) -> None:
    for _ in range(changes):
        started = time.monotonic()
        await asyncio.to_thread(writer.change)
        await asyncio.sleep(max(0.0, interval_s - (time.monotonic() - started)))
    await asyncio.sleep(max(2.0, interval_s))  # the last change's stragglers


# --------------------------------------------------------------------------- the figures


@dataclass(frozen=True)
class Delays:
    samples: list[float]  # seconds
    missing: int

    def ms(self, fraction: float) -> float:
        ordered = sorted(self.samples)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def delays(streams: Sequence[Stream], stamped: dict[int, float], ids: Sequence[int]) -> Delays:
    samples, missing = [], 0
    for stream in streams:
        for event_id in ids:
            arrived = stream.arrived.get(event_id)
            if arrived is None:
                missing += 1
            else:
                samples.append(arrived - stamped[event_id])
    return Delays(samples, missing)


def spread(
    streams: Sequence[Stream], stamped: dict[int, float], ids: Sequence[int], opened: float
) -> str:
    """Where a change's time goes: to its first stream (wake-up, read), and from its first
    stream to its last (the fan-out to every stream), medians over the changes."""
    first, fan_out, worst = [], [], []
    for event_id in ids:
        times = [s.arrived[event_id] for s in streams if event_id in s.arrived]
        if times:
            first.append(min(times) - stamped[event_id])
            fan_out.append(max(times) - min(times))
            worst.append((max(times) - stamped[event_id], stamped[event_id] - opened))
    if not first:
        return "no change arrived"
    first.sort()
    fan_out.sort()
    slowest = ", ".join(f"{d * 1000:.0f} ms at {t:.0f} s" for d, t in sorted(worst)[-3:])
    return (
        f"to the first stream {first[len(first) // 2] * 1000:.1f} ms,"
        f" first to last stream {fan_out[len(fan_out) // 2] * 1000:.1f} ms (medians);"
        f" the slowest changes' last arrival: {slowest} after the streams opened"
    )


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def report(label: str, found: Delays, rss: float) -> None:
    print(
        f"{label}: samples={len(found.samples)} missing={found.missing}"
        f" p50={found.ms(0.5):.1f} ms p99={found.ms(0.99):.1f} ms max={found.ms(1.0):.1f} ms"
        f" rss={rss:.0f} MiB",
        flush=True,
    )


async def run(args: argparse.Namespace, url: str, work: Path, database: str) -> None:
    print(f"preparing {args.streams} accounts and sessions on {database}...", flush=True)
    prepared = prepare(url, args.streams, min(args.seated, args.streams))
    servers = args.servers or (2 if database == "postgresql" else 1)
    held, stream_port = start_serve(url, work, "streams", STREAMS_CPU)
    processes = [held]
    change_port = stream_port
    if servers == 2:
        changer, change_port = start_serve(url, work, "changes", LOAD_CPU)
        processes.append(changer)
    try:
        started = time.monotonic()
        streams = await open_streams(stream_port, prepared.tokens)
        opened = time.time()
        print(
            f"{len(streams)} streams open in {time.monotonic() - started:.1f} s"
            f" ({servers} serve process{'es' if servers == 2 else ''},"
            f" changes made in {'the other' if servers == 2 else 'the same'})",
            flush=True,
        )
        await asyncio.sleep(1.0)
        writer = Writer(change_port, prepared)
        rss_before = rss_mib(held.pid)

        first = newest_event(url)

        def profile(phase: str) -> subprocess.Popen[bytes] | None:
            """py-spy on the streams' server while the changes of ``phase`` come."""
            if not args.profile or args.profile_phase != phase:
                return None
            return subprocess.Popen(
                [args.py_spy, "record", "-p", str(held.pid), "-d", str(args.profile_s),
                 "--nonblocking", "-f", "raw", "-o", args.profile],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip

        def profiled(spy: subprocess.Popen[bytes] | None) -> None:
            if spy is not None:
                spy.wait()
                print(f"profile of the streams' server: {args.profile}")

        spy = profile("quiet")
        cpu_before = cpu_s(held.pid)
        await make_changes(writer, args.changes, args.interval)
        cpu_ms = (cpu_s(held.pid) - cpu_before) * 1000 / max(1, args.changes)
        profiled(spy)
        rss = max(rss_before, rss_mib(held.pid))
        stamped = event_times(url, first)
        ids = sorted(stamped)
        quiet = delays(streams, stamped, ids)
        report(f"{len(ids)} changes, {len(streams)} streams", quiet, rss)
        print(f"  {spread(streams, stamped, ids, opened)}")
        print(
            f"  the streams' server's CPU: {cpu_ms:.0f} ms per change;"
            f" the machine's load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )

        # The same supervisor screen read as a browser does: what it costs the others.
        loop = asyncio.get_running_loop()
        screen = Stream(get("/supervisor/events", stream_port, prepared.boss_token))
        await loop.create_connection(
            lambda: screen, "127.0.0.1", stream_port, local_addr=(SLOW_ADDRESS, 0)
        )
        await asyncio.wait_for(screen.ready(), 60)
        first = newest_event(url)
        spy = profile("screen")
        cpu_before = cpu_s(held.pid)
        await make_changes(writer, args.slow_changes, args.interval)
        screen_cpu_ms = (cpu_s(held.pid) - cpu_before) * 1000 / max(1, args.slow_changes)
        profiled(spy)
        stamped = event_times(url, first)
        ids = sorted(stamped)
        reading = delays(streams, stamped, ids)
        report(f"{len(ids)} changes with a supervisor screen read", reading, rss_mib(held.pid))
        print(f"  {spread(streams, stamped, ids, opened)}")
        print(f"  the streams' server's CPU: {screen_cpu_ms:.0f} ms per change")
        assert screen.transport is not None
        screen.transport.close()
        await asyncio.sleep(1.0)

        slow = slow_reader(stream_port, prepared.boss_token)
        first = newest_event(url)
        await make_changes(writer, args.slow_changes, args.interval)
        stamped = event_times(url, first)
        ids = sorted(stamped)
        busy = delays(streams, stamped, ids)
        rss = max(rss, rss_mib(held.pid))
        report(f"{len(ids)} changes with the screen not read", busy, rss)
        print(f"  {spread(streams, stamped, ids, opened)}")
        dropped = cut_off(slow)
        logged = (work / "streams.log").read_text().count(STOPPED_READING)
        print(
            f"slow reader: cut off={'yes' if dropped else 'no'}"
            f" (the server's log: {logged} stream(s) closed for not reading)"
        )
        still = sum(1 for s in streams if s.closed)
        if still:
            print(f"{still} of the other streams were closed")
        print(
            f"the writer's change requests: p50"
            f" {sorted(writer.round_trips)[len(writer.round_trips) // 2] * 1000:.1f} ms"
        )
        print(
            f"live_push streams={len(streams)} database={database} p50_ms={quiet.ms(0.5):.0f}"
            f" p99_ms={quiet.ms(0.99):.0f} max_ms={quiet.ms(1.0):.0f} rss_mib={rss:.0f}"
        )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--servers", type=int, choices=(1, 2), default=0,
        help="hotline serve processes (default: 1 on SQLite, 2 on PostgreSQL)",
    )  # fmt: skip
    parser.add_argument(
        "--seated", type=int, default=200,
        help="staff logged in at seats: the slow supervisor screen's Agents panel",
    )  # fmt: skip
    parser.add_argument("--changes", type=int, default=140, help="70 s: one session check")
    parser.add_argument(
        "--slow-changes", type=int, default=80,
        help="with a supervisor screen read, and again with one not read",
    )  # fmt: skip
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between changes")
    parser.add_argument("--profile", default="", help="py-spy's raw profile to this file")
    parser.add_argument("--profile-s", type=int, default=20, help="seconds of profile")
    parser.add_argument(
        "--profile-phase", choices=("quiet", "screen"), default="quiet",
        help="profile the first changes, or those with a supervisor screen read",
    )  # fmt: skip
    parser.add_argument("--py-spy", default="py-spy", help="the py-spy program")
    parser.add_argument("--pg-server", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 2 * args.streams + 1000))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))  # the servers inherit it
    os.sched_setaffinity(0, {LOAD_CPU})
    with tempfile.TemporaryDirectory(prefix="hotline-live-") as tmp_name:
        work = Path(tmp_name)
        if args.database == "postgresql":
            url = fresh_postgresql(args.pg_server)
        else:
            url = f"sqlite:///{work / 'live.db'}"
        asyncio.run(run(args, url, work, args.database))


if __name__ == "__main__":
    main()
