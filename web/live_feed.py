"""One reader of the events table per web process, fanning new events out to live streams.

Push, not poll (R-4.8, R-7.1): the feed reads the events after the oldest position any
subscriber holds (``db.events.read_events``) when it is told something was written, and
hands each subscriber the events past its own position that it accepts. One query serves
every open browser, and a subscriber resuming from an older id (``Last-Event-ID`` after a
reconnect) is caught up by the same query. What wakes it:

- a commit in this process that wrote an event (``db.events.on_commit``): at once;
- on PostgreSQL, another process's commit: its ``NOTIFY`` reaches this process's
  ``db.notify_listener.NotifyListener`` (one connection in a thread, reconnecting by itself);
- on SQLite, another process's commit: the database's files change (a ``stat`` every
  ``watch_s``, no query);
- a slow safety poll every ``interval_s``, for anything the above missed.

PostgreSQL hands out ids when a row is inserted, not when its transaction commits: an event
with a smaller id can become visible after a bigger one was read. Ids skipped in a read are
therefore kept as *gaps* for ``gap_grace_s`` and asked for again at the next read (the late
transaction's own commit wakes the feed); one that shows up is delivered late (rolled-back
transactions leave gaps that simply expire), so no event of another process is lost (R-7.1).
SQLite has a single writer, so it has no such gaps.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy.engine import make_url
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from db.engine import is_sqlite
from db.events import EventRead, EventView, newest_id, on_commit, read_events
from db.notify_listener import NotifyListener
from db.runner import DBRunner
from domain.clock import Clock, DelayedCall

_log = Logger()

# Only a safety net now: every change wakes the feed itself (see the module docstring).
POLL_INTERVAL_S = 2.0
WATCH_INTERVAL_S = 0.1
RETRY_S = 0.5  # after a failed read (the database is down or busy)
BATCH = 500
# A stream resuming from an id this far behind the newest event starts here instead: the
# status line is about now, not about a backlog.
REPLAY_LIMIT = 2000
GAP_GRACE_S = 10.0
MAX_GAPS = 200


Accept = Callable[[EventView], bool]
Deliver = Callable[[Sequence[EventView]], None]


@dataclass(eq=False)
class Subscription:
    """One live stream's place in the feed."""

    feed: EventFeed
    position: int
    accept: Accept
    deliver: Deliver
    closed: bool = field(default=False)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.feed._unsubscribe(self)


