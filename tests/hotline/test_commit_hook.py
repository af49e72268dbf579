"""The waiting callers' matching hears every committed change (issue 12): ``CommitHook``
calls back after this process's own commits that wrote an event and, on PostgreSQL, after
another process's (its NOTIFY on the hook's own LISTEN connection), so a process learns of
an agent freed elsewhere without waiting for its matching to age. Real reactor, real
database, the writer a separate Python process."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest_twisted
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.events import emit
from hotline.app import CommitHook
from tests.web.test_live_push import until, write_in_another_process


@pytest_twisted.ensureDeferred
async def test_the_hook_hears_this_processs_commits_and_on_postgresql_the_others(
    engine: Engine, db_url: str
) -> None:
    heard: list[int] = []
    hook = CommitHook(engine, lambda: heard.append(1))
    hook.startService()
    postgresql = engine.dialect.name == "postgresql"
    try:
        if postgresql:
            assert hook.listener is not None
            await until(hook.listener.listening.is_set, "LISTEN in force")
        else:  # one SQLite file serves one process (several need PostgreSQL, R-7.1)
            assert hook.listener is None
        with Session(engine) as s, s.begin():
            emit(s, "agent.state", datetime.now(UTC), agent_id=1)
        assert len(heard) >= 1  # right after the commit, on the committing thread
        if not postgresql:
            with Session(engine) as s, s.begin():
                pass  # no event written: nobody is woken
            assert len(heard) == 1
            return
        await until(lambda: len(heard) >= 2, "its own NOTIFY, heard as well")
        before = len(heard)
        await write_in_another_process(db_url, "freed")
        await until(lambda: len(heard) > before, "the other process's commit")
    finally:
        hook.stopService()
    after = len(heard)
    with Session(engine) as s, s.begin():
        emit(s, "agent.state", datetime.now(UTC), agent_id=1)
    assert len(heard) == after  # stopped: no longer called
