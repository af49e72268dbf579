"""The supervisor's pages: the live screen (R-4.4, R-4.5, R-4.6, R-4.8) and "Message an
agent" (R-2.16, R-4.1).

- ``GET /supervisor``: the live screen, Queues and Today, filtered by ``?queue=`` and
  ``?department=`` within the departments the viewer supervises (the store enforces it);
- ``GET /supervisor/wallboard``: the same panels for a TV: large type, no controls;
- ``GET /supervisor/events``: the screen's stream: at once and after every call or agent
  event, the panels again (rendered in the viewer's language) with the event id they are
  as of, so a reconnect with ``Last-Event-ID`` gets the whole current picture: no gap, and
  nothing counted twice, because nothing is added up in the browser. Timers tick in the
  browser from the server's timestamps (``supervisor/static/supervisor.js``). Also, as
  ``spy``, the bar of the viewer's running listen / whisper / barge calls (R-4.7), at once
  and whenever one starts, answers or ends (``ami.spy_sessions``: any process's);
- ``GET /supervisor/messages``: the form (people of the watched departments) and the
  messages sent lately, with whether they were read;
- ``POST /supervisor/messages``: send; a refusal shows the form again with the reason
  and what was typed (409), a malformed field is a 400.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.web.server import Request

from ami.protocol import AMIError
from ami.spy_sessions import SPY_VARIABLE, SpyCall, spy_tag
from db.events import EventView
from domain.clock import Clock
from domain.enums import Role, Severity
from domain.refusals import BadInputError, ConflictError, NotFoundError
from domain.texts import N_
from supervisor.live_screens import LiveScreens, Wanted, day_start, epoch, live_screens, mmss
from supervisor.store import actions, live, spy
from supervisor.store import messages as notes
from web import sessions as web_sessions
from web.access import RouteTable, roles
from web.forms import FormData
from web.i18n import Language
from web.request import RequestContext, WebServices
from web.sse import EventStream, StillSignedIn, parse_last_id, sse_frame

_log = Logger()
HERE = Path(__file__).resolve().parent
PAGE = "/supervisor/messages"
SCREEN = "/supervisor"
WALLBOARD = "/supervisor/wallboard"
NO_SUCH_CALL = N_("This call is over or is not one you supervise.")
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
    """``?agent=``: that agent chosen already ("notify the agent" from the live screen)."""
    query = rc.query()
    chosen = query.integer("agent", required=False, minimum=1)
    entered: dict[str, Any] = {"severity": "info", "minutes": notes.DEFAULT_MINUTES}
    if chosen is not None:
        entered["agent_id"] = chosen
    return await _page(rc, sent=query.raw("sent") == "1", entered=entered)


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

# The words of the Activities and Agents panels, one place for both.
LABELS = {
    "ivr": N_("In IVR"),
    "waiting": N_("Waiting"),
    "ringing": N_("Ringing"),
    "in_box": N_("Leaving a message"),
    "talking": N_("Talking"),
    "processing": N_("Processing"),
    "in": N_("Incoming"),
    "out": N_("Outgoing"),
    "internal": N_("Internal"),
    "free": N_("Free"),
    "in_call": N_("In a call"),
    "outbound": N_("On an outbound call"),
    "backoffice": N_("Back-office work"),
    "paused": N_("Paused"),
    "off_air": N_("Off air"),
    "logged_out": N_("Logged out"),
    "answered": N_("Answered"),
    "no_answer": N_("No answer"),
    "busy": N_("Busy"),
    "cancelled": N_("Cancelled"),
    "caller_hung_up": N_("Caller hung up"),
    "failed": N_("Failed"),
    # A phone's device state through the AMI.
    "online": N_("Online"),
    "unavailable": N_("Unavailable"),
}
SPY_MODES = {
    "listen": N_("Listening"),
    "whisper": N_("Whispering to the agent"),
    "barge": N_("Barging in"),
}
SPY_CHOICES = {
    "listen": N_("Listen"),
    "whisper": N_("Whisper to the agent"),
    "barge": N_("Barge in"),
}
NO_TELEPHONY = N_("Telephony is not configured: calls cannot be listened to.")
SPY_FAILED = N_("The phone system did not take the request. Try again.")
SPY_NO_ANSWER = N_("Your phone did not answer.")
ACTION_LABELS = {
    "on_air": N_("On air"),
    "off_air": N_("Off air"),
    "pause": N_("Pause"),
    "log_out": N_("Log the agent out of the seat"),
}


def _filters(rc: RequestContext) -> live.Filters:
    query = rc.query()
    return live.Filters(
        queue_id=query.integer("queue", required=False, minimum=1),
        department_id=query.integer("department", required=False, minimum=1),
        agent_id=query.integer("agent", required=False, minimum=1),
    )


def _screens(web: WebServices) -> LiveScreens:
    return live_screens(web, LABELS)


SpyList = list[tuple[SpyCall, spy.SpiedCall]]


async def _spy_calls(web: WebServices, supervisor_id: int) -> SpyList:
    """The supervisor's running spy calls (any web process's, ``ami.spy_sessions``) with
    their calls; a call that has ended is marked ``over``."""
    running = web.spy_calls.of(supervisor_id) if web.spy_calls is not None else ()
    if not running:
        return []
    calls = await web.db.run(spy.spied_calls, [s.call_id for s in running])
    return [(s, calls[s.call_id]) for s in running]


def _spy_html(web: WebServices, language: Language, calls: SpyList) -> str:
    shown = [(s, c) for s, c in calls if not c.over]
    return web.templates.render(
        "supervisor_spy.html", language, spy_calls=shown, spy_modes=SPY_MODES
    )


async def _screen_page(rc: RequestContext, *, wallboard: bool) -> bytes:
    filters = _filters(rc)
    now = rc.now()
    found = await rc.db(
        live.screen,
        rc.signed_in.agent_id,
        filters,
        now,
        day_start(now, rc.web.time_zone),
        details=not wallboard,
    )
    spying = [] if wallboard else await _spy_calls(rc.web, rc.signed_in.agent_id)
    phone = rc.web.device_states.phone if rc.web.device_states is not None else None
    return rc.render(
        "supervisor_live.html",
        filters=filters,
        actions=ACTION_LABELS,
        spy_calls=[(s, c) for s, c in spying if not c.over],
        spy_modes=SPY_MODES,
        **_screens(rc.web).context(rc.lang, found, now.timestamp(), wallboard, phone),
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
    viewer, web, language = rc.signed_in, rc.web, rc.lang
    board = rc.query().raw("board") == "1"

    async def still_signed_in() -> bool:
        return await web.db.run(web_sessions.touch_session, viewer.web_session_id, web.now())

    async def spies() -> str | None:
        """The bar of the viewer's spy calls; None without telephony. A spy call on a
        call that has ended is hung up: ChanSpy's ``E`` should have ended it already, and
        the supervisor chose that call only, not the agent's next one."""
        if web.spy_calls is None:
            return None
        calls = await _spy_calls(web, viewer.agent_id)
        for running, call in calls:
            if call.over and web.ami is not None:
                web.ami.hangup(running.channel).addErrback(
                    lambda f: _log.info("spy call already gone: {e}", e=f.getErrorMessage())
                )
        return _spy_html(web, language, calls)

    stream = ScreenStream(
        rc.request,
        clock=web.clock,
        still_signed_in=still_signed_in,
        screens=_screens(web),
        wanted=(viewer.agent_id, _filters(rc), not board),
        language=language,
        spies=None if board else spies,
    )
    await stream.start(web.feed, after)
    stream.refresh()  # the whole picture at once: a resume needs nothing replayed
    stream.send_spies()
    # A phone's device state is no database event: the AMI's changes refresh too.
    stop_phones = web.device_states.listen(stream.phone_changed) if web.device_states else None
    # So do the viewer's spy calls starting, answering and ending, in any tab.
    stop_spies = None
    if web.spy_calls is not None and not board:
        stop_spies = web.spy_calls.listen(
            lambda supervisor_id: stream.send_spies() if supervisor_id == viewer.agent_id else None
        )
    try:
        await stream.done
    finally:
        for stop in (stop_phones, stop_spies):
            if stop is not None:
                stop()
    return b""


