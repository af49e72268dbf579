"""The events-table reader behind every live stream (R-4.8, R-7.1): woken by commits, one
query per wake-up, fan-out, resume, late events of transactions that commit out of id order
(PostgreSQL), failures, and the slow safety poll."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock

from db.engine import make_engine
from db.events import EventView, emit
from db.models import Event
from tests.support.db import InlineDBRunner
from tests.support.deferreds import result_of
from tests.support.web_fixtures import START
from web.live_feed import RETRY_S, EventFeed, Subscription, sqlite_file

AT = START  # the web tests' clock starts there


def put(db: InlineDBRunner, kind: str = "agent.notice", agent_id: int = 1, **payload: Any) -> None:
    db.run_sync(lambda s: emit(s, kind, AT, agent_id=agent_id, **payload))


def put_with_id(db: InlineDBRunner, event_id: int, agent_id: int = 1) -> None:
    def insert(session: Session) -> None:
        session.add(Event(id=event_id, at=AT, kind="agent.notice", agent_id=agent_id, payload="{}"))

    db.run_sync(insert)


class Inbox:
    def __init__(self) -> None:
        self.events: list[EventView] = []

    def deliver(self, events: Sequence[EventView]) -> None:
        self.events.extend(events)

    @property
    def ids(self) -> list[int]:
        return [e.id for e in self.events]


def subscribe(
    feed: EventFeed, after: int | None, agent_id: int | None = 1
) -> tuple[Inbox, Subscription]:
    inbox = Inbox()
    sub = result_of(
        Deferred.fromCoroutine(
            feed.subscribe(
                after, lambda e: agent_id is None or e.agent_id == agent_id, inbox.deliver
            )
        )
    )
    return inbox, sub


def test_new_events_reach_the_subscribers_that_accept_them(
    db: InlineDBRunner, clock: Clock
) -> None:
    put(db)  # before anyone listens: not replayed to a stream starting "now"
    feed = EventFeed(db, clock)
    eva, _ = subscribe(feed, None, agent_id=1)
    jan, _ = subscribe(feed, None, agent_id=2)
    put(db, agent_id=1, notice="incoming")
    put(db, agent_id=2, notice="connected")
    put(db, agent_id=1, notice="connected")
    assert eva.events == [] and jan.events == []
    clock.advance(0.5)
    assert [e.payload["notice"] for e in eva.events] == ["incoming", "connected"]
    assert [e.payload["notice"] for e in jan.events] == ["connected"]
    clock.advance(0.5)
    assert len(eva.events) == 2  # nothing twice


def test_a_resuming_subscriber_is_caught_up_at_once(db: InlineDBRunner, clock: Clock) -> None:
    for n in range(5):
        put(db, n=n)
    feed = EventFeed(db, clock)
    inbox, _ = subscribe(feed, 2)
    clock.advance(0)  # the catch-up does not wait for the next tick
    assert inbox.ids == [3, 4, 5]


def test_a_resume_far_behind_starts_at_the_replay_limit(db: InlineDBRunner, clock: Clock) -> None:
    for n in range(10):
        put(db, n=n)
    feed = EventFeed(db, clock, replay_limit=3)
    inbox, _ = subscribe(feed, 0)
    clock.advance(0)
    assert inbox.ids == [8, 9, 10]


def test_a_big_backlog_is_read_in_batches_without_waiting_for_ticks(
    db: InlineDBRunner, clock: Clock
) -> None:
    for n in range(7):
        put(db, n=n)
    feed = EventFeed(db, clock, batch=2)
    inbox, _ = subscribe(feed, 0)
    for _ in range(5):
        clock.advance(0)
    assert inbox.ids == [1, 2, 3, 4, 5, 6, 7]


def test_an_event_committed_late_below_a_read_id_is_still_delivered(
    db: InlineDBRunner, clock: Clock
) -> None:
    put_with_id(db, 1)
    # Rows put without a wake-up, as another process's would be: the poll finds them.
    feed = EventFeed(db, clock, interval_s=0.5, watch_s=0)
    inbox, _ = subscribe(feed, None)
    put_with_id(db, 2)
    put_with_id(db, 4)  # 3 is still in an open transaction elsewhere
    clock.advance(0.5)
    assert inbox.ids == [2, 4]
    put_with_id(db, 3)
    clock.advance(0.5)
    assert inbox.ids == [2, 4, 3]
    clock.advance(0.5)
    assert inbox.ids == [2, 4, 3]


def test_a_gap_that_never_fills_is_forgotten_after_the_grace(
    db: InlineDBRunner, clock: Clock
) -> None:
    put_with_id(db, 1)
    feed = EventFeed(db, clock, gap_grace_s=2.0, interval_s=0.5, watch_s=0)
    inbox, _ = subscribe(feed, None)
    put_with_id(db, 3)
    clock.advance(0.5)
    clock.advance(3.0)
    put_with_id(db, 2)  # a rolled-back id reused by nobody; here: arrives far too late
    clock.advance(0.5)
    assert inbox.ids == [3]


def test_the_poll_runs_only_while_someone_listens(db: InlineDBRunner, clock: Clock) -> None:
    feed = EventFeed(db, clock)
    assert not feed.running
    _, first = subscribe(feed, None)
    _, second = subscribe(feed, None)
    assert feed.running and feed.subscribers == 2
    first.close()
    assert feed.running
    second.close()
    assert not feed.running and feed.subscribers == 0
    assert clock.getDelayedCalls() == []


class FlakyRunner(InlineDBRunner):
    """Fails the next ``failures`` reads, like a database that went away for a while."""

    failures = 0

    def run(self, fn: Any, *args: Any, **kwargs: Any) -> Deferred[Any]:
        if self.failures and fn.__name__ == "read_events":
            self.failures -= 1
            from sqlalchemy.exc import OperationalError

            return fail(OperationalError("SELECT", {}, Exception("connection refused")))
        return super().run(fn, *args, **kwargs)


def test_a_database_outage_delays_events_but_loses_none(engine: Any, clock: Clock) -> None:
    db = FlakyRunner(engine, clock)
    feed = EventFeed(db, clock, watch_s=0)  # only the commit's own wake-up and the retries
    inbox, _ = subscribe(feed, None)
    db.failures = 3
    put(db, notice="incoming")  # wakes the feed: its read fails, and so do two retries
    clock.advance(0)
    for _ in range(2):
        clock.advance(RETRY_S)
    assert inbox.events == [] and db.failures == 0
    clock.advance(RETRY_S)  # not the slow safety poll: a failed read is tried again soon
    assert [e.payload["notice"] for e in inbox.events] == ["incoming"]
    assert json.dumps(inbox.events[0].payload)


class SlowRunner(InlineDBRunner):
    """Holds back the results of reads until ``release``: a read in flight."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.held: list[tuple[Deferred[Any], Any]] = []
        self.hold = False

    def run(self, fn: Any, *args: Any, **kwargs: Any) -> Deferred[Any]:
        if self.hold and fn.__name__ == "read_events":
            d: Deferred[Any] = Deferred()
            self.held.append((d, self.run_sync(fn, *args, **kwargs)))
            return d
        return super().run(fn, *args, **kwargs)

    def release(self) -> None:
        held, self.held = self.held, []
        for d, result in held:
            d.callback(result)


