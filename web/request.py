"""What a route handler gets: the request, the signed-in user, the services, and helpers.

A handler is ``async def handler(rc: RequestContext, **url_arguments) -> bytes``. It reads
``rc.user`` (a ``web_sessions.SignedInUser``; None only on public routes), runs database
work with ``await rc.db(fn, *args)``, reads fields with ``rc.form()`` / ``rc.query()`` and
answers with ``rc.render(template, **context)``, ``rc.redirect(url)`` or ``rc.json(data)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from twisted.internet.defer import Deferred
from twisted.web.server import Request

from db.runner import DBRunner
from domain.centre import DEFAULT_COUNTRY_PREFIX
from domain.clock import Clock
from web.badge import Badge, badge_for
from web.errors import NotSignedInError
from web.forms import FormData
from web.i18n import Catalogues, Language
from web.live_feed import EventFeed
from web.password_checks import PasswordChecks
from web.rendering import Templates
from web.sessions import SignedInUser, unlocked_since
from web.sign_in_throttle import SignInThrottle
from web.worker_threads import WorkerThreads

T = TypeVar("T")

SESSION_COOKIE = b"hotline_session"
# Double-submit token of the sign-in form, which has no session yet (login CSRF).
PRESIGN_COOKIE = b"hotline_presign"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


@dataclass
class ProcessInfo:
    """What the composition root started, for the status page (filled in as it starts)."""

    version: str = ""
    agi_listen: str = ""
    web_listen: str = ""
    ami: str = "not configured"
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WebServices:
    """The ports of the web process, built once by ``hotline.web.WebRoot``.

    ``ami``: the process's AMI client (``ami.AMIClient``), None without ``HOTLINE_AMI_URL``:
    transfers, outbound calls and call backs act through it (R-1.12, R-1.13, R-3.3).
    ``recordings_dir``: where the recordings are (``HOTLINE_RECORDINGS_DIR``); None: nothing
    can be played. ``static_dirs``: the folders ``/static/<name>`` serves from.
    """

    db: DBRunner
    clock: Clock
    feed: EventFeed
    catalogues: Catalogues
    templates: Templates
    time_zone: str
    sign_in_throttle: SignInThrottle | None = None  # WebRoot always gives one
    password_checks: PasswordChecks | None = None  # WebRoot always gives one
    # Heavy work off the reactor's thread, a few at a time (a report's PDF); WebRoot always
    # gives one.
    worker_threads: WorkerThreads | None = None
    ami: Any = None
    device_states: Any = None  # ami.device_states.DeviceStates of ``ami``
    spy_calls: Any = None  # ami.spy_sessions.SpySessions of ``ami``: running spy calls
    recordings_dir: Path | None = None
    sounds_dir: Path | None = None  # Asterisk's sounds (HOTLINE_SOUNDS_DIR): the prompts
    static_dirs: tuple[Path, ...] = ()
    process: ProcessInfo = field(default_factory=ProcessInfo)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), UTC)


def wants_html(request: Request) -> bool:
    """A page load (the browser asks for HTML), not fetch or EventSource."""
    accept = (request.getHeader(b"accept") or b"").decode("latin-1").lower()
    return "text/html" in accept


def header(request: Request, name: str) -> str | None:
    value = request.getHeader(name.encode("ascii"))
    return None if value is None else value.decode("latin-1")


def local_path(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this site (no open redirect to another site), else default."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return default
    return target


class RequestContext:
    """One request as a route handler sees it."""

    def __init__(
        self,
        request: Request,
        web: WebServices,
        language: Language,
        user: SignedInUser | None,
    ) -> None:
        self.request = request
        self.web = web
        self.lang = language
        self.user = user
        self._form: FormData | None = None
        self.presign_token: str | None = None
        # The route's read done with the user's lookup (``web.guard``): (fn, its result).
        self._read_with_user: tuple[Callable[..., Any], Any] | None = None

    # ------------------------------------------------------------------ reading

    @property
    def signed_in(self) -> SignedInUser:
        """The user; only public routes can run without one."""
        if self.user is None:
            raise NotSignedInError("Please sign in first.")
        return self.user

    @property
    def wants_html(self) -> bool:
        return wants_html(self.request)

    @property
    def path(self) -> str:
        return self.request.uri.decode("latin-1")

    def header(self, name: str) -> str | None:
        return header(self.request, name)

    def now(self) -> datetime:
        return self.web.now()

    def form(self) -> FormData:
        """Fields of the request body (and the query string: Twisted merges them)."""
        if self._form is None:
            self._form = FormData.from_twisted(self.request.args)
        return self._form

    def query(self) -> FormData:
        return self.form()

    def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Deferred[T]:
        """Run ``fn(session, *args)`` in one transaction (DBRunner); errors map to 503/500."""
        return self.web.db.run(fn, *args, **kwargs)

    def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Deferred[T]:
        """Run ``fn(session, *args)``, which only reads, in one transaction that takes no
        write lock on SQLite (``DBRunner.read``, issue 12)."""
        return self.web.db.read(fn, *args, **kwargs)

    def read_with_user_done(self, fn: Callable[..., Any], result: Any) -> None:
        """``web.guard``: ``fn`` ran in the transaction that looked the user up."""
        self._read_with_user = (fn, result)

    async def read_with_user(self, fn: Callable[..., T]) -> T:
        """``fn(connection, user, now)``'s result: the one the guard read with the user (the
        route's ``read_with_user``: one transaction per page, issue 12), else a read of its
        own (another route's page, or a refusal shown after a change)."""
        done = self._read_with_user
        if done is not None and done[0] is fn:
            result: T = done[1]
            return result
        return await self.web.db.read_rows(fn, self.signed_in, self.now())

    # ------------------------------------------------------------------ answering

    def badge(self) -> Badge | None:
        user = self.user
        if user is None:
            return None
        desk = user.desk
        return badge_for(
            call_centre_user=user.call_centre_user,
            state=desk.state if desk else None,
            activity=desk.activity if desk else None,
            pause_name=desk.pause_name if desk else None,
            gettext=self.lang.gettext,
        )

    def render(self, template: str, *, status: int = 200, **context: Any) -> bytes:
        """A page in the user's language with the layout's context (user, badge, CSRF)."""
        self.request.setResponseCode(status)
        self.request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        self.request.setHeader(b"Cache-Control", b"no-store")
        base: dict[str, Any] = {
            "user": self.user,
            "badge": self.badge(),
            "csrf_token": self.user.csrf_token if self.user else (self.presign_token or ""),
            "last_event_id": self.user.newest_event_id if self.user else 0,
            "path": self.path,
            "country_prefix": self.user.country_prefix if self.user else DEFAULT_COUNTRY_PREFIX,
        }
        base.update(context)
        return self.web.templates.render(template, self.lang, **base).encode("utf-8")

    def redirect(self, location: str) -> bytes:
        """303 See Other: after a form POST the browser GETs ``location``."""
        self.request.setResponseCode(303)
        self.request.setHeader(b"Location", local_path(location).encode("utf-8"))
        return b""

    def json(self, data: Any, *, status: int = 200) -> bytes:
        self.request.setResponseCode(status)
        self.request.setHeader(b"Content-Type", b"application/json")
        self.request.setHeader(b"Cache-Control", b"no-store")
        return json.dumps(data, ensure_ascii=False).encode("utf-8")


def set_cookie(
    request: Request, name: bytes, value: str, *, max_age_s: int, path: bytes = b"/"
) -> None:
    """An HttpOnly, SameSite=Lax cookie; Secure when the request came over TLS."""
    request.addCookie(
        name,
        value.encode("ascii"),
        path=path,
        max_age=str(max_age_s).encode("ascii"),
        httpOnly=True,
        sameSite="lax",
        secure=bool(request.isSecure()),
    )


def clear_cookie(request: Request, name: bytes, *, path: bytes = b"/") -> None:
    request.addCookie(
        name,
        b"",
        path=path,
        max_age=b"0",
        expires=b"Thu, 01 Jan 1970 00:00:00 GMT",
        httpOnly=True,
        sameSite="lax",
        secure=bool(request.isSecure()),
    )


async def forgive_if_unlocked(
    rc: RequestContext, login: str, address: str | None = None, *, at_once: bool = False
) -> int | None:
    """An admin's unlock of ``login`` made in another web process (read from the audit
    trail, ``web.sign_in_throttle``) forgives here too the misses held back before it. The
    wait left for a sign-in from ``address`` (from any address, when None); None when the
    database was not asked (asked lately, or nothing held back;
    :meth:`web.sign_in_throttle.SignInThrottle.unlock_check`)."""
    throttle = rc.web.sign_in_throttle
    since = throttle.unlock_check(login, address, at_once=at_once) if throttle else None
    if throttle is None or since is None:
        return None
    unlocked = await rc.db(unlocked_since, login, datetime.fromtimestamp(since, UTC))
    if unlocked is not None:
        throttle.forgive_until(login, unlocked.timestamp())
    if address is None:
        return throttle.held_back_s(login)
    return throttle.retry_after_s(login, address)
