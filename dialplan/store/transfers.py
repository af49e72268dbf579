"""Transfers in the database (R-1.12, R-2.14): what the dialog offers, the check of a chosen
target, the new leg in the target queue once the caller's channel arrives there, and the
safety net for a transfer nobody took over. How a transfer runs, end to end, is told in
``dialplan.services.transfers``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agent_desktop.store import agent_sessions
from db.events import emit
from db.models import Agent, AgentSession, Call, PhoneSeat, Queue, QueueRight
from dialplan.store import calls
from domain.enums import FINAL_STATES, Activity, AgentState, CallState, Direction
from domain.refusals import ConflictError
from domain.texts import N_

# A transfer's target extension: a queue's code in lower case, or ``agent-<id>``.
AGENT_TARGET = re.compile(r"^agent-([0-9]{1,9})$")
# What the shipped [hotline-transfer] pattern `_[0-9a-z].` takes: a queue code travels in
# lower case; one that cannot be an extension at all is not offered as a target.
_EXTEN_SAFE = re.compile(r"^[0-9a-z][0-9a-z_.+-]{1,63}$")

NOT_YOUR_CALL = N_("You can transfer only a call you are talking in.")
NOT_INBOUND = N_("Only incoming calls can be transferred.")
NO_SUCH_TARGET = N_("There is no such queue or agent to transfer to.")
AGENT_NOT_ON_AIR = N_("That agent is not on air any more.")
NOT_TO_YOURSELF = N_("You cannot transfer a call to yourself.")
TELEPHONY_REFUSED = N_("Telephony did not accept the transfer; the call stays with you.")
CALLER_GONE = N_("The caller is no longer on the line.")


class TransferError(ConflictError):
    """The transfer cannot be made; ``message`` is what the agent reads."""


@dataclass(frozen=True)
class QueueTarget:
    queue_id: int
    code: str
    name: str
    waiting: int


@dataclass(frozen=True)
class AgentTarget:
    agent_id: int
    name: str
    seat_name: str
    activity: str


@dataclass(frozen=True)
class TransferTargets:
    """What the transfer dialog offers (R-2.14)."""

    call_id: int
    queue_name: str
    caller_number: str
    queues: tuple[QueueTarget, ...]
    agents: tuple[AgentTarget, ...]


@dataclass(frozen=True)
class TransferPlan:
    call_id: int
    channel: str
    exten: str
    # Set when the chosen agent went off-air since the dialog listed them: the call goes to
    # ``to_queue`` without preference instead, and the dialog tells the agent so.
    off_air_agent: str = ""
    to_queue: str = ""


def queue_exten(code: str) -> str | None:
    """The extension a queue code travels as, or None when it cannot be one."""
    exten = code.lower()
    if not _EXTEN_SAFE.match(exten) or AGENT_TARGET.match(exten):
        return None
    return exten


def _live_call_of(session: Session, agent_id: int, call_id: int) -> Call:
    """The inbound call ``agent_id`` is talking in now, or TransferError."""
    call = session.get(Call, call_id)
    row = agent_sessions.open_session_row(session, agent_id, lock=False)
    if (
        call is None
        or row is None
        or call.agent_id != agent_id
        or call.state is not CallState.TALKING
        or row.activity is not Activity.IN_CALL
        or row.current_call_id != call_id
    ):
        raise TransferError(NOT_YOUR_CALL)
    if call.direction is not Direction.INBOUND:
        raise TransferError(NOT_INBOUND)
    if not call.channel:
        raise TransferError(CALLER_GONE)
    return call


def transfer_targets(session: Session, agent_id: int, call_id: int) -> TransferTargets:
    """Active queues and on-air agents (not the agent themselves) for the dialog (R-2.14)."""
    call = _live_call_of(session, agent_id, call_id)
    waiting = dict(
        session.execute(
            select(Call.queue_id, func.count())
            .where(
                Call.direction == Direction.INBOUND,
                Call.state.in_((CallState.WAITING, CallState.RINGING)),
            )
            .group_by(Call.queue_id)
        ).all()
    )
    queues = tuple(
        QueueTarget(q.id, q.code, q.name, int(waiting.get(q.id, 0)))
        for q in session.scalars(select(Queue).where(Queue.active.is_(True)).order_by(Queue.name))
        if queue_exten(q.code) is not None
    )
    rows = session.execute(
        select(Agent.id, Agent.name, PhoneSeat.name, AgentSession.activity)
        .join(AgentSession, AgentSession.agent_id == Agent.id)
        .join(PhoneSeat, PhoneSeat.id == AgentSession.seat_id)
        .where(
            AgentSession.logged_out_at.is_(None),
            AgentSession.state == AgentState.ON_AIR,
            Agent.id != agent_id,
            Agent.active.is_(True),
        )
        .order_by(Agent.name, Agent.id)
    ).all()
    agents = tuple(AgentTarget(aid, name, seat, act.value) for aid, name, seat, act in rows)
    queue = session.get(Queue, call.queue_id) if call.queue_id is not None else None
    return TransferTargets(call.id, queue.name if queue else "", call.caller_number, queues, agents)


def plan_transfer(session: Session, agent_id: int, call_id: int, target: str) -> TransferPlan:
    """Check a transfer of ``call_id`` by ``agent_id`` to ``target`` (``queue-<id>`` or
    ``agent-<id>``, the dialog's values) and say what to redirect where."""
    call = _live_call_of(session, agent_id, call_id)
    kind, _, number = target.partition("-")
    if not number.isdigit() or kind not in ("queue", "agent"):
        raise TransferError(NO_SUCH_TARGET)
    if kind == "queue":
        queue = session.get(Queue, int(number))
        exten = queue_exten(queue.code) if queue is not None and queue.active else None
        if exten is None:
            raise TransferError(NO_SUCH_TARGET)
        return TransferPlan(call.id, call.channel, exten)
    target_id = int(number)
    if target_id == agent_id:
        raise TransferError(NOT_TO_YOURSELF)
    agent = session.get(Agent, target_id)
    if agent is None or not agent.active:
        raise TransferError(NO_SUCH_TARGET)
    row = agent_sessions.open_session_row(session, target_id, lock=False)
    if row is None or row.state is not AgentState.ON_AIR:
        # the agent went off-air since the dialog listed them -> that agent's queue,
        # without preference (as take_over does when it happens after the redirect).
        queue = _queue_of_agent(session, target_id, call.queue_id)
        exten = queue_exten(queue.code) if queue is not None else None
        if queue is None or exten is None:
            raise TransferError(AGENT_NOT_ON_AIR)  # and in no queue a call could wait in
        return TransferPlan(
            call.id, call.channel, exten, off_air_agent=agent.name, to_queue=queue.name
        )
    return TransferPlan(call.id, call.channel, f"agent-{target_id}")


def target_name(session: Session, target: str) -> tuple[str, str] | None:
    """The kind (``queue``, ``agent``) and name of a dialog's ``target`` value, for the
    desktop to say where a transfer went (issue 16); None for a value that names nothing."""
    kind, _, number = target.partition("-")
    if not number.isdigit() or len(number) > 12:
        return None
    if kind == "queue":
        queue = session.get(Queue, int(number))
        return ("queue", queue.name) if queue is not None else None
    if kind == "agent":
        agent = session.get(Agent, int(number))
        return ("agent", agent.name) if agent is not None else None
    return None


def settle_transfer(session: Session, call_id: int, now: datetime, state: CallState) -> bool:
    """The safety net when no transfer session took the call over: the redirected caller
    hung up on the way (``transferred``), or a refused redirect left an ended call open
    (``answered``). The agent is then free to process it (True if it was ended here)."""
    call = session.get(Call, call_id, with_for_update=True)
    if call is None or call.state in FINAL_STATES:
        return False
    calls.close_call(session, call_id, state, now, cause="transfer not taken")
    return True


@dataclass(frozen=True)
class TakenOver:
    """The live leg of a transferred call, as the ``transfer`` script serves it."""

    call_id: int
    previous_call_id: int | None
    queue_code: str | None
    preferred_agent_id: int | None
    from_queue: str
    by_agent: str


def _target_queue(
    session: Session, exten: str, current_queue_id: int | None
) -> tuple[Queue | None, int | None]:
    """(queue, preferred agent) for a redirect target; the current queue when the target
    cannot be served (a queue switched off meanwhile, an agent without a queue)."""
    current = session.get(Queue, current_queue_id) if current_queue_id is not None else None
    agent_match = AGENT_TARGET.match(exten)
    if agent_match is None:
        queue = session.scalars(select(Queue).where(Queue.code == exten)).first()
        if queue is None:
            queue = session.scalars(
                select(Queue).where(func.lower(Queue.code) == exten.lower()).order_by(Queue.id)
            ).first()
        return (queue if queue is not None and queue.active else current), None
    agent_id = int(agent_match.group(1))
    chosen = _queue_of_agent(session, agent_id, current_queue_id)
    if chosen is None:
        return current, None
    row = agent_sessions.open_session_row(session, agent_id, lock=False)
    # the agent went off-air meanwhile -> that agent's queue, without preference.
    preferred = agent_id if row is not None and row.state is AgentState.ON_AIR else None
    return chosen, preferred


def _queue_of_agent(session: Session, agent_id: int, current_queue_id: int | None) -> Queue | None:
    """The queue a call for ``agent_id`` waits in: the call's own queue if they are a
    member, else the first of their active queues; None if they have none."""
    agent_queues = session.scalars(
        select(Queue)
        .join(QueueRight, QueueRight.queue_id == Queue.id)
        .where(QueueRight.agent_id == agent_id, Queue.active.is_(True))
        .order_by(Queue.code)
    ).all()
    if not agent_queues:
        return None
    current = next((q for q in agent_queues if q.id == current_queue_id), None)
    return current or agent_queues[0]


def take_over(
    session: Session,
    uniqueid: str,
    exten: str,
    now: datetime,
    *,
    channel: str,
    caller_number: str,
    caller_name: str,
    node: str,
) -> TakenOver:
    """End the transferred leg for its agent and open the live leg in the target queue."""
    old = session.scalars(
        select(Call).where(Call.uniqueid == uniqueid).with_for_update()
    ).one_or_none()
    queue, preferred = _target_queue(session, exten, old.queue_id if old else None)
    by_agent = session.get(Agent, old.agent_id) if old and old.agent_id else None
    from_queue = session.get(Queue, old.queue_id) if old and old.queue_id else None
    if old is not None:
        if old.state not in FINAL_STATES:
            # The first agent's conversation is over: on to processing it.
            calls.close_call(session, old.id, CallState.TRANSFERRED, now, cause=f"to {exten}")
        # The live leg keeps the real uniqueid (resume, the spool and the answer hook find
        # calls by it); the finished leg keeps its record under a derived one.
        old.uniqueid = f"{uniqueid}/t{old.id}"[-64:]
        session.flush()
    call = Call(
        uniqueid=uniqueid,
        linkedid=old.linkedid if old else uniqueid,
        channel=channel or (old.channel if old else ""),
        direction=old.direction if old else Direction.INBOUND,
        did=old.did if old else "",
        caller_number=old.caller_number if old else caller_number,
        caller_name=old.caller_name if old else caller_name,
        callee_number=old.callee_number if old else "",
        customer_id=old.customer_id if old else None,
        contact_person_id=old.contact_person_id if old else None,
        queue_id=queue.id if queue else None,
        state=CallState.WAITING if queue else CallState.IVR,
        started_at=now,
        queue_entered_at=now if queue else None,  # waiting counts from the transfer
        transferred_from_queue_id=old.queue_id if old else None,
        transferred_by_agent_id=old.agent_id if old else None,
        preferred_agent_id=preferred,
        flow_step="queue",
        driven_by=node,
        heartbeat_at=now,
    )
    session.add(call)
    session.flush()
    emit(
        session,
        "call.transferred",
        now,
        call_id=call.id,
        queue_id=call.queue_id,
        previous_call_id=old.id if old else None,
        from_queue_id=call.transferred_from_queue_id,
        by_agent_id=call.transferred_by_agent_id,
        preferred_agent_id=preferred,
    )
    return TakenOver(
        call_id=call.id,
        previous_call_id=old.id if old else None,
        queue_code=queue.code if queue else None,
        preferred_agent_id=preferred,
        from_queue=from_queue.name if from_queue else "",
        by_agent=by_agent.name if by_agent else "",
    )
