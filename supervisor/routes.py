"""The supervisor's pages: the live screen (R-4.4, R-4.5, R-4.6, R-4.8) and "Message an
agent" (R-2.16, R-4.1).

- ``GET /supervisor``: the live screen, Queues and Today, filtered by ``?queue=`` and
  ``?department=`` within the departments the viewer supervises (the store enforces it);
- ``GET /supervisor/wallboard``: the same panels for a TV: large type, no controls;
- ``GET /supervisor/events``: the screen's stream: at once and after every call or agent
  event, the panels again (rendered in the viewer's language) with the event id they are
  as of, so a reconnect with ``Last-Event-ID`` gets the whole current picture: no gap, and
  nothing counted twice, because nothing is added up in the browser. Timers tick in the
  browser from the server's timestamps (``supervisor/static/supervisor.js``);
- ``GET /supervisor/messages``: the form (people of the watched departments) and the
  messages sent lately, with whether they were read;
- ``POST /supervisor/messages``: send; a refusal shows the form again with the reason
  and what was typed (409), a malformed field is a 400.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.web.server import Request

from db.events import EventView
from domain.clock import Clock
from domain.enums import Role, Severity
from domain.refusals import BadInputError
from domain.texts import N_
from supervisor.store import live
from supervisor.store import messages as notes
from web import sessions as web_sessions
from web.access import RouteTable, roles
from web.forms import FormData
from web.request import RequestContext
from web.sse import EventStream, StillSignedIn, parse_last_id, sse_frame

_log = Logger()
HERE = Path(__file__).resolve().parent
PAGE = "/supervisor/messages"
SCREEN = "/supervisor"
WALLBOARD = "/supervisor/wallboard"
BAD_LAST_ID = N_("The live view's position is not valid. Reload the page.")
routes = RouteTable("supervisor", templates=HERE / "templates", static=HERE / "static")
SUPERVISORS = roles(Role.SUPERVISOR, Role.ADMIN)
SEVERITIES = tuple(s.value for s in Severity)
SEVERITY_LABELS = {"info": N_("Information"), "warning": N_("Warning"), "critical": N_("Critical")}


async def _page(
    rc: RequestContext,
    *,
    status: int = 200,
    error: str | None = None,
    entered: dict[str, Any] | None = None,
    sent: bool = False,
) -> bytes:
    """The form page; ``error`` is already in the reader's language."""
    sender = rc.signed_in.agent_id
    people = await rc.db(notes.recipients, sender)
    latest = await rc.db(notes.sent_by, sender)
    return rc.render(
        "supervisor_messages.html",
        status=status,
        people=people,
        latest=latest,
        error=error,
        entered=entered or {"severity": "info", "minutes": notes.DEFAULT_MINUTES},
        sent=sent,
        severities=SEVERITIES,
        severity_label=lambda value: rc.lang.gettext(SEVERITY_LABELS.get(value) or value),
        minutes_max=notes.MINUTES_MAX,
    )


@routes.route(PAGE, methods=["GET"], access=SUPERVISORS)
async def messages_page(rc: RequestContext) -> bytes:
    return await _page(rc, sent=rc.query().raw("sent") == "1")


def _typed(form: FormData) -> dict[str, Any]:
    """What the supervisor typed, as typed, for the form shown again after a refusal."""

    def raw(name: str) -> str:
        try:
            return form.raw(name) or ""
        except BadInputError:  # sent twice: nothing to keep
            return ""

    agent = raw("agent_id").strip()
    return {
        "agent_id": int(agent) if agent.isascii() and agent.isdigit() and len(agent) < 16 else None,
        "severity": raw("severity") or "info",
        "minutes": raw("minutes"),
        "message": raw("message"),
    }


@routes.route(PAGE, methods=["POST"], access=SUPERVISORS)
async def send_message(rc: RequestContext) -> bytes:
    """Send; a refusal, of a field as of the message itself, shows the form again with the
    reason and everything typed (issue 16)."""
    form = rc.form()
    try:
        agent_id = form.required_integer("agent_id", minimum=1, label=N_("To"))
        severity = Severity(form.choice("severity", SEVERITIES, label=N_("Severity")))
        minutes = form.required_integer(
            "minutes", minimum=1, maximum=notes.MINUTES_MAX, label=N_("Show for (minutes)")
        )
        text = form.text(
            "message",
            required=False,
            max_len=4 * notes.MESSAGE_MAX_CHARS,
            multiline=True,
            label=N_("Message"),
        )
        await rc.db(notes.send, rc.signed_in.agent_id, agent_id, severity, text, minutes, rc.now())
    except (BadInputError, notes.NotificationError) as refusal:
        status = 400 if isinstance(refusal, BadInputError) else 409
        reason = rc.lang.refusal(refusal.message, refusal.params)
        if not rc.wants_html:
            return rc.json({"error": reason}, status=status)
        return await _page(rc, status=status, error=reason, entered=_typed(form))
    if not rc.wants_html:
        return rc.json({"ok": True})
    return rc.redirect(PAGE + "?sent=1")