class ScreenStream(EventStream):
    """Sends the panels again after call and agent events: it asks the process's
    ``LiveScreens``, which reads and renders them once for every screen stream that asked
    in the same moment (and once more for those that asked while a read was on its way)."""

    def __init__(
        self,
        request: Request,
        *,
        clock: Clock,
        still_signed_in: StillSignedIn,
        screens: LiveScreens,
        wanted: Wanted,
        language: Language,
        spies: Callable[[], Awaitable[str | None]] | None = None,
    ) -> None:
        super().__init__(request, clock=clock, still_signed_in=still_signed_in)
        self._screens = screens
        self.wanted = wanted
        self.language = language
        self._spies = spies
        self._spies_shown = ""
        self._reading_spies = False
        self._spies_again = False
        self._sent_id = -1
        self._extensions: frozenset[str] = frozenset()

    @property
    def finished(self) -> bool:
        return self._finished

    def accept(self, event: EventView) -> bool:
        return event.kind.startswith(("call.", "agent.")) and event.kind != "agent.notification"

    def phone_changed(self, device: str) -> None:
        """A phone's device state changed: the Agents panel shows it if it is one of its
        agents' (the wall-board shows no phones)."""
        if device.lower() in self._extensions:
            self.refresh()

    def deliver(self, events: Sequence[EventView]) -> None:
        self.refresh()

    def refresh(self) -> None:
        self._screens.refresh(self)

    def show(self, found: live.LiveScreen, frame: Callable[[int], bytes], event_id: int) -> None:
        """The panels of a read (``LiveScreens``): ``frame(id)`` is the frame to send."""
        self._extensions = frozenset(a.extension.lower() for a in found.agents if a.extension)
        # Ids only grow: a snapshot read before a newer one that was already sent says less.
        event_id = max(event_id, self._sent_id)
        self._sent_id = event_id
        self.write(frame(event_id))
        if self._spies_shown and "sv-spy-call" in self._spies_shown:
            self.send_spies()  # a call event: a spied call may have ended

    def send_spies(self) -> None:
        """Send the bar of the viewer's spy calls (R-4.7) when it changed; one read at a
        time (an older one must not land after a newer), and one more if asked meanwhile."""
        if self._spies is None:
            return
        if self._reading_spies:
            self._spies_again = True
            return
        self._reading_spies = True
        Deferred.fromCoroutine(self._send_spies()).addErrback(
            lambda f: _log.warn("supervisor screen: spy calls: {e}", e=f.getErrorMessage())
        ).addBoth(self._done_spies)

    def _done_spies(self, _: object) -> None:
        self._reading_spies = False
        if self._spies_again:
            self._spies_again = False
            self.send_spies()

    async def _send_spies(self) -> None:
        assert self._spies is not None
        html = await self._spies()
        if html is None or html == self._spies_shown:
            return
        self._spies_shown = html
        self.write(sse_frame({"html": html}, event="spy"))


