"""Scheduled reports by e-mail (R-5.5): the schedules' store, and the scheduler against a real
SMTP server on loopback TCP (tests/support/smtp_server.py). The scheduler's time is a Clock;
the mail goes over real TCP on the reactor. Two schedulers with their own database
connections, beating at the same moment, send each period once; a failed send is logged and
tried again; a report holds only what its owner may see (R-7.4)."""

from __future__ import annotations

import csv
import io
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import pytest_twisted
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import Clock, deferLater

import reports
from db.engine import make_engine
from db.models import Agent, Call, QueueRight, ReportSchedule, Setting
from db.runner import DBRunner
from domain.enums import CallState, Direction, ReportFormat, ReportPeriod, Role
from domain.refusals import ForbiddenError, NotFoundError
from reports.report_mailing import ScheduledReports
from reports.store import schedules as store
from tests.reports.report_pages.test_report_pages import pdf_text
from tests.support.centre import StaffCentre, build_staff_centre
from tests.support.db import InlineDBRunner
from tests.support.smtp_server import LoopbackSmtp, loopback_smtp
from voicemail.mailer import parse_smtp_url
from web.i18n import Catalogues
from web.rendering import Templates
from web.worker_threads import WorkerThreads

# Monday 2 March 2026; the daily report of Sunday 1 March is due at 06:00 in Prague (05:00 UTC).
SUNDAY = date(2026, 3, 1)
DUE = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
ZONE = "Europe/Prague"
REPORT_TEMPLATES = Path(reports.__file__).resolve().parent / "templates"


@pytest.fixture
def smtp() -> Iterator[LoopbackSmtp]:
    with loopback_smtp() as server:
        yield server


@pytest.fixture
def centre(engine: Engine) -> StaffCentre:
    with Session(engine) as s, s.begin():
        centre = build_staff_centre(s, DUE)
        s.add(Agent(login="ada", name="Ada Admin", password_hash="x", role=Role.ADMIN, active=True))
        for queue, did in ((centre.support, "+420222000111"), (centre.billing, "+420222000999")):
            started = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
            s.add(
                Call(
                    uniqueid=uuid.uuid4().hex,
                    direction=Direction.INBOUND,
                    did=did,
                    queue_id=queue,
                    state=CallState.ANSWERED,
                    started_at=started,
                    queue_entered_at=started,
                    answered_at=started + timedelta(seconds=10),
                    ended_at=started + timedelta(seconds=70),
                    reached=True,
                    within_service_level=True,
                )
            )
        s.add(QueueRight(agent_id=centre.agents["sue"], queue_id=centre.support))
    return centre


def agent_id(engine: Engine, login: str) -> int:
    with Session(engine) as s:
        found = s.scalar(select(Agent.id).where(Agent.login == login))
        assert found is not None
        return found


def schedule(
    engine: Engine,
    owner: int,
    *,
    fmt: ReportFormat = ReportFormat.CSV,
    starts_on: date = SUNDAY,
    language: str = "en",
    report: str = "queues",
) -> int:
    with Session(engine) as s, s.begin():
        row = ReportSchedule(
            report=report,
            period=ReportPeriod.DAILY,
            format=fmt,
            email_to="boss@example.test, deputy@example.test",
            owner_id=owner,
            send_at=time(6, 0),
            language=language,
            starts_on=starts_on,
        )
        s.add(row)
        s.flush()
        return row.id


def scheduler(
    db: DBRunner,
    clock: Clock,
    smtp: LoopbackSmtp,
    node: str,
    renders: WorkerThreads | None = None,
) -> ScheduledReports:
    return ScheduledReports(
        db,
        parse_smtp_url(smtp.url),
        reactor=reactor,  # type: ignore[arg-type]
        clock=clock,
        templates=Templates(Catalogues(ZONE), [REPORT_TEMPLATES]),
        catalogues=Catalogues(ZONE),
        time_zone=ZONE,
        node=node,
        renders=renders,
        retry_delays_s=(300, 900),
    )


def clock_at(moment: datetime) -> Clock:
    clock = Clock()
    clock.advance(moment.timestamp())
    return clock


def log_of(engine: Engine, schedule_id: int) -> list[store.SendingView]:
    with Session(engine) as s:
        return store.sendings(s, schedule_id)


