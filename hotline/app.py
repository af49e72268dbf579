"""The composition root of one Hotline process: builds the services and starts them.

This is the only place that holds the real reactor; everything below gets it (or a clock)
passed in (ARCHITECTURE.md house style).
"""

from __future__ import annotations

import gc
import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from twisted.internet.defer import Deferred, DeferredList, maybeDeferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.web.server import Site

import hotline
from ami.client import AMIClient, connect_ami
from db.engine import make_engine
from db.migrate import alembic_config, current_revision
from db.runner import DBRunner
from dialplan.channel_vars import TRANSFER_VARIABLE
from dialplan.flows.context import FlowContext, FlowSettings
from dialplan.flows.router import build_router
from dialplan.store import janitor
from fastagi.server import LOOPBACK, FastAGIFactory, with_backlog
from hotline.config import Settings
from hotline.web import WebRoot
from voicemail.intake import import_spool
from voicemail.mailer import VoicemailMailer, item_link_template, parse_smtp_url
from voicemail.spool import Spool
from web.request import ProcessInfo

_log = Logger()

SPOOL_IMPORT_INTERVAL_S = 30.0


class StartupError(Exception):
    """The process cannot start; ``str()`` is the one line shown to the user."""


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def check_schema(engine: Engine, url: str) -> None:
    """Refuse to serve a database that is not at the current schema."""
    have, want = current_revision(engine), head_revision(url)
    if have != want:
        raise StartupError(
            f"HOTLINE_DATABASE_URL: the database is at schema {have or 'none'}, "
            f"this Hotline needs {want}; run `hotline db upgrade`"
        )