# --------------------------------------------------------------------------- detail, actions


@routes.route("/supervisor/calls/<int:call_id>", methods=["GET"], access=SUPERVISORS)
async def call_detail(rc: RequestContext, call_id: int) -> bytes:
    """An open call with its ring attempts so far (R-4.1); ``?part=1``: only the part the
    live screen shows in its dialog. A call that is over or not the viewer's: 404."""
    now = rc.now()
    found = await rc.db(live.call_detail, rc.signed_in.agent_id, call_id, now)
    if found is None:
        raise NotFoundError(NO_SUCH_CALL)
    context: dict[str, Any] = {"detail": found, "server_now": now.timestamp(), "epoch": epoch}
    context.update(mmss=mmss, labels=LABELS, spy_modes=SPY_CHOICES)
    context["telephony"] = rc.web.ami is not None
    context["spy_seats"] = await rc.db(spy.seats, rc.signed_in.agent_id)
    part = rc.query().raw("part") == "1"
    return rc.render("supervisor_call.html" if part else "supervisor_call_page.html", **context)


@routes.route("/supervisor/agent-state", methods=["POST"], access=SUPERVISORS)
async def set_agent_state(rc: RequestContext) -> bytes:
    """Set an agent's state (R-4.7) by the agent's own rules; audited. Refusals are the
    guard's (404 not theirs, 409 the agent's rules refuse it now, 400 a bad field)."""
    form = rc.form()
    agent_id = form.required_integer("agent_id", minimum=1, label=N_("Agent"))
    action = form.choice("action", actions.ACTIONS, label=N_("State"))
    pause_type_id = form.integer("pause_type_id", required=False, minimum=1, label=N_("Pause"))
    await rc.db(
        actions.set_agent_state, rc.signed_in.agent_id, agent_id, action, pause_type_id, rc.now()
    )
    if not rc.wants_html:
        return rc.json({"ok": True})
    return rc.redirect(SCREEN)