# --------------------------------------------------------------------------- live screen


def _filters(rc: RequestContext) -> live.Filters:
    query = rc.query()
    return live.Filters(
        queue_id=query.integer("queue", required=False, minimum=1),
        department_id=query.integer("department", required=False, minimum=1),
    )


def _day_start(now: datetime, time_zone: str) -> datetime:
    """The centre's midnight today: "today" on the screen is the centre's day (R-4.5)."""
    zone = ZoneInfo(time_zone)
    return datetime.combine(now.astimezone(zone).date(), time(0), zone)


def _panels_context(found: live.LiveScreen, now: datetime) -> dict[str, Any]:
    return {"screen": found, "server_now": now.timestamp(), "epoch": _epoch}


def _epoch(moment: datetime | None) -> str:
    return "" if moment is None else f"{moment.timestamp():.3f}"


async def _screen_page(rc: RequestContext, *, wallboard: bool) -> bytes:
    filters = _filters(rc)
    now = rc.now()
    found = await rc.db(
        live.screen, rc.signed_in.agent_id, filters, now, _day_start(now, rc.web.time_zone)
    )
    return rc.render(
        "supervisor_live.html",
        wallboard=wallboard,
        filters=filters,
        **_panels_context(found, now),
    )


@routes.route(SCREEN, methods=["GET"], access=SUPERVISORS)
async def live_screen(rc: RequestContext) -> bytes:
    return await _screen_page(rc, wallboard=False)


@routes.route(WALLBOARD, methods=["GET"], access=SUPERVISORS)
async def wallboard(rc: RequestContext) -> bytes:
    return await _screen_page(rc, wallboard=True)


@routes.route("/supervisor/events", methods=["GET"], access=SUPERVISORS)
async def screen_events(rc: RequestContext) -> bytes:
    """The live screen's stream (see the module docstring)."""
    try:
        after = parse_last_id(rc.header("last-event-id"), rc.query().raw("last_id"))
    except ValueError:
        raise BadInputError(BAD_LAST_ID) from None
    filters, viewer, web, language = _filters(rc), rc.signed_in, rc.web, rc.lang

    def load() -> Deferred[live.LiveScreen]:
        now = web.now()
        return web.db.run(
            live.screen, viewer.agent_id, filters, now, _day_start(now, web.time_zone)
        )

    def render(found: live.LiveScreen) -> str:
        now = web.now()
        return web.templates.render(
            "supervisor_panels.html", language, **_panels_context(found, now)
        )

    async def still_signed_in() -> bool:
        return await web.db.run(web_sessions.touch_session, viewer.web_session_id, web.now())

    stream = ScreenStream(
        rc.request, clock=web.clock, still_signed_in=still_signed_in, load=load, render=render
    )
    await stream.start(web.feed, after)
    stream.refresh()  # the whole picture at once: a resume needs nothing replayed
    await stream.done
    return b""


class ScreenStream(EventStream):
    """Sends the panels again after call and agent events; one snapshot at a time, and one
    more if events came while it was read (a burst of events costs two reads, not N)."""

    def __init__(
        self,
        request: Request,
        *,
        clock: Clock,
        still_signed_in: StillSignedIn,
        load: Callable[[], Deferred[live.LiveScreen]],
        render: Callable[[live.LiveScreen], str],
    ) -> None:
        super().__init__(request, clock=clock, still_signed_in=still_signed_in)
        self._load = load
        self._render = render
        self._reading = False
        self._again = False
        self._sent_id = -1

    def accept(self, event: EventView) -> bool:
        return event.kind.startswith(("call.", "agent.")) and event.kind != "agent.notification"

    def deliver(self, events: Sequence[EventView]) -> None:
        self.refresh()

    def refresh(self) -> None:
        if self._reading:
            self._again = True
            return
        self._reading = True
        Deferred.fromCoroutine(self._send()).addErrback(
            lambda f: _log.warn("supervisor screen: cannot read: {e}", e=f.getErrorMessage())
        ).addBoth(self._done_reading)

    def _done_reading(self, _: object) -> None:
        self._reading = False
        if self._again:
            self._again = False
            self.refresh()

    async def _send(self) -> None:
        found = await self._load()
        # Ids only grow: a snapshot read before a newer one that was already sent says less.
        event_id = max(found.newest_event_id, self._sent_id)
        self._sent_id = event_id
        self.write(
            sse_frame(
                {"html": self._render(found), "server_now": self._clock.seconds()},
                event="screen",
                event_id=event_id,
            )
        )
