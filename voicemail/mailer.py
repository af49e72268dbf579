"""E-mail a report of each new voicemail or callback request to its box's address (R-3.5).

Meant for after-hours boxes whose ``email_to`` someone on call reads. The mailer is a real
SMTP client on Twisted (``ESMTPSenderFactory``), configured by ``HOTLINE_SMTP_URL``::

    smtp://[user:password@]host[:port][?from=addr&starttls=0|1]
    smtps://...      (TLS from the first byte, port 465 by default)

``starttls=1`` requires STARTTLS (never sends the message or a password in the clear),
``starttls=0`` never tries it, and without the parameter STARTTLS is used when the server
offers it.

The call flow must never wait for, or fail because of, e-mail: ``report_new_item`` only
puts the item in the mailer's own queue and returns. Items are sent one at a time; a
failed send is retried after growing delays on the injected clock, for the recipients that
did not take it yet; once every recipient has it, ``emailed_at`` is set through the
database. The queue lives in memory: after a restart, ``catch_up`` queues the items still
waiting (``voicemail.store.queue.items_awaiting_email``). A report the mailer gives up on is
written into the item's history ("e-mail report failed", ``mark_email_failed``), so the
staff see that nobody was told, even once ``catch_up`` no longer looks that far back.

A server that accepts the connection and then says nothing is cut off after ``timeout_s``
of silence on the injected clock (the SMTP protocol's own timeout, moved off the global
reactor), and retried like any other failure.
"""

from __future__ import annotations

import mimetypes
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from io import BytesIO
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

from twisted.application.service import Service
from twisted.internet.defer import Deferred, ensureDeferred, succeed
from twisted.logger import Logger
from twisted.mail.smtp import ESMTPSenderFactory

from db.runner import DBRunner
from domain.clock import Clock, DelayedCall
from voicemail.store.email import (
    VoicemailReport,
    items_awaiting_email,
    mark_email_failed,
    mark_emailed,
    voicemail_report,
)

# A recording larger than this is linked, not attached: mail servers refuse big messages.
ATTACH_LIMIT_BYTES = 10 * 1024 * 1024
# After each failed attempt, wait this long before the next; then give up (and log it).
RETRY_DELAYS_S: tuple[float, ...] = (10, 30, 60, 120, 300, 600, 1800, 3600)
NOT_AVAILABLE = "The recording of this call is not available."  # the wording of
# The back office's page of one item (voicemail.routes), where its recording plays.
ITEM_PAGE = "/backoffice/items/{item_id}"

_log = Logger()
_CONTROL = re.compile(r"[\x00-\x1f\x7f\s]+")
_ADDRESS = re.compile(r"[^@\s<>,;\"']+@[^@\s<>,;\"']+")


class TcpConnector(Protocol):
    """The part of ``IReactorTCP`` the mailer uses."""

    def connectTCP(self, host: str, port: int, factory: Any, timeout: float = ...) -> Any: ...


class SmtpUrlError(ValueError):
    """``HOTLINE_SMTP_URL`` cannot be used; ``str()`` says why."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool | None = None  # None: when offered; True: required; False: never
    implicit_tls: bool = False  # smtps://


def parse_smtp_url(url: str) -> SmtpSettings:
    """Read ``smtp://[user:password@]host[:port][?from=addr&starttls=0|1]``."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise SmtpUrlError("expected smtp://[user:password@]host[:port][?from=addr&starttls=0|1]")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
    except ValueError as exc:
        raise SmtpUrlError(f"bad port: {exc}") from None
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = set(query) - {"from", "starttls"}
    if unknown:
        raise SmtpUrlError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    starttls: bool | None = None
    if "starttls" in query:
        if query["starttls"] not in ("0", "1"):
            raise SmtpUrlError("starttls must be 0 or 1")
        starttls = query["starttls"] == "1"
    sender = query.get("from") or f"hotline@{parts.hostname}"
    if not _ADDRESS.fullmatch(sender) or not sender.isascii():
        raise SmtpUrlError(f"from={sender!r} is not an e-mail address")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if username and password is None:
        raise SmtpUrlError("a user name needs a password")
    return SmtpSettings(
        host=parts.hostname,
        port=port,
        sender=sender,
        username=username,
        password=password,
        starttls=starttls,
        implicit_tls=parts.scheme == "smtps",
    )


# --------------------------------------------------------------------------- the message


def item_link_template(public_url: str | None) -> str:
    """The ``recording_link`` template for the web pages at ``public_url`` (the setting
    ``HOTLINE_PUBLIC_URL``); empty when there is none: the e-mail then carries no link."""
    if not public_url:
        return ""
    return public_url.rstrip("/").replace("{", "{{").replace("}", "}}") + ITEM_PAGE