@routes.route("/supervisor/calls/<int:call_id>/spy", methods=["POST"], access=SUPERVISORS)
async def start_spy(rc: RequestContext, call_id: int) -> bytes:
    """Listen, whisper or barge (R-4.7): ChanSpy originated to the supervisor's seat. The
    answer comes when that phone answers (or does not), with the channel to stop."""
    form = rc.form()
    mode = form.choice("mode", spy.MODES, label=N_("Mode"))
    seat_id = form.required_integer("seat_id", minimum=1, label=N_("Your phone"))
    ami = rc.web.ami
    if ami is None:
        raise ConflictError(NO_TELEPHONY)
    plan = await rc.db(spy.start, rc.signed_in.agent_id, call_id, mode, seat_id, rc.now())
    # Tagged, so that every process's AMI client knows the spy call (ami.spy_sessions).
    tag = {SPY_VARIABLE: spy_tag(rc.signed_in.agent_id, call_id, plan.mode)}
    try:
        originated = await ami.spy(
            plan.seat_dial_string, plan.target_prefix, plan.mode, plan.caller_id, variables=tag
        )
        outcome = await originated.outcome()
    except AMIError as error:
        _log.warn("supervisor spy: {e}", e=error)
        raise ConflictError(SPY_FAILED) from None
    if not outcome.success:
        raise ConflictError(SPY_NO_ANSWER)
    label = rc.lang.gettext(SPY_MODES[mode])
    if not rc.wants_html:
        spying = _spy_html(rc.web, rc.lang, await _spy_calls(rc.web, rc.signed_in.agent_id))
        return rc.json(
            {"ok": True, "mode": mode, "label": label, "channel": outcome.channel, "html": spying}
        )
    return rc.redirect(f"/supervisor/calls/{call_id}")


@routes.route("/supervisor/spy/stop", methods=["POST"], access=SUPERVISORS)
async def stop_spy(rc: RequestContext) -> bytes:
    """Stop listening: hang up the supervisor's own phone (only a channel of their seats)."""
    channel = rc.form().text("channel", max_len=200, label=N_("Channel"))
    ami = rc.web.ami
    if ami is None:
        raise ConflictError(NO_TELEPHONY)
    await rc.db(spy.stop, rc.signed_in.agent_id, channel, rc.now())
    try:
        await ami.hangup(channel)
    except AMIError as error:
        _log.info("supervisor spy stop: {e}", e=error)  # already gone: stopped all the same
    if not rc.wants_html:
        # Asterisk's Hangup event may come after the answer: the stopped one is gone.
        left = [
            c for c in await _spy_calls(rc.web, rc.signed_in.agent_id) if c[0].channel != channel
        ]
        return rc.json({"ok": True, "html": _spy_html(rc.web, rc.lang, left)})
    return rc.redirect(SCREEN)