# --------------------------------------------------------------------------- the scheduler


@pytest_twisted.ensureDeferred
async def test_the_daily_report_goes_at_six_local_time_once_with_the_owners_queues_only(
    engine: Engine, centre: StaffCentre, smtp: LoopbackSmtp
) -> None:
    sid = schedule(engine, centre.agents["sue"])  # sue: the right to support only
    clock = clock_at(DUE - timedelta(minutes=1))
    service = scheduler(InlineDBRunner(engine), clock, smtp, "one")
    assert await service.beat() == 0  # 05:59 in Prague: not yet
    assert smtp.received == [] and log_of(engine, sid) == []
    clock.advance(60)
    assert await service.beat() == 1
    [mail] = smtp.received
    assert sorted(mail.recipients) == ["boss@example.test", "deputy@example.test"]
    message = mail.message()
    assert message["Subject"] == "Hotline: Queues, 2026-03-01 – 2026-03-01"
    assert message["From"] == "hotline@example.test"
    body = message.get_body(("plain",))
    assert body is not None and "queues its owner has a right to" in body.get_content()
    report, chart = list(message.iter_attachments())
    assert report.get_filename() == "queues-2026-03-01-2026-03-01.csv"
    raw = report.get_payload(decode=True)
    assert isinstance(raw, bytes)
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [r["Queue"] for r in rows] == ["Technical support"]  # not Billing
    assert rows[0]["Calls"] == "1"
    assert chart.get_content_type() == "image/svg+xml"
    assert "<svg" in str(chart.get_payload(decode=True))
    [logged] = log_of(engine, sid)
    assert logged.state == "sent" and logged.sent_at == DUE
    assert (logged.first_day, logged.last_day) == (SUNDAY, SUNDAY)
    clock.advance(3600)
    assert await service.beat() == 0  # sent: not again
    assert len(smtp.received) == 1


@pytest_twisted.ensureDeferred
async def test_an_xlsx_report_of_an_admin_in_czech_covers_every_queue(
    engine: Engine, centre: StaffCentre, smtp: LoopbackSmtp
) -> None:
    schedule(engine, agent_id(engine, "ada"), fmt=ReportFormat.XLSX, language="cs")
    service = scheduler(InlineDBRunner(engine), clock_at(DUE), smtp, "one")
    assert await service.beat() == 1
    message = smtp.received[0].message()
    assert message["Subject"] == "Hotline: Fronty za 2026-03-01 – 2026-03-01"
    body = message.get_body(("plain",))
    assert body is not None and "všechny fronty centra" in body.get_content()
    report = next(iter(message.iter_attachments()))
    assert report.get_filename() == "queues-2026-03-01-2026-03-01.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(report.get_content())).active
    assert sheet is not None
    queues = sorted(str(row[0].value) for row in sheet.iter_rows(min_row=4))
    assert queues == ["Billing", "Technical support"]


@pytest_twisted.ensureDeferred
async def test_a_pdf_report_is_printed_in_a_worker_thread_and_mailed_whole(
    engine: Engine, centre: StaffCentre, smtp: LoopbackSmtp
) -> None:
    ran_in: list[str] = []

    def in_a_thread(fn: Callable[[], Any]) -> Deferred[Any]:
        def noted() -> Any:
            ran_in.append(threading.current_thread().name)
            return fn()

        return pool.run(noted)

    pool = WorkerThreads.in_threads(reactor, name="hotline-test-reports")  # type: ignore[arg-type]
    try:
        schedule(engine, centre.agents["sue"], fmt=ReportFormat.PDF)
        renders = WorkerThreads(in_a_thread)
        service = scheduler(InlineDBRunner(engine), clock_at(DUE), smtp, "one", renders)
        assert await service.beat() == 1
    finally:
        pool.stop()
    assert len(ran_in) == 1 and ran_in[0].startswith("PoolThread-hotline-test-reports")
    assert ran_in[0] != threading.current_thread().name
    report = next(iter(smtp.received[0].message().iter_attachments()))
    assert report.get_filename() == "queues-2026-03-01-2026-03-01.pdf"
    text = pdf_text(report.get_content())
    assert "Queues, 2026-03-01 – 2026-03-01" in text
    assert "Technical support" in text and "Billing" not in text  # sue's queues


