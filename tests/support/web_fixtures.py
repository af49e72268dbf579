"""Fixtures for the web tests: a small centre, the real Klein resource, a scripted browser.

Routes run against the real database (SQLite, or PostgreSQL with HOTLINE_TEST_DATABASE_URL)
through a DBRunner that runs each transaction inline instead of on a thread pool, so a
request completes within ``StubTreq``'s in-memory round trip and time is a ``Clock``.

pytest finds fixtures only in the conftest.py files on a test's path: the conftest.py of each
folder whose tests need these imports them from here, all of them (``__all__``) at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from twisted.internet.task import Clock

from hotline.web import WebRoot
from tests.support.centre import StaffCentre, build_staff_centre
from tests.support.db import InlineDBRunner
from tests.support.web import Browser
from web.request import ProcessInfo

# A Monday, 09:30 in Prague, in March: not the suite's T0 (tests/support/time.py). The web
# tests were written for this instant and some check the Prague times the pages show
# ("since 09:30", "09:35"), so it stays as it was.
START = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)

__all__ = ["browser", "centre", "clock", "db", "other_browser", "web"]


@pytest.fixture
def clock() -> Clock:
    c = Clock()
    c.advance(START.timestamp())
    return c


@pytest.fixture
def db(engine: Engine, clock: Clock) -> InlineDBRunner:
    return InlineDBRunner(engine, clock)


@pytest.fixture
def centre(db: InlineDBRunner) -> StaffCentre:
    return db.run_sync(build_staff_centre, START)


@pytest.fixture
def web(db: InlineDBRunner, clock: Clock) -> Iterator[WebRoot]:
    root = WebRoot(db, ProcessInfo(web_listen="tcp:0"), clock=clock, time_zone="Europe/Prague")
    yield root
    root.stop()


@pytest.fixture
def browser(web: WebRoot) -> Browser:
    return Browser(web.resource())


@pytest.fixture
def other_browser(web: WebRoot) -> Browser:
    return Browser(web.resource())
