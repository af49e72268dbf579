"""The process as a twisted.application service tree: which services, in which order, and
a stop that closes the ports before the database's pool goes."""

from __future__ import annotations

from pathlib import Path

import pytest_twisted
from twisted.application.service import Service
from twisted.internet import reactor
from twisted.internet.task import Clock

from ami.client import AMIClientService
from dialplan.services.janitor import JanitorService
from hotline.app import CommitHook, DatabaseService, HotlineService, ListeningService
from hotline.config import AmiUrl, Settings
from reports.report_mailing import ScheduledReports
from voicemail.intake import SpoolImportService
from voicemail.mailer import VoicemailMailer


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'hotline.db'}",
        spool_dir=tmp_path / "spool",
        recordings_dir=tmp_path / "recordings",
        **values,  # type: ignore[arg-type]
    )


def test_the_services_start_in_this_order(tmp_path: Path) -> None:
    service = HotlineService(
        settings(
            tmp_path,
            ami=AmiUrl("127.0.0.1", 5038, "hotline", "secret"),
            smtp_url="smtp://127.0.0.1:2525?from=hotline@example.test",
        ),
        reactor,  # built, not started: nothing listens or connects
    )
    try:
        kinds = [type(child) for child in service]
        assert kinds == [
            DatabaseService,
            AMIClientService,
            ListeningService,  # the web pages
            CommitHook,  # before any call: committed changes wake the waiting callers
            ListeningService,  # FastAGI
            JanitorService,
            SpoolImportService,
            VoicemailMailer,
            ScheduledReports,
        ]
        web, agi = [c for c in service if isinstance(c, ListeningService)]
        assert web.factory is not agi.factory and agi.factory is service.agi
    finally:
        service.engine.dispose()


def test_without_ami_and_smtp_there_is_no_telephony_and_no_mailer(tmp_path: Path) -> None:
    service = HotlineService(settings(tmp_path), Clock())
    try:
        kinds = {type(child) for child in service}
        assert AMIClientService not in kinds and VoicemailMailer not in kinds
        assert ScheduledReports not in kinds
        assert service.ami is None and service.mailer is None
        assert service.process.ami == "not configured"
    finally:
        service.engine.dispose()


class Recorded(Service):
    def __init__(self, name: str, stops: list[str]) -> None:
        self.name = name
        self._stops = stops

    def stopService(self) -> None:
        super().stopService()
        self._stops.append(self.name)


@pytest_twisted.ensureDeferred
async def test_stopping_stops_the_running_services_last_started_first(tmp_path: Path) -> None:
    service = HotlineService(settings(tmp_path), Clock())
    for child in list(service):
        child.disownServiceParent()
    stops: list[str] = []
    for name in ("database", "web", "fastagi", "never started"):
        Recorded(name, stops).setServiceParent(service)
    for child in list(service)[:3]:
        child.startService()
    service.running = True
    await service.stopService()
    assert stops == ["fastagi", "web", "database"]
    assert service.stopping  # the flows leave their calls for resume from now on
    service.engine.dispose()
