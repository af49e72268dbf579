"""Engine creation: SQLite with WAL and foreign keys on (the embedded default), or PostgreSQL
through psycopg2 (production, several processes on one database) (R-7.1).

On SQLite a write transaction takes the single write lock up front (``BEGIN IMMEDIATE``);
a transaction run with the execution option :data:`READ_ONLY` (``DBRunner.read``) starts
with a plain ``BEGIN`` instead, reads a WAL snapshot beside the writer and never waits for
it, and ``PRAGMA query_only`` makes a write slipped into it fail at once (issue 12).
Connections are pooled on both databases: WAL lets any number of readers share the file.
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError


class DatabaseUnavailableError(Exception):
    """The database cannot be reached or opened; the message says which and why."""


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


# How long a transaction waits for a lock another holds before it fails as an outage
# (issue 11: a slow database, locks held): SQLite's busy timeout, PostgreSQL's lock_timeout.
# A flow rides the failure out like a database that is down (the caller keeps the music and
# the write is retried) instead of holding a database thread for as long as the lock lasts.
LOCK_TIMEOUT_S = 10.0
# PostgreSQL: how long a connection attempt may take, and TCP keepalives, so a database host
# that vanished without a word (no reset) is an outage within seconds, not a thread stuck
# for the kernel's two hours.
CONNECT_TIMEOUT_S = 5
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5}


def _sqlite_pragmas(lock_timeout_s: float) -> Any:
    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets the web process read while the FastAGI process writes; foreign keys are
        # off by default in SQLite; the busy timeout makes a second writer wait (up to the
        # lock timeout) instead of failing at once.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={round(lock_timeout_s * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return pragmas


# The execution option that marks a transaction as one that only reads (DBRunner.read).
READ_ONLY = "hotline_read_only"


def _sqlite_begin(conn: Any) -> None:
    # pysqlite's own transaction handling defers BEGIN and never takes the write lock up
    # front; BEGIN IMMEDIATE makes SQLite's single writer serialise whole transactions, which
    # is what the agent reservation relies on (docs/architecture.md, decision 2). A read
    # needs no lock: WAL gives it a snapshot while the writer goes on (issue 12).
    read_only = bool(conn.get_execution_options().get(READ_ONLY, False))
    info = conn.info  # the pooled connection's own: the pragma's current value lives there
    if info.get(READ_ONLY, False) != read_only:
        conn.exec_driver_sql(f"PRAGMA query_only={int(read_only)}")
        info[READ_ONLY] = read_only
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _file_identity(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _watch_file(engine: Engine, path: str) -> None:
    """A pooled connection keeps an SQLite file open after it was deleted or replaced: on
    each checkout, one whose file is no longer the one at ``path`` is dropped, so a deleted
    file is an outage (issue 11, item 4) and a restored one is used again."""

    def connected(_dbapi_connection: Any, record: Any) -> None:
        record.info["file_identity"] = _file_identity(path)

    def checked_out(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if record.info.get("file_identity") != _file_identity(path):
            raise DisconnectionError(f"the SQLite file {path} was deleted or replaced")

    event.listen(engine, "connect", connected)
    event.listen(engine, "checkout", checked_out)


def with_driver(url: str) -> str:
    """Name psycopg2 as the driver of a bare ``postgresql://`` URL.

    SQLAlchemy 2.1 picks psycopg 3 for a bare URL; Hotline depends on psycopg2.
    """
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        return parsed.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    return url


def _open_existing(path: str, lock_timeout_s: float) -> Any:
    """A connection to the SQLite file at ``path`` that never creates it (``mode=rw``)."""
    uri = "file:" + urllib.parse.quote(path) + "?mode=rw"

    def connect() -> Any:
        return sqlite3.connect(
            uri, uri=True, check_same_thread=False, isolation_level=None, timeout=lock_timeout_s
        )

    return connect


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    must_exist: bool = False,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
) -> Engine:
    """Create the engine for ``url`` with the settings Hotline needs on that database.

    ``must_exist`` (a serving process): an SQLite file that is gone is an unreachable
    database, never silently made again empty (issue 11, item 4): the calls ride it out as
    an outage, the spool keeps their requests and the health check says why.
    ``lock_timeout_s``: see :data:`LOCK_TIMEOUT_S`."""
    url = with_driver(url)
    if is_sqlite(url):
        database = make_url(url).database or ""
        file_backed = database not in ("", ":memory:") and not database.startswith("file:")
        pooling: dict[str, Any] = {}
        if file_backed:
            pooling = {"pool_size": pool_size, "max_overflow": pool_size}
            if must_exist:
                pooling["creator"] = _open_existing(database, lock_timeout_s)
        engine = create_engine(
            url,
            connect_args={
                "check_same_thread": False,
                "isolation_level": None,
                "timeout": lock_timeout_s,
            },
            **pooling,
        )
        event.listen(engine, "connect", _sqlite_pragmas(lock_timeout_s))
        event.listen(engine, "begin", _sqlite_begin)
        if file_backed:
            _watch_file(engine, os.path.abspath(database))
        return engine
    connect_args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_S, **_KEEPALIVES}
    # Beside any options the URL carries (a search_path, say), which these would replace.
    given = make_url(url).query.get("options", "")
    given = " ".join(given) if isinstance(given, tuple) else given
    connect_args["options"] = f"{given} -c lock_timeout={round(lock_timeout_s * 1000)}".strip()
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args=connect_args,
    )
