"""The agent's desktop routes: sign-in, seat login (R-2.1), states and pauses (R-2.2, R-2.4),
the live event stream (R-2.5), notifications (R-2.16) and the language (R-2.17).

Thin routes (ARCHITECTURE.md): parse the form, call a database function through the
DBRunner, render. A refusal of the state machine or the seat rules is shown on the desktop
with status 409 (JSON ``{"error": ...}`` for fetch); after a change that worked, a page form
is redirected back to the desktop (POST, redirect, GET).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred

from agent_desktop import agent_state as core
from agent_desktop import desk, web_sessions
from agent_desktop.access import CALL_CENTRE, SIGNED_IN, RouteTable, public
from agent_desktop.event_stream import AgentEventStream, parse_last_id
from agent_desktop.i18n import LANGUAGES
from agent_desktop.web_errors import BadRequestError, NotFoundError
from agent_desktop.web_request import (
    PRESIGN_COOKIE,
    SESSION_COOKIE,
    RequestContext,
    clear_cookie,
    local_path,
    set_cookie,
)
from db import agent_sessions
from db.agent_sessions import SeatError
from domain.enums import Role
from domain.texts import N_

HERE = Path(__file__).resolve().parent
routes = RouteTable("desktop", templates=HERE / "templates", static=HERE / "static")

DESKTOP = "/desktop"
HOME = "/home"
WRONG_PASSWORD = N_("Wrong login or password.")
TOO_MANY_FAILURES = N_("Too many failed sign-ins. Try again in %(minutes)s min.")
NO_SUCH_PAUSE = N_("There is no such pause type.")
NO_SUCH_NOTIFICATION = N_("There is no such notification.")
NO_SUCH_LOCATION = N_("There is no such location in your queues.")
BAD_LAST_ID = N_("The last event id must be a whole number.")
PRESIGN_MAX_AGE_S = 2 * 3600


def start_page(call_centre_user: bool) -> str:
    return DESKTOP if call_centre_user else HOME


# --------------------------------------------------------------------------- signing in


@routes.route("/", methods=["GET"], access=public("the entry point sends people on"))
async def entry(rc: RequestContext) -> bytes:
    if rc.user is None:
        return rc.redirect("/sign-in")
    return rc.redirect(start_page(rc.user.call_centre_user))


@routes.route("/sign-in", methods=["GET"], access=public("where people sign in"))
async def sign_in_form(rc: RequestContext) -> bytes:
    # Also shown to someone signed in: signing in again switches the account (and rotates
    # the session token either way).
    return _sign_in_page(rc, local_path(rc.query().raw("next"), ""), error=None, status=200)


@routes.route("/sign-in", methods=["POST"], access=public("where people sign in"))
async def sign_in(rc: RequestContext) -> bytes:
    form = rc.form()
    login = form.text("login", max_len=64)
    password = form.text("password", max_len=200, strip=False)
    target = local_path(form.raw("next"), "")
    previous = rc.request.getCookie(SESSION_COOKIE)
    previous_hash = (
        web_sessions.token_hash(previous.decode("ascii", "replace")) if previous else None
    )
    throttle = rc.web.sign_in_throttle
    address = _client_address(rc)
    wait_s = throttle.retry_after_s(login, address) if throttle else 0
    if wait_s:
        rc.request.setHeader(b"Retry-After", str(wait_s).encode())
        minutes = max(1, -(-wait_s // 60))
        error = rc.lang.gettext(TOO_MANY_FAILURES) % {"minutes": minutes}
        return _sign_in_page(rc, target, error=error, status=429)
    new = await rc.db(web_sessions.sign_in, login, password, rc.now(), previous_hash)
    if new is None:
        if throttle:
            throttle.failed(login, address)
        return _sign_in_page(rc, target, error=rc.lang.gettext(WRONG_PASSWORD), status=401)
    if throttle:
        throttle.succeeded(login, address)
    set_cookie(rc.request, SESSION_COOKIE, new.token, max_age_s=web_sessions.LIFETIME_S)
    clear_cookie(rc.request, PRESIGN_COOKIE, path=b"/sign-in")
    return rc.redirect(target or start_page(new.call_centre_user))


def _client_address(rc: RequestContext) -> str:
    peer = rc.request.getClientAddress()
    return str(getattr(peer, "host", "") or "unknown")


def _sign_in_page(rc: RequestContext, target: str, *, error: str | None, status: int) -> bytes:
    cookie = rc.request.getCookie(PRESIGN_COOKIE)
    token = cookie.decode("ascii", "replace") if cookie else ""
    if not token or not token.replace("-", "").replace("_", "").isalnum():
        token = secrets.token_urlsafe(24)
        set_cookie(rc.request, PRESIGN_COOKIE, token, max_age_s=PRESIGN_MAX_AGE_S, path=b"/sign-in")
    rc.presign_token = token
    current = rc.user.name if rc.user else None
    rc.user = None  # the form is about signing in: no header of the current account
    return rc.render("sign_in.html", status=status, next=target, error=error, current=current)


@routes.route("/sign-out", methods=["POST"], access=SIGNED_IN)
async def sign_out(rc: RequestContext) -> bytes:
    await rc.db(web_sessions.sign_out, rc.signed_in.web_session_id)
    clear_cookie(rc.request, SESSION_COOKIE)
    return rc.redirect("/sign-in")


@routes.route("/home", methods=["GET"], access=SIGNED_IN)
async def home(rc: RequestContext) -> bytes:
    return rc.render("home.html")


@routes.route("/account/language", methods=["POST"], access=SIGNED_IN)
async def choose_language(rc: RequestContext) -> bytes:
    form = rc.form()
    language = form.choice("language", LANGUAGES)
    await rc.db(web_sessions.set_language, rc.signed_in.agent_id, language)
    if not rc.wants_html:
        return rc.json({"ok": True, "language": language})
    return rc.redirect(local_path(form.raw("next"), start_page(rc.signed_in.call_centre_user)))


# --------------------------------------------------------------------------- the desktop


async def desktop_context(rc: RequestContext) -> dict[str, Any]:
    """What ``desktop.html`` needs; a page that extends it (the Active call form) adds to it."""
    page = await rc.db(desk.desk_page, rc.signed_in.agent_id, rc.now())
    seat = rc.signed_in.desk
    controls = core.desk_controls(seat.state, seat.activity, seat.pause_type_id) if seat else None
    return {"desk": seat, "controls": controls, "page": page, "error": None, "now": rc.now()}


@routes.route(DESKTOP, methods=["GET"], access=CALL_CENTRE)
async def desktop(rc: RequestContext) -> bytes:
    return rc.render("desktop.html", **await desktop_context(rc))


async def _refused(rc: RequestContext, message: str) -> bytes:
    text = rc.lang.message(message)
    if not rc.wants_html:
        return rc.json({"error": text}, status=409)
    context = await desktop_context(rc)
    context["error"] = text
    return rc.render("desktop.html", status=409, **context)


def _done(rc: RequestContext, view: agent_sessions.AgentView | None) -> bytes:
    if not rc.wants_html:
        data = None if view is None else {"state": view.state, "activity": view.activity}
        return rc.json({"ok": True, "desk": data})
    return rc.redirect(DESKTOP)


@routes.route("/desktop/seat", methods=["POST"], access=CALL_CENTRE)
async def log_in_at_seat(rc: RequestContext) -> bytes:
    seat_id = rc.form().required_integer("seat_id", minimum=1)
    try:
        view = await rc.db(agent_sessions.log_in, rc.signed_in.agent_id, seat_id, rc.now())
    except SeatError as refusal:
        return await _refused(rc, str(refusal))
    return _done(rc, view)


@routes.route("/desktop/seat/leave", methods=["POST"], access=CALL_CENTRE)
async def log_out_of_seat(rc: RequestContext) -> bytes:
    agent_id = rc.signed_in.agent_id
    try:
        await rc.db(agent_sessions.apply_event, agent_id, core.LogOut(), rc.now(), "logout")
    except (SeatError, core.AgentStateError) as refusal:
        return await _refused(rc, str(refusal))
    return _done(rc, None)


@routes.route("/desktop/state", methods=["POST"], access=CALL_CENTRE)
async def change_state(rc: RequestContext) -> bytes:
    """On-air, or a pause of a chosen type (R-2.2, R-2.4)."""
    form = rc.form()
    action = form.choice("action", ("on_air", "pause"))
    agent_id = rc.signed_in.agent_id
    try:
        if action == "on_air":
            view = await rc.db(
                agent_sessions.apply_event, agent_id, core.GoOnAir(), rc.now(), "on air"
            )
        else:
            pause_type_id = form.required_integer("pause_type_id", minimum=1)
            view = await rc.db(desk.start_pause, agent_id, pause_type_id, rc.now())
    except desk.UnknownPauseTypeError:
        raise BadRequestError(NO_SUCH_PAUSE) from None
    except (SeatError, core.AgentStateError) as refusal:
        return await _refused(rc, str(refusal))
    return _done(rc, view)


@routes.route("/desktop/location", methods=["POST"], access=CALL_CENTRE)
async def choose_location(rc: RequestContext) -> bytes:
    """The agent's selected location: with several active customers on the caller's number,
    the one of this location is matched (R-2.6). Empty: no location."""
    location_id = rc.form().integer("location_id", required=False, minimum=1)
    try:
        await rc.db(desk.select_location, rc.signed_in.agent_id, location_id)
    except desk.UnknownLocationError:
        raise BadRequestError(NO_SUCH_LOCATION) from None
    if not rc.wants_html:
        return rc.json({"ok": True, "location_id": location_id})
    return rc.redirect(DESKTOP)


# --------------------------------------------------------------------------- live parts


@routes.route("/events", methods=["GET"], access=SIGNED_IN)
async def events(rc: RequestContext) -> bytes:
    """The agent's own live events as Server-Sent Events (see ``event_stream``)."""
    try:
        after = parse_last_id(rc.header("last-event-id"), rc.query().raw("last_id"))
    except ValueError:
        raise BadRequestError(BAD_LAST_ID) from None
    user, web = rc.signed_in, rc.web
    names = await rc.db(desk.pause_names)

    def load_notification(notification_id: int) -> Deferred[desk.NotificationView | None]:
        return web.db.run(desk.notification_for, user.agent_id, notification_id, web.now())

    async def still_signed_in() -> bool:
        return await web.db.run(web_sessions.touch_session, user.web_session_id, web.now())

    stream = AgentEventStream(
        rc.request,
        agent_id=user.agent_id,
        language=rc.lang,
        pause_names=names,
        clock=web.clock,
        load_notification=load_notification,
        still_signed_in=still_signed_in,
        # Back-office item events for the boxes the person works; supervisors see all.
        box_ids=None if user.role in (Role.SUPERVISOR, Role.ADMIN) else user.box_ids,
    )
    await stream.start(web.feed, after)
    await stream.done
    return b""


@routes.route("/notifications/<int:notification_id>/read", methods=["POST"], access=SIGNED_IN)
async def read_notification(rc: RequestContext, notification_id: int) -> bytes:
    """Mark a supervisor's message read (R-2.16); only the addressee can."""
    found = await rc.db(
        desk.mark_notification_read, rc.signed_in.agent_id, notification_id, rc.now()
    )
    if not found:
        raise NotFoundError(NO_SUCH_NOTIFICATION)
    if not rc.wants_html:
        return rc.json({"ok": True})
    return rc.redirect(local_path(rc.form().raw("next"), DESKTOP))
