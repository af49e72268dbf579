"""The call records' tests use the web tests' fixtures (a small centre, the real Klein
resource, a scripted browser: tests/support/web_fixtures.py), with a recordings folder."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from twisted.internet.task import Clock

from hotline.web import WebRoot
from tests.support.db import InlineDBRunner
from tests.support.web_fixtures import *  # noqa: F403 (pytest finds fixtures in a conftest)
from web.request import ProcessInfo


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    folder = tmp_path / "recordings"
    folder.mkdir()
    return folder


@pytest.fixture
def web(db: InlineDBRunner, clock: Clock, recordings: Path) -> Iterator[WebRoot]:
    root = WebRoot(
        db,
        ProcessInfo(web_listen="tcp:0"),
        clock=clock,
        time_zone="Europe/Prague",
        recordings_dir=recordings,
    )
    yield root
    root.stop()
