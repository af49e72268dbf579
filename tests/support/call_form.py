"""The call form's world: the agents centre with locations the support queue serves (and one
it does not), reason trees and answered calls, for the call form's tests (its customers are
tests/support/customers.py's)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from db.models import Location, QueueLocation, ReasonNode
from dialplan.store import calls
from domain.enums import CallState, Direction, ReasonDirection
from tests.support.centre import AgentsCentre, build_agents_centre, log_in_on_air
from tests.support.time import T0


@dataclass(frozen=True)
class CallFormWorld:
    centre: AgentsCentre
    north: int  # the support queue serves north and south
    south: int
    east: int  # ...but not east


def build_call_form_world(session: Session) -> CallFormWorld:
    centre = build_agents_centre(session)
    locations = [Location(code=code, name=code.title()) for code in ("north", "south", "east")]
    session.add_all(locations)
    session.flush()
    north, south, east = (loc.id for loc in locations)
    session.add_all(
        [
            QueueLocation(queue_id=centre.support, location_id=north),
            QueueLocation(queue_id=centre.support, location_id=south),
        ]
    )
    session.flush()
    return CallFormWorld(centre, north, south, east)


def add_reasons(session: Session, queue_id: int, direction: ReasonDirection) -> dict[str, int]:
    """Hardware > Router > {No signal: RT-1, Slow: RT-2}; Other: OTH."""
    ids: dict[str, int] = {}

    def node(label: str, parent: str | None, code: str = "", position: int = 0) -> None:
        row = ReasonNode(
            queue_id=queue_id,
            direction=direction,
            parent_id=ids[parent] if parent else None,
            position=position,
            label=label,
            code=code,
        )
        session.add(row)
        session.flush()
        ids[label] = row.id

    node("Hardware", None, position=1)
    node("Router", "Hardware")
    node("No signal", "Router", "RT-1", 1)
    node("Slow", "Router", "RT-2", 2)
    node("Other", None, "OTH", 2)
    return ids


def answered_call(
    session: Session,
    world: CallFormWorld,
    login: str,
    caller: str,
    *,
    uniqueid: str,
    at: datetime = T0,
    talk_s: int = 60,
    hang_up: bool = True,
    log_in: bool = True,
) -> int:
    """An inbound support call answered by ``login``; hung up (agent processing) by default."""
    if log_in:
        log_in_on_air(session, world.centre, login, at - timedelta(minutes=5))
    view = calls.open_call(
        session,
        uniqueid=uniqueid,
        direction=Direction.INBOUND,
        now=at,
        caller_number=caller,
        did="2200",
    )
    assert view is not None
    calls.enter_queue(session, view.id, world.centre.support, at, keep_waiting_start=False)
    offer = calls.offer(session, view.id, world.centre.agents[login], at + timedelta(seconds=5))
    assert offer is not None
    calls.answered(session, offer.attempt_id, at + timedelta(seconds=10))
    if hang_up:
        calls.close_call(session, view.id, CallState.ANSWERED, at + timedelta(seconds=10 + talk_s))
    return view.id
