"""Support turns (R-1.11): who is rung, in which order, when nobody in the centre can answer.

A support-turn queue lists per weekday its standard hours and operators with priorities.
Priority 0 takes no calls; higher rings first; an operator may be an agent (their seat's
phone) or an external number. The rota applies outside the standard hours, and also inside
them when no operator is logged in. A holiday, or a weekend the queue is closed on, is
outside the standard hours all day; a closed-time rule that sends the queue's callers to
voicemail at a time outside them wins over the rota (:func:`route_for`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum


@dataclass(frozen=True)
class TurnMember:
    priority: int
    agent_id: int | None = None
    external_number: str = ""


@dataclass(frozen=True)
class TurnDay:
    weekday: int
    opens: time
    closes: time
    members: tuple[TurnMember, ...] = ()


def day_for(days: Sequence[TurnDay], local: datetime) -> TurnDay | None:
    return next((d for d in days if d.weekday == local.weekday()), None)


def in_standard_hours(days: Sequence[TurnDay], local: datetime) -> bool:
    day = day_for(days, local)
    return day is not None and day.opens <= local.time() < day.closes


def rota_applies(days: Sequence[TurnDay], local: datetime, logged_in: Collection[int]) -> bool:
    """Outside standard hours, or inside them with none of the day's operators logged in."""
    if not in_standard_hours(days, local):
        return True
    day = day_for(days, local)
    assert day is not None
    return not any(m.agent_id in logged_in for m in day.members if m.agent_id is not None)


class TurnRoute(StrEnum):
    QUEUE = "queue"  # standard hours with an operator logged in: wait as in any queue
    ROTA = "rota"  # ring the operators on duty
    CLOSED = "closed"  # a closed-time rule sends the caller to voicemail


def route_for(
    days: Sequence[TurnDay],
    local: datetime,
    logged_in: Collection[int],
    *,
    closed_day: bool,
    voicemail_rule: bool,
) -> TurnRoute:
    """Where a support-turn queue sends a call at ``local`` time. ``closed_day``: a holiday,
    or a weekend the queue is closed on, which is outside the standard hours all day (issue
    10, defect 7); ``voicemail_rule``: a closed-time rule of the queue sends callers to
    voicemail now, which wins over the rota outside the standard hours."""
    if closed_day or not in_standard_hours(days, local):
        return TurnRoute.CLOSED if voicemail_rule else TurnRoute.ROTA
    return TurnRoute.ROTA if rota_applies(days, local, logged_in) else TurnRoute.QUEUE


def ring_order(days: Sequence[TurnDay], local: datetime) -> list[TurnMember]:
    """The operators of ``local``'s weekday who take calls, highest priority first.

    Equal priorities keep the order the rota lists them in.
    """
    day = day_for(days, local)
    if day is None:
        return []
    takers = [m for m in day.members if m.priority > 0]
    return sorted(takers, key=lambda m: -m.priority)
