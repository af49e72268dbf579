"""Push, not poll, across processes and over real sockets (R-4.8, R-7.1).

The feed here runs on the real reactor with its safety poll an hour apart, so an event that
arrives came by a wake-up: from another process's commit (PostgreSQL: its NOTIFY reaching
the feed's LISTEN connection, which reconnects by itself; SQLite: the database's files
changing). The writer is a separate Python process. A browser that stops reading is cut off
at a bounded buffer while another stream on the same feed gets every event.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest_twisted
from sqlalchemy import Engine, text
from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import deferLater
from twisted.internet.utils import getProcessOutputAndValue
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

from db.events import EventView, emit
from db.runner import DBRunner
from tests.support.web_fixtures import START
from tests.web.test_live_feed import Inbox
from web.live_feed import EventFeed
from web.sse import EventStream, sse_frame

reactor: Any = _reactor
SAFETY_S = 30.0  # a wake-up that never comes fails the test after this, not a hang
NO_POLL_S = 3600.0  # the safety poll, out of the way: only wake-ups deliver

WRITER = """
import sys
from datetime import UTC, datetime
from sqlalchemy.orm import Session
from db.engine import make_engine
from db.events import emit
engine = make_engine(sys.argv[1])
with Session(engine) as session, session.begin():
    emit(session, "agent.notice", datetime.now(UTC), agent_id=1, notice=sys.argv[2])
engine.dispose()
"""


async def write_in_another_process(db_url: str, notice: str) -> None:
    _out, err, code = await getProcessOutputAndValue(
        sys.executable, ["-c", WRITER, db_url, notice], env=None
    )
    assert code == 0, err.decode()


async def until(predicate: Callable[[], bool], what: str) -> None:
    waited_s = 0.0
    while not predicate():
        assert waited_s < SAFETY_S, f"never happened: {what}"
        await deferLater(reactor, 0.02, lambda: None)
        waited_s += 0.02


def notices(inbox: Inbox) -> list[str]:
    return [e.payload["notice"] for e in inbox.events]


@asynccontextmanager
async def following(engine: Engine) -> AsyncIterator[tuple[EventFeed, Inbox]]:
    """A feed on the real reactor (safety poll out of the way) and one subscriber."""
    db = DBRunner(engine, reactor)
    feed = EventFeed(db, reactor, interval_s=NO_POLL_S)
    inbox = Inbox()
    try:
        await feed.subscribe(None, lambda e: True, inbox.deliver)
        yield feed, inbox
    finally:
        feed.stop()
        db.stop()


@pytest_twisted.ensureDeferred
async def test_a_commit_in_another_process_reaches_the_stream_without_a_poll(
    engine: Engine, db_url: str
) -> None:
    async with following(engine) as (feed, inbox):
        if feed.listener is not None:
            await until(feed.listener.listening.is_set, "LISTEN in force")
        await write_in_another_process(db_url, "incoming")
        await until(lambda: notices(inbox) == ["incoming"], "the other process's event")
        await write_in_another_process(db_url, "connected")
        await until(lambda: notices(inbox) == ["incoming", "connected"], "the second event")


@pytest_twisted.ensureDeferred
async def test_a_listen_connection_that_dies_is_made_again_and_hears_the_next_commit(
    engine: Engine, db_url: str
) -> None:
    async with following(engine) as (feed, inbox):
        listener = feed.listener
        if engine.dialect.name != "postgresql":
            assert listener is None  # SQLite: nothing to listen to; its files are watched
            return
        assert listener is not None
        await until(listener.listening.is_set, "LISTEN in force")
        first_pid = listener.backend_pid
        with engine.begin() as conn:  # an administrator (or a failover) ends the connection
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid})
        await until(
            lambda: listener.listening.is_set() and listener.backend_pid != first_pid,
            "LISTEN on a new connection",
        )
        await write_in_another_process(db_url, "after the cut")
        await until(lambda: notices(inbox) == ["after the cut"], "the event after the cut")


BIG_FRAME_BYTES = 32 * 1024
MAX_EVENTS = 2000  # 64 MiB: far more than a loopback socket's buffers


class BigFrames(EventStream):
    """Sends a large frame per event: a slow reader's buffer fills after a few events."""

    def accept(self, event: EventView) -> bool:
        return True

    def deliver(self, events: Sequence[EventView]) -> None:
        for event in events:
            self.write(sse_frame({"pad": "x" * BIG_FRAME_BYTES}, event_id=event.id))


class StreamPage(Resource):
    isLeaf = True

    def __init__(self, feed: EventFeed) -> None:
        super().__init__()
        self.feed = feed
        self.streams: list[BigFrames] = []
        self.requests: list[Request] = []

    def render_GET(self, request: Request) -> Any:
        async def signed_in() -> bool:
            return True

        stream = BigFrames(request, clock=reactor, still_signed_in=signed_in)
        self.streams.append(stream)
        self.requests.append(request)
        Deferred.fromCoroutine(stream.start(self.feed, None))
        return NOT_DONE_YET


class Reader(Protocol):
    def __init__(self, *, reads: bool) -> None:
        self.reads = reads
        self.received = 0

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        if not self.reads:
            self.transport.pauseProducing()  # type: ignore[attr-defined]  # never reads again

    def dataReceived(self, data: bytes) -> None:
        self.received += len(data)


@pytest_twisted.ensureDeferred
async def test_a_browser_that_stops_reading_is_cut_off_and_the_others_get_everything(
    engine: Engine,
) -> None:
    db = DBRunner(engine, reactor)
    feed = EventFeed(db, reactor, interval_s=NO_POLL_S)
    page = StreamPage(feed)
    port = reactor.listenTCP(0, Site(page), interface="127.0.0.1")
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port)
    fast, slow = Reader(reads=True), Reader(reads=False)
    try:
        await connectProtocol(endpoint, fast)
        await connectProtocol(endpoint, slow)
        await until(lambda: len(page.streams) == 2 and feed.subscribers == 2, "two streams")
        slow_stream = page.streams[1]
        # One event at a time, each read by the fast browser before the next: it never lags,
        # while the slow one's socket buffers and then the stream's own buffer fill up.
        sent = 0
        while not slow_stream.cut_off:
            assert sent < MAX_EVENTS, "the slow browser was never cut off"
            await db.run(lambda s, n=sent: emit(s, "agent.notice", START, agent_id=1, n=n))
            sent += 1
            await until(lambda n=sent: fast.received >= n * BIG_FRAME_BYTES, "the fast browser")
        for _ in range(3):  # and the feed goes on for the fast one
            await db.run(lambda s, n=sent: emit(s, "agent.notice", START, agent_id=1, n=n))
            sent += 1
        await until(lambda: fast.received >= sent * BIG_FRAME_BYTES, "every event, fast reader")
        assert not page.streams[0].cut_off
        assert feed.subscribers == 1  # the cut stream let go of the feed
        # and its request let go of the stream (else Twisted logs "Producer was not
        # unregistered" when it cleans the request up)
        assert page.requests[1].producer is None
    finally:
        feed.stop()
        await port.stopListening()
        for reader in (fast, slow):
            if reader.transport is not None:
                reader.transport.loseConnection()
        db.stop()
