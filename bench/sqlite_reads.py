"""Reads beside writes on SQLite through the DBRunner (issue 12, step 1).

Reader threads run short read transactions (a page's or a waiting caller's lookup) while
writer threads run short write transactions (a call's state changes), all through one
``DBRunner`` on one SQLite file in WAL mode, for ``--seconds``. Before issue 12 every
transaction took the write lock (``BEGIN IMMEDIATE``) on a fresh connection; reads now go
through :meth:`DBRunner.read_sync`, a deferred ``BEGIN`` on a pooled connection that never
waits for a writer.

Run (from the repository root)::

    .venv/bin/python bench/sqlite_reads.py

Last line: ``sqlite_reads readers=R writers=W reads_per_s=… read_p99_ms=… writes_per_s=…
locked=…`` (``locked``: transactions that failed with "database is locked").
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from db.engine import make_engine
from db.runner import DBRunner

ROWS = 1000


def _read(session: Session, key: int) -> Any:
    return session.execute(text("SELECT v FROM items WHERE id = :k"), {"k": key}).scalar()


def _write(session: Session, key: int) -> None:
    session.execute(text("UPDATE items SET v = v + 1 WHERE id = :k"), {"k": key})
    # A call's transaction holds the lock for a few statements' time.
    session.execute(text("SELECT count(*) FROM items WHERE v > :k"), {"k": key})


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=6)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, v INTEGER)"))
            conn.execute(
                text("INSERT INTO items (id, v) VALUES (:i, 0)"), [{"i": i} for i in range(ROWS)]
            )
        db = DBRunner(make_engine(url, must_exist=True), reactor=None)  # type: ignore[arg-type]
        read = getattr(db, "read_sync", db.run_sync)
        read_ms: list[float] = []
        counts = {"reads": 0, "writes": 0, "locked": 0}
        stop = time.monotonic() + args.seconds

        def loop(kind: str) -> None:
            i = 0
            while time.monotonic() < stop:
                i += 1
                started = time.perf_counter()
                try:
                    if kind == "reads":
                        read(_read, i % ROWS)
                        read_ms.append((time.perf_counter() - started) * 1000)
                    else:
                        db.run_sync(_write, i % ROWS)
                except OperationalError as error:
                    if "locked" not in str(error):
                        raise
                    counts["locked"] += 1
                    continue
                counts[kind] += 1

        threads = [threading.Thread(target=loop, args=("reads",)) for _ in range(args.readers)]
        threads += [threading.Thread(target=loop, args=("writes",)) for _ in range(args.writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(
            f"sqlite_reads readers={args.readers} writers={args.writers}"
            f" reads_per_s={counts['reads'] / args.seconds:.0f} read_p99_ms={p99(read_ms):.2f}"
            f" writes_per_s={counts['writes'] / args.seconds:.0f} locked={counts['locked']}"
        )


if __name__ == "__main__":
    main()
