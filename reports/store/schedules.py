"""Report schedules and the log of their sendings (R-5.5).

The page's side: supervisors manage the schedules they own, admins every schedule
(:class:`Manager`); a schedule of someone else is "not found" to a supervisor. The
scheduler's side: :func:`scheduler_view` lists every schedule with the periods already in
its log and the rights of its owner; :func:`claim_period` inserts the log row of one period,
and the unique key (schedule, first day, last day) makes that insert the claim, so two
processes sharing the database send each period once. A failed send is noted with the time
another attempt may begin (:func:`note_failure`), and :func:`claim_retry` lets exactly one
process take that attempt. A process that dies while sending leaves ``retry_at`` at its
lease's end: another one takes over then.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import Agent, Queue, QueueRight, ReportSchedule, ReportSending, Setting
from domain.enums import ReportFormat, ReportPeriod, Role
from domain.refusals import ForbiddenError, NotFoundError
from domain.report_schedules import NOT_THE_OWNERS_QUEUE, NOT_YOUR_QUEUE, OWNER_ROLES
from domain.texts import N_
from reports.schedule import MAX_CATCH_UP, first_period_day, stored_recipients

NO_SUCH_SCHEDULE = N_("There is no such report schedule.")
# How many sendings of each schedule the page shows.
SHOWN_SENDINGS = 5
ERROR_MAX = 500  # report_sendings.error


@dataclass(frozen=True)
class Manager:
    """Who manages schedules: an admin all of them, a supervisor their own."""

    agent_id: int
    role: Role

    @property
    def sees_all(self) -> bool:
        return self.role is Role.ADMIN


@dataclass(frozen=True)
class Draft:
    """A schedule as the form gives it; a one-off's (period ``once``) days too."""

    report: str
    period: ReportPeriod
    format: ReportFormat
    recipients: tuple[str, ...]
    queue_id: int | None
    send_at: time
    language: str
    first_day: date | None = None
    last_day: date | None = None
    send_on: date | None = None


@dataclass(frozen=True)
class SendingView:
    first_day: date
    last_day: date
    claimed_at: datetime
    attempts: int
    sent_at: datetime | None
    retry_at: datetime | None
    error: str | None

    @property
    def state(self) -> str:
        """``sent``; ``retrying`` (failed, another attempt will come); ``failed`` (given
        up); ``sending`` (an attempt is under way)."""
        if self.sent_at is not None:
            return "sent"
        if self.error and self.retry_at is not None:
            return "retrying"
        if self.error:
            return "failed"
        return "sending"


@dataclass(frozen=True)
class ScheduleView:
    id: int
    report: str
    period: ReportPeriod
    format: ReportFormat
    recipients: tuple[str, ...]
    queue_id: int | None
    queue_name: str | None
    send_at: time
    language: str | None
    owner_id: int | None
    owner_name: str | None
    last_sent_at: datetime | None
    sendings: tuple[SendingView, ...]
    first_day: date | None = None  # a one-off's period and sending day
    last_day: date | None = None
    send_on: date | None = None

    @property
    def done(self) -> bool:
        """A one-off whose report went out: it sends nothing more."""
        return self.period is ReportPeriod.ONCE and any(
            g.state == "sent" and g.last_day == self.last_day for g in self.sendings
        )


def _sending(row: ReportSending) -> SendingView:
    return SendingView(
        row.first_day,
        row.last_day,
        row.claimed_at,
        row.attempts,
        row.sent_at,
        row.retry_at,
        row.error,
    )


def _views(session: Session, schedules: list[ReportSchedule]) -> list[ScheduleView]:
    ids = [s.id for s in schedules]
    sendings: dict[int, list[SendingView]] = defaultdict(list)
    if ids:
        rows = session.scalars(
            select(ReportSending)
            .where(ReportSending.schedule_id.in_(ids))
            .order_by(ReportSending.schedule_id, ReportSending.first_day.desc())
        )
        for row in rows:
            if len(sendings[row.schedule_id]) < SHOWN_SENDINGS:
                sendings[row.schedule_id].append(_sending(row))
    queues = {i: name for i, name in session.execute(select(Queue.id, Queue.name))}
    owner_ids = {s.owner_id for s in schedules if s.owner_id}
    owners = {
        i: name
        for i, name in session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(owner_ids)))
    }
    return [
        ScheduleView(
            id=s.id,
            report=s.report,
            period=s.period,
            format=s.format,
            recipients=stored_recipients(s.email_to),
            queue_id=s.queue_id,
            queue_name=queues.get(s.queue_id) if s.queue_id else None,
            send_at=s.send_at,
            language=s.language,
            owner_id=s.owner_id,
            owner_name=owners.get(s.owner_id) if s.owner_id else None,
            last_sent_at=s.last_sent_at,
            sendings=tuple(sendings[s.id]),
            first_day=s.starts_on if s.period is ReportPeriod.ONCE else None,
            last_day=s.ends_on,
            send_on=s.send_on,
        )
        for s in schedules
    ]


