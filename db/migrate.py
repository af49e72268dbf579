"""Schema management through Alembic only (docs/architecture.md, decision 4)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from db.engine import make_engine
from db.models import Base


def _migrations_dir() -> Path:
    """Alembic's script directory: the ``migrations`` package, shipped beside this one. Found,
    not imported: its ``env.py`` imports ``db`` (the models), not the other way round."""
    spec = importlib.util.find_spec("migrations")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the migrations package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


MIGRATIONS_DIR = _migrations_dir()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would choke on '%' in a password.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def run_alembic(url: str, action: Callable[[Config], None]) -> None:
    """Run an Alembic ``action`` (upgrade, downgrade) on ``url`` in one transaction.

    On SQLite a batch migration rebuilds a table: it copies it, drops the old one and renames
    the copy. With foreign keys on, the drop would first delete the rows of the tables that
    refer to it (or set their references to NULL): a new CHECK on ``calls`` would empty
    ``ring_attempts``. So foreign keys are off while the migration runs (SQLite changes that
    only outside a transaction), and ``PRAGMA foreign_key_check`` must find nothing wrong
    before the transaction commits.
    """
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            sqlite = engine.dialect.name == "sqlite"
            if sqlite:
                driver: Any = conn.connection.driver_connection
                driver.execute("PRAGMA foreign_keys=OFF")
            with conn.begin():
                cfg = alembic_config(url)
                cfg.attributes["connection"] = conn
                action(cfg)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Create or upgrade the database at ``url`` to ``revision``."""
    run_alembic(url, lambda cfg: command.upgrade(cfg, revision))


def downgrade(url: str, revision: str) -> None:
    """Take the database at ``url`` back to ``revision`` (tests, and an admin undoing an
    upgrade)."""
    run_alembic(url, lambda cfg: command.downgrade(cfg, revision))


def schema_drift(engine: Engine) -> list[object]:
    """Differences between the live schema and the models (empty when they agree)."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, Base.metadata))


def current_revision(engine: Engine) -> str | None:
    if "alembic_version" not in inspect(engine).get_table_names():
        return None
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_engine_url(engine: Engine) -> None:
    upgrade(engine.url.render_as_string(hide_password=False))


__all__ = [
    "alembic_config",
    "current_revision",
    "downgrade",
    "make_engine",
    "run_alembic",
    "schema_drift",
    "upgrade",
]