def _one_line(text: str) -> str:
    """Caller IDs are hostile input (R-7.2): no CR/LF or other controls reach a header."""
    return _CONTROL.sub(" ", text).strip()


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds // 60}:{seconds % 60:02d}"


def _caller(report: VoicemailReport) -> str:
    number = _one_line(report.caller_number)
    name = _one_line(report.customer_name)
    if name and number:
        return f"{name} ({number})"
    return name or number or "an unknown caller"


def _mime_type(path: Path) -> tuple[str, str]:
    if path.suffix.lower() == ".wav":
        return "audio", "wav"  # mimetypes says audio/x-wav on some systems
    guessed, _ = mimetypes.guess_type(path.name)
    if guessed and "/" in guessed:
        main, sub = guessed.split("/", 1)
        return main, sub
    return "application", "octet-stream"


def _recording_file(recordings_dir: Path, relative: str) -> Path | None:
    """The file, if it exists inside the recordings directory (no ``..`` escapes)."""
    if not relative:
        return None
    root = recordings_dir.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


def build_message(
    report: VoicemailReport,
    *,
    sender: str,
    zone: ZoneInfo,
    recordings_dir: Path,
    attach_limit_bytes: int = ATTACH_LIMIT_BYTES,
    recording_link: str = "",
    now: datetime | None = None,
) -> EmailMessage:
    """The report of one item; the recording attached, or linked when too large.

    ``recording_link`` is a template with ``{item_id}`` for a page where the recording can
    be played (empty: the text points to Hotline in general).
    """
    local = report.created_at.astimezone(zone)
    box = _one_line(report.box_name)
    what = "Voicemail" if report.kind == "message" else "Callback request"
    message = EmailMessage(policy=SMTP_POLICY)
    message["Subject"] = f"{what} from {_caller(report)} in {box}"
    message["From"] = sender
    message["To"] = ", ".join(report.email_to)
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = make_msgid("hotline", sender.rsplit("@", 1)[-1])
    lines = [
        f"{what} in the box {box}.",
        "",
        f"Caller:    {_one_line(report.caller_number) or 'hidden number'}",
        f"Customer:  {_one_line(report.customer_name) or 'not identified'}",
        f"Time:      {local:%Y-%m-%d %H:%M:%S} ({zone.key})",
    ]
    attachment: tuple[bytes, Path] | None = None
    if report.kind == "message":
        lines.append(f"Duration:  {_duration(report.duration_s)}")
        lines.append("")
        path = _recording_file(recordings_dir, report.recording_path)
        link = recording_link.format(item_id=report.item_id) if recording_link else ""
        if path is None:
            lines.append(NOT_AVAILABLE)
        elif path.stat().st_size > attach_limit_bytes:
            size_mb = path.stat().st_size / (1024 * 1024)
            where = link or "the back office in Hotline"
            lines.append(f"The recording is too large to attach ({size_mb:.1f} MB): {where}")
        else:
            attachment = (path.read_bytes(), path)
            lines.append(f"The recording is attached ({path.name}).")
            if link:
                lines.append(f"It can also be played at {link}")
    lines.append("")
    lines.append("-- Hotline")
    message.set_content("\n".join(lines))
    if attachment is not None:
        data, path = attachment
        main, sub = _mime_type(path)
        message.add_attachment(data, maintype=main, subtype=sub, filename=path.name)
    return message


def wire_bytes(message: EmailMessage) -> bytes:
    # Twisted's client turns LF into CRLF and dot-stuffs; give it LF line ends.
    return message.as_bytes(policy=SMTP_POLICY.clone(linesep="\n"))


# --------------------------------------------------------------------------- the queue


@dataclass
class _Job:
    item_id: int
    attempts: int = 0
    remaining: tuple[str, ...] | None = None  # recipients still to reach; None: all
    sent: bool = False  # every recipient has it; only the database mark is missing
    recipients: tuple[str, ...] = ()  # whom the last attempt was for (the failure names them)