class EventFeed:
    """Reads ``events`` for a whole web process when woken; started by the first subscriber.

    ``listen`` (PostgreSQL only): LISTEN for other processes' NOTIFY in a thread; by default
    when ``clock`` is a reactor that can take calls from threads (a serving process), not
    with a test's Clock. ``watch_s``: how often an SQLite database's files are looked at
    (0: never)."""

    def __init__(
        self,
        db: DBRunner,
        clock: Clock,
        *,
        interval_s: float = POLL_INTERVAL_S,
        watch_s: float = WATCH_INTERVAL_S,
        gap_grace_s: float = GAP_GRACE_S,
        replay_limit: int = REPLAY_LIMIT,
        batch: int = BATCH,
        listen: bool | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._interval_s = interval_s
        self._watch_s = watch_s
        self._from_thread: Callable[[Callable[[], None]], Any] | None = None
        if IReactorFromThreads.providedBy(clock):
            self._from_thread = cast(IReactorFromThreads, clock).callFromThread
        postgresql = db.engine.dialect.name == "postgresql"
        self._listen = postgresql and (self._from_thread is not None if listen is None else listen)
        self._listener: NotifyListener | None = None
        self.sqlite_file = sqlite_file(str(db.engine.url))
        self._file_seen: tuple[int, ...] = ()
        self._watch: LoopingCall | None = None
        self._unhook: Callable[[], None] | None = None
        self._dirty = False
        self._retry: DelayedCall | None = None
        self._gap_grace_s = gap_grace_s
        self._replay_limit = replay_limit
        self._batch = batch
        self._subscribers: list[Subscription] = []
        self._gaps: dict[int, float] = {}  # event id -> when first missed
        self._highest = 0
        self._loop: LoopingCall | None = None
        self._polling = False
        self._again: DelayedCall | None = None
        self._failing = False
        self._shared: dict[tuple[int, str], bytes] | None = None

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    @property
    def listener(self) -> NotifyListener | None:
        """The LISTEN connection's thread (PostgreSQL in a serving process), once started."""
        return self._listener

    @property
    def running(self) -> bool:
        return self._loop is not None and self._loop.running

    async def subscribe(
        self, after_id: int | None, accept: Accept, deliver: Deliver
    ) -> Subscription:
        """Follow the events after ``after_id`` (None: from now on) that ``accept`` takes."""
        newest = await self._db.run(newest_id)
        start = newest if after_id is None else min(max(0, after_id), newest)
        start = max(start, newest - self._replay_limit)
        sub = Subscription(self, start, accept, deliver)
        if not self._subscribers:
            self._highest = max(self._highest, newest)
        self._subscribers.append(sub)
        if self._loop is None:
            self._start_waking()
        if start < newest:
            self.poll_soon()  # a resume: catch up now rather than at the next wake-up
        return sub

    def _start_waking(self) -> None:
        self._unhook = on_commit(self._db.engine, self._committed)
        if self._listen and self._listener is None:
            self._listener = NotifyListener(self._db.engine, self._committed)
            self._listener.start()
        self._loop = LoopingCall(self._tick)
        self._loop.clock = self._clock  # type: ignore[assignment]
        self._loop.start(self._interval_s, now=False)
        if self.sqlite_file is not None and self._watch_s > 0:
            self._file_seen = _stat(self.sqlite_file)
            self._watch = LoopingCall(self._look_at_file)
            self._watch.clock = self._clock  # type: ignore[assignment]
            self._watch.start(self._watch_s, now=False)

    def _committed(self) -> None:
        """An event was committed (here, or elsewhere on PostgreSQL). Any thread."""
        if self._from_thread is not None:
            self._from_thread(self.poll_soon)
        else:
            self.poll_soon()  # a test's inline runner: already on the test's thread

    def _look_at_file(self) -> None:
        assert self.sqlite_file is not None
        seen = _stat(self.sqlite_file)
        if seen != self._file_seen:
            self._file_seen = seen
            self.poll_soon()

    def poll_soon(self) -> None:
        if not self._subscribers:
            return
        if self._polling:
            self._dirty = True  # a read is on its way and may have started before the change
            return
        if self._again is None or not self._again.active():
            self._again = self._clock.callLater(0, self._tick)

    def stop(self) -> None:
        for sub in list(self._subscribers):
            sub.close()
        if self._listener is not None:
            self._listener.stop()
            self._listener = None

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)
        if not self._subscribers:
            for loop in (self._loop, self._watch):
                if loop is not None and loop.running:
                    loop.stop()
            self._loop = self._watch = None
            if self._unhook is not None:
                self._unhook()
                self._unhook = None
            self._gaps.clear()
            self._dirty = False
            for call in (self._again, self._retry):
                if call is not None and call.active():
                    call.cancel()

    def shared_frame(
        self, event: EventView, key: str, build: Callable[[EventView], bytes]
    ) -> bytes:
        """``build(event)``, once per read for ``event`` and ``key``: what many streams send alike
        (a back-office item's change goes to every stream of the box's workers) is made once
        and the same bytes handed to each. ``key`` names what the frame depends on besides
        the event (a language, a right); outside a delivery, simply ``build(event)``."""
        if self._shared is None:
            return build(event)
        found = self._shared.get((event.id, key))
        if found is None:
            found = self._shared[(event.id, key)] = build(event)
        return found

    def _tick(self) -> None:
        if self._polling or not self._subscribers:
            return
        self._polling = True
        Deferred.fromCoroutine(self._poll()).addErrback(self._failed)

    def _failed(self, failure: Any) -> None:
        # The database is down or busy: try again shortly; streams stay open.
        if not self._failing:
            _log.warn("live feed: cannot read events: {e}", e=failure.getErrorMessage())
        self._failing = True
        if self._subscribers and (self._retry is None or not self._retry.active()):
            self._retry = self._clock.callLater(RETRY_S, self._tick)

    async def _poll(self) -> None:
        try:
            now = self._clock.seconds()
            self._gaps = {g: t for g, t in self._gaps.items() if now - t < self._gap_grace_s}
            start = min(s.position for s in self._subscribers)
            read = await self._db.run(read_events, start, sorted(self._gaps), self._batch)
        finally:
            self._polling = False
        if self._failing:
            _log.info("live feed: reading events again")
            self._failing = False
        for event in read.late:
            self._gaps.pop(event.id, None)
        self._note_gaps(start, read.events, self._clock.seconds())
        batch_top = read.events[-1].id if read.events else start
        self._shared = {}  # the frames made for this read (shared_frame)
        try:
            behind = self._deliver(start, read, batch_top)
        finally:
            self._shared = None
        if behind or self._dirty or len(read.events) >= self._batch:
            self._dirty = False
            self.poll_soon()

    def _deliver(self, start: int, read: EventRead, batch_top: int) -> bool:
        """Hand each subscriber what it accepts of ``read``; whether one is behind."""
        behind = False
        for sub in list(self._subscribers):
            if sub.position < start:
                # Joined while this read was on its way: it needs the events from its own
                # position on, which the next read (right away) starts from.
                behind = True
                continue
            fresh = [e for e in read.events if e.id > sub.position]
            # A late event lies below the position of streams that already read past it.
            late = [e for e in read.late if e.id <= sub.position]
            wanted = [e for e in sorted([*late, *fresh], key=lambda e: e.id) if sub.accept(e)]
            sub.position = max(sub.position, batch_top)
            if wanted and not sub.closed:
                try:
                    sub.deliver(wanted)
                except Exception:
                    _log.failure("live feed: a stream failed to take events")
        return behind

    def _note_gaps(self, start: int, events: Sequence[EventView], now: float) -> None:
        if not events:
            return
        floor, top = max(start, self._highest), events[-1].id
        self._highest = max(self._highest, top)
        if top - floor > 10 * MAX_GAPS:
            return  # a jump in the id sequence, not transactions still committing
        seen = {e.id for e in events}
        for event_id in range(floor + 1, top):
            if event_id not in seen and len(self._gaps) < MAX_GAPS:
                self._gaps.setdefault(event_id, now)


def sqlite_file(url: str) -> str | None:
    """The file of a file-backed SQLite database, or None."""
    if not is_sqlite(url):
        return None
    database = make_url(url).database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return database


def _stat(database: str) -> tuple[int, ...]:
    """What another process's commit changes: the write-ahead log (appended to by every
    commit) and the database file (written when the last connection closes and the log is
    folded back into it and removed)."""
    seen: list[int] = []
    for path in (database, database + "-wal"):
        try:
            st = os.stat(path)
        except OSError:
            seen += [0, -1]
        else:
            seen += [st.st_mtime_ns, st.st_size]
    return tuple(seen)
