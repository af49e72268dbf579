"""Outbound calls (R-1.13, R-2.15): the desktop's dialog and the back office's "Call back"
(R-3.3) place them with :func:`start_outbound_call`.

How an outbound call runs:

1. :func:`start_outbound_call` checks the agent (at a seat, off-air, not busy with a call),
   the number (any format of R-1.13, read by ``domain.numbers.normalise_number`` with the
   queue's country prefix), the customer (or the pseudo-customer "OUTBOUND CALL" for people
   who are no customers, R-2.15) and the queue; it writes the outbound call record, puts the
   agent off-air (``StartWork(OUTBOUND)``), and AMI-``Originate``\\ s the agent's seat into
   ``hotline-outbound,<international digits>,1`` with the queue's caller ID and
   ``HOTLINE_CALL_ID=<call id>`` (as a real Asterisk 22 reports an Originate's events).
2. The agent's phone rings. The ``VarSet`` event of that variable names the agent's channel,
   so that Cancel can hang it up while it rings; the ``OriginateResponse`` tells whether the
   agent answered: if not (no answer, busy, cancelled) the call ends here and the agent goes
   back (``EndWork``; a call back from a back-office item back to the item,
   ``CallBackEnded``).
3. Once the agent answers, the ``outbound`` script (``dialplan.flows.outbound``) runs on the
   agent's channel: it dials the customer, records, and stores the outcome.

The database side is ``dialplan.store.outbound``; the AGI script ``dialplan.flows.outbound``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from twisted.logger import Logger

from ami.protocol import AMIError, AMIMessage
from db.runner import DBRunner
from dialplan.channel_vars import CALL_ID_VARIABLE, OUTBOUND_CONTEXT
from dialplan.store import outbound as adapter
from dialplan.store.outbound import (
    AGENT_RING_TIMEOUT_MS,
    STEP_DIALLING,
    TELEPHONY_DOWN,
    OutboundError,
    OutboundState,
)
from domain.clock import Clock
from domain.enums import CallState

__all__ = [
    "OutboundError",
    "OutboundView",
    "cancel_outbound_call",
    "start_outbound_call",
]

_log = Logger()


class OutboundAMI(Protocol):
    """The AMI actions an outbound call uses (``ami.client.AMIClient``)."""

    def originate(
        self,
        channel: str,
        *,
        context: str | None = None,
        exten: str | None = None,
        priority: int = 1,
        application: str | None = None,
        data: str | None = None,
        caller_id: str | None = None,
        variables: Mapping[str, str] | None = None,
        timeout_ms: int = 30_000,
        async_: bool = True,
        account: str | None = None,
    ) -> Awaitable[Any]: ...

    def hangup(self, channel: str, cause: int = 16) -> Awaitable[Any]: ...

    def subscribe(self, name: str, callback: Callable[[AMIMessage], object]) -> None: ...

    def unsubscribe(self, name: str, callback: Callable[[AMIMessage], object]) -> None: ...


@dataclass(frozen=True)
class OutboundView:
    """A placed outbound call: its record, the number as given, the digits dialled."""

    call_id: int
    number: str
    dial_number: str


def _now(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock.seconds(), UTC)


# --------------------------------------------------------------------------- the service


async def start_outbound_call(
    ami: OutboundAMI | None,
    db: DBRunner,
    clock: Clock,
    *,
    agent_id: int,
    number: str,
    customer_id: int | None = None,
    contact_id: int | None = None,
    queue_id: int | None = None,
    item_id: int | None = None,
) -> OutboundView:
    """Ring the agent's phone, then the customer's (R-1.13). Raises OutboundError."""
    if ami is None:
        raise OutboundError(TELEPHONY_DOWN)
    prepared = await db.run(
        adapter.prepare_outbound,
        agent_id,
        number,
        _now(clock),
        customer_id=customer_id,
        contact_id=contact_id,
        queue_id=queue_id,
        item_id=item_id,
    )
    call_id = prepared.call_id
    watcher = _AgentChannelWatcher(ami, db, call_id)
    variables = {CALL_ID_VARIABLE: str(call_id)}
    try:
        originated = await ami.originate(
            prepared.seat_dial_string,
            context=OUTBOUND_CONTEXT,
            exten=prepared.dial_number,
            priority=1,
            caller_id=prepared.caller_id,
            variables=variables,
            timeout_ms=AGENT_RING_TIMEOUT_MS,
            async_=True,
        )
    except AMIError as exc:
        watcher.stop()
        _log.warn("outbound call {call}: Originate refused: {e}", call=call_id, e=str(exc))
        await db.run(adapter.end_agent_leg, call_id, _now(clock), f"not placed: {exc}"[:64])
        raise OutboundError(TELEPHONY_DOWN) from None

    def agent_leg_over(outcome: Any) -> None:
        watcher.stop()
        if outcome.success:
            return  # the agent answered: the outbound script carries on
        cause = f"agent's phone: {outcome.reason_text}"
        d = db.run(adapter.end_agent_leg, call_id, _now(clock), cause)
        d.addErrback(lambda f: _log.failure("ending outbound call {c}", f, c=call_id))

    def outcome_unknown(failure: Any) -> None:
        # No OriginateResponse (connection lost, time-out): nothing is known; Cancel or the
        # outbound script settle the call.
        watcher.stop()
        _log.warn("outbound call {call}: {e}", call=call_id, e=failure.getErrorMessage())

    originated.outcome().addCallbacks(agent_leg_over, outcome_unknown)
    return OutboundView(call_id, prepared.number, prepared.dial_number)


async def cancel_outbound_call(
    ami: OutboundAMI | None, db: DBRunner, clock: Clock, *, agent_id: int, call_id: int
) -> OutboundState:
    """Cancel in the ringing dialog (R-2.15): hang the agent's channel up; a call that never
    connected ends at once, so that the agent is free again even without telephony."""
    state = await db.run(adapter.outbound_state, agent_id, call_id)
    if state.final:
        return state
    if state.state != CallState.TALKING.value:
        # Settled first, so that the record says who ended it and the agent is free at once;
        # the Originate's outcome and the outbound script then find nothing left to do.
        await db.run(
            adapter.finish_outbound,
            call_id,
            None,
            CallState.NO_ANSWER if state.flow_step == STEP_DIALLING else CallState.FAILED,
            _now(clock),
            cause="cancelled by the agent",
        )
    if ami is not None and state.channel:
        try:
            await ami.hangup(state.channel)
        except AMIError as exc:  # gone already: the record is settled all the same
            _log.info("cancel of call {call}: Hangup: {e}", call=call_id, e=str(exc))
    return await db.run(adapter.outbound_state, agent_id, call_id)


class _AgentChannelWatcher:
    """Learns the agent's channel from the ``VarSet`` of HOTLINE_CALL_ID (the first one: a
    Local channel reports its ``;1`` half, the one that runs the outbound context, first)."""

    def __init__(self, ami: OutboundAMI, db: DBRunner, call_id: int) -> None:
        self._ami = ami
        self._db = db
        self._value = str(call_id)
        self._call_id = call_id
        self._active = True
        ami.subscribe("VarSet", self._seen)

    def _seen(self, event: AMIMessage) -> None:
        if event.get("Variable") != CALL_ID_VARIABLE or event.get("Value") != self._value:
            return
        channel = event.get("Channel") or ""
        self.stop()
        if channel:
            d = self._db.run(adapter.note_agent_channel, self._call_id, channel)
            d.addErrback(lambda f: _log.failure("noting channel of {c}", f, c=self._call_id))

    def stop(self) -> None:
        if self._active:
            self._active = False
            self._ami.unsubscribe("VarSet", self._seen)