class _ClockedSenderFactory(ESMTPSenderFactory):
    """Twisted's ESMTP sender whose silence timeout runs on the given clock.

    ``TimeoutMixin`` schedules on the global reactor; a server that accepted and then hangs
    must be cut off on the mailer's own clock, which a test advances.
    """

    def __init__(self, clock: Clock, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock
        self.built: list[Any] = []

    def buildProtocol(self, addr: Any) -> Any:
        protocol = super().buildProtocol(addr)
        protocol.callLater = self._clock.callLater
        self.built.append(protocol)
        return protocol

    def stop_timeouts(self) -> None:
        """The message is taken: the silence timer of the connection's goodbye (QUIT) is
        off, so it cannot fire into a finished send when the clock moves on."""
        for protocol in self.built:
            protocol.setTimeout(None)


# At start, the reports of the last day that a restart may have missed are sent.
CATCH_UP_S = 24 * 3600


class VoicemailMailer(Service):
    """Fire-and-forget e-mail reports with their own queue and retries; as a service it
    catches up at start and cancels its retries at stop."""

    def __init__(
        self,
        db: DBRunner,
        smtp: SmtpSettings,
        *,
        reactor: TcpConnector,
        clock: Clock,
        recordings_dir: Path,
        time_zone: str,
        retry_delays_s: Sequence[float] = RETRY_DELAYS_S,
        attach_limit_bytes: int = ATTACH_LIMIT_BYTES,
        recording_link: str = "",
        timeout_s: int = 60,
    ) -> None:
        self._db = db
        self._smtp = smtp
        self._reactor = reactor
        self._clock = clock
        self._recordings_dir = recordings_dir
        self._zone = ZoneInfo(time_zone)
        self._delays = tuple(retry_delays_s)
        self._attach_limit = attach_limit_bytes
        self._link = recording_link
        self._timeout_s = timeout_s
        self._queue: deque[_Job] = deque()
        self._known: set[int] = set()  # queued, sending or waiting for a retry
        self._retries: dict[int, DelayedCall] = {}
        self._busy = False
        self._stopped = False
        self._waiters: list[Deferred[None]] = []
        self.delivered: list[int] = []  # item ids, in order (for the status page and tests)
        self.given_up: list[int] = []

    # ------------------------------------------------------------------ public

    def startService(self) -> None:
        super().startService()
        since = datetime.fromtimestamp(self._clock.seconds() - CATCH_UP_S, UTC)
        Deferred.fromCoroutine(self.catch_up(since)).addErrback(
            lambda failure: _log.failure("e-mail catch-up failed", failure)
        )

    def stopService(self) -> None:
        super().stopService()
        self.stop()

    def report_new_item(self, item_id: int) -> None:
        """Queue the report of a new item and return at once; never raises.

        Call it from the reactor thread (a flow, or a DBRunner result's callback).
        """
        try:
            if self._stopped or item_id in self._known:
                return
            self._known.add(item_id)
            self._queue.append(_Job(item_id))
            self._kick()
        except Exception:  # the call flow must not notice anything
            _log.failure("could not queue the e-mail report of item {item}", item=item_id)

    async def catch_up(self, since: datetime) -> int:
        """Queue every item since ``since`` whose report is not delivered yet."""
        ids = await self._db.run(items_awaiting_email, since)
        for item_id in ids:
            self.report_new_item(item_id)
        return len(ids)

    @property
    def waiting_retry(self) -> frozenset[int]:
        return frozenset(self._retries)

    def settled(self) -> Deferred[None]:
        """Fires when nothing is being sent and the queue is empty (retries may wait)."""
        if not self._busy and not self._queue:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._waiters.append(waiter)
        return waiter

    def stop(self) -> None:
        """Cancel pending retries (shutdown); items stay un-mailed in the database."""
        self._stopped = True
        for call in self._retries.values():
            if call.active():
                call.cancel()
        self._retries.clear()
        self._queue.clear()

    # ------------------------------------------------------------------ the worker

    def _kick(self) -> None:
        if self._busy or not self._queue or self._stopped:
            if not self._busy and not self._queue:
                waiters, self._waiters = self._waiters, []
                for waiter in waiters:
                    waiter.callback(None)
            return
        self._busy = True
        job = self._queue.popleft()
        d = ensureDeferred(self._work(job))
        d.addErrback(self._unexpected, job)
        d.addBoth(self._done_one)

    def _done_one(self, _: object) -> None:
        self._busy = False
        self._kick()

    def _unexpected(self, failure: Any, job: _Job) -> Deferred[None]:
        _log.failure("e-mail report of item {item} failed", failure, item=job.item_id)
        return ensureDeferred(self._retry_later(job))

    async def _work(self, job: _Job) -> None:
        job.attempts += 1
        try:
            if not job.sent:
                report = await self._db.run(voicemail_report, job.item_id)
                if report is None:
                    self._known.discard(job.item_id)  # no e-mail for its box, or sent already
                    return
                recipients = self._deliverable(job, report)
                job.recipients = recipients or job.remaining or report.email_to
                if not recipients:
                    await self._give_up(job, "no valid recipient address")
                    return
                message = build_message(
                    report,
                    sender=self._smtp.sender,
                    zone=self._zone,
                    recordings_dir=self._recordings_dir,
                    attach_limit_bytes=self._attach_limit,
                    recording_link=self._link,
                    now=self._now(),
                )
                refused = await self._send(recipients, wire_bytes(message))
                if refused:
                    job.remaining = refused
                    _log.warn(
                        "e-mail report of item {item}: refused by {refused}, will retry",
                        item=job.item_id,
                        refused=", ".join(refused),
                    )
                    await self._retry_later(job)
                    return
                job.sent = True
            await self._db.run(mark_emailed, job.item_id, self._now())
        except Exception as exc:
            _log.warn(
                "e-mail report of item {item}, attempt {n}: {error}",
                item=job.item_id,
                n=job.attempts,
                error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            )
            await self._retry_later(job)
            return
        self._known.discard(job.item_id)
        self.delivered.append(job.item_id)

    def _deliverable(self, job: _Job, report: VoicemailReport) -> tuple[str, ...]:
        wanted = job.remaining if job.remaining is not None else report.email_to
        good = tuple(a for a in wanted if a.isascii() and _ADDRESS.fullmatch(a))
        for bad in set(wanted) - set(good):
            _log.error(
                "box address {address!r} of item {item} is not usable",
                address=bad,
                item=job.item_id,
            )
        return good

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    async def _retry_later(self, job: _Job) -> None:
        if self._stopped:
            return
        if job.attempts > len(self._delays):
            await self._give_up(job, f"still failing after {job.attempts} attempts")
            return
        delay = self._delays[job.attempts - 1]
        self._retries[job.item_id] = self._clock.callLater(delay, self._requeue, job)

    def _requeue(self, job: _Job) -> None:
        self._retries.pop(job.item_id, None)
        self._queue.append(job)
        self._kick()

    async def _give_up(self, job: _Job, why: str) -> None:
        self._known.discard(job.item_id)
        self.given_up.append(job.item_id)
        _log.error("e-mail report of item {item} not sent: {why}", item=job.item_id, why=why)
        try:
            await self._db.run(mark_email_failed, job.item_id, job.recipients, self._now())
        except Exception as exc:  # the log line above still says it
            _log.warn(
                "could not note the failed e-mail report in item {item}: {error}",
                item=job.item_id,
                error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            )

    # ------------------------------------------------------------------ SMTP

    async def _send(self, recipients: tuple[str, ...], data: bytes) -> tuple[str, ...]:
        """Send once; the recipients the server refused (empty: all took it)."""
        return await send_mail(
            self._smtp,
            recipients,
            data,
            reactor=self._reactor,
            clock=self._clock,
            timeout_s=self._timeout_s,
        )


async def send_mail(
    smtp: SmtpSettings,
    recipients: Sequence[str],
    data: bytes,
    *,
    reactor: TcpConnector,
    clock: Clock,
    timeout_s: int = 60,
) -> tuple[str, ...]:
    """Send one message (its bytes, LF line ends: :func:`wire_bytes`) once over SMTP; the
    recipients the server refused (empty: all took it). Raises when the server cannot be
    reached or refuses the message; retrying is the caller's."""
    result: Deferred[Any] = Deferred()
    factory = _ClockedSenderFactory(
        clock,
        smtp.username.encode() if smtp.username else None,
        smtp.password.encode() if smtp.password is not None else None,
        smtp.sender,
        list(recipients),
        BytesIO(data),
        result,
        retries=0,  # the retries are the caller's, with back-off on the injected clock
        timeout=timeout_s,
        heloFallback=True,
        requireAuthentication=bool(smtp.username),
        requireTransportSecurity=smtp.starttls is True,
        # Without a host name Twisted builds no TLS context, so never tries STARTTLS.
        hostname=None if smtp.starttls is False else smtp.host,
    )
    if smtp.implicit_tls:
        from twisted.internet.ssl import optionsForClientTLS
        from twisted.protocols.tls import TLSMemoryBIOFactory

        wrapped = TLSMemoryBIOFactory(
            optionsForClientTLS(smtp.host),
            True,
            factory,  # type: ignore[arg-type]
        )
        reactor.connectTCP(smtp.host, smtp.port, wrapped, timeout=timeout_s)
    else:
        reactor.connectTCP(smtp.host, smtp.port, factory, timeout=timeout_s)
    try:
        _accepted, addresses = await result
    finally:
        factory.stop_timeouts()
    return tuple(
        address.decode("ascii", "replace") if isinstance(address, bytes) else str(address)
        for address, code, _resp in addresses
        if not 200 <= code < 300
    )
