"""Server-Sent Events to a browser: the frames, and one stream per open page (R-2.5, R-4.8).

Each event goes out with an ``id:`` line (the events-table id), so that the browser's
automatic reconnect sends ``Last-Event-ID`` and resumes where it stopped; a freshly loaded
page passes ``?last_id=`` with the newest id it was built from, so nothing between the page
and the stream is missed (:func:`parse_last_id`).

:class:`EventStream` follows the process's :class:`web.live_feed.EventFeed` for one
browser: a page's own subclass says which events it takes (:meth:`EventStream.accept`) and
what it sends for them (:meth:`EventStream.deliver`, writing frames with
:meth:`EventStream.write`). A comment line every ``KEEPALIVE_S`` keeps proxies from closing an
idle stream and tells the server when the browser went away; every ``REVALIDATE_S`` the
session is checked again, and a stream whose session ended sends ``signed_out`` and closes.
The first check comes at a random moment within that period: streams opened together (every
page reconnecting after a restart) would otherwise check together, a thousand transactions
in one moment that the next change's delivery waits behind (bench/live_push.py).

A browser that stops reading (a laptop lid closed mid-stream, a stuck proxy) must not make
the server hold its events without end: the stream is a push producer on the connection,
and while Twisted says the connection's buffer is full, frames wait in the stream's own
buffer; past ``MAX_PENDING_BYTES`` the connection is cut (the browser, if it comes back,
reconnects with ``Last-Event-ID`` and is caught up from the table). Other streams are not
slowed: nothing waits on the slow one.
"""

from __future__ import annotations

import json
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.web.server import Request
from zope.interface import implementer

from db.events import EventView
from domain.clock import Clock, DelayedCall
from web.live_feed import EventFeed, Subscription

_log = Logger()

RETRY_MS = 3000
KEEPALIVE_S = 15.0
REVALIDATE_S = 60.0
# What a stream keeps for a browser that does not read, beyond the connection's own buffer
# (Twisted's, 64 KiB, and the kernel's); a busy minute of a supervisor's screen is far less.
MAX_PENDING_BYTES = 256 * 1024

StillSignedIn = Callable[[], Awaitable[bool]]
# When each stream first checks its session within REVALIDATE_S (spread, not synchronised).
_spread = random.Random()


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


@implementer(IPushProducer)
class EventStream:
    """One browser's stream; lives until the browser goes or the session ends."""

    def __init__(
        self,
        request: Request,
        *,
        clock: Clock,
        still_signed_in: StillSignedIn,
        max_pending_bytes: int = MAX_PENDING_BYTES,
    ) -> None:
        self._request = request
        self._clock = clock
        self._still_signed_in = still_signed_in
        self._subscription: Subscription | None = None
        self._keepalive: LoopingCall | None = None
        self._first_check: DelayedCall | None = None
        self._revalidation: LoopingCall | None = None
        self._finished = False
        self._paused = False
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._max_pending_bytes = max_pending_bytes
        self.cut_off = False  # the browser stopped reading and the buffer ran full
        self.done: Deferred[None] = Deferred(lambda _d: self._close())

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    def accept(self, event: EventView) -> bool:
        """Does this page want ``event``? (Decided before any work is done for it.)"""
        raise NotImplementedError

    def deliver(self, events: Sequence[EventView]) -> None:
        """Send what the page shows for ``events`` (accepted, in id order) with :meth:`write`."""
        raise NotImplementedError

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
        request.registerProducer(self, True)
        self.write(f"retry: {RETRY_MS}\n\n".encode() + sse_comment("hotline live events"))
        self._keepalive = LoopingCall(self._tick)
        self._keepalive.clock = self._clock  # type: ignore[assignment]
        self._keepalive.start(KEEPALIVE_S, now=False)
        self._first_check = self._clock.callLater(
            _spread.uniform(0, REVALIDATE_S), self._start_revalidation
        )

    def shared_frame(
        self, event: EventView, key: str, build: Callable[[EventView], bytes]
    ) -> bytes:
        """The frame ``build(event)`` makes for ``event``, made once for every stream of the
        process that asks with the same ``key`` in one delivery (``EventFeed.shared_frame``):
        ``key`` names all the frame depends on besides the event (a language, a right)."""
        if self._subscription is None:
            return build(event)
        return self._subscription.feed.shared_frame(event, key, build)

    def _tick(self) -> None:
        self.write(sse_comment("keepalive"))

    def _start_revalidation(self) -> None:
        self._first_check = None
        self._revalidation = LoopingCall(lambda: Deferred.fromCoroutine(self._revalidate()))
        self._revalidation.clock = self._clock  # type: ignore[assignment]
        self._revalidation.start(REVALIDATE_S, now=True)

    async def _revalidate(self) -> None:
        try:
            signed_in = await self._still_signed_in()
        except Exception:
            return  # the database is down: keep the stream, check again later
        if not signed_in and not self._finished:
            self.write(sse_frame({}, event="signed_out"))
            self._finish()

    def write(self, data: bytes) -> None:
        if self._finished:
            return
        if not self._paused:
            self._request.write(data)
            return
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes > self._max_pending_bytes:
            self._cut()

    # IPushProducer: Twisted pauses us while the connection's buffer is full.
    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        if pending and not self._finished:
            self._request.write(b"".join(pending))

    def stopProducing(self) -> None:
        self._close()

    def _cut(self) -> None:
        """The browser stopped reading: drop the connection rather than buffer without end."""
        _log.info("live stream: the browser stopped reading; closing its stream")
        self.cut_off = True
        self._pending, self._pending_bytes = [], 0
        transport = getattr(getattr(self._request, "channel", None), "transport", None)
        abort = getattr(transport, "abortConnection", None)
        self._close()
        if getattr(self._request, "producer", None) is self:
            self._request.unregisterProducer()  # the request must not keep a producer it lost
        if abort is not None:
            abort()  # a graceful close would wait for the unread bytes to drain
        else:
            self._request.finish()
        if not self.done.called:
            self.done.callback(None)

    def _finish(self) -> None:
        if not self._finished:
            self._request.unregisterProducer()
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
        if self._first_check is not None and self._first_check.active():
            self._first_check.cancel()
        self._first_check = None
        if self._revalidation is not None and self._revalidation.running:
            self._revalidation.stop()