@pytest_twisted.ensureDeferred
async def test_a_failed_send_is_logged_and_tried_again_after_the_delay(
    engine: Engine, centre: StaffCentre, smtp: LoopbackSmtp
) -> None:
    sid = schedule(engine, centre.agents["sue"])
    clock = clock_at(DUE)
    service = scheduler(InlineDBRunner(engine), clock, smtp, "one")
    smtp.refuse_next(1)  # every recipient: 451
    assert await service.beat() == 0
    [logged] = log_of(engine, sid)
    assert logged.state == "retrying" and "451" in (logged.error or "")
    assert logged.retry_at == DUE + timedelta(seconds=300)
    clock.advance(299)
    assert await service.beat() == 0 and smtp.received == []
    clock.advance(1)
    assert await service.beat() == 1
    assert len(smtp.received) == 1
    [logged] = log_of(engine, sid)
    assert logged.state == "sent" and logged.attempts == 2 and logged.error is None


@pytest_twisted.ensureDeferred
async def test_a_server_that_stays_down_is_given_up_and_logged_as_failed(
    engine: Engine, centre: StaffCentre, smtp: LoopbackSmtp
) -> None:
    sid = schedule(engine, centre.agents["sue"])
    clock = clock_at(DUE)
    service = scheduler(InlineDBRunner(engine), clock, smtp, "one")
    smtp.refuse_next(3)
    for step_s in (0, 300, 900):
        clock.advance(step_s)
        assert await service.beat() == 0
    [logged] = log_of(engine, sid)
    assert logged.state == "failed" and logged.attempts == 3 and logged.retry_at is None
    clock.advance(86400 - 1200)  # the next day's report is due, the old one stays failed
    assert await service.beat() == 1
    assert [g.state for g in log_of(engine, sid)] == ["sent", "failed"]


@pytest_twisted.ensureDeferred
async def test_a_schedule_whose_owner_lost_the_right_is_not_sent(
    engine: Engine, centre: StaffCentre, smtp: LoopbackSmtp
) -> None:
    sid = schedule(engine, centre.agents["sue"])
    with Session(engine) as s, s.begin():
        s.execute(update(Agent).where(Agent.login == "sue").values(role=Role.AGENT))
    service = scheduler(InlineDBRunner(engine), clock_at(DUE), smtp, "one")
    assert await service.beat() == 0
    assert smtp.received == []
    [logged] = log_of(engine, sid)
    assert logged.state == "failed" and "may no longer read reports" in (logged.error or "")


@pytest_twisted.ensureDeferred
async def test_after_downtime_the_missed_days_are_caught_up_in_the_centres_time_zone(
    engine: Engine, centre: StaffCentre, smtp: LoopbackSmtp
) -> None:
    sid = schedule(engine, centre.agents["sue"], starts_on=date(2026, 2, 26))
    with Session(engine) as s, s.begin():
        s.add(Setting(key="time_zone", value="Europe/London"))
    # 05:30 UTC is 06:30 in Prague but 05:30 in London: the 1 March report is not due yet
    service = scheduler(InlineDBRunner(engine), clock_at(DUE + timedelta(minutes=30)), smtp, "x")
    assert await service.beat() == 3
    days = sorted(g.first_day for g in log_of(engine, sid))
    assert days == [date(2026, 2, 26), date(2026, 2, 27), date(2026, 2, 28)]


@pytest_twisted.ensureDeferred
async def test_two_schedulers_sharing_the_database_send_each_period_once(
    db_url: str, engine: Engine, centre: StaffCentre, smtp: LoopbackSmtp
) -> None:
    """Each with its own engine and thread pool, beating at the same moment, on three days
    of catch-up: the unique key of the log lets one of them have each period."""
    sid = schedule(engine, centre.agents["sue"], starts_on=date(2026, 2, 27))
    runners = [DBRunner(make_engine(db_url), reactor) for _ in range(2)]
    try:
        services = [
            scheduler(runner, clock_at(DUE), smtp, f"node-{n}") for n, runner in enumerate(runners)
        ]
        counts = await gatherResults([Deferred.fromCoroutine(s.beat()) for s in services])
        assert sum(counts) == 3
        again = await gatherResults([Deferred.fromCoroutine(s.beat()) for s in services])
        assert again == [0, 0]
    finally:
        for runner in runners:
            runner.stop()
            runner.engine.dispose()
    subjects = sorted(str(m.message()["Subject"]) for m in smtp.received)
    assert subjects == [
        f"Hotline: Queues, {d} – {d}" for d in ("2026-02-27", "2026-02-28", "2026-03-01")
    ]
    sent = [p.first_day for s in services for _, p in s.sent]
    assert sorted(sent) == [date(2026, 2, 27), date(2026, 2, 28), date(2026, 3, 1)]
    assert all(g.state == "sent" and g.attempts == 1 for g in log_of(engine, sid))


