"""The agent's desktop routes: sign-in, seat login (R-2.1), states and pauses (R-2.2, R-2.4),
the live event stream (R-2.5), notifications (R-2.16) and the language (R-2.17).

Thin routes (docs/architecture.md): parse the form, call a database function through the
DBRunner, render. A refusal of the state machine or the seat rules is shown on the desktop
with status 409 (JSON ``{"error": ...}`` for fetch); after a change that worked, a page form
is redirected back to the desktop (POST, redirect, GET).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred

from agent_desktop import agent_state as core
from agent_desktop.routes.live_events import AgentEventStream
from agent_desktop.store import agent_sessions, desk
from domain.enums import Role
from domain.refusals import BadInputError, ConflictError, NotFoundError
from domain.texts import N_
from web import sessions as web_sessions
from web.access import CALL_CENTRE, SIGNED_IN, RouteTable
from web.request import (
    RequestContext,
    local_path,
)
from web.sse import parse_last_id

HERE = Path(__file__).resolve().parent.parent
routes = RouteTable("desktop", templates=HERE / "templates", static=HERE / "static")

DESKTOP = "/desktop"
HOME = "/home"
WRONG_PASSWORD = N_("Wrong login or password.")
NO_SUCH_NOTIFICATION = N_("There is no such notification.")
BAD_LAST_ID = N_("The last event id must be a whole number.")
PRESIGN_MAX_AGE_S = 2 * 3600
SEAT_LABEL = N_("Phone seat")  # the label errors name the field by


# --------------------------------------------------------------------------- the desktop


async def desktop_context(rc: RequestContext) -> dict[str, Any]:
    """What ``desktop.html`` needs; a page that extends it (the Active call form) adds to it.
    The desk's rows come with the user's lookup when the route declares ``read_with_user``
    (one transaction per page, issue 12), else from a read of their own."""
    page = await rc.read_with_user(desk.desk_page)
    seat = rc.signed_in.desk
    controls = core.desk_controls(seat.state, seat.activity, seat.pause_type_id) if seat else None
    return {"desk": seat, "controls": controls, "page": page, "error": None, "now": rc.now()}


@routes.route(DESKTOP, methods=["GET"], access=CALL_CENTRE, read_with_user=desk.desk_page)
async def desktop(rc: RequestContext) -> bytes:
    return rc.render("desktop.html", **await desktop_context(rc))


async def _refused(rc: RequestContext, refusal: ConflictError) -> bytes:
    """The desktop again with what the state machine or the seat rules refused (409)."""
    text = rc.lang.refusal(refusal.message, refusal.params)
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
    seat_id = rc.form().required_integer("seat_id", minimum=1, label=SEAT_LABEL)
    try:
        view = await rc.db(agent_sessions.log_in, rc.signed_in.agent_id, seat_id, rc.now())
    except ConflictError as refusal:
        return await _refused(rc, refusal)
    return _done(rc, view)


@routes.route("/desktop/seat/leave", methods=["POST"], access=CALL_CENTRE)
async def log_out_of_seat(rc: RequestContext) -> bytes:
    agent_id = rc.signed_in.agent_id
    try:
        await rc.db(agent_sessions.apply_event, agent_id, core.LogOut(), rc.now(), "logout")
    except ConflictError as refusal:
        return await _refused(rc, refusal)
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
    except ConflictError as refusal:
        return await _refused(rc, refusal)
    return _done(rc, view)


@routes.route("/desktop/location", methods=["POST"], access=CALL_CENTRE)
async def choose_location(rc: RequestContext) -> bytes:
    """The agent's selected location: with several active customers on the caller's number,
    the one of this location is matched (R-2.6). Empty: no location."""
    location_id = rc.form().integer("location_id", required=False, minimum=1)
    await rc.db(desk.select_location, rc.signed_in.agent_id, location_id)
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
        raise BadInputError(BAD_LAST_ID) from None
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
