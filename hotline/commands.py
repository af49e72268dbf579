"""What each ``hotline`` sub-command does; the CLI only parses arguments and prints errors."""

from __future__ import annotations

import resource
import secrets
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from db.engine import make_engine
from db.migrate import upgrade
from hotline.config import AmiUrl, Settings

if TYPE_CHECKING:
    from hotline.app import HotlineService


class CommandError(Exception):
    """A command could not do its job; ``str()`` is the one line shown to the user."""


def upgrade_database(settings: Settings) -> None:
    upgrade(settings.database_url)


def load_file(settings: Settings, path: Path) -> str:
    from db.catalog import CatalogError, load_catalog

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}") from None
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session, session.begin():
            summary = load_catalog(session, text, source=str(path))
    except CatalogError as exc:
        raise CommandError(f"{exc} (nothing was loaded)") from None
    finally:
        engine.dispose()
    return str(summary)


def export_text(settings: Settings) -> str:
    from db.catalog import export_catalog

    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session:
            return export_catalog(session)
    finally:
        engine.dispose()


def api_key(settings: Settings, args: Any) -> list[str]:
    """``hotline api-key create|list|revoke`` (R-5.6): the lines to print."""
    from datetime import UTC, datetime

    from domain.refusals import RefusedError
    from reports.store import api_keys

    now = datetime.now(UTC)
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session, session.begin():
            if args.key_command == "create":
                queues = api_keys.queue_ids_by_code(session, args.queue)
                made = api_keys.create_key(session, args.name, queues, None, now)
                return [f"key {made.id} for {args.name}: {made.key}", "it is not shown again"]
            if args.key_command == "revoke":
                api_keys.revoke_key(session, args.id, None, now)
                return [f"key {args.id} revoked"]
            return [
                f"{k.id}\t{k.name}\t{k.prefix}…\t{', '.join(k.queue_names)}\t"
                + ("revoked " + k.revoked_at.isoformat() if k.revoked_at else "active")
                for k in api_keys.list_keys(session)
            ] or ["no API keys"]
    except RefusedError as exc:
        raise CommandError(str(exc)) from None
    finally:
        engine.dispose()


def prompts(
    settings: Settings,
    sounds_dir: Path,
    *,
    languages: Sequence[str],
    list_only: bool = False,
    force: bool = False,
) -> list[str]:
    """``hotline prompts``: the listing, or what was generated and what still lacks words
    (R-6.4); the lines to print."""
    from dialplan.store.prompts import catalog_prompts
    from hotline.prompts import NO_TEXT, PromptError, all_prompts, generate, listing

    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session:
            found = all_prompts(catalog_prompts(session), languages)
    finally:
        engine.dispose()
    if list_only:
        return listing(found, sounds_dir)
    try:
        outcome = generate(found, sounds_dir, force=force)
    except PromptError as exc:
        raise CommandError(str(exc)) from None
    lines = [f"{p.name} ({p.language}): {NO_TEXT}" for p in outcome.without_text]
    return [
        *lines,
        f"prompts in {sounds_dir}: generated {outcome.generated}, kept {outcome.kept} "
        "(existing files stay; --force replaces them)",
    ]


# The most open files a process asks for when its hard limit is unlimited.
OPEN_FILES_WANTED = 1 << 20


