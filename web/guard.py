"""The one place that enforces sign-in, CSRF, roles and rights on every route (R-7.4).

:func:`mount` puts the routes of some ``RouteTable`` s on a Klein application, each behind
the same checks, in this order:

1. a state-changing request (not GET/HEAD/OPTIONS) from another site is refused (Origin,
   Sec-Fetch-Site) with 403;
2. the session cookie is looked up (``web_sessions.look_up_user``); a stale cookie is cleared;
   a route that declares ``read_with_user`` has its page's reads done in the same
   transaction, for a user who passes step 5 (one transaction per page, issue 12);
3. a non-public route without a user: a page load is redirected to the sign-in page,
   fetch and Server-Sent Events get 401;
4. a state-changing request needs the session's CSRF token (form field ``csrf_token`` or
   header ``X-CSRF-Token``); the public sign-in form uses a double-submit cookie; else 403;
5. the route's ``Access``: role, call-centre user, right to the queue/box in the URL; 403.

Then the handler runs; a refusal of the rules (``domain.refusals``, answered by its kind
through :data:`REFUSAL_STATUS`) and the web's own ``web.errors.HTTPError`` s become clear
pages (JSON for fetch), a
database that is down becomes 503, anything unexpected is logged and becomes a 500 page:
never a traceback in the browser. :func:`check_declared` refuses a Klein application with a
route that did not come through here.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from klein import Klein
from twisted.internet.defer import CancelledError, Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http_headers import Headers
from twisted.web.server import Request
from werkzeug.exceptions import MethodNotAllowed, NotFound

from db.errors import UNREACHABLE
from domain.refusals import (
    BadInputError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RefusedError,
)
from domain.texts import N_
from web.access import Access, Route, RouteTable, all_routes
from web.errors import (
    DATABASE_DOWN,
    FORGED,
    NO_RIGHT,
    SIGN_IN_FIRST,
    DatabaseDownError,
    ForgedError,
    HTTPError,
    MethodNotAllowedError,
    NotSignedInError,
)
from web.i18n import Language, negotiate
from web.request import (
    CSRF_FIELD,
    CSRF_HEADER,
    PRESIGN_COOKIE,
    SESSION_COOKIE,
    RequestContext,
    WebServices,
    clear_cookie,
    header,
    wants_html,
)
from web.sessions import SignedInUser, look_up_user, token_hash, touch_session

_log = Logger()

SIGN_IN_PATH = "/sign-in"
PAGE_NOT_FOUND = N_("The page %(path)s does not exist.")
METHOD_NOT_ALLOWED = N_("This page cannot be used that way.")
UNEXPECTED = N_("An unexpected error happened. It has been logged; please try again.")
# Every refusal of the rules is answered here, by its kind (domain.refusals): the status and
# the title of the page. A route catches a refusal only to show it elsewhere (in a dialog).
REFUSAL_STATUS: dict[type[RefusedError], tuple[int, str]] = {
    BadInputError: (400, N_("The request was not understood")),
    ForbiddenError: (403, N_("Not allowed")),
    NotFoundError: (404, N_("Not found")),
    ConflictError: (409, N_("Not possible now")),
}


class UndeclaredRouteError(Exception):
    """The Klein application holds a route without an access declaration."""


def mount(app: Klein, web: WebServices, tables: Sequence[RouteTable]) -> frozenset[str]:
    """Add every route of ``tables`` to ``app`` behind the guard; the endpoints it added."""
    endpoints: set[str] = set()
    for table, route in all_routes(tables):
        _check_arguments(route)
        endpoint = table.endpoint(route)
        if endpoint in endpoints:
            raise ValueError(f"endpoint {endpoint} is declared twice")
        endpoints.add(endpoint)
        app.route(route.path, methods=list(route.methods), endpoint=endpoint)(_guarded(web, route))

    @app.handle_errors(NotFound)
    def not_found(request: Request, failure: Failure) -> Deferred[bytes]:
        path = request.path.decode("latin-1", "replace")
        error = NotFoundError(PAGE_NOT_FOUND, {"path": path[:200]})
        return Deferred.fromCoroutine(_unrouted(web, request, error))

    @app.handle_errors(MethodNotAllowed)
    def not_allowed(request: Request, failure: Failure) -> Deferred[bytes]:
        allowed = getattr(failure.value, "valid_methods", None) or []
        request.setHeader(b"Allow", ", ".join(allowed).encode("ascii"))
        error = MethodNotAllowedError(METHOD_NOT_ALLOWED)
        return Deferred.fromCoroutine(_unrouted(web, request, error))

    return frozenset(endpoints)


def check_declared(app: Klein, declared: frozenset[str]) -> None:
    """Raise UndeclaredRouteError when ``app`` routes something not mounted by :func:`mount`."""
    stray = sorted(
        f"{rule.rule} ({rule.endpoint})"
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in declared
    )
    if stray:
        raise UndeclaredRouteError(
            "routes without an access declaration (use a RouteTable): " + ", ".join(stray)
        )


def _check_arguments(route: Route) -> None:
    for arg in (route.access.queue_arg, route.access.box_arg):
        if arg and f":{arg}>" not in route.path and f"<{arg}>" not in route.path:
            raise ValueError(f"route {route.path} checks a right on {arg!r}, not in its URL")


def _guarded(web: WebServices, route: Route) -> Callable[..., Any]:
    async def serve(request: Request, **arguments: Any) -> bytes:
        language = web.catalogues.language(negotiate(header(request, "accept-language")))
        user: SignedInUser | None = None
        page: tuple[Any] | None = None
        try:
            if route.changes_state:
                _refuse_foreign(request)
            read = _page_read(route, arguments)
            if not route.access.anonymous:
                user, page = await _current_user(web, request, read)
            if user is not None and user.language:
                # issue 16: the person's saved choice wins, else the browser's.
                language = web.catalogues.language(user.language)
            rc = RequestContext(request, web, language, user)
            if user is not None and page is not None and route.read_with_user is not None:
                rc.read_with_user_done(route.read_with_user, page[0])
            if not route.access.public and user is None:
                raise NotSignedInError(SIGN_IN_FIRST)
            if route.changes_state:
                _check_csrf(rc, route.access)
            if user is not None:
                _check_access(route.access, user, arguments)
            result = await route.handler(rc, **arguments)
            return result.encode("utf-8") if isinstance(result, str) else result
        except CancelledError:
            raise  # the browser went away (Klein cancels); nothing to answer
        except NotSignedInError as error:
            if wants_html(request):
                return _to_sign_in(request)
            return error_response(web, request, language, None, error)
        except (HTTPError, RefusedError) as error:
            return error_response(web, request, language, user, error)
        except UNREACHABLE as exc:
            _log.warn(
                "{path}: database unavailable: {e}",
                path=route.path,
                e=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            )
            down = DatabaseDownError(DATABASE_DOWN)
            return error_response(web, request, language, user, down)
        except Exception:
            _log.failure("{method} {path} failed", method=route.methods, path=route.path)
            return error_response(web, request, language, user, HTTPError(UNEXPECTED))

    serve.__name__ = f"guarded_{route.name}"
    return serve


async def _unrouted(web: WebServices, request: Request, error: HTTPError | RefusedError) -> bytes:
    """The error page for a URL no route takes, with the header of whoever asks."""
    language = web.catalogues.language(negotiate(header(request, "accept-language")))
    try:
        user, _ = await _current_user(web, request)
    except Exception:
        user = None  # the database is down: the page without the user's header
    if user is not None:
        language = web.catalogues.language(user.language)
    return error_response(web, request, language, user, error)


PageRead = Callable[[Any, SignedInUser, Any], tuple[Any] | None]


def _page_read(route: Route, arguments: Mapping[str, Any]) -> PageRead | None:
    """The route's :attr:`~web.access.Route.read_with_user`, run only for a user who may use
    the route (step 5 above, checked again after the lookup): its result in a 1-tuple, or
    None when it did not run."""
    fn = route.read_with_user
    if fn is None:
        return None

    def read(session: Any, user: SignedInUser, now: Any) -> tuple[Any] | None:
        if not _allowed(route.access, user, arguments):
            return None
        return (fn(session, user, now),)

    return read


async def _current_user(
    web: WebServices, request: Request, then: PageRead | None = None
) -> tuple[SignedInUser | None, tuple[Any] | None]:
    """The signed-in user (None: none), and what ``then`` read in the same transaction."""
    cookie = request.getCookie(SESSION_COOKIE)
    if not cookie:
        return None, None
    try:
        token = cookie.decode("ascii")
    except UnicodeDecodeError:
        token = ""
    user = page = None
    if token:
        found = await web.db.read_rows(look_up_user, token_hash(token), web.now(), then)
        user, page = found.user, found.page
        if found.write_due is not None and not await web.db.run(
            touch_session, found.write_due, web.now()
        ):
            user = page = None
    if user is None:
        clear_cookie(request, SESSION_COOKIE)
    return user, page


def _refuse_foreign(request: Request) -> None:
    """A state-changing request must come from a page of this site (R-7.4)."""
    if (header(request, "sec-fetch-site") or "").lower() == "cross-site":
        raise ForgedError(FORGED)
    origin = header(request, "origin")
    if origin is None:
        return  # old browsers and non-browser clients: the CSRF token still protects
    # A reverse proxy may rewrite Host and pass the browser's in X-Forwarded-Host: believed
    # only from a trusted proxy (HOTLINE_TRUSTED_PROXIES, web.server), as X-Forwarded-For is.
    names = ("host", "x-forwarded-host") if _from_trusted_proxy(request) else ("host",)
    hosts = {(header(request, name) or "").lower() for name in names}
    if origin == "null" or urlsplit(origin).netloc.lower() not in hosts - {""}:
        raise ForgedError(FORGED)


def _from_trusted_proxy(request: Request) -> bool:
    trusted = getattr(request, "from_trusted_proxy", None)
    return bool(trusted()) if callable(trusted) else False


def _check_csrf(rc: RequestContext, access: Access) -> None:
    sent = rc.header(CSRF_HEADER) or rc.form().raw(CSRF_FIELD) or ""
    if access.public:
        # The sign-in form: the hidden field must repeat the cookie set with the form.
        cookie = rc.request.getCookie(PRESIGN_COOKIE)
        expected = cookie.decode("ascii", "replace") if cookie else ""
    else:
        expected = rc.signed_in.csrf_token
    if not expected or not hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8")):
        raise ForgedError(FORGED)


def _check_access(access: Access, user: SignedInUser, arguments: Mapping[str, Any]) -> None:
    if not _allowed(access, user, arguments):
        raise ForbiddenError(NO_RIGHT)


def _allowed(access: Access, user: SignedInUser, arguments: Mapping[str, Any]) -> bool:
    if access.roles and user.role not in access.roles:
        return False
    if access.call_centre and not user.call_centre_user:
        return False
    if access.queue_arg and arguments.get(access.queue_arg) not in user.queue_ids:
        return False
    return not (access.box_arg and arguments.get(access.box_arg) not in user.box_ids)


def _to_sign_in(request: Request) -> bytes:
    target = SIGN_IN_PATH
    if request.method in (b"GET", b"HEAD"):
        here = request.uri.decode("latin-1")
        if here not in ("/", SIGN_IN_PATH):
            target += "?next=" + quote(here, safe="")
    request.setResponseCode(303)
    request.setHeader(b"Location", target.encode("ascii"))
    request.setHeader(b"Cache-Control", b"no-store")
    return b""


def refusal_status(error: RefusedError) -> tuple[int, str]:
    """(HTTP status, page title) of a refusal, by the nearest kind it is."""
    for kind in type(error).__mro__:
        if kind in REFUSAL_STATUS:
            return REFUSAL_STATUS[kind]
    return 409, N_("Not possible now")


def early_page(
    web: WebServices, headers: Headers, path: str, error: HTTPError
) -> tuple[bytes, bytes]:
    """(content type, body) of an error answered before any route ran (``web.server``: a
    body too large, a request too slow): a page in the browser's language for a page load,
    JSON for fetch, with no user (no session was looked up)."""
    accept = b",".join(headers.getRawHeaders(b"accept", [])).decode("latin-1").lower()
    wanted = b",".join(headers.getRawHeaders(b"accept-language", [])).decode("latin-1")
    language = web.catalogues.language(negotiate(wanted or None))
    message = language.refusal(error.message, error.params)
    if "text/html" not in accept:
        body = json.dumps({"error": message, "status": error.status}, ensure_ascii=False)
        return b"application/json", body.encode("utf-8")
    page = web.templates.render(
        "error.html",
        language,
        user=None,
        badge=None,
        csrf_token="",
        last_event_id=0,
        path=path,
        title=language.gettext(error.title),
        message=message,
    )
    return b"text/html; charset=utf-8", page.encode("utf-8")


def error_response(
    web: WebServices,
    request: Request,
    language: Language,
    user: SignedInUser | None,
    error: HTTPError | RefusedError,
) -> bytes:
    """The error as a page (a browser) or JSON (fetch, EventSource)."""
    if isinstance(error, RefusedError):
        status, title_id = refusal_status(error)
    else:
        status, title_id = error.status, error.title
    message = language.refusal(error.message, error.params)
    title = language.gettext(title_id)
    if status == 401:
        # RFC 9110 wants a challenge with 401; a cookie session has no standard scheme.
        request.setHeader(b"WWW-Authenticate", b'Cookie realm="hotline"')
    if not wants_html(request):
        request.setResponseCode(status)
        request.setHeader(b"Content-Type", b"application/json")
        request.setHeader(b"Cache-Control", b"no-store")
        return json.dumps({"error": message, "status": status}, ensure_ascii=False).encode()
    rc = RequestContext(request, web, language, user)
    try:
        return rc.render("error.html", status=status, title=title, message=message)
    except Exception:
        _log.failure("the error page itself failed")
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return f"{title}\n\n{message}\n".encode()