@pytest_twisted.ensureDeferred
async def test_the_service_beats_on_its_clock_from_its_start_until_it_stops(
    engine: Engine, centre: StaffCentre, smtp: LoopbackSmtp
) -> None:
    sid = schedule(engine, centre.agents["sue"])
    clock = clock_at(DUE - timedelta(seconds=30))
    service = scheduler(InlineDBRunner(engine), clock, smtp, "one")
    service.startService()  # a beat at once: 05:59:30 in Prague, nothing due
    try:
        assert log_of(engine, sid) == []
        clock.advance(60)  # the next beat, at 06:00:30: the period is claimed, the mail goes
        assert [g.state for g in log_of(engine, sid)] == ["sending"]
        await turns_until(lambda: len(service.sent) == 1)
        assert len(smtp.received) == 1 and log_of(engine, sid)[0].state == "sent"
    finally:
        service.stopService()
    clock.advance(86400)  # stopped: no beat, the next day's report waits for a process
    assert len(log_of(engine, sid)) == 1


async def turns_until(done: Callable[[], bool], turns: int = 3000) -> None:
    """Let the real reactor carry the loopback SMTP exchange until ``done()``: polled every
    few milliseconds (the server is a thread that needs the CPU too), at most half a minute."""
    for _ in range(turns):
        if done():
            return
        await deferLater(reactor, 0.01, lambda: None)
    raise AssertionError("the loopback exchange did not happen")


# --------------------------------------------------------------------------- the store


def test_a_period_is_claimed_once_and_a_retry_taken_by_one_process(
    engine: Engine, centre: StaffCentre
) -> None:
    sid = schedule(engine, centre.agents["sue"])
    db = InlineDBRunner(engine)
    claim = (sid, SUNDAY, SUNDAY, DUE, "a", 900)
    assert db.run_sync(store.claim_period, *claim) is True
    assert db.run_sync(store.claim_period, sid, SUNDAY, SUNDAY, DUE, "b", 900) is False
    # a weekly period beginning the same day is another period
    assert db.run_sync(store.claim_period, sid, SUNDAY, date(2026, 3, 7), DUE, "b", 900) is True
    db.run_sync(store.note_failure, sid, SUNDAY, SUNDAY, "451 busy", DUE + timedelta(seconds=60))
    later = DUE + timedelta(seconds=60)
    assert db.run_sync(store.retries_due, DUE) == []
    [retry] = db.run_sync(store.retries_due, later)
    assert db.run_sync(store.claim_retry, retry, later, "a", 900) is True
    assert db.run_sync(store.claim_retry, retry, later, "b", 900) is False
    # the one that took it died: after its lease another process takes it over
    taken_over = db.run_sync(store.retries_due, later + timedelta(seconds=900))
    assert (SUNDAY, SUNDAY, 2) in {(r.first_day, r.last_day, r.attempts) for r in taken_over}


def test_a_schedule_from_the_catalog_starts_with_the_period_running_when_first_seen(
    engine: Engine, centre: StaffCentre
) -> None:
    with Session(engine) as s, s.begin():
        s.add(
            ReportSchedule(
                report="agents",
                period=ReportPeriod.WEEKLY,
                format=ReportFormat.PDF,
                email_to="boss@example.test",
            )
        )
    db = InlineDBRunner(engine)
    [seen] = db.run_sync(store.scheduler_view, DUE + timedelta(days=2), ZONE).schedules
    assert seen.starts_on == date(2026, 3, 2)  # that week's Monday
    assert seen.queue_ids is None and seen.refused is None  # the catalog: the whole centre
    [later] = db.run_sync(store.scheduler_view, DUE + timedelta(days=20), ZONE).schedules
    assert later.starts_on == date(2026, 3, 2)


