"""The product's DBRunner run inline: each transaction at once on the calling thread, with
the same transaction semantics, so that a request or a call flow completes within one step
of a test's Clock and nothing happens between two steps that the test did not schedule."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, event
from twisted.internet.defer import Deferred, maybeDeferred

from db.engine import make_engine
from db.models import Base
from db.runner import DBRunner

T = TypeVar("T")


class InlineDBRunner(DBRunner):
    """Runs each transaction at once on the calling thread; can lose its database and get
    it back (:meth:`go_down`, :meth:`come_back`).

    ``reactor`` is never used to reach threads: the web tests pass their Clock, the e2e
    world none."""

    def __init__(self, engine: Engine, reactor: Any = None) -> None:
        super().__init__(engine, reactor)
        self.broken: Engine | None = None
        # How many transactions of each store function ran: what a path costs the database.
        self.transactions: Counter[str] = Counter()
        # Of those, the ones that could write (``run``; ``read`` takes no write lock).
        self.writes: Counter[str] = Counter()

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Deferred[T]:
        self.transactions[fn.__name__] += 1
        self.writes[fn.__name__] += 1
        return maybeDeferred(self.run_sync, fn, *args, **kwargs)

    def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Deferred[T]:
        self.transactions[fn.__name__] += 1
        return maybeDeferred(self.read_sync, fn, *args, **kwargs)

    def read_rows(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Deferred[T]:
        self.transactions[fn.__name__] += 1
        return maybeDeferred(self.read_rows_sync, fn, *args, **kwargs)

    def go_down(self, tmp_path: Path) -> None:
        """Point at a database that cannot be opened: the driver's own error, not a fake."""
        self.broken = make_engine(f"sqlite:///{tmp_path / 'gone' / 'down.db'}")
        self.bind(self.broken)

    def come_back(self) -> None:
        self.bind(self.engine)


def hold_write_locks(engine: Engine) -> Callable[[], None]:
    """Another client holds the locks every write needs (a slow database, issue 11): on
    SQLite the single write lock (``BEGIN IMMEDIATE``), on PostgreSQL every table of the
    schema in EXCLUSIVE mode (reads go on, as they do on SQLite). Returns the release."""
    holder = engine.connect()
    transaction = holder.begin()  # on SQLite Hotline's engine begins IMMEDIATE: the lock
    if engine.dialect.name != "sqlite":
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        holder.exec_driver_sql(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")

    def release() -> None:
        transaction.rollback()
        holder.close()

    return release


@dataclass
class Selects:
    count: int = 0

    def seen(self, sql: str) -> None:
        if sql.lstrip().upper().startswith("SELECT") and sql.strip() != "SELECT 1":
            self.count += 1  # "SELECT 1": the pool's ping of a PostgreSQL connection


@contextmanager
def counted_selects(engine: Engine) -> Iterator[Selects]:
    """The SELECTs the database is sent while inside, counted at the driver: the prepared
    reads (``db.prepared``) run on the driver's cursor, past SQLAlchemy's events."""
    selects = Selects()
    if engine.dialect.name == "sqlite":

        def checked_out(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            dbapi_connection.set_trace_callback(selects.seen)

        def checked_in(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.set_trace_callback(None)

    else:
        from psycopg2.extensions import cursor as plain_cursor

        class Counting(plain_cursor):
            def execute(self, query: Any, params: Any = None) -> Any:
                selects.seen(query if isinstance(query, str) else bytes(query).decode())
                return super().execute(query, params)

        def checked_out(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            dbapi_connection.cursor_factory = Counting

        def checked_in(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.cursor_factory = None

    event.listen(engine, "checkout", checked_out)
    event.listen(engine, "checkin", checked_in)
    try:
        yield selects
    finally:
        event.remove(engine, "checkout", checked_out)
        event.remove(engine, "checkin", checked_in)
