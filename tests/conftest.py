"""Shared fixtures: a fresh, migrated database for each test, on SQLite or PostgreSQL.

By default every DB test runs on a SQLite file. With ``HOTLINE_TEST_DATABASE_URL`` naming a
PostgreSQL database the same tests run there instead (CI runs the suite both ways). On
PostgreSQL the suite works in a schema of its own, migrated once, and empties its tables
before each test; on SQLite each test gets a copy of a migrated template file.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from db.engine import make_engine, with_driver
from db.migrate import upgrade
from db.models import Base

# Property tests assert behaviour, never speed: hypothesis's per-example deadline (200 ms)
# made them fail on a loaded machine (a CI run beside other work).
settings.register_profile("hotline", deadline=None)
settings.load_profile("hotline")

POSTGRES_URL = os.environ.get("HOTLINE_TEST_DATABASE_URL", "")


def postgres_schema_url(base_url: str, schema: str) -> str:
    """The URL of ``base_url`` with ``schema`` first on the search path."""
    url = make_url(with_driver(base_url))
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


def create_postgres_schema(base_url: str, schema: str) -> None:
    engine = make_engine(base_url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()


def drop_postgres_schema(base_url: str, schema: str) -> None:
    engine = make_engine(base_url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if POSTGRES_URL:
        schema = f"hl_test_{uuid.uuid4().hex[:10]}"
        create_postgres_schema(POSTGRES_URL, schema)
        url = postgres_schema_url(POSTGRES_URL, schema)
        upgrade(url)
        yield url
        drop_postgres_schema(POSTGRES_URL, schema)
    else:
        path = tmp_path_factory.mktemp("template") / "template.db"
        upgrade(f"sqlite:///{path}")
        yield str(path)


@pytest.fixture
def db_url(_migrated_template: str, tmp_path: Path) -> str:
    """The URL of an empty database at the newest schema, private to this test."""
    if POSTGRES_URL:
        engine = make_engine(_migrated_template)
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return _migrated_template
    path = tmp_path / "hotline.db"
    shutil.copy(_migrated_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture(autouse=True)
def _unhook_e2e_worlds() -> Iterator[None]:
    """The e2e worlds' servers hook their matching to their engine's commits, as `hotline
    serve` does; a world is never closed, so the hooks go after each test."""
    yield
    world = sys.modules.get("tests.support.e2e_world")
    if world is not None:
        world.unhook_worlds()
