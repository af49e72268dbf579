"""Two ``hotline serve`` processes sharing one database (SQLite file or PostgreSQL) and one
real loopback SMTP server: each runs the scheduled reports (R-5.5), each beats at its start,
and every period due goes out in one e-mail, not two. The schedule is three days behind, so
its catch-up is due at once, on the real clock of the processes."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.models import Agent, ReportSchedule
from domain.enums import ReportFormat, ReportPeriod, Role
from reports.store import schedules as store
from tests.support.processes import serve_env, start_serve, stop, wait_for_line
from tests.support.smtp_server import LoopbackSmtp, loopback_smtp

BEAT_DONE = re.compile(r"scheduled reports: beat done, (\d+) sent")


@pytest.fixture
def smtp() -> Iterator[LoopbackSmtp]:
    with loopback_smtp() as server:
        yield server


def test_two_serve_processes_send_each_period_of_a_schedule_once(
    db_url: str, engine: Engine, smtp: LoopbackSmtp, tmp_path: Path
) -> None:
    zone = "Europe/Prague"
    today = datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
    with Session(engine) as s, s.begin():
        admin = Agent(login="ada", name="Ada Admin", password_hash="x", role=Role.ADMIN)
        s.add(admin)
        s.flush()
        row = ReportSchedule(
            report="queues",
            period=ReportPeriod.DAILY,
            format=ReportFormat.CSV,
            email_to="boss@example.test",
            owner_id=admin.id,
            send_at=time(0, 0),
            language="en",
            starts_on=today - timedelta(days=3),
        )
        s.add(row)
        s.flush()
        schedule_id = row.id
    processes: list[subprocess.Popen[str]] = []
    try:
        for n in range(2):
            env = serve_env(
                tmp_path / f"p{n}",
                HOTLINE_DATABASE_URL=db_url,
                HOTLINE_SMTP_URL=smtp.url,
                HOTLINE_TIME_ZONE=zone,
            )
            processes.append(start_serve(env, tmp_path))
        outputs = [
            wait_for_line(p, "scheduled reports: beat done", timeout_s=90) for p in processes
        ]
    finally:
        for p in processes:
            stop(p)  # type: ignore[arg-type]
    counts = [int(m[1]) for out in outputs for m in [BEAT_DONE.search(out)] if m]
    assert len(counts) == 2 and sum(counts) == 3, outputs
    days = [(today - timedelta(days=d)).isoformat() for d in (3, 2, 1)]
    subjects = sorted(str(m.message()["Subject"]) for m in smtp.received)
    assert subjects == [f"Hotline: Queues, {d} – {d}" for d in days]
    with Session(engine) as s:
        log = store.sendings(s, schedule_id)
    assert sorted(g.first_day.isoformat() for g in log) == days
    assert all(g.state == "sent" and g.attempts == 1 for g in log)