def test_a_stream_resuming_while_a_read_is_in_flight_misses_nothing(
    engine: Any, clock: Clock
) -> None:
    db = SlowRunner(engine, clock)
    for n in range(3):
        put(db, n=n)
    feed = EventFeed(db, clock)
    live, _ = subscribe(feed, None)
    db.hold = True
    put(db, n=3)
    clock.advance(0.5)  # a read from id 3 is on its way
    db.hold = False
    resumed, _ = subscribe(feed, 1)  # wants 2, 3 and 4
    db.release()
    clock.advance(0)
    clock.advance(0)
    assert live.ids == [4]
    assert resumed.ids == [2, 3, 4]


def test_a_commit_in_this_process_wakes_the_streams_at_once(
    db: InlineDBRunner, clock: Clock
) -> None:
    feed = EventFeed(db, clock, watch_s=0)
    inbox, _ = subscribe(feed, None)
    put(db, notice="incoming")
    clock.advance(0)  # no tick has come: the commit itself woke the feed
    assert [e.payload["notice"] for e in inbox.events] == ["incoming"]


def test_a_transaction_without_events_wakes_nobody(db: InlineDBRunner, clock: Clock) -> None:
    feed = EventFeed(db, clock, watch_s=0)
    subscribe(feed, None)
    db.transactions.clear()
    db.run_sync(lambda s: None)
    clock.advance(0)
    assert db.transactions["read_events"] == 0


def test_a_rolled_back_event_wakes_nobody(db: InlineDBRunner, clock: Clock) -> None:
    feed = EventFeed(db, clock, watch_s=0)
    subscribe(feed, None)

    def fail_after_emit(session: Session) -> None:
        emit(session, "agent.notice", AT, agent_id=1)
        raise RuntimeError("the change failed")

    db.transactions.clear()
    try:
        db.run_sync(fail_after_emit)
    except RuntimeError:
        pass
    clock.advance(0)
    assert db.transactions["read_events"] == 0


def test_a_wake_during_a_read_is_not_lost(engine: Any, clock: Clock) -> None:
    db = SlowRunner(engine, clock)
    feed = EventFeed(db, clock, watch_s=0)
    inbox, _ = subscribe(feed, None)
    db.hold = True
    put(db, n=1)
    clock.advance(0)  # the read of n=1 is on its way ...
    db.hold = False
    put(db, n=2)  # ... when n=2 commits: its wake-up comes while the feed reads
    db.release()
    clock.advance(0)
    assert [e.payload["n"] for e in inbox.events] == [1, 2]


def test_another_process_commit_on_sqlite_is_seen_by_its_files_without_a_query(
    db: InlineDBRunner, clock: Clock, db_url: str
) -> None:
    """On SQLite nothing is sent between processes: the feed looks at the database's files
    (PostgreSQL: tests/web/test_live_push.py)."""
    if db.engine.dialect.name != "sqlite":
        assert sqlite_file(db_url) is None  # PostgreSQL: NOTIFY, not files
        return
    other = make_engine(db_url)  # another process's engine: no callback of this feed on it
    feed = EventFeed(db, clock, interval_s=3600)
    inbox, _ = subscribe(feed, None)
    with Session(other) as s, s.begin():
        s.add(Event(at=AT, kind="agent.notice", agent_id=1, payload='{"n": 1}'))
    other.dispose()
    clock.advance(0.1)
    clock.advance(0)
    assert [e.payload["n"] for e in inbox.events] == [1]


def test_the_safety_poll_finds_what_no_wake_up_announced(db: InlineDBRunner, clock: Clock) -> None:
    feed = EventFeed(db, clock, watch_s=0, interval_s=2.0)
    inbox, _ = subscribe(feed, None)
    put_with_id(db, 1)  # written without emit(): no wake-up
    clock.advance(1.9)
    assert inbox.ids == []
    clock.advance(0.1)
    assert inbox.ids == [1]
