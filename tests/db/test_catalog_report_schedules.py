"""Report schedules in the YAML catalog (R-5.5, R-6.2): a schedule's owner, queue, time of
sending, language and a one-off's days go through export → load → export unchanged, and a
bad value is refused with the words /reports/schedules uses for it, at its line."""

from __future__ import annotations

from datetime import date, time

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from db.models import Agent, Queue, QueueRight, ReportSchedule
from domain.enums import ReportPeriod
from tests.db.test_catalog import FULL, _export, _load, _refusal, _wipe

SCHEDULES = """\
report_schedules:
  - {report: queues, period: daily, format: csv, email_to: boss@netmorava.example}
  - report: agents
    period: weekly
    format: pdf
    email_to: 'pavel@netmorava.example, deputy@netmorava.example'
    owner: pavel
    queue: TECH
    send_at: '07:30'
    language: cs
  - report: queues
    period: once
    format: xlsx
    email_to: boss@netmorava.example
    send_at: '07:00'
    first_day: 2026-02-01
    last_day: 2026-02-28
    send_on: 2026-03-05
"""


def _pavel_may_read_tech(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        pavel = s.scalars(select(Agent.id).where(Agent.login == "pavel")).one()
        tech = s.scalars(select(Queue.id).where(Queue.code == "TECH")).one()
        s.add(QueueRight(agent_id=pavel, queue_id=tech))


def test_owner_queue_time_language_and_one_off_days_survive_export_and_load(
    engine: Engine,
) -> None:
    _load(engine, FULL)
    _pavel_may_read_tech(engine)
    summary = _load(engine, SCHEDULES)
    assert summary.created["report_schedules"] == 2  # the daily one is FULL's already
    with Session(engine) as s:
        weekly = s.scalars(select(ReportSchedule).where(ReportSchedule.report == "agents")).one()
        assert weekly.send_at == time(7, 30) and weekly.language == "cs"
        assert weekly.owner_id is not None and weekly.queue_id is not None
        assert weekly.email_to == "pavel@netmorava.example, deputy@netmorava.example"
        once = s.scalars(
            select(ReportSchedule).where(ReportSchedule.period == ReportPeriod.ONCE)
        ).one()
        assert (once.starts_on, once.ends_on, once.send_on) == (
            date(2026, 2, 1),
            date(2026, 2, 28),
            date(2026, 3, 5),
        )
    first = _export(engine)
    assert "owner: pavel" in first and "queue: TECH" in first and "send_at: '07:30'" in first
    assert "first_day: 2026-02-01" in first and "send_on: 2026-03-05" in first
    assert first.count("first_day:") == 1  # the periodic ones have no days
    assert _load(engine, first).created.get("report_schedules", 0) == 0  # all there: none new
    _wipe(engine)
    _load(engine, first, "export.yaml")
    assert _export(engine) == first


REFUSED = {
    "a time that is none": (
        "report_schedules:\n  - {report: queues, period: daily, format: csv,"
        " email_to: a@b.example, send_at: '25:00'}  # <-\n",
        "send_at: “send_at” must be a time of day such as 06:30.",
    ),
    "a language not offered": (
        "report_schedules:\n  - {report: queues, period: daily, format: csv,"
        " email_to: a@b.example, language: de}  # <-\n",
        "language: “language” has a value that is not offered.",
    ),
    "eleven recipients": (
        "report_schedules:\n  - {report: queues, period: daily, format: csv, email_to: '"
        + ", ".join(f"r{n}@b.example" for n in range(11))
        + "'}  # <-\n",
        "email_to: “email_to” takes at most 10 addresses.",
    ),
    "an agent as owner": (
        "report_schedules:\n  - report: queues\n    period: daily\n    format: csv\n"
        "    email_to: a@b.example\n    owner: eva  # <-\n",
        "The schedule's owner must be a supervisor or an admin.",
    ),
    "a queue the owner has no right to": (
        "report_schedules:\n  - report: queues\n    period: daily\n    format: csv\n"
        "    email_to: a@b.example\n    owner: pavel\n    queue: BILLING  # <-\n",
        "The schedule's owner has no right to this queue.",
    ),
    "a one-off without its last day": (
        "report_schedules:\n  - report: queues  # <-\n    period: once\n    format: csv\n"
        "    email_to: a@b.example\n    first_day: 2026-02-01\n",
        "Please fill in “last_day”.",
    ),
    "a one-off backwards": (
        "report_schedules:\n  - report: queues\n    period: once\n    format: csv\n"
        "    email_to: a@b.example\n    first_day: 2026-02-10\n    last_day: 2026-02-01  # <-\n",
        "“last_day” must not be before the first day.",
    ),
    "a one-off sent before its end": (
        "report_schedules:\n  - report: queues\n    period: once\n    format: csv\n"
        "    email_to: a@b.example\n    first_day: 2026-02-01\n    last_day: 2026-02-28\n"
        "    send_on: 2026-02-20  # <-\n",
        "“send_on” must be after the last day of the report.",
    ),
    "days on a daily schedule": (
        "report_schedules:\n  - report: queues\n    period: daily\n    format: csv\n"
        "    email_to: a@b.example\n    first_day: 2026-02-01  # <-\n",
        "“first_day” is only for a one-off report.",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_bad_schedule_is_refused_in_the_pages_words_at_its_line(
    engine: Engine, case: str
) -> None:
    _load(engine, FULL)
    text, reason = REFUSED[case]
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.endswith("# <-"))
    error = _refusal(engine, text)
    assert str(error) == f"test.yaml:{line}: {reason}"
    with Session(engine) as s:  # nothing of it loaded
        assert len(s.scalars(select(ReportSchedule)).all()) == 1
