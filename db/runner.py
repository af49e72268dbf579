"""DBRunner: runs synchronous SQLAlchemy work in a thread pool and hands back Deferreds.

One call of :meth:`DBRunner.run` is one transaction: the function gets a ``Session``, its
return value (a frozen dataclass or plain values; never an ORM object) becomes the Deferred's
result; an exception rolls the transaction back and fails the Deferred.

A function that only reads goes through :meth:`DBRunner.read` instead (issue 12): on SQLite
its transaction does not take the write lock, so pages and waiting callers never queue
behind a call's writes, and it runs on a thread pool of its own, so reads are never stuck
behind threads that wait for the write lock. A write inside it fails (``PRAGMA query_only``).
:meth:`DBRunner.read_rows` is the same for a function that needs no ORM session, only a
connection (the prepared reads of ``db.prepared``): a session's own bookkeeping cost more
than the page's queries (issue 12).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads, IReactorThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from db.engine import READ_ONLY

P = ParamSpec("P")
T = TypeVar("T")


class DBRunner:
    """Owns two thread pools (writes, reads) sized for the engine's connection pool."""

    def __init__(
        self,
        engine: Engine,
        reactor: IReactorFromThreads | IReactorThreads,
        threads: int = 8,
        read_threads: int = 4,
    ) -> None:
        self.engine = engine
        self._reactor = reactor
        self.bind(engine)
        self._pool = ThreadPool(minthreads=1, maxthreads=threads, name="hotline-db")
        self._read_pool = ThreadPool(minthreads=1, maxthreads=read_threads, name="hotline-db-read")
        self._started = False

    def bind(self, engine: Engine) -> None:
        """Run the transactions from now on against ``engine``."""
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._read_engine = engine.execution_options(**{READ_ONLY: True})
        self._read_sessions = sessionmaker(self._read_engine, expire_on_commit=False)

    def start(self) -> None:
        if not self._started:
            self._pool.start()
            self._read_pool.start()
            self._started = True

    def stop(self) -> None:
        if self._started:
            self._pool.stop()
            self._read_pool.stop()
            self._started = False

    def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(session, *args)`` in one transaction on the calling thread."""
        with self._sessions.begin() as session:
            return fn(session, *args, **kwargs)

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Deferred[T]:
        """Run ``fn(session, *args)`` in one transaction on the pool; a Deferred of its result."""
        self.start()
        return deferToThreadPool(
            self._reactor,  # type: ignore[arg-type]
            self._pool,
            self.run_sync,
            fn,
            *args,
            **kwargs,
        )

    def read_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(session, *args)``, which only reads, in one transaction on this thread."""
        with self._read_sessions.begin() as session:
            return fn(session, *args, **kwargs)

    def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Deferred[T]:
        """Like :meth:`run` for a function that only reads: no write lock, its own threads."""
        self.start()
        return deferToThreadPool(
            self._reactor,  # type: ignore[arg-type]
            self._read_pool,
            self.read_sync,
            fn,
            *args,
            **kwargs,
        )

    def read_rows_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(connection, *args)``, which only reads, in one transaction on this thread."""
        with self._read_engine.connect() as connection, connection.begin():
            return fn(connection, *args, **kwargs)

    def read_rows(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Deferred[T]:
        """Like :meth:`read` for a function that takes a ``Connection``, not a ``Session``."""
        self.start()
        return deferToThreadPool(
            self._reactor,  # type: ignore[arg-type]
            self._read_pool,
            self.read_rows_sync,
            fn,
            *args,
            **kwargs,
        )

    def session(self) -> Session:
        """A plain session for scripts and tests that run outside the reactor."""
        return self._sessions()
