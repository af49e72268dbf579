"""Listen, whisper and barge (R-4.7): what to originate, checked and audited.

A supervisor listens to a call of theirs (one the live screen shows them, R-4.6) that is
talking now. Asterisk's ChanSpy is originated to a seat of the supervisor's (the one they
are logged in at, or another they may use): when that phone answers it spies on the
agent's leg, found by its channel-name prefix (the answered ring's dial string and "-",
so ``PJSIP/101-`` matches ``PJSIP/101-0000002a`` and never ``PJSIP/1010-...``). Spying on
the agent's leg hears both parties; a whisper reaches the agent only; a barge both.

Every start and stop is written to the audit trail (``audit_log``) in its transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent_desktop.store import agent_sessions
from db.models import Agent, AuditLog, Call, PhoneSeat, RingAttempt
from domain.enums import Direction, RingOutcome
from domain.refusals import BadInputError, ConflictError, NotFoundError
from domain.texts import N_
from supervisor.store.live import Choice, call_detail

MODES = ("listen", "whisper", "barge")
NOT_TALKING = N_("Only a call in conversation can be listened to.")
NO_SUCH_SEAT = N_("You may not use this phone seat.")
NOT_YOUR_LINE = N_("That is not a call on a phone seat of yours.")
NO_SUCH_CALL = N_("This call is over or is not one you supervise.")


@dataclass(frozen=True)
class SpyPlan:
    seat_dial_string: str  # the supervisor's phone, rung by the Originate
    target_prefix: str  # the agent's leg, as ChanSpy's channel-name prefix
    caller_id: str
    mode: str


@dataclass(frozen=True)
class SpiedCall:
    """A call a supervisor's phone is in ChanSpy on: who it is, and whether it is over."""

    call_id: int
    caller: str
    over: bool


@dataclass(frozen=True)
class SpySeats:
    choices: tuple[Choice, ...]
    current: int | None  # the seat the supervisor is logged in at


def _my_seats(session: Session, supervisor_id: int) -> tuple[list[PhoneSeat], int | None]:
    """The seats the supervisor may use and nobody else sits at, and the one they are
    logged in at (first)."""
    row = agent_sessions.open_session_row(session, supervisor_id, lock=False)
    current = None if row is None else row.seat_id
    free = [
        seat_id
        for seat_id, _, taken in agent_sessions.seats_for(session, supervisor_id)
        if not taken or seat_id == current
    ]
    found = list(session.scalars(select(PhoneSeat).where(PhoneSeat.id.in_(free))))
    found.sort(key=lambda s: (s.id != current, s.name))
    return found, current


def seats(session: Session, supervisor_id: int) -> SpySeats:
    """The seats a supervisor may be called on, and the one they are logged in at."""
    found, current = _my_seats(session, supervisor_id)
    return SpySeats(tuple(Choice(s.id, s.name) for s in found), current)


def start(
    session: Session,
    supervisor_id: int,
    call_id: int,
    mode: str,
    seat_id: int,
    now: datetime,
) -> SpyPlan:
    """Check and audit a listen / whisper / barge on ``call_id`` from ``seat_id``."""
    if mode not in MODES:
        raise BadInputError(N_("Choose listen, whisper or barge."))
    detail = call_detail(session, supervisor_id, call_id, now)
    if detail is None:
        raise NotFoundError(NO_SUCH_CALL)
    if detail.row.phase != "talking":
        raise ConflictError(NOT_TALKING)
    dial = session.scalar(
        select(RingAttempt.dial_string)
        .where(RingAttempt.call_id == call_id, RingAttempt.outcome == RingOutcome.ANSWERED)
        .order_by(RingAttempt.id.desc())
        .limit(1)
    )
    if not dial:
        raise ConflictError(NOT_TALKING)
    seat = next((s for s in _my_seats(session, supervisor_id)[0] if s.id == seat_id), None)
    if seat is None:
        raise BadInputError(NO_SUCH_SEAT)
    supervisor = session.get(Agent, supervisor_id)
    assert supervisor is not None
    _audit(session, supervisor_id, now, f"supervisor.{mode}", f"calls:{call_id}", seat.name)
    return SpyPlan(
        seat_dial_string=seat.dial_string,
        target_prefix=f"{dial}-",
        caller_id=f"{_plain(supervisor.name)} <{mode}>",
        mode=mode,
    )


def spied_calls(session: Session, call_ids: list[int]) -> dict[int, SpiedCall]:
    """The calls of running spy calls (``ami.spy_sessions``): the caller's number (the
    dialled one of an outbound call) and whether the call has ended (a call that is gone
    counts as over)."""
    found = {
        call.id: SpiedCall(
            call.id,
            call.callee_number if call.direction is Direction.OUTBOUND else call.caller_number,
            call.ended_at is not None,
        )
        for call in session.scalars(select(Call).where(Call.id.in_(sorted(set(call_ids)))))
    }
    return {c: found.get(c, SpiedCall(c, "", True)) for c in call_ids}


def stop(session: Session, supervisor_id: int, channel: str, now: datetime) -> None:
    """Check that ``channel`` is a call on one of the supervisor's seats, and audit its end."""
    mine = [s.dial_string for s in _my_seats(session, supervisor_id)[0]]
    if not channel or not any(channel.startswith(f"{dial}-") for dial in mine):
        raise BadInputError(NOT_YOUR_LINE)
    _audit(session, supervisor_id, now, "supervisor.spy_stop", channel, "")


def _audit(
    session: Session, actor_id: int, now: datetime, action: str, target: str, seat: str
) -> None:
    session.add(
        AuditLog(
            at=now,
            actor_id=actor_id,
            action=action,
            target=target[:200],
            detail=json.dumps({"seat": seat}, ensure_ascii=False) if seat else "",
        )
    )


def _plain(name: str) -> str:
    """A name as a caller id may carry it (no quotes, angle brackets, commas)."""
    return "".join(c for c in name if c not in '"<>,\\\r\n')[:40] or "Supervisor"
