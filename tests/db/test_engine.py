"""The SQLite file of a serving process is never made again empty (issue 11, item 4; R-7.3):
deleted while Hotline serves, it is an unreachable database (the calls ride it out, the
spool keeps their requests), not a fresh empty one that takes the next calls and loses the
history."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from db.engine import make_engine
from db.errors import UNREACHABLE


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
