"""The composition root of one Hotline process: its services as a ``twisted.application``
tree, started and stopped the standard way (``startService`` / ``stopService``).

:class:`HotlineService` is a ``MultiService`` whose children start in this order and stop in
the reverse one: the database (its thread pool), the AMI client (when configured), the web
pages, the FastAGI server, the heartbeat (``dialplan.services.janitor``), the spool import
(``voicemail.intake``), the e-mail reports (``voicemail.mailer``) and the scheduled reports
(``reports.report_mailing``), both when SMTP is configured. This
is the only place that holds the real reactor; everything below gets it (or a clock) passed
in (docs/architecture.md).
"""

from __future__ import annotations

import gc
import os
import socket
from collections.abc import Callable
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger

import hotline
from ami.client import AMIClient, AMIClientService, ami_client
from db.engine import make_engine
from db.errors import UNREACHABLE
from db.events import on_commit
from db.migrate import alembic_config, current_revision
from db.notify_listener import NotifyListener
from db.runner import DBRunner
from dialplan.channel_vars import TRANSFER_VARIABLE
from dialplan.flows.context import FlowContext, FlowSettings, disk_refused
from dialplan.flows.router import build_router
from dialplan.services.janitor import JanitorService
from fastagi.server import LOOPBACK, FastAGIFactory, with_backlog
from hotline.config import Settings
from hotline.web import WebRoot
from reports.report_mailing import ScheduledReports
from voicemail.intake import SpoolImportService
from voicemail.mailer import VoicemailMailer, item_link_template, parse_smtp_url
from voicemail.spool import Spool
from web.request import ProcessInfo

_log = Logger()


class StartupError(Exception):
    """The process cannot start; ``str()`` is the one line shown to the user."""


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def check_schema(engine: Engine, url: str) -> None:
    """Refuse to serve a database that cannot be opened or is not at the current schema."""
    try:
        have = current_revision(engine)
    except UNREACHABLE as exc:
        raise StartupError(
            f"HOTLINE_DATABASE_URL: cannot open the database ({str(exc).splitlines()[0]}); "
            "start the database, or create it with `hotline db upgrade`"
        ) from None
    want = head_revision(url)
    if have != want:
        raise StartupError(
            f"HOTLINE_DATABASE_URL: the database is at schema {have or 'none'}, "
            f"this Hotline needs {want}; run `hotline db upgrade`"
        )


class CommitHook(Service):
    """Calls ``callback`` after each commit that wrote an event, while the service runs: this
    process's own (``db.events.on_commit``) and, on PostgreSQL, every other process's too
    (their NOTIFY, heard by a LISTEN connection of its own). ``callback`` runs on the
    committing or listening thread."""

    def __init__(self, engine: Engine, callback: Callable[[], None]) -> None:
        self._engine = engine
        self._callback = callback
        self._remove: Callable[[], None] | None = None
        self.listener: NotifyListener | None = None

    def startService(self) -> None:
        super().startService()
        self._remove = on_commit(self._engine, self._callback)
        if self._engine.dialect.name == "postgresql":
            self.listener = NotifyListener(self._engine, self._callback)
            self.listener.start()

    def stopService(self) -> None:
        super().stopService()
        if self._remove is not None:
            self._remove()
            self._remove = None
        if self.listener is not None:
            self.listener.stop()
            self.listener = None


class DatabaseService(Service):
    """The database's thread pool and engine: started first, stopped last. Starting checks
    that the database is at the current schema."""

    def __init__(self, engine: Engine, db: DBRunner, url: str) -> None:
        self.engine = engine
        self.db = db
        self._url = url

    def startService(self) -> None:
        check_schema(self.engine, self._url)
        super().startService()
        self.db.start()

    def stopService(self) -> None:
        super().stopService()
        self.db.stop()
        self.engine.dispose()


class ListeningService(StreamServerEndpointService):
    """Listens on a Twisted endpoint string; a port that cannot be had stops the start with
    one line naming the setting."""

    def __init__(self, reactor: Any, setting: str, endpoint: str, factory: Any) -> None:
        super().__init__(serverFromString(reactor, with_backlog(endpoint)), factory)
        self._setting = setting
        self._description = endpoint
        self._raiseSynchronously = True

    def startService(self) -> None:
        try:
            super().startService()
        except Exception as exc:  # CannotListenError and parse errors alike
            self.running = False
            raise StartupError(
                f"{self._setting}: cannot listen on {self._description}: {exc}"
            ) from None