def draft(queue_id: int | None) -> store.Draft:
    return store.Draft(
        report="dids",
        period=ReportPeriod.MONTHLY,
        format=ReportFormat.PDF,
        recipients=("boss@example.test",),
        queue_id=queue_id,
        send_at=time(7, 30),
        language="cs",
    )


def test_supervisors_manage_their_own_schedules_of_their_queues_and_admins_all(
    engine: Engine, centre: StaffCentre
) -> None:
    db = InlineDBRunner(engine)
    sue = store.Manager(centre.agents["sue"], Role.SUPERVISOR)
    ada = store.Manager(agent_id(engine, "ada"), Role.ADMIN)
    with pytest.raises(ForbiddenError):
        db.run_sync(store.create_schedule, sue, draft(centre.billing), DUE, ZONE)
    mine = db.run_sync(store.create_schedule, sue, draft(centre.support), DUE, ZONE)
    theirs = db.run_sync(store.create_schedule, ada, draft(None), DUE, ZONE)
    assert [s.id for s in db.run_sync(store.list_schedules, sue)] == [mine]
    assert {s.id for s in db.run_sync(store.list_schedules, ada)} == {mine, theirs}
    with pytest.raises(NotFoundError):
        db.run_sync(store.get_schedule, sue, theirs)
    with pytest.raises(NotFoundError):
        db.run_sync(store.delete_schedule, sue, theirs)
    with pytest.raises(ForbiddenError):  # sue's report is made with sue's rights
        db.run_sync(store.update_schedule, ada, mine, draft(centre.billing), DUE, ZONE)
    view = db.run_sync(store.get_schedule, ada, mine)
    assert view.owner_name == "Sue Visor" and view.queue_name == "Technical support"
    assert view.send_at == time(7, 30) and view.recipients == ("boss@example.test",)
    db.run_sync(store.delete_schedule, ada, mine)
    assert [s.id for s in db.run_sync(store.list_schedules, ada)] == [theirs]


@pytest_twisted.ensureDeferred
async def test_a_one_off_goes_once_on_its_day_across_two_schedulers_then_is_done(
    db_url: str, engine: Engine, centre: StaffCentre, smtp: LoopbackSmtp
) -> None:
    """February's report, sent on 5 March at 07:00 Prague time, once; the page shows it
    done and no later beat sends it again."""
    with Session(engine) as s, s.begin():
        row = ReportSchedule(
            report="queues",
            period=ReportPeriod.ONCE,
            format=ReportFormat.CSV,
            email_to="boss@example.test",
            owner_id=centre.agents["sue"],
            send_at=time(7, 0),
            language="en",
            starts_on=date(2026, 2, 1),
            ends_on=date(2026, 2, 28),
            send_on=date(2026, 3, 5),
        )
        s.add(row)
        s.flush()
        sid = row.id
    due = datetime(2026, 3, 5, 6, 0, tzinfo=UTC)  # 07:00 in Prague
    early = scheduler(InlineDBRunner(engine), clock_at(due - timedelta(seconds=1)), smtp, "x")
    assert await early.beat() == 0 and log_of(engine, sid) == []
    runners = [DBRunner(make_engine(db_url), reactor) for _ in range(2)]
    try:
        services = [scheduler(r, clock_at(due), smtp, f"node-{n}") for n, r in enumerate(runners)]
        counts = await gatherResults([Deferred.fromCoroutine(s.beat()) for s in services])
        assert sorted(counts) == [0, 1]
        later = [scheduler(r, clock_at(due + timedelta(days=40)), smtp, "y") for r in runners]
        assert await gatherResults([Deferred.fromCoroutine(s.beat()) for s in later]) == [0, 0]
    finally:
        for runner in runners:
            runner.stop()
            runner.engine.dispose()
    [mail] = smtp.received
    assert mail.message()["Subject"] == "Hotline: Queues, 2026-02-01 – 2026-02-28"
    [logged] = log_of(engine, sid)
    assert logged.state == "sent" and (logged.first_day, logged.last_day) == (
        date(2026, 2, 1),
        date(2026, 2, 28),
    )
    sue = store.Manager(centre.agents["sue"], Role.SUPERVISOR)
    assert InlineDBRunner(engine).run_sync(store.get_schedule, sue, sid).done
