"""Slowing down password guessing at the sign-in form (R-7.4), and with it the scrypt work a
flood of sign-ins costs the server (R-7.5), without letting a stranger lock anyone out.

Three counts of failed sign-ins, each answering with a wait that ends, never a lock:

- per login *and* address (the login case-folded, known or not, so that the answer does not
  tell which logins exist): the first ``free_misses`` misses cost nothing (typos), then each
  further miss doubles the wait before the next try, from ``first_delay_s`` up to
  ``max_delay_s``. Someone guessing "supervisor" from another address slows down only
  themselves: the supervisor at her own address signs in as ever. A successful sign-in
  clears its pair's count; a pair is forgotten ``forget_s`` after its last miss;
- per address: at most ``address_limit`` failures a minute (``window_s``) from one address,
  whatever the logins; more wait until the oldest of them is a minute old. The limit is high
  because a whole call centre may sit behind one address;
- for the whole process: at most ``global_limit`` failures a minute from everywhere, so an
  attack that rotates addresses and logins is slowed too. This one does not hold up an
  address someone signed in from successfully within ``trusted_s`` (the office), so a
  rotating attack cannot keep the staff out.

While a wait runs, a sign-in is refused without checking its password at all. An admin may
forgive a login its misses (:meth:`SignInThrottle.forgive`, the agent's "Unlock" on
``/admin``). The unlock is written to the audit trail (:data:`UNLOCK_ACTION`), which every
web process shares: a process holding a login back asks the database, at most every
``UNLOCK_CHECK_S`` per login and address, whether an admin unlocked it since its last miss
(:meth:`SignInThrottle.unlock_check`), and then forgets those misses too
(:meth:`SignInThrottle.forgive_until`). So Unlock reaches every process, with no table of
its own.

Kept in the web process's memory on its clock: a restart forgets the counts, and with
several web processes each counts its own. That is enough to turn an online guessing
attack from thousands of tries a minute into a handful, which is the point; the scrypt
hashes do the rest. Memory is bounded: each of the three tables holds at most ``max_keys``
entries (the least recently used go first), an address's list at most ``address_limit``
times and the process's at most ``global_limit``.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass

from domain.clock import Clock

FREE_MISSES = 3
FIRST_DELAY_S = 5.0
MAX_DELAY_S = 15 * 60.0
FORGET_S = 3600.0
ADDRESS_LIMIT = 30
GLOBAL_LIMIT = 120
WINDOW_S = 60.0
TRUSTED_S = 12 * 3600.0
MAX_KEYS = 10_000
UNLOCK_CHECK_S = 5.0  # a held-back login asks the database for an unlock at most this often
UNLOCK_ACTION = "admin.agents.unlock"
"""The audit trail's action of an admin's unlock; its target is ``agents:<login>``."""


def unlock_target(login: str) -> str:
    return f"agents:{login}"


@dataclass
class _Misses:
    count: int
    last_at: float
    checked_at: float = -math.inf  # when the database was last asked for an unlock


class SignInThrottle:
    def __init__(
        self,
        clock: Clock,
        *,
        free_misses: int = FREE_MISSES,
        first_delay_s: float = FIRST_DELAY_S,
        max_delay_s: float = MAX_DELAY_S,
        forget_s: float = FORGET_S,
        address_limit: int = ADDRESS_LIMIT,
        global_limit: int = GLOBAL_LIMIT,
        window_s: float = WINDOW_S,
        trusted_s: float = TRUSTED_S,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self._clock = clock
        self._free_misses = free_misses
        self._first_delay_s = first_delay_s
        self._max_delay_s = max_delay_s
        # A pair is never forgotten while its wait still runs.
        self._forget_s = max(forget_s, max_delay_s)
        self._address_limit = address_limit
        self._window_s = window_s
        self._trusted_s = trusted_s
        self._max_keys = max_keys
        self._pairs: OrderedDict[tuple[str, str], _Misses] = OrderedDict()
        self._addresses: OrderedDict[str, deque[float]] = OrderedDict()
        self._everywhere: deque[float] = deque(maxlen=global_limit)
        self._trusted: OrderedDict[str, float] = OrderedDict()

    @staticmethod
    def _pair(login: str, address: str) -> tuple[str, str]:
        return login.strip().casefold(), address

    def delay_after_s(self, misses: int) -> float:
        """The wait before the next try after ``misses`` misses of one login at one address."""
        if misses <= self._free_misses:
            return 0.0
        doublings = misses - self._free_misses - 1
        if doublings >= 64:
            return self._max_delay_s
        return min(self._max_delay_s, self._first_delay_s * 2**doublings)

    def retry_after_s(self, login: str, address: str) -> int:
        """0 when a sign-in may be tried now; else the whole seconds to wait."""
        now = self._clock.seconds()
        waits = [self._pair_wait(self._pair(login, address), now)]
        times = self._addresses.get(address)
        if times is not None:
            waits.append(self._window_wait(times, self._address_limit, now))
        if not self._is_trusted(address, now):
            waits.append(self._window_wait(self._everywhere, self._everywhere.maxlen or 0, now))
        return math.ceil(max(waits))

    def failed(self, login: str, address: str) -> None:
        """A wrong login or password: count it in its pair, its address and everywhere."""
        now = self._clock.seconds()
        key = self._pair(login, address)
        misses = self._pairs.pop(key, None)
        if misses is None or now - misses.last_at >= self._forget_s:
            misses = _Misses(0, now)
        misses.count += 1
        misses.last_at = now
        self._pairs[key] = misses  # the most recent last
        times = self._addresses.pop(address, None) or deque(maxlen=self._address_limit)
        times.append(now)
        self._addresses[address] = times
        self._everywhere.append(now)
        self._bound(now)

    def succeeded(self, login: str, address: str) -> None:
        """The right password: the pair's count starts again, and the address is one the
        staff use (the process-wide limit does not hold it up)."""
        now = self._clock.seconds()
        self._pairs.pop(self._pair(login, address), None)
        self._trusted.pop(address, None)
        self._trusted[address] = now
        self._bound(now)

    def held_back_s(self, login: str) -> int:
        """The longest wait a sign-in as ``login`` faces now from any address (0: none): what
        an admin sees as "locked out" on the agent's page."""
        now = self._clock.seconds()
        key = login.strip().casefold()
        waits = [self._pair_wait(pair, now) for pair in self._pairs if pair[0] == key]
        return math.ceil(max(waits, default=0.0))

    def forgive(self, login: str) -> int:
        """Forget the misses of ``login`` at every address (an admin's unlock, R-7.4): its
        next sign-in is tried at once. The per-address and process-wide limits stay. How
        many addresses' counts were forgotten."""
        key = login.strip().casefold()
        pairs = [pair for pair in self._pairs if pair[0] == key]
        for pair in pairs:
            del self._pairs[pair]
        return len(pairs)

    def unlock_check(
        self, login: str, address: str | None = None, *, at_once: bool = False
    ) -> float | None:
        """Whether to ask the database for an unlock of ``login`` made in another process:
        when a sign-in as ``login`` (from ``address``; None: from anywhere) is held back and
        the database was not asked for it within ``UNLOCK_CHECK_S`` (``at_once``: whenever;
        an admin's page, not a sign-in anyone may flood), the time (the clock's seconds) of
        the earliest last miss held back: an unlock since then forgives them
        (:meth:`forgive_until`). None: nothing to ask."""
        now = self._clock.seconds()
        key = login.strip().casefold()
        held = [
            misses
            for pair, misses in self._pairs.items()
            if pair[0] == key
            and (address is None or pair[1] == address)
            and self._pair_wait(pair, now) > 0
            and (at_once or now - misses.checked_at >= UNLOCK_CHECK_S)
        ]
        if not held:
            return None
        if not at_once:
            for misses in held:
                misses.checked_at = now
        return min(m.last_at for m in held)

    def forgive_until(self, login: str, at_s: float) -> int:
        """An unlock at ``at_s`` (in another process): forget the misses of ``login`` whose
        last came before it (those since are new guesses, and count). How many addresses'
        counts were forgotten."""
        key = login.strip().casefold()
        pairs = [p for p, m in self._pairs.items() if p[0] == key and m.last_at <= at_s]
        for pair in pairs:
            del self._pairs[pair]
        return len(pairs)

    def tracked(self) -> int:
        """How many pairs and addresses are on record (for the memory bound)."""
        return len(self._pairs) + len(self._addresses) + len(self._trusted)

    # ------------------------------------------------------------------ inside

    def _pair_wait(self, key: tuple[str, str], now: float) -> float:
        misses = self._pairs.get(key)
        if misses is None:
            return 0.0
        return max(0.0, misses.last_at + self.delay_after_s(misses.count) - now)

    def _window_wait(self, times: deque[float], limit: int, now: float) -> float:
        """The wait until fewer than ``limit`` of ``times`` fall within the window."""
        if limit <= 0 or len(times) < limit:
            return 0.0
        oldest = times[-limit]
        return max(0.0, oldest + self._window_s - now)

    def _is_trusted(self, address: str, now: float) -> bool:
        since = self._trusted.get(address)
        return since is not None and now - since < self._trusted_s

    def _bound(self, now: float) -> None:
        # Whatever is stale goes first (the oldest are first in each table), then, under a
        # flood of new keys, the least recently used.
        while self._pairs:
            first = next(iter(self._pairs.values()))
            if now - first.last_at < self._forget_s and len(self._pairs) <= self._max_keys:
                break
            self._pairs.popitem(last=False)
        while self._addresses:
            first_times = next(iter(self._addresses.values()))
            fresh = bool(first_times) and now - first_times[-1] < self._window_s
            if fresh and len(self._addresses) <= self._max_keys:
                break
            self._addresses.popitem(last=False)
        while self._trusted:
            first_at = next(iter(self._trusted.values()))
            if now - first_at < self._trusted_s and len(self._trusted) <= self._max_keys:
                break
            self._trusted.popitem(last=False)
