"""Scheduled reports sent by e-mail (R-5.5), as a service of ``hotline serve``.

Every ``interval_s`` on the injected clock (and once at start) :meth:`ScheduledReports.beat`
asks ``reports.schedule`` which periods of each schedule are due in the centre's time zone
(DST-safe, with catch-up after downtime), claims each one by inserting its row in the
sendings log (``reports.store.schedules``: the unique key lets one process of several have
it), makes the report with the rights of the schedule's owner (R-7.4), in its format and
language (``reports.report_files``: the very file the page downloads), and sends it over
SMTP with the voicemail mailer's client (``HOTLINE_SMTP_URL``). The chart goes along as an
SVG attachment, the same one the page and the PDF show. A PDF is printed in the worker
threads it is given (``web.worker_threads``: the web root's, so the downloads and the
e-mails share one bound), never on the reactor's thread.

A send that fails is noted in the log with its error and tried again after growing delays
(:data:`RETRY_DELAYS_S`), by whichever process comes first; after the last one it is given
up and stays in the log as failed. A report that can never be made (its owner lost the right
to read reports, an unknown report) is given up at once. Every process of a centre runs this
service; the log makes the e-mails go once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from db.errors import DatabaseError
from db.runner import DBRunner
from domain.clock import Clock
from domain.texts import N_
from reports import exports, report_files
from reports.charts import svg_chart
from reports.report_period import Period
from reports.report_tables import REPORTS, ReportTable
from reports.schedule import Timing, due_periods, sent_first_days
from reports.store import figures
from reports.store import schedules as store
from voicemail.mailer import SmtpSettings, TcpConnector, send_mail, wire_bytes
from web.i18n import Catalogues, Language
from web.rendering import Templates
from web.worker_threads import WorkerThreads

_log = Logger()

BEAT_S = 60.0
# After a failed send, wait this long before the next attempt; then give up.
RETRY_DELAYS_S: tuple[float, ...] = (300, 900, 3600, 3 * 3600, 6 * 3600)
# A claimed period no process finished within this time (it died) is taken over.
LEASE_S = 900.0
MAIL_TEXT = N_("The scheduled report “%(title)s” is attached, with its chart.")
MAIL_SCOPE_ALL = N_("It covers every queue of the centre.")
MAIL_SCOPE_SOME = N_("It covers the queues its owner has a right to.")
UNKNOWN_REPORT = "there is no report {report!r}"


class _CannotMakeError(Exception):
    """The report can never be made as scheduled: given up at once, not retried."""


@dataclass(frozen=True)
class _Asked:
    """What ``reports.report_files`` needs to know of the report (as the page's form)."""

    report: str
    period: Period
    queue_id: int | None


class ScheduledReports(Service):
    """Sends the due scheduled reports on a beat; ``node`` names this process in the log."""

    def __init__(
        self,
        db: DBRunner,
        smtp: SmtpSettings,
        *,
        reactor: TcpConnector,
        clock: Clock,
        templates: Templates,
        catalogues: Catalogues,
        time_zone: str,
        node: str,
        renders: WorkerThreads | None = None,
        interval_s: float = BEAT_S,
        retry_delays_s: Sequence[float] = RETRY_DELAYS_S,
        lease_s: float = LEASE_S,
        timeout_s: int = 60,
    ) -> None:
        self._db = db
        self._smtp = smtp
        self._reactor = reactor
        self._clock = clock
        self._templates = templates
        self._catalogues = catalogues
        self._time_zone = time_zone
        self._node = node
        self._renders = renders or WorkerThreads.inline()
        self._interval_s = interval_s
        self._delays = tuple(retry_delays_s)
        self._lease_s = lease_s
        self._timeout_s = timeout_s
        self._loop: LoopingCall | None = None
        self._beaten = False
        self.sent: list[tuple[int, Period]] = []  # (schedule id, period), for the tests

    def startService(self) -> None:
        super().startService()
        self._loop = LoopingCall(lambda: Deferred.fromCoroutine(self._safe_beat()))
        self._loop.clock = self._clock  # type: ignore[assignment]
        self._loop.start(self._interval_s, now=True)

    def stopService(self) -> None:
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    async def _safe_beat(self) -> None:
        try:
            count = await self.beat()
        except DatabaseError as exc:  # the database is down: the next beat tries again
            _log.warn(
                "scheduled reports: database unavailable: {error}",
                error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            )
            return
        except Exception:
            _log.failure("scheduled reports: the beat failed")
            return
        if count or not self._beaten:  # the first beat says it ran; later ones if they sent
            _log.info("scheduled reports: beat done, {count} sent", count=count)
        self._beaten = True

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    async def beat(self) -> int:
        """Send what is due now; how many reports this process sent."""
        now = self._now()
        view = await self._db.run(store.scheduler_view, now, self._time_zone)
        by_id = {s.id: s for s in view.schedules}
        count = 0
        for schedule in view.schedules:
            timing = Timing(
                schedule.cadence,
                schedule.send_at,
                schedule.starts_on,
                last_day=schedule.ends_on,
                time_zone=view.time_zone,
                send_on=schedule.send_on,
            )
            sent = sent_first_days(
                schedule.cadence, schedule.logged, view.time_zone, schedule.ends_on
            )
            for period in due_periods(timing, sent, now):
                claimed = await self._db.run(
                    store.claim_period,
                    schedule.id,
                    period.first_day,
                    period.last_day,
                    now,
                    self._node,
                    self._lease_s,
                )
                if claimed:
                    count += await self._attempt(schedule, period, 1)
        for retry in await self._db.run(store.retries_due, now):
            schedule_of_retry = by_id.get(retry.schedule_id)
            if schedule_of_retry is None:
                continue
            if await self._db.run(store.claim_retry, retry, now, self._node, self._lease_s):
                period = Period(retry.first_day, retry.last_day, view.time_zone)
                count += await self._attempt(schedule_of_retry, period, retry.attempts + 1)
        return count

    async def _attempt(self, schedule: store.DueSchedule, period: Period, attempt: int) -> int:
        """One try at one period; 1 when it went out."""
        now = self._now()
        try:
            refused = await self._send(schedule, period, now)
        except _CannotMakeError as exc:
            await self._note_failure(schedule, period, str(exc), None)
            return 0
        except Exception as exc:
            error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            retry_at = None
            if attempt <= len(self._delays):
                retry_at = datetime.fromtimestamp(
                    self._clock.seconds() + self._delays[attempt - 1], UTC
                )
            await self._note_failure(schedule, period, error, retry_at)
            return 0
        await self._db.run(store.note_sent, schedule.id, period.first_day, period.last_day, now)
        if refused:
            # The others have it: sending again would give them a second copy.
            await self._note_failure(
                schedule, period, "refused by " + ", ".join(refused), None, sent=True
            )
        self.sent.append((schedule.id, period))
        _log.info(
            "scheduled report {schedule} for {first}..{last} sent",
            schedule=schedule.id,
            first=period.first_day.isoformat(),
            last=period.last_day.isoformat(),
        )
        return 1

    async def _note_failure(
        self,
        schedule: store.DueSchedule,
        period: Period,
        error: str,
        retry_at: datetime | None,
        *,
        sent: bool = False,
    ) -> None:
        if not sent:
            _log.warn(
                "scheduled report {schedule} for {first}..{last} not sent: {error}{later}",
                schedule=schedule.id,
                first=period.first_day.isoformat(),
                last=period.last_day.isoformat(),
                error=error,
                later=f" (again at {retry_at.isoformat()})" if retry_at else " (given up)",
            )
        try:
            await self._db.run(
                store.note_failure,
                schedule.id,
                period.first_day,
                period.last_day,
                error,
                retry_at,
            )
        except DatabaseError as exc:  # the lease runs out and another attempt comes
            _log.warn("could not note the failed sending: {error}", error=str(exc))

    async def _send(
        self, schedule: store.DueSchedule, period: Period, now: datetime
    ) -> tuple[str, ...]:
        if schedule.refused:
            raise _CannotMakeError(schedule.refused)
        if schedule.report not in REPORTS:
            raise _CannotMakeError(UNKNOWN_REPORT.format(report=schedule.report))
        scope = figures.Scope(schedule.queue_ids).narrowed(schedule.queue_id)
        table = await self._db.read(figures.report_table, schedule.report, period, scope, now)
        lang = self._catalogues.language(schedule.language)
        message = await self.message(schedule, period, table, lang, now)
        return await send_mail(
            self._smtp,
            schedule.recipients,
            wire_bytes(message),
            reactor=self._reactor,
            clock=self._clock,
            timeout_s=self._timeout_s,
        )

    async def message(
        self,
        schedule: store.DueSchedule,
        period: Period,
        table: ReportTable,
        lang: Language,
        now: datetime,
    ) -> EmailMessage:
        """The e-mail: a short text in the schedule's language, the report file and its
        chart attached."""
        fmt = schedule.format.value
        asked = _Asked(schedule.report, period, schedule.queue_id)
        title = report_files.document_title(lang, schedule.report, period)
        data = await report_files.report_bytes(
            fmt,
            table,
            lang=lang,
            templates=self._templates,
            asked=asked,
            now=now,
            renders=self._renders,
        )
        sender = self._smtp.sender
        message = EmailMessage(policy=SMTP_POLICY)
        message["Subject"] = f"Hotline: {title}"
        message["From"] = sender
        message["To"] = ", ".join(schedule.recipients)
        message["Date"] = format_datetime(now)
        message["Message-ID"] = make_msgid("hotline-report", sender.rsplit("@", 1)[-1])
        scope = MAIL_SCOPE_ALL if schedule.queue_ids is None else MAIL_SCOPE_SOME
        lines = [
            lang.refusal(MAIL_TEXT, {"title": title}),
            "",
            lang.gettext(scope),
            "",
            "-- Hotline",
        ]
        message.set_content("\n".join(lines))
        main, sub = exports.CONTENT_TYPES[fmt].split(";")[0].split("/")
        name = report_files.file_name(schedule.report, period, fmt)
        message.add_attachment(data, maintype=main, subtype=sub, filename=name)
        chart = svg_chart(table, lang.gettext).encode("utf-8")
        message.add_attachment(
            chart,
            maintype="image",
            subtype="svg+xml",
            filename=report_files.file_name(schedule.report, period, "svg"),
        )
        return message
