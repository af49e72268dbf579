"""``GET /events``: a signed-in person's live events as Server-Sent Events (R-2.5, R-2.3,
R-2.16), on the stream of ``web.sse`` (resumable with ``Last-Event-ID``). SSE event types:

- ``status`` -- the status line: ``{notice, text, template, waiting_s}``; ``template`` holds
  ``{clock}`` where the browser keeps counting the waiting time (R-2.5);
- ``badge`` -- the header badge: ``{state, label, detail, since, seat_changed, controls}``
  (R-2.3); ``controls`` (``agent_state.DeskControls`` as a dict, null after a logout) lets
  the desktop's buttons follow the state: "Go on air" pressed only on air, "Outbound call"
  only where it can work (R-2.2, R-2.15);
- ``notification`` -- a supervisor's message: ``{id, severity, message, sender,
  hide_in_ms}`` (R-2.16); written by whoever stores a notification as an
  ``agent.notification`` event with ``notification_id`` in its payload;
- ``call`` -- ``{kind, call_id}`` for the agent's call events, for the Active call form;
- ``backoffice`` -- ``{kind, item_id, box_id, state}`` for every change of a back-office
  item in a box the person may work (``backoffice.new``, ``.claimed``, ``.done``,
  ``.resolved``...), so that "Calls in voicemail" stays current (R-3.1);
- ``signed_out`` -- the session ended; the page goes to the sign-in page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.web.server import Request

from agent_desktop.agent_state import desk_controls
from agent_desktop.status_line import status_message
from agent_desktop.store.desk import NotificationView
from db.events import EventView
from domain.clock import Clock
from domain.texts import N_
from web.badge import badge_from_event
from web.i18n import Language
from web.sse import EventStream, StillSignedIn, sse_frame

_log = Logger()

SINCE = N_("since %(time)s")
AGENT_KINDS = frozenset(
    {
        "agent.notice",
        "agent.state",
        "agent.login",
        "agent.logout",
        "agent.notification",
        "call.ringing",
        "call.answered",
        "call.ring_ended",
        "call.ended",
    }
)
BACKOFFICE_PREFIX = "backoffice."


def _controls(kind: str, payload: Mapping[str, object]) -> dict[str, object] | None:
    """The desktop controls after an agent event (None after a logout: the page reloads)."""
    if kind == "agent.logout":
        return None
    if kind == "agent.login":
        state, activity, pause = "off_air", "paused", None  # agent_state.logged_in
    else:
        state, activity = str(payload.get("state", "off_air")), str(payload.get("activity", ""))
        pause_id = payload.get("pause_type_id")
        pause = pause_id if isinstance(pause_id, int) else None
    try:
        return asdict(desk_controls(state, activity, pause))
    except ValueError:  # a state or activity this version does not know: leave the buttons
        return None


def present(
    event: EventView,
    language: Language,
    pause_names: Mapping[int, str],
    now: datetime,
) -> bytes | None:
    """The SSE message for one of the agent's events; None when the page has no use for it."""
    if event.kind == "agent.notice":
        elapsed = (now - event.at).total_seconds()
        message = status_message(event.payload, language.gettext, elapsed_s=elapsed)
        if message is None:
            return None
        data: dict[str, object] = {
            "notice": message.notice.value,
            "text": message.text,
            "template": message.template,
            "waiting_s": message.waiting_s,
        }
        return sse_frame(data, event="status", event_id=event.id)
    if event.kind in ("agent.state", "agent.login", "agent.logout"):
        badge = badge_from_event(event.kind, event.payload, pause_names, language.gettext)
        if badge is None:
            return None
        since = "" if event.kind == "agent.logout" else language.time_text(event.at)
        data = {
            "state": badge.state.value,
            "label": badge.label,
            "detail": badge.detail,
            "since": language.gettext(SINCE) % {"time": since} if since else "",
            "seat_changed": event.kind != "agent.state",
            "controls": _controls(event.kind, event.payload),
        }
        return sse_frame(data, event="badge", event_id=event.id)
    if event.kind.startswith("call."):
        return sse_frame(
            {"kind": event.kind, "call_id": event.call_id}, event="call", event_id=event.id
        )
    if event.kind.startswith(BACKOFFICE_PREFIX):
        return backoffice_frame(event)
    return None


def backoffice_frame(event: EventView) -> bytes:
    """The ``backoffice`` message of a back-office item's change: the same bytes for every
    stream that gets it, whatever its language or role (it holds no words: the page words
    the item itself), so the streams share one (``AgentEventStream.deliver``)."""
    data = {
        "kind": event.kind,
        "item_id": event.payload.get("item_id"),
        "box_id": event.payload.get("box_id"),
        "state": event.payload.get("state"),
    }
    return sse_frame(data, event="backoffice", event_id=event.id)


def notification_frame(n: NotificationView, event_id: int, now: datetime) -> bytes:
    data = {
        "id": n.notification_id,
        "severity": n.severity.value,
        "message": n.message,
        "sender": n.sender,
        "hide_in_ms": max(0, int((n.shown_until - now).total_seconds() * 1000)),
    }
    return sse_frame(data, event="notification", event_id=event_id)


LoadNotification = Callable[[int], Awaitable[NotificationView | None]]


class AgentEventStream(EventStream):
    """The live parts of a signed-in person's pages: their status line, header badge,
    desktop controls and notifications, their calls, and the back-office items of the
    boxes they work."""

    def __init__(
        self,
        request: Request,
        *,
        agent_id: int,
        language: Language,
        pause_names: Mapping[int, str],
        clock: Clock,
        load_notification: LoadNotification,
        still_signed_in: StillSignedIn,
        box_ids: frozenset[int] | None = frozenset(),
    ) -> None:
        """``box_ids``: the back-office boxes whose item events the person gets; None:
        every box (supervisors, R-7.4)."""
        super().__init__(request, clock=clock, still_signed_in=still_signed_in)
        self._agent_id = agent_id
        self._box_ids = box_ids
        self._language = language
        self._pause_names = pause_names
        self._load_notification = load_notification

    def accept(self, event: EventView) -> bool:
        if event.kind.startswith(BACKOFFICE_PREFIX):
            box_id = event.payload.get("box_id")
            return self._box_ids is None or box_id in self._box_ids
        return event.agent_id == self._agent_id and event.kind in AGENT_KINDS

    def deliver(self, events: Sequence[EventView]) -> None:
        now = self.now()
        for event in events:
            if event.kind == "agent.notification":
                Deferred.fromCoroutine(self._send_notification(event, now))
                continue
            if event.kind.startswith(BACKOFFICE_PREFIX):
                # A thousand back-office streams take one change: one frame for them all
                # (bench/live_push.py), not one each.
                self.write(self.shared_frame(event, "backoffice", backoffice_frame))
                continue
            frame = present(event, self._language, self._pause_names, now)
            if frame is not None:
                self.write(frame)

    async def _send_notification(self, event: EventView, now: datetime) -> None:
        raw = event.payload.get("notification_id")
        if not isinstance(raw, int):
            return
        try:
            found = await self._load_notification(raw)
        except Exception as exc:
            _log.warn("notification {n} not loaded: {e}", n=raw, e=exc)
            return
        if found is not None:
            self.write(notification_frame(found, event.id, now))
