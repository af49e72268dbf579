"""``GET /events``: the agent's own live events as Server-Sent Events (R-2.5, R-2.3, R-2.16).

Each event goes out with an ``id:`` line (the events-table id), so the browser's automatic
reconnect sends ``Last-Event-ID`` and resumes where it stopped; a freshly loaded page passes
``?last_id=`` with the newest id it was built from, so nothing between the page and the
stream is missed. SSE event types:

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

A comment line every ``KEEPALIVE_S`` keeps proxies from closing an idle stream and tells the
server when the browser went away; every ``REVALIDATE_S`` the session is checked again.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.web.server import Request

from agent_desktop.agent_state import desk_controls
from agent_desktop.badge import badge_from_event
from agent_desktop.desk import NotificationView
from agent_desktop.i18n import Language
from agent_desktop.live_feed import EventFeed, Subscription
from agent_desktop.status_line import status_message
from db.events import EventView
from domain.clock import Clock
from domain.texts import N_

_log = Logger()

RETRY_MS = 3000
KEEPALIVE_S = 15.0
REVALIDATE_S = 60.0
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


def sse_frame(
    data: Mapping[str, Any], *, event: str | None = None, event_id: int | None = None
) -> bytes:
    """One Server-Sent Events message. JSON on one ``data:`` line (json escapes newlines)."""
    lines = []
    if event_id is not None:
        lines.append(f"id: {int(event_id)}")
    if event is not None:
        if any(c in event for c in "\r\n:"):
            raise ValueError("an SSE event type is one plain word")
        lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def sse_comment(text: str) -> bytes:
    return (": " + " ".join(text.split()) + "\n\n").encode("utf-8")


def parse_last_id(header: str | None, query: str | None) -> int | None:
    """The id to resume after: the ``Last-Event-ID`` header wins over ``?last_id=``.

    None when neither is given; ValueError when the value is not a plain number.
    """
    for raw in (header, query):
        if raw is None or raw.strip() == "":
            continue
        text = raw.strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 18:
            raise ValueError(f"not an event id: {text[:20]!r}")
        return int(text)
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
        data = {
            "kind": event.kind,
            "item_id": event.payload.get("item_id"),
            "box_id": event.payload.get("box_id"),
            "state": event.payload.get("state"),
        }
        return sse_frame(data, event="backoffice", event_id=event.id)
    return None


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
StillSignedIn = Callable[[], Awaitable[bool]]


class AgentEventStream:
    """One browser's stream; lives until the browser goes or the session ends."""

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
        self._request = request
        self._agent_id = agent_id
        self._box_ids = box_ids
        self._language = language
        self._pause_names = pause_names
        self._clock = clock
        self._load_notification = load_notification
        self._still_signed_in = still_signed_in
        self._subscription: Subscription | None = None
        self._keepalive: LoopingCall | None = None
        self._since_check_s = 0.0
        self._finished = False
        self.done: Deferred[None] = Deferred(lambda _d: self._close())

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    def accept(self, event: EventView) -> bool:
        if event.kind.startswith(BACKOFFICE_PREFIX):
            box_id = event.payload.get("box_id")
            return self._box_ids is None or box_id in self._box_ids
        return event.agent_id == self._agent_id and event.kind in AGENT_KINDS

    async def start(self, feed: EventFeed, after_id: int | None) -> None:
        request = self._request
        request.setHeader(b"Content-Type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"Cache-Control", b"no-store")
        request.setHeader(b"X-Accel-Buffering", b"no")  # nginx: do not buffer the stream
        request.notifyFinish().addBoth(lambda _: self._close())
        # Subscribe before the first byte: a database that is down still gets a clean 503.
        self._subscription = await feed.subscribe(after_id, self.accept, self.deliver)
        if self._finished:  # the browser left while we subscribed
            self._finish()
            return
        self._write(f"retry: {RETRY_MS}\n\n".encode() + sse_comment("hotline live events"))
        self._keepalive = LoopingCall(self._tick)
        self._keepalive.clock = self._clock  # type: ignore[assignment]
        self._keepalive.start(KEEPALIVE_S, now=False)

    def deliver(self, events: Sequence[EventView]) -> None:
        now = self._now()
        for event in events:
            if event.kind == "agent.notification":
                Deferred.fromCoroutine(self._send_notification(event, now))
                continue
            frame = present(event, self._language, self._pause_names, now)
            if frame is not None:
                self._write(frame)

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
            self._write(notification_frame(found, event.id, now))

    def _tick(self) -> None:
        self._write(sse_comment("keepalive"))
        self._since_check_s += KEEPALIVE_S
        if self._since_check_s >= REVALIDATE_S:
            self._since_check_s = 0.0
            Deferred.fromCoroutine(self._revalidate())

    async def _revalidate(self) -> None:
        try:
            signed_in = await self._still_signed_in()
        except Exception:
            return  # the database is down: keep the stream, check again later
        if not signed_in and not self._finished:
            self._write(sse_frame({}, event="signed_out"))
            self._finish()

    def _write(self, data: bytes) -> None:
        if not self._finished:
            self._request.write(data)

    def _finish(self) -> None:
        if not self._finished:
            self._request.finish()  # notifyFinish fires -> _close
        self._close()
        if not self.done.called:
            self.done.callback(None)

    def _close(self) -> None:
        self._finished = True
        if self._subscription is not None:
            self._subscription.close()
        if self._keepalive is not None and self._keepalive.running:
            self._keepalive.stop()
