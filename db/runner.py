"""DBRunner: runs synchronous SQLAlchemy work in a thread pool and hands back Deferreds.

One call of :meth:`DBRunner.run` is one transaction: the function gets a ``Session``, its
return value (a frozen dataclass or plain values; never an ORM object) becomes the Deferred's
result; an exception rolls the transaction back and fails the Deferred.
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

P = ParamSpec("P")
T = TypeVar("T")


class DBRunner:
    """Owns a thread pool sized for the engine's connection pool."""

    def __init__(
        self, engine: Engine, reactor: IReactorFromThreads | IReactorThreads, threads: int = 8
    ) -> None:
        self.engine = engine
        self._reactor = reactor
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._pool = ThreadPool(minthreads=1, maxthreads=threads, name="hotline-db")
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._pool.start()
            self._started = True

    def stop(self) -> None:
        if self._started:
            self._pool.stop()
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

    def session(self) -> Session:
        """A plain session for scripts and tests that run outside the reactor."""
        return self._sessions()