class HotlineService(MultiService):
    """Everything one ``hotline serve`` process runs."""

    def __init__(self, settings: Settings, reactor: Any) -> None:
        super().__init__()
        self.settings = settings
        self.reactor = reactor
        self.engine = make_engine(settings.database_url, must_exist=True)
        self.db = DBRunner(self.engine, reactor)
        # Set when the process begins to stop: the flows then leave their calls for resume.
        self.stopping = False
        self.process = ProcessInfo(
            version=hotline.__version__,
            agi_listen=settings.agi_listen,
            web_listen=settings.web_listen,
            ami="not configured" if settings.ami is None else "configured",
        )
        self.spool = Spool(settings.spool_dir, disk_refused)
        self._add(DatabaseService(self.engine, self.db, settings.database_url))
        self.ami: AMIClient | None = None
        if settings.ami is not None:
            # Before the web root: the transfer and outbound dialogs act through it.
            self.ami = ami_client(reactor, settings.ami)
            self.process.ami = f"{settings.ami.host}:{settings.ami.port}"
            self._add(AMIClientService(self.ami))
        self.web = WebRoot(
            self.db,
            self.process,
            clock=reactor,
            time_zone=settings.time_zone,
            ami=self.ami,
            recordings_dir=settings.recordings_dir,
            sounds_dir=settings.sounds_dir,
        )
        site = self.web.site(reactor, trusted_proxies=settings.trusted_proxies)
        self._add(ListeningService(reactor, "HOTLINE_WEB_LISTEN", settings.web_listen, site))
        self.mailer = self.make_mailer(reactor)
        self.flows = self.flow_context()
        self.agi = self.agi_factory()
        # Every committed change wakes the waiting callers' matching (issue 12).
        self._add(CommitHook(self.engine, self.flows.offers.changed))
        self._add(ListeningService(reactor, "HOTLINE_AGI_LISTEN", settings.agi_listen, self.agi))
        self._add(
            JanitorService(
                self.db,
                reactor,
                self.agi.running_uniqueids,
                resume_window_s=settings.resume_window_s,
                journal=self.flows.journal,  # the flows' own: one journal per process
            )
        )
        self._add(
            SpoolImportService(
                self.db,
                self.spool,
                reactor,
                self.report_new_item,
                recordings_dir=settings.recordings_dir,
            )
        )
        if self.mailer is not None:
            self._add(self.mailer)
        self.scheduled_reports = self.make_scheduled_reports(reactor)
        if self.scheduled_reports is not None:
            self._add(self.scheduled_reports)

    def _add(self, service: Service) -> None:
        service.setServiceParent(self)

    def startService(self) -> None:
        super().startService()
        # Everything built so far lives as long as the process: keep the cyclic GC from
        # scanning it again and again (with thousands of calls it cost a quarter of the CPU,
        # docs/performance.md).
        gc.collect()
        gc.freeze()
        _log.info(
            "Hotline is serving: web {web}, FastAGI {agi}",
            web=self.settings.web_listen,
            agi=self.settings.agi_listen,
        )

    def stopService(self) -> Deferred[None]:
        """Stop the running children one after the other, in the reverse order of their
        start: the ports close before the database's pool goes."""
        self.stopping = True
        self.web.stop()
        Service.stopService(self)
        return Deferred.fromCoroutine(self._stop_children())

    async def _stop_children(self) -> None:
        for child in reversed(list(self)):
            if not child.running:
                continue  # the start failed before it
            try:
                await maybeDeferred(child.stopService)
            except Exception:
                _log.failure("stopping {child} failed", child=child)

    def make_mailer(self, connector: Any) -> VoicemailMailer | None:
        """The e-mail reports of R-3.5 when ``HOTLINE_SMTP_URL`` is set, on this process's
        clock; ``connector`` opens its TCP connections (the reactor). Links in the e-mail
        point to the item's page under ``HOTLINE_PUBLIC_URL`` when that is set."""
        if not self.settings.smtp_url:
            return None
        return VoicemailMailer(
            self.db,
            parse_smtp_url(self.settings.smtp_url),
            reactor=connector,
            clock=self.reactor,
            recordings_dir=self.settings.recordings_dir,
            time_zone=self.settings.time_zone,
            recording_link=item_link_template(self.settings.public_url),
        )

    def make_scheduled_reports(self, connector: Any) -> ScheduledReports | None:
        """The scheduled reports of R-5.5 when ``HOTLINE_SMTP_URL`` is set: every process
        runs them, the sendings log makes each period go once."""
        if not self.settings.smtp_url:
            return None
        return ScheduledReports(
            self.db,
            parse_smtp_url(self.settings.smtp_url),
            reactor=connector,
            clock=self.reactor,
            templates=self.web.services.templates,
            catalogues=self.web.services.catalogues,
            time_zone=self.settings.time_zone,
            node=f"{socket.gethostname()}:{os.getpid()}",
            renders=self.web.worker_threads,
        )

    def flow_context(self) -> FlowContext:
        return FlowContext(
            db=self.db,
            clock=self.reactor,
            spool=self.spool,
            settings=FlowSettings(
                time_zone=self.settings.time_zone, recordings_dir=self.settings.recordings_dir
            ),
            node=f"{socket.gethostname()}:{os.getpid()}",
            on_new_item=self.report_new_item,
            stopping=lambda: self.stopping,
        )

    def report_new_item(self, item_id: int) -> None:
        if self.mailer is not None:
            self.mailer.report_new_item(item_id)

    def agi_factory(self) -> FastAGIFactory:
        return FastAGIFactory(
            build_router(self.flows),
            clock=self.reactor,
            allow=self.settings.agi_allow or LOOPBACK,
            transfer_variable=TRANSFER_VARIABLE,
        )
