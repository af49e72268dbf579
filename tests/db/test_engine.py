"""The SQLite file of a serving process is never made again empty (issue 11, item 4; R-7.3):
deleted while Hotline serves, it is an unreachable database (the calls ride it out, the
spool keeps their requests), not a fresh empty one that takes the next calls and loses the
history."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from db.engine import READ_ONLY, make_engine
from db.errors import UNREACHABLE
from db.models import Agent
from tests.support.db import hold_write_locks


def test_a_serving_engine_does_not_create_a_missing_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "hotline.db"
    engine = make_engine(f"sqlite:///{path}", must_exist=True)
    with pytest.raises(UNREACHABLE), engine.connect():
        pass
    assert not path.exists()


def test_a_file_deleted_while_serving_is_unreachable_not_recreated(tmp_path: Path) -> None:
    path = tmp_path / "hotline.db"
    make_engine(f"sqlite:///{path}").dispose()  # `hotline db upgrade` creates the file
    with make_engine(f"sqlite:///{path}").begin() as conn:
        conn.execute(text("CREATE TABLE calls (id INTEGER PRIMARY KEY)"))
    serving = make_engine(f"sqlite:///{path}", must_exist=True)
    with serving.begin() as conn:
        conn.execute(text("INSERT INTO calls DEFAULT VALUES"))
    path.unlink()
    with pytest.raises(UNREACHABLE), serving.begin() as conn:
        conn.execute(text("INSERT INTO calls DEFAULT VALUES"))
    assert not path.exists()


def test_the_file_back_in_place_is_used_again(tmp_path: Path) -> None:
    path = tmp_path / "hotline.db"
    with make_engine(f"sqlite:///{path}").begin() as conn:
        conn.execute(text("CREATE TABLE calls (id INTEGER PRIMARY KEY)"))
    backup = path.read_bytes()
    serving = make_engine(f"sqlite:///{path}", must_exist=True)
    path.unlink()
    path.write_bytes(backup)  # the admin restores it
    with serving.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM calls")).scalar() == 0


@pytest.mark.parametrize("lock_timeout_s", [0.3])
def test_a_write_behind_a_held_lock_fails_as_an_outage_after_the_lock_timeout(
    db_url: str, lock_timeout_s: float
) -> None:
    """A slow database (another client holding the write locks) must not hold a database
    thread for as long as the lock lasts: the write fails after the lock timeout with an
    error the flows ride out as an outage, and goes through once the lock is gone. Reads
    are not held up."""
    holder_engine = make_engine(db_url)
    engine = make_engine(db_url, lock_timeout_s=lock_timeout_s)
    release = hold_write_locks(holder_engine)
    try:
        started = time.monotonic()
        with pytest.raises(UNREACHABLE), engine.begin() as conn:
            conn.execute(update(Agent).values(name="Locked out"))
        assert time.monotonic() - started < 5  # the lock timeout, not the lock's length
        with engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            assert conn.execute(select(Agent.id)).all() == []  # a read goes on
    finally:
        release()
    with engine.begin() as conn:
        conn.execute(update(Agent).values(name="Free again"))
    engine.dispose()
    holder_engine.dispose()
