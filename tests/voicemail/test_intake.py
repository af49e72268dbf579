"""No lost voicemail or callback request, even while the database is down (R-7.3)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_twisted
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from twisted.internet import reactor

from db.engine import make_engine
from db.models import VoicemailBox, VoicemailItem
from db.runner import DBRunner
from tests.support.full_disk import fill, small_disk
from voicemail.intake import import_spool, store_request
from voicemail.spool import Spool, SpooledRequest

NOW = datetime(2026, 11, 23, 21, 5, tzinfo=UTC)


@pytest.fixture
def box_id(engine: Engine) -> int:
    with Session(engine) as s, s.begin():
        box = VoicemailBox(code="cb", name="Support callbacks")
        s.add(box)
        s.flush()
        return box.id


@pytest.fixture
def down_runner(tmp_path: Path) -> Iterator[DBRunner]:
    """A database that cannot be reached: its file lies in a folder that does not exist."""
    db = DBRunner(make_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}"), reactor)
    yield db
    db.stop()
    db.engine.dispose()


def request(box_id: int, key: str) -> SpooledRequest:
    return SpooledRequest(
        spool_key=key,
        kind="callback",
        box_id=box_id,
        call_uniqueid="1795313168.1",
        caller_number="777123456",
        created_at=NOW.isoformat(),
    )


def count_items(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(VoicemailItem)) or 0)


@pytest_twisted.ensureDeferred
async def test_a_request_goes_straight_to_the_database_when_it_is_up(
    runner: DBRunner, engine: Engine, box_id: int, tmp_path: Path
) -> None:
    spool = Spool(tmp_path / "spool")
    view = await store_request(runner, spool, request(box_id, "k1"))
    assert view is not None and view.kind == "callback"
    assert count_items(engine) == 1
    assert list(spool.entries()) == []


@pytest_twisted.ensureDeferred
async def test_database_down_keeps_the_request_and_imports_it_once_when_back(
    runner: DBRunner, down_runner: DBRunner, engine: Engine, box_id: int, tmp_path: Path
) -> None:
    spool = Spool(tmp_path / "spool")
    assert await store_request(down_runner, spool, request(box_id, "k-down")) is None
    [(path, entry)] = list(spool.entries())
    assert entry is not None and entry.caller_number == "777123456"
    assert json.loads(path.read_text())["spool_key"] == "k-down"
    assert count_items(engine) == 0

    # Still down: the import fails and keeps the entry.
    with pytest.raises(OperationalError):
        await import_spool(down_runner, spool)
    assert len(list(spool.entries())) == 1

    # Keep a copy as if the process died after the commit but before removing the file.
    shutil.copy(path, tmp_path / "copy.json")
    assert await import_spool(runner, spool) == (1, 0)
    assert list(spool.entries()) == []
    shutil.copy(tmp_path / "copy.json", path)
    assert await import_spool(runner, spool) == (0, 1)
    assert count_items(engine) == 1
    with Session(engine) as s:
        item = s.scalars(select(VoicemailItem)).one()
        assert (item.spool_key, item.caller_number, item.created_at) == ("k-down", "777123456", NOW)


@pytest_twisted.ensureDeferred
async def test_an_unreadable_entry_is_set_aside_not_lost(
    runner: DBRunner, box_id: int, tmp_path: Path
) -> None:
    spool = Spool(tmp_path / "spool")
    spool.put(request(box_id, "good"))
    (tmp_path / "spool" / "broken.json").write_text("{not json", encoding="utf-8")
    assert await import_spool(runner, spool) == (1, 0)
    assert (tmp_path / "spool" / "damaged" / "broken.json").read_text() == "{not json"


@pytest_twisted.ensureDeferred
async def test_a_full_disk_and_a_database_down_keep_the_request_in_memory_until_one_takes_it(
    runner: DBRunner, down_runner: DBRunner, engine: Engine, box_id: int, tmp_path: Path
) -> None:
    with small_disk(tmp_path / "disk", size_mb=4) as disk:
        spool = Spool(disk / "spool")
        fill(disk)
        assert await store_request(down_runner, spool, request(box_id, "k-full")) is None
        assert spool.unwritten == 1 and not (disk / "spool" / "k-full.json").exists()
        [(_, entry)] = list(spool.entries())
        assert entry is not None and entry.caller_number == "777123456"
        # The database comes back before the disk has room: imported from memory, once.
        assert await import_spool(runner, spool) == (1, 0)
        assert spool.unwritten == 0 and list(spool.entries()) == []
        assert await import_spool(runner, spool) == (0, 0)
        with Session(engine) as s:
            item = s.scalars(select(VoicemailItem)).one()
            assert (item.spool_key, item.caller_number) == ("k-full", "777123456")


def test_a_request_the_disk_refused_is_written_once_it_has_room(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", size_mb=4) as disk:
        spool = Spool(disk / "spool")
        free = fill(disk)
        spool.put(request(1, "k-later"))
        free()
        [(path, entry)] = list(spool.entries())
        assert entry is not None and json.loads(path.read_text())["spool_key"] == "k-later"
        assert spool.unwritten == 0
