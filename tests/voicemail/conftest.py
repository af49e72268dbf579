"""The voicemail tests' fixture for the product's DBRunner as a process runs it: on the
reactor's thread pool, against the test's database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from twisted.internet import reactor

from db.engine import make_engine
from db.runner import DBRunner


@pytest.fixture
def runner(db_url: str) -> Iterator[DBRunner]:
    db = DBRunner(make_engine(db_url), reactor)
    yield db
    db.stop()
    db.engine.dispose()
