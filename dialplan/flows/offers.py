"""One matching for all the waiting callers of a process (R-1.5; issue 12).

Every waiting caller used to compute the whole first-come-first-served matching of every
waiting call and every free agent, each poll, to keep its own pair: O(N) work per caller
per poll, O(N²) in all. :class:`OfferPlanner` computes the matching once and lets every
caller of the process read its pair from it until it is ``max_age_s`` old; a caller without
a pair costs nothing more. A caller with one makes its offer (the database reserves the
agent, R-1.3, and refuses a pair gone stale), after which the next caller plans afresh.

Callers asking while a matching is being computed wait for that one, so a whole tick of
callers costs a single transaction.

Driven by events, not only by age: a caller entering the queue plans afresh at once
(:meth:`OfferPlanner.forget`), so a caller arriving while an agent is free is rung without
waiting for a poll; a committed change that may make a new pair (an agent going on air or
freed, a ring ending, :meth:`OfferPlanner.changed`) makes the next caller who asks plan
afresh, at most every ``REPLAN_AFTER_CHANGE_S`` however many callers ask.
"""

from __future__ import annotations

from datetime import datetime

from twisted.internet.defer import Deferred

from db.runner import DBRunner
from dialplan.store import calls
from domain.clock import Clock

# How long a matching serves before it is computed again: under the waiting callers' poll
# (1.5 s), so that each poll sees one no older than that.
PLAN_MAX_AGE_S = 1.0
# After a committed change, the matching is computed again once it is this old: a burst of
# changes costs a few matchings a second, not one per change and caller.
REPLAN_AFTER_CHANGE_S = 0.05


class OfferPlanner:
    def __init__(
        self,
        db: DBRunner,
        clock: Clock,
        max_age_s: float = PLAN_MAX_AGE_S,
        replan_after_change_s: float = REPLAN_AFTER_CHANGE_S,
    ) -> None:
        self._db = db
        self._clock = clock
        self._max_age_s = max_age_s
        self._replan_after_change_s = replan_after_change_s
        self._changed = False
        self._plan: dict[int, calls.PlannedOffer] = {}
        self._planned_at: float | None = None
        self._waiters: list[Deferred[dict[int, calls.PlannedOffer]]] | None = None

    async def next_offer(self, call_id: int, now: datetime) -> calls.OfferView | None:
        """The offer the matching gives ``call_id`` now, made; None if it gives it none."""
        planned = (await self._current(now)).get(call_id)
        if planned is None:
            return None
        self.forget()  # an offer changes who is free: whoever asks next plans afresh
        return await self._db.run(calls.offer_planned, call_id, planned, now)

    def forget(self) -> None:
        """Drop the matching (an agent was taken or freed here, a caller entered the queue)."""
        self._planned_at = None

    def changed(self) -> None:
        """A change that may make a new pair was committed (``db.events.on_commit``; any
        thread: it only raises a flag)."""
        self._changed = True

    def _fresh(self) -> bool:
        planned_at = self._planned_at
        if planned_at is None:
            return False
        age = self._clock.seconds() - planned_at
        if self._changed and age >= self._replan_after_change_s:
            return False
        return age < self._max_age_s

    async def _current(self, now: datetime) -> dict[int, calls.PlannedOffer]:
        if self._fresh():
            return self._plan
        if self._waiters is not None:  # being computed: share that one
            waiting: Deferred[dict[int, calls.PlannedOffer]] = Deferred()
            self._waiters.append(waiting)
            return await waiting
        self._waiters = []
        self._changed = False  # a change committed while this reads marks it again
        try:
            # A read (no write lock on SQLite); the write only when a preference must go.
            read = await self._db.read(calls.read_offer_plan, now)
            plan = read if read is not None else await self._db.run(calls.offer_plan, now)
        except Exception as error:
            waiters, self._waiters = self._waiters, None
            for waiter in waiters:
                waiter.errback(error)
            raise
        self._plan, self._planned_at = plan, self._clock.seconds()
        waiters, self._waiters = self._waiters, None
        for waiter in waiters:
            waiter.callback(plan)
        return plan
