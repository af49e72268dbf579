"""Call records on a million calls (issue 14; R-5.1): how fast ``/calls`` pages, a deep keyset
page, the CSV export of a month and a monthly KPI report are.

Fills a fresh database (SQLite file, or a schema of its own in PostgreSQL) with ``--calls``
realistic calls spread over a year: four queues, forty agents, IVR keys, ring attempts
(missed rings before an answer), reasons with RT numbers, recordings, voicemail and callback
choices, abandoned and closed calls, bulk-inserted in batches. Then it times, with the same
store functions the pages call (``reports.store.records``):

* the first ``/calls`` page under typical filters (a supervisor's newest calls; an agent's,
  limited to their queues' rights; a queue and state over a month; a phone number in
  another format; answered calls with a recording), each repeated, p95 over all;
* a deep keyset page (past half of the calls);
* the CSV export of a month, streamed in the export's keyset batches into nothing, with the
  process's resident memory sampled at each batch (it must stay flat);
* the monthly reports of ``/reports`` (per queue, per agent, by hour, by day, per DID, IVR
  keys, reason paths) for the whole centre, each timed as the page builds its table; the
  slowest is ``month_report_s``; then the scheduled job's files (XLSX and CSV of the
  per-queue report) and the KPI of R-5.4 alone (``reports.store.kpi.kpi_for_calls``).

Ends with ``reports calls=N database=D page_p95_ms=X deep_page_ms=Y month_report_s=Z
csv_rows_per_s=W``. Run from the repository root::

    .venv/bin/python bench/reports.py --calls 1000000 --database postgresql
    .venv/bin/python bench/reports.py --calls 1000000 --database sqlite

``--url`` names the PostgreSQL server (default ``postgresql://postgres@127.0.0.1:5432/test``);
the bench works in a schema ``bench_reports`` there, made anew each run, and drops it at the
end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import csv
import enum
import io
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from db.engine import make_engine, with_driver  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.models import (  # noqa: E402
    Agent,
    Call,
    IvrKeyPress,
    IvrMenu,
    Queue,
    QueueRight,
    ReasonNode,
    Recording,
    RingAttempt,
    VoicemailBox,
    VoicemailItem,
)
from domain.enums import (  # noqa: E402
    CallState,
    Direction,
    ItemKind,
    IvrOutcome,
    ProcessingState,
    ReasonDirection,
    RingOutcome,
)
from reports import records as core  # noqa: E402
from reports.exports import csv_bytes, xlsx_bytes  # noqa: E402
from reports.records_routes import CSV_BATCH, csv_rows  # noqa: E402
from reports.report_period import Period  # noqa: E402
from reports.report_tables import REPORTS  # noqa: E402
from reports.store import figures, kpi  # noqa: E402
from reports.store import records as store  # noqa: E402

SCHEMA = "bench_reports"
ZONE = ZoneInfo("Europe/Prague")
END = datetime(2026, 12, 1, tzinfo=UTC)
DAYS = 365
BATCH = 20_000

# (state, share, answered?) of inbound calls, roughly a real help desk's mix.
MIX = [
    (CallState.ANSWERED, 0.70),
    (CallState.ABANDONED_QUEUE, 0.09),
    (CallState.ABANDONED_IVR, 0.04),
    (CallState.ABANDONED_RINGING, 0.02),
    (CallState.VOICEMAIL, 0.05),
    (CallState.CALLBACK, 0.04),
    (CallState.CLOSED, 0.05),
    (CallState.TRANSFERRED, 0.01),
]


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------- database


def fresh_database(kind: str, url: str, folder: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder / 'bench-reports.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    engine.dispose()
    parsed = make_url(with_driver(url))
    return parsed.update_query_dict({"options": f"-csearch_path={SCHEMA}"}).render_as_string(
        hide_password=False
    )


def drop_schema(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
    engine.dispose()


# --------------------------------------------------------------------------- the centre


def build_centre(session: Session) -> dict[str, Any]:
    queues = [Queue(code=f"q{i}", name=f"Queue {i}") for i in range(4)]
    box = VoicemailBox(code="vm", name="Voicemail")
    menu = IvrMenu(code="main", name="Main menu", prompt="hotline/main")
    session.add_all([*queues, box, menu])
    session.flush()
    agents = [Agent(login=f"a{i:02d}", name=f"Agent {i:02d}", password_hash="x") for i in range(40)]
    boss = Agent(login="boss", name="Boss", password_hash="x", role="supervisor")
    session.add_all([*agents, boss])
    session.flush()
    for i, agent in enumerate(agents):
        session.add(QueueRight(agent_id=agent.id, queue_id=queues[i % 4].id))
    leaves: dict[int, list[int]] = {}
    for queue in queues:
        for top in range(3):
            parent = ReasonNode(
                queue_id=queue.id, direction=ReasonDirection.INBOUND, label=f"Topic {top}"
            )
            session.add(parent)
            session.flush()
            for leaf in range(3):
                node = ReasonNode(
                    queue_id=queue.id,
                    direction=ReasonDirection.INBOUND,
                    parent_id=parent.id,
                    label=f"Detail {leaf}",
                    code=f"R{top}{leaf}",
                )
                session.add(node)
                session.flush()
                leaves.setdefault(queue.id, []).append(node.id)
    return {
        "queues": [q.id for q in queues],
        "agents_by_queue": {
            q.id: [a.id for i, a in enumerate(agents) if i % 4 == n] for n, q in enumerate(queues)
        },
        "agent": agents[0].id,
        "boss": boss.id,
        "box": box.id,
        "menu": menu.id,
        "leaves": leaves,
    }


def generate(n: int, centre: dict[str, Any], seed: int = 14) -> Iterator[dict[str, list[Any]]]:
    """Batches of rows for calls, ring attempts, key presses, recordings, items."""
    rng = random.Random(seed)
    states = [s for s, _ in MIX]
    weights = [w for _, w in MIX]
    start = END - timedelta(days=DAYS)
    step_s = DAYS * 86400 / n
    numbers = [f"7{rng.randrange(10**7, 10**8)}" for _ in range(50_000)]
    ring_id = key_id = rec_id = item_id = 0
    batch: dict[str, list[Any]] = {k: [] for k in ("calls", "rings", "keys", "recs", "items")}
    for i in range(n):
        call_id = i + 1
        at = start + timedelta(seconds=i * step_s + rng.random() * step_s)
        queue = rng.choice(centre["queues"])
        members = centre["agents_by_queue"][queue]
        state = rng.choices(states, weights)[0]
        entered = at + timedelta(seconds=rng.randint(4, 15))
        wait_s = rng.randint(1, 180)
        answered_at = agent_id = processed_at = None
        reason = None
        rt = None
        end = entered + timedelta(seconds=wait_s)
        rings: list[tuple[int, datetime, datetime, RingOutcome]] = []
        if state in (CallState.ANSWERED, CallState.TRANSFERRED, CallState.ABANDONED_RINGING):
            missed = rng.choice((0, 0, 0, 1, 1, 2))
            ring_at = entered + timedelta(seconds=max(0, wait_s - 20 * (missed + 1)))
            for _ in range(missed):
                rings.append(
                    (
                        rng.choice(members),
                        ring_at,
                        ring_at + timedelta(seconds=20),
                        RingOutcome.NO_ANSWER,
                    )
                )
                ring_at += timedelta(seconds=20)
            agent_id = rng.choice(members)
            ring_s = rng.randint(2, 15)
            answered = ring_at + timedelta(seconds=ring_s)
            if state is CallState.ABANDONED_RINGING:
                rings.append((agent_id, ring_at, answered, RingOutcome.CALLER_HUNG_UP))
                agent_id = None
                end = answered
            else:
                rings.append((agent_id, ring_at, answered, RingOutcome.ANSWERED))
                answered_at = answered
                end = answered + timedelta(seconds=rng.randint(20, 900))
                processed_at = end + timedelta(seconds=rng.randint(5, 120))
                reason = rng.choice(centre["leaves"][queue])
                rt = str(rng.randrange(10**5, 10**7)) if rng.random() < 0.15 else None
        elif state is CallState.ABANDONED_IVR:
            end = at + timedelta(seconds=rng.randint(2, 10))
            entered = None  # type: ignore[assignment]
        batch["calls"].append(
            {
                "id": call_id,
                "uniqueid": f"bench-{call_id}",
                "linkedid": f"bench-{call_id}",
                "direction": Direction.INBOUND,
                "did": f"22500{queue:04d}",
                "caller_number": rng.choice(numbers),
                "queue_id": queue,
                "agent_id": agent_id,
                "state": state,
                "hangup_cause": "16",
                "started_at": at,
                "ivr_entered_at": at,
                "queue_entered_at": entered,
                "answered_at": answered_at,
                "ended_at": end,
                "overflowed": wait_s > 150,
                "reached": state in (CallState.ANSWERED, CallState.VOICEMAIL, CallState.CALLBACK),
                "within_service_level": state is CallState.ANSWERED and wait_s <= 20,
                "processing_state": ProcessingState.DONE if processed_at else ProcessingState.NONE,
                "reason_node_id": reason,
                "rt_number": rt,
                "processed_by_id": agent_id if processed_at else None,
                "processed_at": processed_at,
            }
        )
        batch["keys"].append(
            {
                "id": (key_id := key_id + 1),
                "call_id": call_id,
                "menu_id": centre["menu"],
                "digit": str(rng.randint(1, 4)),
                "outcome": IvrOutcome.OPTION,
                "at": at + timedelta(seconds=3),
            }
        )
        for agent, ring_start, ring_end, outcome in rings:
            batch["rings"].append(
                {
                    "id": (ring_id := ring_id + 1),
                    "call_id": call_id,
                    "agent_id": agent,
                    "dial_string": f"PJSIP/{agent}",
                    "started_at": ring_start,
                    "ended_at": ring_end,
                    "outcome": outcome,
                    "overflow": False,
                }
            )
        if answered_at is not None:
            batch["recs"].append(
                {
                    "id": (rec_id := rec_id + 1),
                    "call_id": call_id,
                    "path": f"calls/{call_id}.wav",
                    "started_at": answered_at,
                    "duration_s": int((end - answered_at).total_seconds()),
                }
            )
        if state in (CallState.VOICEMAIL, CallState.CALLBACK):
            batch["items"].append(
                {
                    "id": (item_id := item_id + 1),
                    "box_id": centre["box"],
                    "kind": ItemKind.MESSAGE if state is CallState.VOICEMAIL else ItemKind.CALLBACK,
                    "call_id": call_id,
                    "caller_number": batch["calls"][-1]["caller_number"],
                    "created_at": end,
                    "state": "done",
                }
            )
        if len(batch["calls"]) >= BATCH:
            yield batch
            batch = {k: [] for k in batch}
    if batch["calls"]:
        yield batch


TABLES = {
    "calls": Call.__table__,
    "rings": RingAttempt.__table__,
    "keys": IvrKeyPress.__table__,
    "recs": Recording.__table__,
    "items": VoicemailItem.__table__,
}


def _default(column: Any) -> Any:
    default = column.default
    if default is not None and getattr(default, "is_scalar", False):
        return default.arg
    return None


def _plain(value: Any, postgres: bool) -> Any:
    """A value as the database stores it (what the models' types would bind)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bool):
        return ("t" if value else "f") if postgres else int(value)
    return value


def bulk_insert(engine: Engine, table: Any, rows: list[dict[str, Any]]) -> None:
    """Rows straight through the driver: COPY on PostgreSQL, executemany on SQLite (the ORM's
    per-row work would make a million calls take an hour)."""
    postgres = engine.dialect.name == "postgresql"
    columns = list(table.columns)
    names = [c.name for c in columns]
    defaults = {c.name: _default(c) for c in columns}
    plain = [[_plain(row[n] if n in row else defaults[n], postgres) for n in names] for row in rows]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if postgres:
            # A bulk load: no foreign-key trigger per row (the generator makes only valid
            # references); needs a superuser, as the bench's database owner is.
            cursor.execute("SET session_replication_role = replica")
            buffer = io.StringIO()
            csv.writer(buffer).writerows(
                [["\\N" if v is None else v for v in row] for row in plain]
            )
            buffer.seek(0)
            cursor.copy_expert(  # type: ignore[attr-defined]
                f"COPY {table.name} ({', '.join(names)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')",
                buffer,
            )
        else:
            marks = ", ".join("?" for _ in names)
            cursor.executemany(
                f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})", plain
            )
        raw.commit()
    finally:
        raw.close()


