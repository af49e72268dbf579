"""The web root of one Hotline process: the guarded routes of every capability on one Klein app.

``WebRoot`` builds the web services once (templates per language, the live event feed woken
by each committed event, the gettext catalogues) and mounts route tables behind the guard of
``web.guard`` (R-7.4: sign-in, CSRF, role and right on every route). The framework's own
table (``web.routes``: signing in, static files) is always there; ``hotline.status_routes``
adds the service status page. :meth:`WebRoot.site` is what listens: the routes behind the
limits of ``web.server`` (R-7.5).

A capability plugs in with a ``RouteTable`` (see ``web.access``) added to
:func:`default_route_tables`; its templates extend ``layout.html``. Routes that act on calls
(transfer, outbound, call back) reach the process's AMI client as ``rc.web.ami`` (None when
``HOTLINE_AMI_URL`` is not set).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from klein import Klein
from klein.resource import KleinResource
from twisted.internet.interfaces import IReactorFromThreads

from admin import routes as admin_routes
from agent_desktop.routes import (
    call_form as call_form_routes,
)
from agent_desktop.routes import (
    desktop as desktop_routes,
)
from agent_desktop.routes import (
    outbound as outbound_routes,
)
from agent_desktop.routes import (
    transfer as transfer_routes,
)
from ami.client import AMIClient
from ami.device_states import DeviceStates
from ami.spy_sessions import SpySessions
from db.runner import DBRunner
from domain.clock import Clock
from hotline import status_routes
from reports import api_routes, records_routes, report_routes, schedule_routes
from supervisor import routes as supervisor_routes
from voicemail import routes as backoffice_pages
from web import routes as account_routes
from web.access import RouteTable
from web.guard import check_declared, early_page, mount
from web.i18n import LOCALE_DIR, Catalogues
from web.live_feed import EventFeed
from web.password_checks import PasswordChecks
from web.rendering import Templates
from web.request import ProcessInfo, WebServices
from web.server import GuardedSite, Network
from web.sign_in_throttle import SignInThrottle
from web.worker_threads import WorkerThreads


def default_route_tables() -> list[RouteTable]:
    """The capabilities served by ``hotline serve``; add a capability's table here."""
    return [
        status_routes.routes,
        account_routes.routes,
        desktop_routes.routes,
        call_form_routes.routes,
        backoffice_pages.routes,
        transfer_routes.routes,
        outbound_routes.routes,
        supervisor_routes.routes,
        records_routes.routes,
        api_routes.routes,
        admin_routes.routes,
        report_routes.routes,
        schedule_routes.routes,
    ]


class WebRoot:
    """The Klein application of one web process."""

    def __init__(
        self,
        db: DBRunner,
        process: ProcessInfo,
        *,
        clock: Clock,
        time_zone: str = "Europe/Prague",
        route_tables: Sequence[RouteTable] | None = None,
        locale_dir: Path = LOCALE_DIR,
        ami: AMIClient | None = None,
        recordings_dir: Path | None = None,
        sounds_dir: Path | None = None,
        password_checks: PasswordChecks | None = None,
        worker_threads: WorkerThreads | None = None,
    ) -> None:
        tables = list(default_route_tables() if route_tables is None else route_tables)
        if account_routes.routes not in tables:
            tables.insert(0, account_routes.routes)  # signing in, the layout, static files
        catalogues = Catalogues(time_zone, locale_dir)
        if password_checks is None:
            # The running process's clock is its reactor: sign-ins' scrypt checks get a
            # thread pool of their own. A test's Clock has no threads: inline.
            if IReactorFromThreads.providedBy(clock):
                password_checks = PasswordChecks.in_threads(cast(IReactorFromThreads, clock))
            else:
                password_checks = PasswordChecks.inline()
        self.password_checks = password_checks
        # Reports' PDFs are printed in threads of their own when the clock is the reactor.
        self.worker_threads = worker_threads or WorkerThreads.for_clock(
            clock, name="hotline-reports"
        )
        self.feed = EventFeed(db, clock)
        self.services = WebServices(
            db=db,
            clock=clock,
            feed=self.feed,
            catalogues=catalogues,
            templates=Templates(catalogues, [t.templates for t in tables if t.templates]),
            time_zone=time_zone,
            sign_in_throttle=SignInThrottle(clock),
            password_checks=password_checks,
            worker_threads=self.worker_threads,
            ami=ami,
            device_states=None if ami is None else DeviceStates(ami),
            spy_calls=None if ami is None else SpySessions(ami),
            recordings_dir=recordings_dir,
            sounds_dir=sounds_dir,
            static_dirs=tuple(t.static for t in tables if t.static is not None),
            process=process,
        )
        self.app = Klein()
        self.tables = tuple(tables)
        self.declared = mount(self.app, self.services, self.tables)

    def resource(self) -> KleinResource:
        """The resource to serve; refuses an app with a route that skipped the guard."""
        check_declared(self.app, self.declared)
        return self.app.resource()

    def site(
        self,
        reactor: Any,
        *,
        trusted_proxies: Sequence[Network | str] = (),
        max_connections: int | None = None,
        **limits: Any,
    ) -> GuardedSite:
        """The site to listen with (``web.server``: bounded bodies, deadlines, connection
        caps, security headers); ``reactor`` times its deadlines. Refusals sent before a route
        runs are pages in the browser's language."""
        return GuardedSite(
            self.resource(),
            reactor=reactor,
            early_page=lambda headers, path, error: early_page(self.services, headers, path, error),
            trusted_proxies=trusted_proxies,
            max_connections=max_connections,
            **limits,
        )

    def stop(self) -> None:
        """Close the live streams' feed, the password checks' and the worker threads (the
        process is stopping)."""
        self.feed.stop()
        self.password_checks.stop()
        self.worker_threads.stop()

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
