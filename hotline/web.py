"""The web root of one Hotline process: the guarded routes of every capability on one Klein app.

``WebRoot`` builds the web services once (templates per language, the live event feed that
polls the events table, the gettext catalogues) and mounts route tables behind the guard of
``agent_desktop.guard`` (R-7.4: sign-in, CSRF, role and right on every route). Its own routes
are the service status page ``/status`` and ``/healthz`` (both public: an admin or a monitor
checks them without an account, and they show no personal data) and ``/static/<file>``.

A capability plugs in with a ``RouteTable`` (see ``agent_desktop.access``) added to
:func:`default_route_tables`; its templates extend ``layout.html``. Routes that act on calls
(transfer, outbound) reach the process's AMI client as ``rc.web.ami`` (None when
``HOTLINE_AMI_URL`` is not set; see :class:`HotlineWebServices`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from klein import Klein
from klein.resource import KleinResource
from sqlalchemy.exc import SQLAlchemyError
from twisted.logger import Logger

import hotline
from agent_desktop import desktop_routes
from agent_desktop.access import RouteTable, public
from agent_desktop.guard import check_declared, mount
from agent_desktop.i18n import LOCALE_DIR, Catalogues
from agent_desktop.live_feed import EventFeed
from agent_desktop.rendering import Templates
from agent_desktop.sign_in_throttle import SignInThrottle
from agent_desktop.web_errors import NotFoundError
from agent_desktop.web_request import RequestContext, WebServices
from ami.client import AMIClient
from db.runner import DBRunner
from domain.clock import Clock
from hotline.status import CentreCounts, centre_counts

_log = Logger()
TEMPLATES = Path(__file__).parent / "templates"
_STATIC_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,80}\.(css|js|svg|png|ico)$")
_CONTENT_TYPES = {
    "css": b"text/css; charset=utf-8",
    "js": b"text/javascript; charset=utf-8",
    "svg": b"image/svg+xml",
    "png": b"image/png",
    "ico": b"image/x-icon",
}


@dataclass
class ListenerState:
    """What the composition root started, for the status page."""

    agi_listen: str = ""
    web_listen: str = ""
    ami: str = "not configured"
    extra: dict[str, str] = field(default_factory=dict)


def default_route_tables() -> list[RouteTable]:
    """The capabilities served by ``hotline serve``; add a capability's table here."""
    from agent_desktop import call_form_routes, outbound_routes, transfer_routes
    from supervisor import routes as supervisor_routes
    from voicemail import pages as backoffice_pages

    return [
        desktop_routes.routes,
        call_form_routes.routes,
        backoffice_pages.routes,
        transfer_routes.routes,
        outbound_routes.routes,
        supervisor_routes.routes,
    ]


def status_routes(listeners: ListenerState, static_dirs: Sequence[Path]) -> RouteTable:
    routes = RouteTable("status")

    async def counts(rc: RequestContext) -> tuple[CentreCounts | None, str | None]:
        try:
            return await rc.db(centre_counts), None
        except SQLAlchemyError as exc:
            _log.warn("status: database unavailable: {error}", error=str(exc).splitlines()[0])
            return None, "The database is not reachable."

    def telephony(rc: RequestContext) -> str:
        """The AMI connection as an admin reads it: transfers and outbound calls need it."""
        ami = getattr(rc.web, "ami", None)  # HotlineWebServices carries it
        return "not configured" if ami is None else str(ami.state.value)

    probe = public("monitoring probes it", anonymous=True)

    @routes.route("/healthz", methods=["GET"], access=probe)
    async def healthz(rc: RequestContext) -> bytes:
        found, error = await counts(rc)
        rc.request.setHeader(b"Content-Type", b"application/json")
        rc.request.setHeader(b"Cache-Control", b"no-store")
        if error or found is None:
            rc.request.setResponseCode(503)
            return json.dumps({"status": "unavailable", "error": error}).encode()
        body = {
            "status": "ok",
            "version": hotline.__version__,
            "database": asdict(found),
            "listeners": asdict(listeners),
            "telephony": telephony(rc),
        }
        return json.dumps(body).encode()

    @routes.route("/status", methods=["GET"], access=public("admins check the service"))
    async def status_page(rc: RequestContext) -> bytes:
        found, error = await counts(rc)
        return rc.render(
            "status.html",
            status=503 if error else 200,
            version=hotline.__version__,
            counts=found,
            error=error,
            listeners=listeners,
            telephony=telephony(rc),
        )

    assets = public("style sheet and scripts", anonymous=True)

    @routes.route("/static/<name>", methods=["GET"], access=assets)
    async def static_file(rc: RequestContext, name: str) -> bytes:
        if _STATIC_NAME.match(name):
            for folder in static_dirs:
                path = folder / name
                if path.is_file():
                    rc.request.setHeader(b"Content-Type", _CONTENT_TYPES[name.rsplit(".", 1)[1]])
                    rc.request.setHeader(b"Cache-Control", b"public, max-age=300")
                    return path.read_bytes()
        raise NotFoundError("The page %(path)s does not exist.", {"path": f"/static/{name}"})

    return routes


@dataclass(frozen=True)
class HotlineWebServices(WebServices):
    """The web ports plus the AMI client (None without ``HOTLINE_AMI_URL``): the transfer
    and outbound dialogs act on calls through it (R-1.12, R-1.13)."""

    ami: AMIClient | None = None
    recordings_dir: Path | None = None  # what the back office plays (HOTLINE_RECORDINGS_DIR)


class WebRoot:
    """The Klein application of one web process."""

    def __init__(
        self,
        db: DBRunner,
        listeners: ListenerState,
        *,
        clock: Clock,
        time_zone: str = "Europe/Prague",
        route_tables: Sequence[RouteTable] | None = None,
        locale_dir: Path = LOCALE_DIR,
        ami: AMIClient | None = None,
        recordings_dir: Path | None = None,
    ) -> None:
        tables = list(default_route_tables() if route_tables is None else route_tables)
        static_dirs = [t.static for t in tables if t.static is not None]
        tables.insert(0, status_routes(listeners, static_dirs))
        catalogues = Catalogues(time_zone, locale_dir)
        self.feed = EventFeed(db, clock)
        self.services = HotlineWebServices(
            ami=ami,
            recordings_dir=recordings_dir,
            db=db,
            clock=clock,
            feed=self.feed,
            catalogues=catalogues,
            templates=Templates(catalogues, [t.templates for t in tables if t.templates]),
            time_zone=time_zone,
            sign_in_throttle=SignInThrottle(clock),
        )
        self.app = Klein()
        self.tables = tuple(tables)
        self.declared = mount(self.app, self.services, self.tables)

    def resource(self) -> KleinResource:
        """The resource to serve; refuses an app with a route that skipped the guard."""
        check_declared(self.app, self.declared)
        return self.app.resource()

    def stop(self) -> None:
        """Close the live streams' feed (the process is stopping)."""
        self.feed.stop()

    def describe_routes(self) -> list[dict[str, Any]]:
        """Every route with its access rule, for docs and the route-table test."""
        return [
            {
                "path": route.path,
                "methods": route.methods,
                "endpoint": table.endpoint(route),
                "access": route.access,
            }
            for table in self.tables
            for route in table.routes
        ]