@dataclass
class HotlineServices:
    """Everything one ``hotline serve`` process runs."""

    settings: Settings
    reactor: Any
    engine: Engine = field(init=False)
    db: DBRunner = field(init=False)
    listeners: ProcessInfo = field(init=False)
    ports: list[IListeningPort] = field(default_factory=list, init=False)
    ami: AMIClient | None = field(default=None, init=False)
    mailer: VoicemailMailer | None = field(default=None, init=False)
    _spool_loop: LoopingCall | None = field(default=None, init=False)
    _heartbeat_loop: LoopingCall | None = field(default=None, init=False)
    # Set when the process begins to stop: the flows then leave their calls for resume.
    stopping: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.engine = make_engine(self.settings.database_url)
        self.db = DBRunner(self.engine, self.reactor)
        self.listeners = ProcessInfo(
            version=hotline.__version__,
            agi_listen=self.settings.agi_listen,
            web_listen=self.settings.web_listen,
            ami="not configured" if self.settings.ami is None else "configured",
        )

    async def start(self) -> None:
        check_schema(self.engine, self.settings.database_url)
        self.db.start()
        if self.settings.ami is not None:
            # Before the web root: the transfer and outbound dialogs act through it.
            self.ami = connect_ami(self.reactor, self.settings.ami)
            self.listeners.ami = f"{self.settings.ami.host}:{self.settings.ami.port}"
        web = Site(
            WebRoot(
                self.db,
                self.listeners,
                clock=self.reactor,
                time_zone=self.settings.time_zone,
                ami=self.ami,
                recordings_dir=self.settings.recordings_dir,
            ).resource()
        )
        await self._listen("HOTLINE_WEB_LISTEN", self.settings.web_listen, web)
        agi = self.agi_factory()
        await self._listen("HOTLINE_AGI_LISTEN", self.settings.agi_listen, agi)
        self.start_spool_import()
        self._heartbeat_loop = LoopingCall(lambda: Deferred.fromCoroutine(self._heartbeat(agi)))
        self._heartbeat_loop.clock = self.reactor
        self._heartbeat_loop.start(janitor.HEARTBEAT_INTERVAL_S, now=False)
        self.mailer = self.make_mailer(self.reactor)
        if self.mailer is not None:
            # Reports a restart may have missed.
            Deferred.fromCoroutine(self.mailer.catch_up(datetime.now(UTC) - timedelta(days=1)))
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

    def flow_context(self) -> FlowContext:
        return FlowContext(
            db=self.db,
            clock=self.reactor,
            spool=Spool(self.settings.spool_dir),
            settings=FlowSettings(
                time_zone=self.settings.time_zone, recordings_dir=self.settings.recordings_dir
            ),
            node=f"{socket.gethostname()}:{os.getpid()}",
            on_new_item=self._new_item,
            stopping=lambda: self.stopping,
        )

    def _new_item(self, item_id: int) -> None:
        if self.mailer is not None:
            self.mailer.report_new_item(item_id)

    def agi_factory(self) -> FastAGIFactory:
        return FastAGIFactory(
            build_router(self.flow_context()),
            clock=self.reactor,
            allow=self.settings.agi_allow or LOOPBACK,
            transfer_variable=TRANSFER_VARIABLE,
        )

    def start_spool_import(self) -> LoopingCall:
        """Import the spool now and every SPOOL_IMPORT_INTERVAL_S on the reactor's clock, so
        a request kept on disk while the database was down comes in once it is back."""
        loop = LoopingCall(lambda: Deferred.fromCoroutine(self._import_spool()))
        loop.clock = self.reactor
        loop.start(SPOOL_IMPORT_INTERVAL_S, now=True)
        self._spool_loop = loop
        return loop

    async def _import_spool(self) -> None:
        """R-7.3: bring in what was kept on disk while the database was down."""
        try:
            created, _ = await import_spool(self.db, Spool(self.settings.spool_dir), self._new_item)
        except SQLAlchemyError as exc:
            _log.warn("spool import waits for the database: {e}", e=str(exc).splitlines()[0])
            return
        except Exception:
            # Anything else must not stop the loop for good: the next run tries again.
            _log.failure("spool import failed")
            return
        if created:
            _log.info("imported {n} spooled voicemail/callback request(s)", n=created)

    async def _listen(self, setting: str, endpoint: str, factory: Any) -> IListeningPort:
        try:
            port: IListeningPort = await serverFromString(
                self.reactor, with_backlog(endpoint)
            ).listen(factory)
        except Exception as exc:  # CannotListenError and parse errors alike
            raise StartupError(f"{setting}: cannot listen on {endpoint}: {exc}") from None
        self.ports.append(port)
        return port

    async def _heartbeat(self, agi: FastAGIFactory) -> list[int]:
        """Keep this server's calls alive, and close the calls of servers that are gone
        (:mod:`dialplan.store.janitor`); the ids of the calls closed."""
        now = datetime.fromtimestamp(self.reactor.seconds(), UTC)
        try:
            await self.db.run(janitor.touch_calls, agi.running_uniqueids(), now)
            closed = await self.db.run(janitor.close_stale_calls, now)
        except SQLAlchemyError as exc:  # the database is down: the next beat tries again
            _log.warn("heartbeat: database unavailable: {error}", error=str(exc).splitlines()[0])
            return []
        if closed:
            _log.warn("closed calls whose Hotline server was lost: {ids}", ids=closed)
        return closed

    def stop(self) -> Deferred[Any]:
        self.stopping = True
        for loop in (self._spool_loop, self._heartbeat_loop):
            if loop is not None and loop.running:
                loop.stop()
        stopping = [Deferred.fromCoroutine(_stop_port(p)) for p in self.ports]
        if self.ami is not None:
            stopping.append(self.ami.stop())
        if self.mailer is not None:
            self.mailer.stop()
        self.ports = []

        def release(result: object) -> object:
            self.db.stop()
            self.engine.dispose()
            return result

        return DeferredList(stopping, consumeErrors=True).addBoth(release)


async def _stop_port(port: Any) -> None:
    # Any: mypy cannot see through the zope interface IListeningPort.
    await maybeDeferred(port.stopListening)