def list_schedules(session: Session, manager: Manager) -> list[ScheduleView]:
    """The schedules ``manager`` manages, by report and id."""
    query = select(ReportSchedule).order_by(ReportSchedule.report, ReportSchedule.id)
    if not manager.sees_all:
        query = query.where(ReportSchedule.owner_id == manager.agent_id)
    return _views(session, list(session.scalars(query)))


def _managed(session: Session, manager: Manager, schedule_id: int) -> ReportSchedule:
    schedule = session.get(ReportSchedule, schedule_id)
    if schedule is None or not (manager.sees_all or schedule.owner_id == manager.agent_id):
        raise NotFoundError(NO_SUCH_SCHEDULE)
    return schedule


def get_schedule(session: Session, manager: Manager, schedule_id: int) -> ScheduleView:
    return _views(session, [_managed(session, manager, schedule_id)])[0]


def _check_queue(
    session: Session, manager: Manager, queue_id: int | None, refusal: str = NOT_YOUR_QUEUE
) -> None:
    """A supervisor schedules only the queues they have a right to (R-7.4)."""
    if queue_id is None:
        return
    if session.get(Queue, queue_id) is None:
        raise NotFoundError(NOT_YOUR_QUEUE)
    if manager.sees_all:
        return
    right = session.get(QueueRight, (manager.agent_id, queue_id))
    if right is None:
        raise ForbiddenError(refusal)


def _assign(schedule: ReportSchedule, draft: Draft) -> None:
    schedule.report = draft.report
    schedule.period = draft.period
    schedule.format = draft.format
    schedule.email_to = ", ".join(draft.recipients)
    schedule.queue_id = draft.queue_id
    schedule.send_at = draft.send_at
    schedule.language = draft.language
    once = draft.period is ReportPeriod.ONCE
    schedule.ends_on = draft.last_day if once else None
    schedule.send_on = draft.send_on if once else None
    if once:
        schedule.starts_on = draft.first_day


def _first_day(draft: Draft, now: datetime, zone: str) -> date | None:
    """Where a schedule starts: a one-off at its own first day, the others with the period
    running today."""
    if draft.period is ReportPeriod.ONCE:
        return draft.first_day
    today = now.astimezone(ZoneInfo(zone)).date()
    return first_period_day(ReportPeriod(draft.period.value), today, zone)


def create_schedule(
    session: Session, manager: Manager, draft: Draft, now: datetime, default_zone: str
) -> int:
    """A new schedule owned by ``manager``; the period running today is its first."""
    _check_queue(session, manager, draft.queue_id)
    schedule = ReportSchedule(owner_id=manager.agent_id, last_sent_at=None)
    schedule.starts_on = _first_day(draft, now, centre_time_zone(session, default_zone))
    _assign(schedule, draft)
    session.add(schedule)
    session.flush()
    return schedule.id


def update_schedule(
    session: Session,
    manager: Manager,
    schedule_id: int,
    draft: Draft,
    now: datetime,
    default_zone: str,
) -> None:
    """Change a schedule; a new period (daily → weekly) starts with the one running today,
    so no old periods of the new kind are caught up."""
    schedule = _managed(session, manager, schedule_id)
    # The report is made with its owner's rights: an admin changing a supervisor's schedule
    # picks among the supervisor's queues, or the report would come out empty.
    owner = session.get(Agent, schedule.owner_id) if schedule.owner_id else None
    if owner is None or owner.id == manager.agent_id:
        _check_queue(session, manager, draft.queue_id)
    else:
        _check_queue(session, Manager(owner.id, owner.role), draft.queue_id, NOT_THE_OWNERS_QUEUE)
    if schedule.period is not draft.period:
        schedule.starts_on = _first_day(draft, now, centre_time_zone(session, default_zone))
    _assign(schedule, draft)


