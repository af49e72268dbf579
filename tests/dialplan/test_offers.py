"""The waiting callers of a process share one matching (R-1.5; issue 12): callers asking
while it is computed wait for that one; a caller without a pair costs no transaction; the
one with a pair gets its offer and the next asks afresh. The real thread-pool DBRunner on
the real reactor and database."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest_twisted
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import Clock

from agent_desktop.agent_state import GoOnAir
from agent_desktop.store import agent_sessions
from db.catalog import load_catalog
from db.models import Agent, PhoneSeat, Queue
from db.runner import DBRunner
from dialplan.flows.offers import OfferPlanner
from dialplan.store import calls
from domain.enums import Direction
from tests.support.e2e_world import CENTRE_YAML

T = TypeVar("T")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class CountingRunner(DBRunner):
    """The real runner, counting the transactions of each store function."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, reactor)
        self.transactions: Counter[str] = Counter()

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Deferred[T]:
        self.transactions[fn.__name__] += 1
        return super().run(fn, *args, **kwargs)

    def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Deferred[T]:
        self.transactions[fn.__name__] += 1
        return super().read(fn, *args, **kwargs)


def _waiting_calls(engine: Engine, count: int) -> list[int]:
    ids = []
    with Session(engine) as s, s.begin():
        load_catalog(s, CENTRE_YAML, source="centre.yaml")
        support = s.query(Queue).filter_by(code="SUPPORT").one().id
        for i in range(count):
            view = calls.open_call(
                s, uniqueid=f"1.{i}", direction=Direction.INBOUND, now=NOW, did="222111001"
            )
            assert view is not None
            at = NOW + timedelta(seconds=i)
            calls.enter_queue(s, view.id, support, at, keep_waiting_start=False)
            ids.append(view.id)
    return ids


def _eva_on_air(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        eva = s.query(Agent).filter_by(login="eva").one().id
        seat = s.query(PhoneSeat).filter_by(name="101").one().id
        agent_sessions.log_in(s, eva, seat, NOW)
        agent_sessions.apply_event(s, eva, GoOnAir(), NOW)


@pytest_twisted.ensureDeferred
async def test_a_tick_of_callers_costs_one_matching_and_the_first_caller_gets_the_agent(
    engine: Engine,
) -> None:
    ids = _waiting_calls(engine, 10)
    _eva_on_air(engine)
    db = CountingRunner(engine)
    planner = OfferPlanner(db, Clock())
    now = NOW + timedelta(seconds=10)  # within the calls' heartbeat: held by a live session
    try:
        offers = await gatherResults(
            [Deferred.fromCoroutine(planner.next_offer(call_id, now)) for call_id in ids]
        )
    finally:
        db.stop()
    assert db.transactions["read_offer_plan"] == 1  # ten callers asking at once: one matching
    made = [offer for offer in offers if offer is not None]
    assert [offer.call_id for offer in made] == [ids[0]]  # first come, first served
    assert db.transactions["offer_planned"] == 1  # the nine without a pair cost nothing
