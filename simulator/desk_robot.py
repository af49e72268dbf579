"""Simulated agents at their desks, for the demo and for load tests.

The simulator plays the phones; a desk robot plays the people: it logs agents in at their
seats, puts them on-air, and after each call finishes the Active call form (after an
after-call time, like a real agent would) with Save, which puts them back on-air (R-2.12).
It goes through Hotline's own database functions, the same ones the desktop uses.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from agent_desktop.agent_state import AgentStateError, GoOnAir
from agent_desktop.call_form import CallForm
from agent_desktop.store import agent_sessions
from agent_desktop.store import call_form as call_form_store
from db.models import Agent, AgentSession, Call, SeatRight
from db.runner import DBRunner
from domain.enums import Activity, ProcessingState

_log = Logger()


@dataclass(frozen=True)
class RobotDesk:
    login: str
    after_call_s: float = 5.0


def _log_in(session: Session, login: str, now: datetime) -> bool:
    agent = session.scalars(select(Agent).where(Agent.login == login)).one_or_none()
    if agent is None:
        return False
    seat_ids = [s for s, _, taken in agent_sessions.seats_for(session, agent.id) if not taken]
    preferred = set(
        session.scalars(select(SeatRight.seat_id).where(SeatRight.agent_id == agent.id))
    )
    seat_ids.sort(key=lambda s: (s not in preferred, s))
    if agent_sessions.open_session_row(session, agent.id, lock=False) is None:
        if not seat_ids:
            return False
        agent_sessions.log_in(session, agent.id, seat_ids[0], now)
    try:
        agent_sessions.apply_event(session, agent.id, GoOnAir(), now, "desk robot")
    except AgentStateError:
        pass  # busy with a call already: it will come back on-air after Save
    return True


def _first_leaf_path(session: Session, queue_id: int, rng: random.Random) -> tuple[int, ...]:
    path: tuple[int, ...] = ()
    for _ in range(10):
        cascade = call_form_store.reason_options(session, queue_id, "in", path)
        if not cascade.has_tree or cascade.leaf_id is not None:
            return path
        level = cascade.levels[len(path)] if len(path) < len(cascade.levels) else None
        if level is None or not level.options:
            return path
        path = (*path, rng.choice(level.options).id)
    return path


def _save_finished_calls(
    session: Session, desks: Sequence[RobotDesk], now: datetime, seed: int
) -> int:
    """Save the form of every robot agent whose after-call time is over."""
    saved = 0
    after = {d.login: d.after_call_s for d in desks}
    rows = session.execute(
        select(AgentSession, Agent.login)
        .join(Agent, Agent.id == AgentSession.agent_id)
        .where(
            AgentSession.logged_out_at.is_(None),
            AgentSession.activity == Activity.PROCESSING,
            Agent.login.in_(list(after)),
        )
    ).all()
    for row, login in rows:
        if row.state_since > now - timedelta(seconds=after[login]):
            continue
        call = session.scalars(
            select(Call)
            .where(Call.agent_id == row.agent_id, Call.processing_state == ProcessingState.PENDING)
            .order_by(Call.answered_at.desc())
        ).first()
        if call is None or call.queue_id is None:
            continue
        rng = random.Random(f"{seed}:{call.id}")
        form = CallForm(
            customer_unknown=True,
            reason_path=_first_leaf_path(session, call.queue_id, rng),
            note="Handled by the demo's simulated agent.",
        )
        try:
            call_form_store.save_call_form(session, call.id, row.agent_id, form, now)
        except call_form_store.CallFormError as exc:
            _log.warn(
                "desk robot: {login} could not save call {call}: {e}",
                login=login,
                call=call.id,
                e=str(exc),
            )
            continue
        saved += 1
    return saved


class DeskRobot:
    """Keeps simulated agents working: log in, on-air, Save after each call."""

    def __init__(
        self,
        db: DBRunner,
        clock: Any,
        desks: Sequence[RobotDesk],
        *,
        tick_s: float = 1.0,
        seed: int = 7,
    ) -> None:
        self._db = db
        self._clock = clock
        self.desks = tuple(desks)
        self._seed = seed
        self._loop = LoopingCall(self._tick)
        self._loop.clock = clock
        self._tick_s = tick_s
        self.saved = 0

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    async def start(self) -> None:
        for desk in self.desks:
            if not await self._db.run(_log_in, desk.login, self.now()):
                _log.warn(
                    "desk robot: {login} cannot log in (no such agent or seat)", login=desk.login
                )
        self._loop.start(self._tick_s, now=False)

    def stop(self) -> None:
        if self._loop.running:
            self._loop.stop()

    def _tick(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._save())

    async def _save(self) -> None:
        try:
            self.saved += await self._db.run(
                _save_finished_calls, self.desks, self.now(), self._seed
            )
        except SQLAlchemyError as exc:
            _log.warn("desk robot: database unavailable: {e}", e=str(exc).splitlines()[0])