def delete_schedule(session: Session, manager: Manager, schedule_id: int) -> None:
    """Delete a schedule and its log."""
    schedule = _managed(session, manager, schedule_id)
    session.execute(delete(ReportSending).where(ReportSending.schedule_id == schedule.id))
    session.delete(schedule)


def centre_time_zone(session: Session, default_zone: str) -> str:
    """The centre's ``time_zone`` setting (R-6.2), else the process's."""
    stored = session.get(Setting, "time_zone")
    if stored is not None and stored.value:
        try:
            ZoneInfo(stored.value)
        except (ZoneInfoNotFoundError, ValueError):
            return default_zone
        return stored.value
    return default_zone


# --------------------------------------------------------------------------- the scheduler


@dataclass(frozen=True)
class DueSchedule:
    """A schedule as the scheduler needs it. ``queue_ids`` is the owner's scope (None: the
    whole centre); ``refused`` says why it cannot be sent (its owner lost the right)."""

    id: int
    report: str
    cadence: ReportPeriod
    format: ReportFormat
    recipients: tuple[str, ...]
    queue_id: int | None
    send_at: time
    language: str | None
    starts_on: date
    logged: frozenset[tuple[date, date]]
    queue_ids: frozenset[int] | None
    refused: str | None = None
    ends_on: date | None = None  # a one-off's last day and sending day
    send_on: date | None = None


@dataclass(frozen=True)
class SchedulerView:
    time_zone: str
    schedules: tuple[DueSchedule, ...]


OWNER_GONE = "the schedule's owner may no longer read reports"


def scheduler_view(session: Session, now: datetime, default_zone: str) -> SchedulerView:
    """Every schedule with its logged periods and its owner's rights; a schedule the
    scheduler sees for the first time (loaded from the catalog) starts with the period
    running today."""
    zone = centre_time_zone(session, default_zone)
    today = now.astimezone(ZoneInfo(zone)).date()
    schedules = list(session.scalars(select(ReportSchedule).order_by(ReportSchedule.id)))
    logged: dict[int, set[tuple[date, date]]] = defaultdict(set)
    # Older periods are past any catch-up (reports.schedule.MAX_CATCH_UP months at most):
    # the log's rows beyond it need not be read every beat.
    # A one-off's period may be older: its sending is always read.
    horizon = today - timedelta(days=31 * (MAX_CATCH_UP + 2))
    one_offs = [s.id for s in schedules if s.period is ReportPeriod.ONCE]
    for schedule_id, first, last in session.execute(
        select(ReportSending.schedule_id, ReportSending.first_day, ReportSending.last_day).where(
            or_(ReportSending.first_day >= horizon, ReportSending.schedule_id.in_(one_offs))
        )
    ):
        logged[schedule_id].add((first, last))
    owners = {
        a.id: a
        for a in session.scalars(
            select(Agent).where(Agent.id.in_({s.owner_id for s in schedules if s.owner_id}))
        )
    }
    rights: dict[int, set[int]] = defaultdict(set)
    for agent_id, queue_id in session.execute(
        select(QueueRight.agent_id, QueueRight.queue_id).where(QueueRight.agent_id.in_(owners))
    ):
        rights[agent_id].add(queue_id)
    found = []
    for s in schedules:
        cadence = ReportPeriod(s.period.value)
        if cadence is ReportPeriod.ONCE and (s.starts_on is None or s.ends_on is None):
            continue  # a one-off without its period: nothing to send (the checks refuse it)
        if s.starts_on is None:
            # Only the first process to see it sets it; the others read that day.
            session.execute(
                update(ReportSchedule)
                .where(ReportSchedule.id == s.id, ReportSchedule.starts_on.is_(None))
                .values(starts_on=first_period_day(cadence, today, zone))
            )
            session.refresh(s)
        assert s.starts_on is not None
        queue_ids: frozenset[int] | None = None
        refused = None
        if s.owner_id is not None:
            owner = owners.get(s.owner_id)
            if owner is None or not owner.active or owner.role not in READERS:
                refused = OWNER_GONE
                queue_ids = frozenset()
            elif owner.role is not Role.ADMIN:
                queue_ids = frozenset(rights[owner.id])
        found.append(
            DueSchedule(
                id=s.id,
                report=s.report,
                cadence=cadence,
                format=s.format,
                recipients=stored_recipients(s.email_to),
                queue_id=s.queue_id,
                send_at=s.send_at,
                language=s.language,
                starts_on=s.starts_on,
                logged=frozenset(logged[s.id]),
                queue_ids=queue_ids,
                refused=refused,
                ends_on=s.ends_on,
                send_on=s.send_on,
            )
        )
    return SchedulerView(zone, tuple(found))


