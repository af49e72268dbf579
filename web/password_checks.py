"""Sign-ins' password checks, bounded, off the reactor and off the database's threads
(R-7.4, R-7.5).

A password check is scrypt: tens of milliseconds of CPU and 16 MiB of memory, on purpose.
Run inside the sign-in's database transaction, it held one of the DB runner's threads (and
on SQLite the write lock) for all that time, so a flood of sign-ins made the calls wait for
their database work (issue 11, item 9). A sign-in is therefore three steps: read the hash
(one short transaction), check the password here, open the session (another short
transaction); and the whole sign-in passes this gate:

- at most ``at_once`` sign-ins are under way at a time (their two short transactions and
  their check), so sign-ins never hold more than that many of the DB runner's threads and
  the calls keep the rest;
- at most ``waiting`` more wait for their turn, first come first served; beyond that a
  sign-in is refused at once with :class:`SignInsBusyError` (the page answers 503, "try
  again in a few seconds") rather than queueing without end;
- one address holds at most ``per_address`` of those places (under way or waiting), so a
  burst from one address cannot fill the queue and turn everyone else away for a few
  seconds (issue 11); beyond it that address is refused, the others still get in;
- the scrypt check runs in a thread pool of its own (``at_once`` threads), never on the
  reactor's thread nor in the DB runner's pool, and those threads run at the lowest
  scheduling priority (Linux lets one thread be "niced"): when the cores are busy, the
  reactor's thread, which serves the calls, gets the CPU first and a sign-in waits.

``run_in_thread`` is a port: the running process gives a thread pool
(:meth:`PasswordChecks.in_threads`), tests give an inline runner or Deferreds they fire.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, DeferredSemaphore, fail, maybeDeferred
from twisted.internet.interfaces import IReactorFromThreads

from db.passwords import verify_password
from web.worker_threads import NICENESS, OwnPool

T = TypeVar("T")

AT_ONCE = 2
# The niceness of the check threads: the lowest priority there is.
CHECK_NICENESS = NICENESS
WAITING = 32
PER_ADDRESS = 4

RunInThread = Callable[[Callable[[], bool]], "Deferred[bool]"]


class SignInsBusyError(Exception):
    """More sign-ins at once than the server takes: try again in a moment."""


class PasswordChecks:
    """The gate every sign-in passes, and its password check in a thread."""

    def __init__(
        self,
        run_in_thread: RunInThread,
        *,
        at_once: int = AT_ONCE,
        waiting: int = WAITING,
        per_address: int = PER_ADDRESS,
        verify: Callable[[str, str], bool] = verify_password,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self._run_in_thread = run_in_thread
        self._turns = DeferredSemaphore(at_once)
        self._waiting = waiting
        self._per_address = per_address
        self._by_address: Counter[str] = Counter()
        self._verify = verify
        self._on_stop = on_stop

    @classmethod
    def in_threads(
        cls,
        reactor: IReactorFromThreads,
        *,
        at_once: int = AT_ONCE,
        waiting: int = WAITING,
        verify: Callable[[str, str], bool] = verify_password,
    ) -> PasswordChecks:
        """Checks in a pool of ``at_once`` threads of their own (the running process)."""
        threads = OwnPool(reactor, at_once, "hotline-password-checks", CHECK_NICENESS)
        return cls(
            threads.run, at_once=at_once, waiting=waiting, verify=verify, on_stop=threads.stop
        )

    @classmethod
    def inline(cls, *, verify: Callable[[str, str], bool] = verify_password) -> PasswordChecks:
        """Checks on the calling thread, done at once (tests that drive time with a Clock)."""
        return cls(maybeDeferred, verify=verify)

    def take_turn(
        self, sign_in: Callable[[], Coroutine[Any, Any, T]], address: str = ""
    ) -> Deferred[T]:
        """Run one whole sign-in from ``address`` when its turn comes;
        :class:`SignInsBusyError` at once when ``at_once`` are under way and ``waiting``
        already wait, or when ``address`` holds ``per_address`` places already (no limit
        for an unknown address, "")."""
        if self._turns.tokens == 0 and len(self._turns.waiting) >= self._waiting:
            return fail(SignInsBusyError())
        if address and self._by_address[address] >= self._per_address:
            return fail(SignInsBusyError())
        self._by_address[address] += 1

        def give_back(result: object) -> object:
            self._by_address[address] -= 1
            if self._by_address[address] <= 0:
                del self._by_address[address]
            return result

        return self._turns.run(sign_in).addBoth(give_back)

    def verify(self, password: str, stored_hash: str) -> Deferred[bool]:
        """Does ``password`` match ``stored_hash``? Checked in a thread, outside any
        transaction; call it from within a turn (:meth:`take_turn`)."""
        return self._run_in_thread(lambda: self._verify(password, stored_hash))

    @property
    def under_way(self) -> int:
        """How many sign-ins hold a turn now."""
        return self._turns.limit - self._turns.tokens

    @property
    def queued(self) -> int:
        """How many sign-ins wait for a turn."""
        return len(self._turns.waiting)

    def stop(self) -> None:
        """The process is stopping: let the check threads go."""
        if self._on_stop is not None:
            self._on_stop()
