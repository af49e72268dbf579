"""Heavy work of a page or a service done off the reactor's thread, a bounded number at once
(R-7.5).

Printing a report as PDF (WeasyPrint: layout, fonts, the chart's SVG) takes from a fraction
of a second to seconds of CPU. Done on the reactor's thread it stalled every call, every
page and every live stream of the process while it drew. :class:`WorkerThreads` runs such a
function in a thread pool of its own, with at most ``at_once`` of them under way at a time
(the others wait for their turn, first come first served), so a burst of PDF downloads and
scheduled e-mails takes at most that many cores and never the reactor's nor the database's
threads; and those threads run at the lowest scheduling priority, so the calls come first.

``run_in_thread`` is a port, as in ``web.password_checks``: the running process gives a
thread pool (:meth:`WorkerThreads.in_threads`), tests under a Clock run the work inline
(:meth:`WorkerThreads.inline`) or hold it in a thread they release.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

from twisted.internet.defer import Deferred, DeferredSemaphore, maybeDeferred
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

T = TypeVar("T")

# WeasyPrint keeps caches of fonts and styles (fontconfig, Pango) that are not documented
# as safe to share between threads drawing at the same moment: one document at a time by
# default; the pool's thread is still not the reactor's.
AT_ONCE = 1

RunInThread = Callable[[Callable[[], Any]], "Deferred[Any]"]


# The niceness of the threads that do such work: the lowest priority there is, so that
# when the cores are busy the reactor's thread, which serves the calls, gets them first.
NICENESS = 19


class OwnPool:
    """A thread pool of its own, started on the first piece of work, stopped with its owner;
    its threads run at ``niceness`` (Linux lets one thread be niced), so the calls come first."""

    def __init__(
        self, reactor: IReactorFromThreads, threads: int, name: str, niceness: int = NICENESS
    ) -> None:
        self._reactor = reactor
        self._pool = ThreadPool(minthreads=0, maxthreads=threads, name=name)
        self._started = False
        self._niceness = niceness
        self._niced = threading.local()

    def run(self, fn: Callable[[], T]) -> Deferred[T]:
        if not self._started:
            self._pool.start()
            self._started = True
        return deferToThreadPool(self._reactor, self._pool, self._yielding, fn)  # type: ignore[arg-type]

    def _yielding(self, fn: Callable[[], T]) -> T:
        if not getattr(self._niced, "done", False):
            lower_this_threads_priority(self._niceness)
            self._niced.done = True
        return fn()

    def stop(self) -> None:
        if self._started:
            self._pool.stop()
            self._started = False


def lower_this_threads_priority(niceness: int = NICENESS) -> int | None:
    """Give the calling thread ``niceness``; its niceness after, or ``None`` where a single
    thread cannot be niced (not Linux)."""
    try:
        # On Linux a thread is a task of its own: PRIO_PROCESS with its id nices only it.
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    except (AttributeError, OSError):
        return None


class WorkerThreads:
    """Runs functions in threads, at most ``at_once`` at a time."""

    def __init__(
        self,
        run_in_thread: RunInThread,
        *,
        at_once: int = AT_ONCE,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self._run_in_thread = run_in_thread
        self._turns = DeferredSemaphore(at_once)
        self._on_stop = on_stop

    @classmethod
    def in_threads(
        cls, reactor: IReactorFromThreads, *, at_once: int = AT_ONCE, name: str = "hotline-work"
    ) -> WorkerThreads:
        """Work in a pool of ``at_once`` threads of its own (the running process)."""
        pool = OwnPool(reactor, at_once, name)
        return cls(pool.run, at_once=at_once, on_stop=pool.stop)

    @classmethod
    def inline(cls) -> WorkerThreads:
        """Work on the calling thread, done at once (tests that drive time with a Clock)."""
        return cls(maybeDeferred)

    @classmethod
    def for_clock(
        cls, clock: object, *, at_once: int = AT_ONCE, name: str = "hotline-work"
    ) -> WorkerThreads:
        """Threads when ``clock`` is the running reactor, inline under a test's Clock."""
        if IReactorFromThreads.providedBy(clock):
            return cls.in_threads(cast(IReactorFromThreads, clock), at_once=at_once, name=name)
        return cls.inline()

    def run(self, fn: Callable[..., T], *args: Any) -> Deferred[T]:
        """``fn(*args)`` in a thread when its turn comes; its result or its exception."""
        return self._turns.run(self._run_in_thread, lambda: fn(*args))

    @property
    def under_way(self) -> int:
        """How many pieces of work hold a turn now."""
        return self._turns.limit - self._turns.tokens

    @property
    def queued(self) -> int:
        """How many wait for a turn."""
        return len(self._turns.waiting)

    def stop(self) -> None:
        """The process is stopping: let the threads go."""
        if self._on_stop is not None:
            self._on_stop()