READERS = OWNER_ROLES


def claim_period(
    session: Session,
    schedule_id: int,
    first_day: date,
    last_day: date,
    now: datetime,
    node: str,
    lease_s: float,
) -> bool:
    """Insert the log row of one period; False when another process has it already (or the
    schedule is gone). The row's ``retry_at`` is the lease: if this process dies sending,
    another one takes the period over then."""
    if session.get(ReportSchedule, schedule_id) is None:
        return False
    row = ReportSending(
        schedule_id=schedule_id,
        first_day=first_day,
        last_day=last_day,
        claimed_at=now,
        claimed_by=node[:100],
        attempts=1,
        retry_at=now + timedelta(seconds=lease_s),
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True


@dataclass(frozen=True)
class Retry:
    schedule_id: int
    first_day: date
    last_day: date
    attempts: int


def retries_due(session: Session, now: datetime) -> list[Retry]:
    """The periods whose send failed (or whose sender vanished) and may be tried again."""
    rows = session.scalars(
        select(ReportSending)
        .where(ReportSending.sent_at.is_(None), ReportSending.retry_at <= now)
        .order_by(ReportSending.retry_at, ReportSending.id)
    )
    return [Retry(r.schedule_id, r.first_day, r.last_day, r.attempts) for r in rows]


def claim_retry(session: Session, retry: Retry, now: datetime, node: str, lease_s: float) -> bool:
    """Take another attempt at a period; False when another process took it first. The
    update only matches while the attempt is still due (``retry_at`` passed, not sent):
    two processes' updates are serialised by the database and the second matches nothing."""
    done = session.execute(
        update(ReportSending)
        .where(
            ReportSending.schedule_id == retry.schedule_id,
            ReportSending.first_day == retry.first_day,
            ReportSending.last_day == retry.last_day,
            ReportSending.sent_at.is_(None),
            ReportSending.retry_at <= now,
            ReportSending.attempts == retry.attempts,
        )
        .values(
            attempts=retry.attempts + 1,
            claimed_at=now,
            claimed_by=node[:100],
            retry_at=now + timedelta(seconds=lease_s),
        )
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def _row(session: Session, schedule_id: int, first_day: date, last_day: date) -> ReportSending:
    row = session.scalars(
        select(ReportSending).where(
            ReportSending.schedule_id == schedule_id,
            ReportSending.first_day == first_day,
            ReportSending.last_day == last_day,
        )
    ).one()
    return row


def note_sent(
    session: Session, schedule_id: int, first_day: date, last_day: date, now: datetime
) -> None:
    row = _row(session, schedule_id, first_day, last_day)
    row.sent_at = now
    row.retry_at = None
    row.error = None
    schedule = session.get(ReportSchedule, schedule_id)
    if schedule is not None:
        schedule.last_sent_at = now


def note_failure(
    session: Session,
    schedule_id: int,
    first_day: date,
    last_day: date,
    error: str,
    retry_at: datetime | None,
) -> None:
    """A failed attempt: tried again at ``retry_at``, or never (None: given up)."""
    row = _row(session, schedule_id, first_day, last_day)
    row.error = error[:ERROR_MAX]
    row.retry_at = retry_at


def sendings(session: Session, schedule_id: int) -> list[SendingView]:
    """The whole log of one schedule, newest period first (for the tests and the CLI)."""
    rows = session.scalars(
        select(ReportSending)
        .where(ReportSending.schedule_id == schedule_id)
        .order_by(ReportSending.first_day.desc(), ReportSending.id.desc())
    )
    return [_sending(r) for r in rows]
