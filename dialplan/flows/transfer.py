"""Transfer of a call from the desktop (R-1.12, R-2.14): the dialog's choices, the AMI
redirect, and the ``transfer`` script that carries the call on in its new queue.

How a transfer runs:

1. The agent talking with a caller picks a target in the dialog: an active queue, or an
   on-air colleague (:func:`transfer_targets`). :func:`transfer_call` checks the call is
   theirs and live, sets ``HOTLINE_TRANSFER=1`` on the caller's channel (``Call.channel``)
   and AMI-``Redirect``\\ s it to ``hotline-transfer,<target>,1``. The target is the queue's
   code in lower case (the shipped pattern is ``_[0-9a-z].``) or ``agent-<id>``.
2. The caller's old AGI session sees the redirect as a hang-up (transcript redirect-001);
   ``inbound.drive`` tells it apart by the context and the marker variable and leaves the
   call to the new session.
3. The ``transfer`` script (this module's :func:`transfer`) runs on the same channel, so it
   finds the call by the same uniqueid. The leg the first agent took ends for them (state
   ``transferred``, the agent goes on to processing it) and keeps its record under a
   derived uniqueid; a new call record carries the live leg under the real uniqueid, with
   where it came from, who moved it, the preferred agent, and waiting counted from the
   transfer. Then the inbound flow's queue part serves it; the agents it is offered to see
   "transferred from queue X by agent Y" (R-2.5).

An agent target goes to that agent's queue (the call's own queue if they are a member) with
the agent preferred; if the agent went off-air meanwhile the call is the queue's, without
preference: before the redirect the plan names that queue and the dialog says so, after it
``take_over`` drops the preference (and ``calls.offer_next`` a stale one).

Safety nets, so that no agent stays "in a call" that is gone: a redirect that no transfer
session takes over (the caller hung up on the way) is settled as transferred after
``SETTLE_AFTER_S``; a refused redirect clears the marker again, and if the caller's channel
has disappeared meanwhile (hung up in the very moment of the click, so that the old session
took the hang-up for a transfer) the call is settled as answered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from ami.client import AMIActionError
from ami.protocol import AMIError
from db import agent_sessions, calls, routing
from db.events import emit
from db.models import Agent, AgentSession, Call, PhoneSeat, Queue, QueueRight
from db.runner import DBRunner
from dialplan.flows.context import FlowContext
from dialplan.flows.inbound import (
    Where,
    close_leg,
    drive,
    finish_session,
    serve_queue,
    wait_and_offer,
)
from domain.clock import Clock
from domain.enums import Activity, AgentState, CallState, Direction
from fastagi.channel import AGIChannel

_log = Logger()

# Set on the caller's channel before the redirect, so that the old AGI session knows it was
# moved, not hung up (fastagi.channel.AGIChannel.hangup_kind); cleared by the new session.
TRANSFER_VARIABLE = "HOTLINE_TRANSFER"
TRANSFER_CONTEXT = "hotline-transfer"
AGENT_TARGET = re.compile(r"^agent-([0-9]{1,9})$")
# What the shipped [hotline-transfer] pattern `_[0-9a-z].` takes: a queue code travels in
# lower case; one that cannot be an extension at all is not offered as a target.
_EXTEN_SAFE = re.compile(r"^[0-9a-z][0-9a-z_.+-]{1,63}$")
# After a redirect the transfer session takes the call over within milliseconds; if the
# caller hangs up in between, nobody would: the desktop settles it after this long.
SETTLE_AFTER_S = 30.0
RECHECK_AFTER_S = 5.0

# Agent-facing refusals (marked for translation in agent_desktop.transfer_routes).
NOT_YOUR_CALL = "You can transfer only a call you are talking in."
NOT_INBOUND = "Only incoming calls can be transferred."
NO_SUCH_TARGET = "There is no such queue or agent to transfer to."
AGENT_NOT_ON_AIR = "That agent is not on air any more."
NOT_TO_YOURSELF = "You cannot transfer a call to yourself."
TELEPHONY_REFUSED = "Telephony did not accept the transfer; the call stays with you."
CALLER_GONE = "The caller is no longer on the line."


class TransferError(Exception):
    """The transfer cannot be made; ``str()`` is the message the agent sees."""


class TransferAMI(Protocol):
    """The AMI actions a transfer uses (``ami.client.AMIClient``)."""

    def setvar(self, channel: str, name: str, value: str) -> Deferred[Any]: ...

    def redirect(
        self, channel: str, context: str, exten: str, priority: int = 1
    ) -> Deferred[Any]: ...

    def getvar(self, channel: str, name: str) -> Deferred[str]: ...


# --------------------------------------------------------------------------- the dialog


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


async def transfer_call(
    ami: TransferAMI | None,
    db: DBRunner,
    clock: Clock,
    *,
    agent_id: int,
    call_id: int,
    target: str,
) -> TransferPlan:
    """Transfer the call the agent talks in (R-1.12): mark, then redirect the caller's
    channel; the ``transfer`` script does the rest. Raises TransferError."""
    plan = await db.run(plan_transfer, agent_id, call_id, target)
    if ami is None:
        raise TransferError(TELEPHONY_REFUSED)
    try:
        # Marked BEFORE the redirect: a second transfer lands in the same context, so the
        # old session can only tell it from a hang-up by this variable (redirect-001).
        await ami.setvar(plan.channel, TRANSFER_VARIABLE, "1")
    except AMIError as exc:
        _log.warn("transfer of call {call}: Setvar refused: {e}", call=call_id, e=str(exc))
        raise TransferError(CALLER_GONE) from None
    try:
        await ami.redirect(plan.channel, TRANSFER_CONTEXT, plan.exten, 1)
    except AMIError as exc:
        _log.warn("transfer of call {call}: Redirect refused: {e}", call=call_id, e=str(exc))
        _after_a_failed_redirect(ami, db, clock, plan)
        raise TransferError(TELEPHONY_REFUSED) from None
    _log.info(
        "call {call} transferred by agent {agent} to {exten}",
        call=call_id,
        agent=agent_id,
        exten=plan.exten,
    )

    def settle() -> None:
        d = db.run(settle_transfer, call_id, _now(clock), CallState.TRANSFERRED)
        d.addErrback(lambda f: _log.failure("settling transfer of call {c}", f, c=call_id))

    clock.callLater(SETTLE_AFTER_S, settle)
    return plan


def _after_a_failed_redirect(
    ami: TransferAMI, db: DBRunner, clock: Clock, plan: TransferPlan
) -> None:
    """The marker is set but the caller did not move: usually the caller hung up in that
    very moment, and their old session, seeing the marker, took the hang-up for a transfer
    and left the call open. Clear the marker; if the channel is gone a little later, the
    conversation is over: end it as answered, so that the agent can process it."""
    ami.setvar(plan.channel, TRANSFER_VARIABLE, "").addErrback(lambda _: None)

    async def check() -> None:
        try:
            await ami.getvar(plan.channel, "UNIQUEID")
            return  # still there: the call goes on with the agent
        except AMIActionError:
            pass  # "No such channel"
        await db.run(settle_transfer, plan.call_id, _now(clock), CallState.ANSWERED)

    def later() -> None:
        Deferred.fromCoroutine(check()).addErrback(
            lambda f: _log.failure("checking call {c} after a refused transfer", f, c=plan.call_id)
        )

    clock.callLater(RECHECK_AFTER_S, later)


def _now(clock: Any) -> datetime:
    return datetime.fromtimestamp(clock.seconds(), UTC)


def settle_transfer(session: Session, call_id: int, now: datetime, state: CallState) -> bool:
    """The safety net when no transfer session took the call over: the redirected caller
    hung up on the way (``transferred``), or a refused redirect left an ended call open
    (``answered``). The agent is then free to process it (True if it was ended here)."""
    call = session.get(Call, call_id, with_for_update=True)
    if call is None or call.state in calls.FINAL_STATES:
        return False
    calls.close_call(session, call_id, state, now, cause="transfer not taken")
    return True


# --------------------------------------------------------------------------- the new leg


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
        if old.state not in calls.FINAL_STATES:
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


async def transfer(channel: AGIChannel, ctx: FlowContext) -> None:
    """The ``transfer,<target>`` script: the caller's channel after the redirect."""
    request = channel.request
    exten = request.extension or (request.args[0] if request.args else "")
    # Cleared first: a later hang-up must not look like another transfer.
    await channel.set_variable(TRANSFER_VARIABLE, "")
    # The first leg's recording ends with its conversation; the new leg records
    # into a file of its own once it is queued.
    await channel.exec_app("StopMixMonitor")
    caller = request.callerid if request.callerid != "unknown" else ""
    moved = await ctx.db.run(
        take_over,
        request.uniqueid,
        exten,
        ctx.now(),
        channel=request.channel,
        caller_number=caller,
        caller_name=request.calleridname if request.calleridname != "unknown" else "",
        node=ctx.node,
    )
    where = Where(
        moved.call_id,
        phase="queue",
        from_queue=moved.from_queue,
        by_agent=moved.by_agent,
        recording_name=f"{request.uniqueid}-{moved.call_id}",
    )

    async def serve() -> None:
        if moved.queue_code is None:
            _log.error(
                "transfer of {uniqueid} to {exten}: no queue",
                uniqueid=request.uniqueid,
                exten=exten,
            )
            await channel.stream_file(ctx.settings.not_in_service_prompt)
            await close_leg(ctx, where, CallState.FAILED, cause=f"no queue for {exten}")
            await finish_session(channel)
            return
        if moved.preferred_agent_id is None:
            await serve_queue(channel, ctx, where, moved.queue_code, resumed=False)
            return
        # A colleague was chosen: they are at work, so the queue's hours do not apply.
        cfg = await ctx.db.run(
            routing.load_queue, time_zone=ctx.settings.time_zone, code=moved.queue_code
        )
        assert cfg is not None
        await wait_and_offer(channel, ctx, where, cfg, resumed=False)

    await drive(channel, ctx, where, serve)