def raise_open_file_limit() -> int:
    """Raise this process's open-file limit to its hard limit; the limit now in force.

    Every waiting caller holds a FastAGI socket and every open page a live stream, so the
    common default of 1,024 would cap a process at a few hundred callers and let the web
    side take only a quarter of that (web/server.py). Raising the soft limit up to the hard
    one needs no privilege."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = OPEN_FILES_WANTED if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            return soft  # the system refuses (a cap below the hard limit): keep what is
        return wanted
    return soft


def serve(
    settings: Settings, *, on_started: Callable[[HotlineService], object] | None = None
) -> int:
    """Run one Hotline process until SIGTERM/SIGINT; 0 on a clean stop."""
    raise_open_file_limit()
    from twisted.internet import reactor as _reactor
    from twisted.internet.defer import maybeDeferred
    from twisted.logger import globalLogBeginner, textFileLogObserver
    from twisted.python.failure import Failure

    # The composition root is the one place that holds the global reactor; typed loosely
    # because its zope interfaces are not visible to mypy.
    reactor: Any = _reactor

    from hotline.app import HotlineService, StartupError

    observer: Any = textFileLogObserver(sys.stderr)
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    failed: list[str] = []
    try:
        service = HotlineService(settings, reactor)
    except StartupError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 1

    def give_up(error: BaseException | None) -> None:
        failed.append(str(error) if isinstance(error, StartupError) else repr(error))
        reactor.stop()

    def start_failed(failure: Failure) -> None:
        give_up(failure.value)

    def start() -> None:
        try:
            service.startService()
        except Exception as exc:
            give_up(exc)
            return
        if on_started is not None:
            maybeDeferred(on_started, service).addErrback(start_failed)

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    reactor.run()
    if failed:
        print(f"hotline: {failed[0]}", file=sys.stderr)
        return 1
    return 0


def demo(settings: Settings, database: Path, *, traffic: bool, real_hours: bool = False) -> int:
    """A fresh SQLite database with the demo data set, then serve it (with simulated calls)."""
    from dataclasses import replace

    from db.catalog import load_catalog
    from db.demo_data import always_open_yaml, load_demo

    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{database.resolve()}"
    demo_settings = replace(settings, database_url=url)
    if traffic and settings.ami is None:
        # The simulated switch serves a fake AMI on loopback, so that transfers, outbound
        # calls and call backs work in the demo as they do against a real Asterisk.
        demo_settings = replace(
            demo_settings,
            ami=AmiUrl("127.0.0.1", _free_loopback_port(), "hotline", secrets.token_hex(12)),
        )
    upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine) as session, session.begin():
            summary = load_demo(session)
            if not real_hours:
                load_catalog(session, always_open_yaml(), source="<demo: open around the clock>")
    finally:
        engine.dispose()
    print(f"demo data loaded into {database}: {summary}")
    if not real_hours:
        print("demo: queues are open around the clock (--real-hours keeps the centre's hours)")
    print(
        f"web: http://{_host_port(settings.web_listen)}/  "
        f"FastAGI: {settings.agi_listen}  (demo logins use the password 'demo')"
    )
    if not traffic:
        return serve(demo_settings)

    def start_traffic(service: HotlineService) -> object:
        from twisted.internet.defer import Deferred

        from simulator.demo_traffic import DemoTraffic, human_logins

        host, port = _host_port(settings.agi_listen).rsplit(":", 1)
        run = DemoTraffic(
            service.reactor,
            service.db,
            "127.0.0.1" if host in ("0.0.0.0", "") else host,
            int(port),
            settings.spool_dir / "simulated-asterisk",
            ami=demo_settings.ami if settings.ami is None else None,
        )
        service.reactor.addSystemEventTrigger("before", "shutdown", run.stop)
        print(
            "simulated calls: a caller every 15 s; simulated agents take most of them. "
            f"Sign in as {' or '.join(human_logins())} (password demo) to take calls yourself."
        )
        if settings.ami is None and demo_settings.ami is not None:
            print(f"simulated AMI on 127.0.0.1:{demo_settings.ami.port}: transfers and calls out")
        return Deferred.fromCoroutine(run.start())

    return serve(demo_settings, on_started=start_traffic)


def _free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _host_port(endpoint: str) -> str:
    parts = dict(p.split("=", 1) for p in endpoint.split(":")[2:] if "=" in p)
    port = endpoint.split(":")[1]
    return f"{parts.get('interface', '0.0.0.0')}:{port}"