def fill(engine: Engine, n: int) -> tuple[dict[str, Any], float, int]:
    started = time.perf_counter()
    with Session(engine) as session, session.begin():
        centre = build_centre(session)
    rows = 0
    done = 0
    for batch in generate(n, centre):
        for key, table in TABLES.items():
            if batch[key]:
                bulk_insert(engine, table, batch[key])
                rows += len(batch[key])
        done += len(batch["calls"])
        if done % 100_000 < BATCH:
            print(f"  {done:>9,} calls ({time.perf_counter() - started:.0f} s)", flush=True)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            for table in TABLES.values():
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"(SELECT max(id) FROM {table.name}))"
                    )
                )
        # Only the bench's tables: a whole-database ANALYZE can deadlock with other schemas'
        # DDL on a shared server.
        for table in TABLES.values():
            conn.execute(text(f"ANALYZE {table.name}"))
    return centre, time.perf_counter() - started, rows


# --------------------------------------------------------------------------- measurements


def timed(engine: Engine, fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    with Session(engine) as session:
        begun = time.perf_counter()
        result = fn(session, *args)
        return (time.perf_counter() - begun) * 1000, result


def page(session: Session, viewer: store.Viewer, flt: core.CallFilter, after: Any = None) -> Any:
    """What ``GET /calls`` asks of the database: the page and the filter's choices."""
    found = store.list_calls(session, viewer, flt, after, 50)
    store.filter_choices(session, viewer)
    return found


def month_filter(**extra: str) -> core.CallFilter:
    fields = {"from": "2026-10-01", "to": "2026-10-31", **extra}
    return core.parse_call_filter(fields.get, ZONE)


def measure(engine: Engine, centre: dict[str, Any], repeats: int) -> dict[str, float]:
    with Session(engine) as session:
        boss = store.viewer_of(session, centre["boss"])
        agent = store.viewer_of(session, centre["agent"])
        some_number = session.scalars(select(Call.caller_number).limit(1)).one()
    national = some_number  # stored as 7xxxxxxxx; searched as the international form
    filters = [
        ("supervisor, no filter", boss, core.CallFilter()),
        ("agent, own queues", agent, core.CallFilter()),
        (
            "queue + answered, a month",
            boss,
            month_filter(queue=str(centre["queues"][1]), state="answered"),
        ),
        ("number +420 …", boss, core.parse_call_filter({"number": "+420" + national}.get, ZONE)),
        (
            "answered with a recording",
            boss,
            core.parse_call_filter({"state": "answered", "recording": "yes"}.get, ZONE),
        ),
        ("agent, abandoned", agent, core.parse_call_filter({"state": "abandoned_queue"}.get, ZONE)),
    ]
    samples: list[float] = []
    for name, viewer, flt in filters:
        timed(engine, page, viewer, flt)  # warm the cache once
        times = [timed(engine, page, viewer, flt)[0] for _ in range(repeats)]
        samples.extend(times)
        print(f"  first page, {name:<28} median {statistics.median(times):7.1f} ms")
    p95 = statistics.quantiles(samples, n=20)[-1]
    # A deep page: the cursor half-way down the whole list (found once, not timed).
    with Session(engine) as session:
        total = session.scalar(select(Call.id).order_by(Call.id.desc()).limit(1)) or 0
        started_at, call_id = session.execute(
            select(Call.started_at, Call.id)
            .order_by(Call.started_at.desc(), Call.id.desc())
            .offset(total // 2)
            .limit(1)
        ).one()
    cursor = core.Cursor(started_at, call_id)
    deep = [timed(engine, page, boss, core.CallFilter(), cursor)[0] for _ in range(repeats)]
    deep_ms = statistics.median(deep)
    print(f"  deep page (after row {total // 2:,}) median {deep_ms:.1f} ms")
    # The CSV export of a month, in the export's batches, into nothing.
    flt = month_filter()
    rows = 0
    base_rss = rss_kib()
    peak_rss = base_rss
    begun = time.perf_counter()
    after = None
    sink = io.StringIO()
    while True:
        with Session(engine) as session:
            found = store.list_calls(session, boss, flt, after, CSV_BATCH)
        writer = csv.writer(sink)
        writer.writerows(csv_rows(found.rows, ZONE, str))
        sink.seek(0)
        sink.truncate()
        rows += len(found.rows)
        peak_rss = max(peak_rss, rss_kib())
        if found.next_cursor is None:
            break
        after = found.next_cursor
    csv_s = time.perf_counter() - begun
    print(
        f"  CSV of October: {rows:,} rows in {csv_s:.1f} s = {rows / csv_s:,.0f} rows/s;"
        f" RSS {base_rss / 1024:.0f} MiB -> peak {peak_rss / 1024:.0f} MiB"
    )
    # The monthly reports of /reports over October, the whole centre, each as the
    # page builds it (its table, figures as docs/kpi.md defines them); the slowest counts.
    period = Period(date(2026, 10, 1), date(2026, 10, 31), ZONE.key)
    everything = figures.Scope(None)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    report_s = []
    tables = {}
    for key in REPORTS:
        with Session(engine) as session:
            begun = time.perf_counter()
            tables[key] = figures.report_table(session, key, period, everything, now)
            took = time.perf_counter() - begun
        report_s.append(took)
        print(f"  monthly report {key:<8} {len(tables[key].rows):>5} rows  {took:7.2f} s")
    # The scheduled job's own work on top: the monthly per-queue report as an XLSX file
    # and as CSV (the e-mail and the SMTP conversation are what they cost anywhere).
    begun = time.perf_counter()
    xlsx_bytes(tables["queues"], str, "Queues, October 2026")
    csv_bytes(tables["queues"], str)
    print(f"  the scheduled job's files (XLSX, CSV): {time.perf_counter() - begun:.3f} s")
    with Session(engine) as session:
        begun = time.perf_counter()
        summary = kpi.kpi_for_calls(session, period.since, period.until)
        took = time.perf_counter() - begun
    print(f"  the KPI of R-5.4 alone: {summary.calls:,} calls, {took:.2f} s")
    return {
        "page_p95_ms": p95,
        "deep_page_ms": deep_ms,
        "month_report_s": max(report_s),
        "csv_rows_per_s": rows / csv_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the filled database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = fresh_database(args.database, args.url, Path(folder))
        upgrade(url)
        engine = make_engine(url)
        try:
            print(f"filling {args.database} with {args.calls:,} calls")
            centre, fill_s, rows = fill(engine, args.calls)
            print(f"  {rows:,} rows in {fill_s:.0f} s ({rows / fill_s:,.0f} rows/s)")
            numbers = measure(engine, centre, args.repeats)
        finally:
            engine.dispose()
            if args.database == "postgresql" and not args.keep:
                drop_schema(args.url)
    print(
        f"reports calls={args.calls} database={args.database}"
        f" page_p95_ms={numbers['page_p95_ms']:.0f} deep_page_ms={numbers['deep_page_ms']:.0f}"
        f" month_report_s={numbers['month_report_s']:.2f}"
        f" csv_rows_per_s={numbers['csv_rows_per_s']:.0f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
