"""``DBRunner.read`` (issue 12): on SQLite a transaction that only reads does not take the
write lock, so a page or a waiting caller never waits behind a call's writes; a write
slipped into it fails instead of silently taking the lock; pooled connections still see a
deleted file as an outage (tests/db/test_engine.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Connection, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from db.engine import make_engine
from db.runner import DBRunner


def _count(session: Session | Connection) -> int:
    return int(session.execute(text("SELECT count(*) FROM calls")).scalar_one())


def _insert(session: Session | Connection) -> None:
    session.execute(text("INSERT INTO calls DEFAULT VALUES"))


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "hotline.db"
    with make_engine(f"sqlite:///{path}").begin() as conn:
        conn.execute(text("CREATE TABLE calls (id INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO calls DEFAULT VALUES"))
    return path


def test_a_read_does_not_wait_for_a_writer_holding_the_lock(sqlite_file: Path) -> None:
    db = DBRunner(make_engine(f"sqlite:///{sqlite_file}", must_exist=True), reactor=None)  # type: ignore[arg-type]
    writer = sqlite3.connect(sqlite_file, timeout=0, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO calls DEFAULT VALUES")
    try:
        # The writer's row is not committed: the read sees the snapshot before it, at once
        # (taking the write lock, it would wait out the busy timeout and fail "locked").
        assert db.read_sync(_count) == 1
    finally:
        writer.execute("COMMIT")
        writer.close()
    assert db.read_sync(_count) == 2


def test_a_write_inside_a_read_fails_and_a_write_after_it_works(sqlite_file: Path) -> None:
    db = DBRunner(make_engine(f"sqlite:///{sqlite_file}", must_exist=True), reactor=None)  # type: ignore[arg-type]
    with pytest.raises(OperationalError, match="readonly"):
        db.read_sync(_insert)
    db.run_sync(_insert)  # the same pooled connection, writable again
    assert db.read_sync(_count) == 2


def test_a_read_on_a_bare_connection_is_a_read_too(sqlite_file: Path) -> None:
    """``read_rows`` (a connection, no ORM session: the pages' prepared reads) takes no
    write lock either, and a write slipped into it fails."""
    db = DBRunner(make_engine(f"sqlite:///{sqlite_file}", must_exist=True), reactor=None)  # type: ignore[arg-type]
    writer = sqlite3.connect(sqlite_file, timeout=0, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        assert db.read_rows_sync(_count) == 1
    finally:
        writer.execute("COMMIT")
        writer.close()
    with pytest.raises(OperationalError, match="readonly"):
        db.read_rows_sync(_insert)
    db.run_sync(_insert)
    assert db.read_rows_sync(_count) == 2


def test_reads_and_writes_share_pooled_connections(sqlite_file: Path) -> None:
    engine = make_engine(f"sqlite:///{sqlite_file}", must_exist=True)
    opened: list[object] = []
    event.listen(engine, "connect", lambda dbapi, _record: opened.append(dbapi))
    db = DBRunner(engine, reactor=None)  # type: ignore[arg-type]
    for _ in range(20):
        db.run_sync(_insert)
        db.read_sync(_count)
    assert len(opened) == 1  # not a fresh connection (and its four PRAGMAs) per transaction
