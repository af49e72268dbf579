"""Slowing down password guessing at the sign-in form (R-7.4), and with it the scrypt work a
flood of sign-ins costs the server (R-7.5).

Failed sign-ins are counted per login (case-folded, known or not, so that the answer does
not tell which logins exist) and per client address. After ``login_limit`` failures of one
login within ``window_s``, that login is refused for ``lock_s`` without checking the
password at all; an address is refused after ``address_limit`` failures (higher: a whole
call centre may sit behind one address). A successful sign-in clears its login's count.

Kept in the web process's memory on its clock: a restart forgets the counts, and with
several web processes each counts its own. That is enough to turn an online guessing
attack from thousands of tries a minute into a handful, which is the point; the scrypt
hashes do the rest. Memory is bounded: old failures are forgotten, and at most
``max_keys`` logins and addresses are tracked at once.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque

from domain.clock import Clock

LOGIN_LIMIT = 5
ADDRESS_LIMIT = 50
WINDOW_S = 15 * 60
LOCK_S = 5 * 60
MAX_KEYS = 10_000


class SignInThrottle:
    def __init__(
        self,
        clock: Clock,
        *,
        login_limit: int = LOGIN_LIMIT,
        address_limit: int = ADDRESS_LIMIT,
        window_s: float = WINDOW_S,
        lock_s: float = LOCK_S,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self._clock = clock
        self._limits = {"login": login_limit, "address": address_limit}
        self._window_s = window_s
        self._lock_s = lock_s
        self._max_keys = max_keys
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self._locked_until: dict[tuple[str, str], float] = {}

    @staticmethod
    def _keys(login: str, address: str) -> tuple[tuple[str, str], tuple[str, str]]:
        return ("login", login.strip().casefold()), ("address", address)

    def retry_after_s(self, login: str, address: str) -> int:
        """0 when a sign-in may be tried now; else the whole seconds to wait."""
        now = self._clock.seconds()
        wait = 0.0
        for key in self._keys(login, address):
            until = self._locked_until.get(key)
            if until is None:
                continue
            if until <= now:
                del self._locked_until[key]
            else:
                wait = max(wait, until - now)
        return math.ceil(wait)

    def failed(self, login: str, address: str) -> None:
        """A wrong login or password: count it, and lock what went over its limit."""
        now = self._clock.seconds()
        for key in self._keys(login, address):
            times = self._failures.pop(key, None) or deque()
            while times and times[0] <= now - self._window_s:
                times.popleft()
            times.append(now)
            self._failures[key] = times  # most recently failed last
            if len(times) >= self._limits[key[0]]:
                self._locked_until[key] = now + self._lock_s
                times.clear()
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)
        if len(self._locked_until) > self._max_keys:
            self._locked_until = {k: t for k, t in self._locked_until.items() if t > now}

    def succeeded(self, login: str, address: str) -> None:
        """The right password: the login's count starts again."""
        login_key, _ = self._keys(login, address)
        self._failures.pop(login_key, None)

    def tracked(self) -> int:
        """How many logins and addresses have failures on record (for the memory bound)."""
        return len(self._failures)
