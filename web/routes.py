"""The framework's own pages: the entry point, signing in and out (R-7.4), the start page
of people who take no calls, the user's language (R-2.17) and the static files.

Signing in checks the password (scrypt) between two short transactions, outside both and
in a thread of its own, a few sign-ins at a time (``web.password_checks``; more than it
queues are answered 503, try again: R-7.5, the calls keep the database's threads). It
rotates the session token and is throttled (``web.sign_in_throttle``: a wait that grows
with the misses of one login at one address, and per-minute limits per address and for
the whole process); the refusal says how long to wait. The sign-in form carries a
double-submit token because it has no session yet (login CSRF). A call-centre user starts
on the agent desktop, back-office staff on the back office, anyone else on the start page.
Signing out leaves the phone seat too, unless a call holds the person there, and the
sign-in page then says which.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from domain.enums import Role
from domain.refusals import NotFoundError
from domain.texts import N_
from voicemail.store import work
from web import sessions as web_sessions
from web.access import SIGNED_IN, RouteTable, public
from web.i18n import LANGUAGES
from web.password_checks import PasswordChecks, SignInsBusyError
from web.request import (
    PRESIGN_COOKIE,
    SESSION_COOKIE,
    RequestContext,
    clear_cookie,
    forgive_if_unlocked,
    local_path,
    set_cookie,
)

HERE = Path(__file__).resolve().parent
routes = RouteTable("account", templates=HERE / "templates", static=HERE / "static")

DESKTOP = "/desktop"  # the agent desktop (agent_desktop.routes.desktop)
HOME = "/home"
LIVE_VIEW = "/supervisor"
ADMINISTRATION = "/admin"
BACKOFFICE = "/backoffice"  # the back office (voicemail.routes)
WRONG_PASSWORD = N_("Wrong login or password.")
TOO_MANY_FAILURES = N_("Too many failed sign-ins. Try again in %(minutes)s min.")
TOO_MANY_FAILURES_S = N_("Too many failed sign-ins. Try again in %(seconds)s s.")
BUSY_SIGNING_IN = N_("Many people are signing in right now. Try again in a few seconds.")
BUSY_RETRY_AFTER_S = 2
PAGE_NOT_FOUND = N_("The page %(path)s does not exist.")
PRESIGN_MAX_AGE_S = 2 * 3600
# What the sign-in page says after signing out (?signed_out=...), by what became of the seat.
SIGNED_OUT = {
    "yes": N_("You have signed out."),
    "seat_left": N_("You have signed out and left your phone seat."),
    "seat_kept": N_(
        "You have signed out. Your phone seat stays yours while a call needs you: sign in"
        " again to finish it."
    ),
}
_STATIC_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,80}\.(css|js|svg|png|ico)$")
_CONTENT_TYPES = {
    "css": b"text/css; charset=utf-8",
    "js": b"text/javascript; charset=utf-8",
    "svg": b"image/svg+xml",
    "png": b"image/png",
    "ico": b"image/x-icon",
}


def start_page(call_centre_user: bool, back_office_user: bool, role: Role = Role.AGENT) -> str:
    """Where a person lands: agents on the desktop; a supervisor who takes no calls on the
    live view and an admin who takes none on the administration (their work is there);
    back-office staff without a queue on the back office (issue 16: not on an empty start
    page); others home."""
    if call_centre_user:
        return DESKTOP
    if role is Role.SUPERVISOR:
        return LIVE_VIEW
    if role is Role.ADMIN:
        return ADMINISTRATION
    return BACKOFFICE if back_office_user else HOME


def _start_page_of(user: web_sessions.SignedInUser) -> str:
    return start_page(user.call_centre_user, bool(user.box_ids), user.role)


# --------------------------------------------------------------------------- signing in


@routes.route("/", methods=["GET"], access=public("the entry point sends people on"))
async def entry(rc: RequestContext) -> bytes:
    if rc.user is None:
        return rc.redirect("/sign-in")
    return rc.redirect(_start_page_of(rc.user))


@routes.route("/sign-in", methods=["GET"], access=public("where people sign in"))
async def sign_in_form(rc: RequestContext) -> bytes:
    # Also shown to someone signed in: signing in again switches the account (and rotates
    # the session token either way).
    query = rc.query()
    notice = SIGNED_OUT.get(query.raw("signed_out") or "")
    return _sign_in_page(
        rc,
        local_path(query.raw("next"), ""),
        error=None,
        status=200,
        notice=rc.lang.gettext(notice) if notice else None,
    )


@routes.route("/sign-in", methods=["POST"], access=public("where people sign in"))
async def sign_in(rc: RequestContext) -> bytes:
    form = rc.form()
    login = form.text("login", max_len=64, label=N_("Login"))
    password = form.text("password", max_len=200, strip=False, label=N_("Password"))
    target = local_path(form.raw("next"), "")
    previous = rc.request.getCookie(SESSION_COOKIE)
    previous_hash = (
        web_sessions.token_hash(previous.decode("ascii", "replace")) if previous else None
    )
    throttle = rc.web.sign_in_throttle
    address = _client_address(rc)
    wait_s = throttle.retry_after_s(login, address) if throttle else 0
    if wait_s:  # an admin may have unlocked the login in another process
        left = await forgive_if_unlocked(rc, login, address)
        wait_s = wait_s if left is None else left
    if wait_s:
        rc.request.setHeader(b"Retry-After", str(wait_s).encode())
        return _sign_in_page(rc, target, error=_wait_message(rc, wait_s), status=429)
    checks = rc.web.password_checks or PasswordChecks.inline()
    try:
        new = await checks.take_turn(
            lambda: _sign_in(rc, checks, login, password, previous_hash), address
        )
    except SignInsBusyError:
        # a flood of sign-ins is told to come back rather than queued without end.
        rc.request.setHeader(b"Retry-After", str(BUSY_RETRY_AFTER_S).encode())
        return _sign_in_page(rc, target, error=rc.lang.gettext(BUSY_SIGNING_IN), status=503)
    if new is None:
        if throttle:
            throttle.failed(login, address)
        return _sign_in_page(rc, target, error=rc.lang.gettext(WRONG_PASSWORD), status=401)
    if throttle:
        throttle.succeeded(login, address)
    set_cookie(rc.request, SESSION_COOKIE, new.token, max_age_s=web_sessions.LIFETIME_S)
    clear_cookie(rc.request, PRESIGN_COOKIE, path=b"/sign-in")
    return rc.redirect(target or start_page(new.call_centre_user, new.back_office_user, new.role))


async def _sign_in(
    rc: RequestContext,
    checks: PasswordChecks,
    login: str,
    password: str,
    previous_hash: str | None,
) -> web_sessions.NewSession | None:
    """One sign-in in its turn: read the hash, check the password outside any transaction
    (issue 11, item 9: on SQLite not even the write lock is held meanwhile), open the
    session. None for a wrong login or password, or an inactive account."""
    found = await rc.db(web_sessions.credentials, login)
    right = await checks.verify(password, web_sessions.hash_to_check(found))
    if found is None or not right or not found.active:
        return None
    return await rc.db(web_sessions.open_session, found, rc.now(), previous_hash)


def _wait_message(rc: RequestContext, wait_s: int) -> str:
    if wait_s < 60:
        return rc.lang.gettext(TOO_MANY_FAILURES_S) % {"seconds": wait_s}
    return rc.lang.gettext(TOO_MANY_FAILURES) % {"minutes": -(-wait_s // 60)}


def _client_address(rc: RequestContext) -> str:
    peer = rc.request.getClientAddress()
    return str(getattr(peer, "host", "") or "unknown")


def _sign_in_page(
    rc: RequestContext, target: str, *, error: str | None, status: int, notice: str | None = None
) -> bytes:
    cookie = rc.request.getCookie(PRESIGN_COOKIE)
    token = cookie.decode("ascii", "replace") if cookie else ""
    if not token or not token.replace("-", "").replace("_", "").isalnum():
        token = secrets.token_urlsafe(24)
        set_cookie(rc.request, PRESIGN_COOKIE, token, max_age_s=PRESIGN_MAX_AGE_S, path=b"/sign-in")
    rc.presign_token = token
    current = rc.user.name if rc.user else None
    rc.user = None  # the form is about signing in: no header of the current account
    return rc.render(
        "sign_in.html", status=status, next=target, error=error, current=current, notice=notice
    )


@routes.route("/sign-out", methods=["POST"], access=SIGNED_IN)
async def sign_out(rc: RequestContext) -> bytes:
    # The phone seat is freed for a colleague too, unless a call holds the person
    # there: a seat held by nobody at the desk would be offered calls, or block the seat.
    had_seat = rc.signed_in.desk is not None
    left = await rc.db(work.leave_seat_at_sign_out, rc.signed_in.agent_id, rc.now())
    await rc.db(web_sessions.sign_out, rc.signed_in.web_session_id)
    clear_cookie(rc.request, SESSION_COOKIE)
    # Issue 16: the sign-in page then says what happened to the person and their seat.
    outcome = "seat_left" if left else "seat_kept" if had_seat else "yes"
    return rc.redirect(f"/sign-in?signed_out={outcome}")


@routes.route("/home", methods=["GET"], access=SIGNED_IN)
async def home(rc: RequestContext) -> bytes:
    return rc.render("home.html")


@routes.route("/account/language", methods=["POST"], access=SIGNED_IN)
async def choose_language(rc: RequestContext) -> bytes:
    form = rc.form()
    language = form.choice("language", LANGUAGES, label=N_("Language"))
    await rc.db(web_sessions.set_language, rc.signed_in.agent_id, language)
    if not rc.wants_html:
        return rc.json({"ok": True, "language": language})
    return rc.redirect(local_path(form.raw("next"), _start_page_of(rc.signed_in)))


# --------------------------------------------------------------------------- static files


@routes.route(
    "/static/<name>", methods=["GET"], access=public("style sheet and scripts", anonymous=True)
)
async def static_file(rc: RequestContext, name: str) -> bytes:
    """A file of a route table's ``static`` folder: plain names only, no paths."""
    if _STATIC_NAME.match(name):
        for folder in rc.web.static_dirs:
            path = folder / name
            if path.is_file():
                rc.request.setHeader(b"Content-Type", _CONTENT_TYPES[name.rsplit(".", 1)[1]])
                rc.request.setHeader(b"Cache-Control", b"public, max-age=300")
                return path.read_bytes()
    raise NotFoundError(PAGE_NOT_FOUND, {"path": f"/static/{name}"})
