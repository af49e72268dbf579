"""Every route declares who may use it; ``web.guard`` enforces it (R-7.4).

A route is added to a :class:`RouteTable` with a required ``access``::

    routes = RouteTable("call_form", templates=Path(__file__).parent / "templates")

    @routes.route("/call-form/<int:call_id>", methods=["GET"], access=CALL_CENTRE)
    async def show_form(rc: RequestContext, call_id: int) -> bytes:
        ...

There is no way to add a route without an access rule, and ``hotline.web.WebRoot`` refuses
to start when its Klein application holds a route that did not come from a table
(``guard.UndeclaredRouteError``). State-changing methods (anything but GET, HEAD, OPTIONS)
always need the session's CSRF token; a route cannot opt out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domain.enums import Role

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Access:
    """Who may use a route.

    ``public``: anyone, without signing in (say why in ``why_public``); ``anonymous`` public
    routes (static files, health probes) do not even look at the session. Otherwise the user must
    be signed in and, when given: have one of ``roles``; be a call-centre user (a right to at
    least one queue, R-2.3); have the right to the queue whose id is the URL argument
    ``queue_arg``, or to the voicemail box in ``box_arg`` (R-3.2).
    """

    public: bool = False
    why_public: str = ""
    anonymous: bool = False
    roles: frozenset[Role] = frozenset()
    call_centre: bool = False
    queue_arg: str | None = None
    box_arg: str | None = None

    def __post_init__(self) -> None:
        if self.public and (self.roles or self.call_centre or self.queue_arg or self.box_arg):
            raise ValueError("a public route cannot also require a role or a right")
        if self.public and not self.why_public:
            raise ValueError("say why a route is public")
        if self.anonymous and not self.public:
            raise ValueError("only a public route can skip the session")


def public(why: str, *, anonymous: bool = False) -> Access:
    """Anyone may use the route, signed in or not; ``anonymous``: without a session lookup."""
    return Access(public=True, why_public=why, anonymous=anonymous)


SIGNED_IN = Access()
CALL_CENTRE = Access(call_centre=True)


def roles(*allowed: Role) -> Access:
    """Signed in with one of ``allowed`` roles."""
    if not allowed:
        raise ValueError("name at least one role")
    return Access(roles=frozenset(allowed))


def queue_right(arg: str, *allowed: Role) -> Access:
    """Signed in with the right to the queue named by URL argument ``arg``."""
    return Access(roles=frozenset(allowed), queue_arg=arg)


def box_right(arg: str, *allowed: Role) -> Access:
    """Signed in with the right to the voicemail box named by URL argument ``arg``."""
    return Access(roles=frozenset(allowed), box_arg=arg)


# A route handler: ``async def handler(rc: RequestContext, **url_arguments) -> bytes``.
Handler = Callable[..., Awaitable[bytes | str]]


@dataclass(frozen=True)
class Route:
    path: str
    methods: tuple[str, ...]
    access: Access
    handler: Handler
    name: str
    # ``fn(connection, user, now)``: the page's reads (``db.prepared``; a ``Connection``, no
    # ORM session: ``DBRunner.read_rows``), run by the guard in the transaction that
    # looks the user up, once they may use the route (one transaction per page, issue 12);
    # the handler gets the result from ``RequestContext.read_with_user(fn)``.
    read_with_user: Callable[..., Any] | None = None

    @property
    def changes_state(self) -> bool:
        return not set(self.methods) <= SAFE_METHODS


@dataclass
class RouteTable:
    """The routes of one capability, with its template and static-file folders."""

    name: str
    templates: Path | None = None
    static: Path | None = None
    routes: list[Route] = field(default_factory=list)

    def route(
        self,
        path: str,
        *,
        methods: Sequence[str],
        access: Access,
        name: str | None = None,
        read_with_user: Callable[..., Any] | None = None,
    ) -> Callable[[Handler], Handler]:
        """Declare a route; ``access`` is required (keyword-only, no default).
        ``read_with_user``: see :attr:`Route.read_with_user`; only for a route that reads
        (a change reads after it writes)."""
        if not isinstance(access, Access):
            raise TypeError("access must be an Access rule")
        if not methods:
            raise ValueError("name the HTTP methods of the route")
        upper = tuple(m.upper() for m in methods)
        if read_with_user is not None and (access.public or not set(upper) <= SAFE_METHODS):
            raise ValueError("only a signed-in route that changes nothing reads with the user")

        def declare(handler: Handler) -> Handler:
            route_name = name or handler.__name__
            if any(r.name == route_name for r in self.routes):
                raise ValueError(f"{self.name}: route name {route_name!r} is used twice")
            self.routes.append(Route(path, upper, access, handler, route_name, read_with_user))
            return handler

        return declare

    def endpoint(self, route: Route) -> str:
        return f"{self.name}.{route.name}"


def all_routes(tables: Iterable[RouteTable]) -> list[tuple[RouteTable, Route]]:
    return [(table, route) for table in tables for route in table.routes]
