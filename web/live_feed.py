"""One poller of the events table per web process, fanning new events out to live streams.

Every ``interval_s`` (0.5 s) while anyone listens, the feed reads the events after the
oldest position any subscriber holds (``db.events.events_after``) and hands each subscriber
the events past its own position that it accepts. One query serves every open browser, and
a subscriber resuming from an older id (``Last-Event-ID`` after a reconnect) is caught up by
the same query.

PostgreSQL hands out ids when a row is inserted, not when its transaction commits: an event
with a smaller id can become visible after a bigger one was read. Ids skipped in a read are
therefore kept as *gaps* for ``gap_grace_s`` and asked for again; one that shows up is
delivered late (rolled-back transactions leave gaps that simply expire), so no event of
another process is lost (R-7.1). SQLite has a single writer, so it has no such gaps.

PostgreSQL's LISTEN/NOTIFY can later replace the poll: a NOTIFY from ``db.events.emit``
would call :meth:`EventFeed.poll_soon` instead of the timer; the gap handling stays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from db.events import EventView, newest_id, read_events
from db.runner import DBRunner
from domain.clock import Clock, DelayedCall

_log = Logger()

POLL_INTERVAL_S = 0.5
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
    """Polls ``events`` for a whole web process; started by the first subscriber."""

    def __init__(
        self,
        db: DBRunner,
        clock: Clock,
        *,
        interval_s: float = POLL_INTERVAL_S,
        gap_grace_s: float = GAP_GRACE_S,
        replay_limit: int = REPLAY_LIMIT,
        batch: int = BATCH,
    ) -> None:
        self._db = db
        self._clock = clock
        self._interval_s = interval_s
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

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

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
            self._loop = LoopingCall(self._tick)
            self._loop.clock = self._clock  # type: ignore[assignment]
            self._loop.start(self._interval_s, now=False)
        if start < newest:
            self.poll_soon()  # a resume: catch up now rather than in 0.5 s
        return sub

    def poll_soon(self) -> None:
        if self._again is None or not self._again.active():
            self._again = self._clock.callLater(0, self._tick)

    def stop(self) -> None:
        for sub in list(self._subscribers):
            sub.close()

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)
        if not self._subscribers:
            if self._loop is not None and self._loop.running:
                self._loop.stop()
            self._loop = None
            self._gaps.clear()
            if self._again is not None and self._again.active():
                self._again.cancel()

    def _tick(self) -> None:
        if self._polling or not self._subscribers:
            return
        self._polling = True
        Deferred.fromCoroutine(self._poll()).addErrback(self._failed)

    def _failed(self, failure: Any) -> None:
        # The database is down or busy: try again at the next tick; streams stay open.
        if not self._failing:
            _log.warn("live feed: cannot read events: {e}", e=failure.getErrorMessage())
        self._failing = True

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
        if behind or len(read.events) >= self._batch:
            self.poll_soon()

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
