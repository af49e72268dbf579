"""The ``outbound,<number>`` script (R-1.13): the agent's leg of an outbound call.

The service that places and cancels calls is ``dialplan.services.outbound_calls``; the
database side is ``dialplan.store.outbound``. The script runs once the agent answered an
outbound call's Originate and the channel runs ``[hotline-outbound]``. Top to bottom: which
call (``GET VARIABLE HOTLINE_CALL_ID``), record the agent's leg when the queue records
(R-1.14), ring the customer through the dialplan's trunk (``dialplan.flows.trunk``) with
the answer hook ``U()`` so that the exact answer time, the agent and R-3.6's resolution are
stored as for an inbound call, then store
the outcome (answered / no_answer / busy / failed) and release the agent: processing after a
conversation (the outbound reason tree, R-2.8), otherwise back off-air
(``agent_state.EndWork``); a call back placed from a back-office item goes back to that item
either way, whose Done is its after-call work (``dialplan.store.outbound``, R-3.3). It
always ends with ``HOTLINE_DONE=1``: otherwise the dialplan would dial the number itself
(its fallback for a Hotline that does not answer).
"""

from __future__ import annotations

from twisted.logger import Logger

from dialplan.channel_vars import CALL_ID_VARIABLE, DIAL_STATUS_VARIABLE
from dialplan.flows.context import FlowContext
from dialplan.flows.inbound import finish_session, record_leg
from dialplan.flows.trunk import trunk_dial_string
from dialplan.store import calls
from dialplan.store.outbound import finish_outbound, open_customer_ring, outbound_leg_started
from domain.enums import CallState
from fastagi.channel import AGIChannel
from fastagi.errors import ChannelHungUp

log = Logger()

# How long the customer's phone may ring (the dialplan's own fallback Dial uses 60 s too).
CUSTOMER_RING_TIMEOUT_S = 60
_STATES = {
    "ANSWER": CallState.ANSWERED,
    "BUSY": CallState.BUSY,
    "NOANSWER": CallState.NO_ANSWER,
    "CANCEL": CallState.NO_ANSWER,  # the agent hung up (or Cancel) before the customer answered
}


async def outbound(channel: AGIChannel, ctx: FlowContext) -> None:
    """Dial the customer for the agent on this channel and store how it went."""
    request = channel.request
    raw_id = await channel.get_variable(CALL_ID_VARIABLE) or ""
    leg = None
    if raw_id.isdigit():
        leg = await ctx.db.run(
            outbound_leg_started,
            int(raw_id),
            ctx.now(),
            uniqueid=request.uniqueid,
            linkedid=request.env.get("agi_linkedid", ""),
            channel=request.channel,
            node=ctx.node,
        )
    if leg is None:
        # Cancelled while the agent's phone rang, or not Hotline's: never dial anyone.
        log.info("outbound on {channel}: no live call {id!r}", channel=request.channel, id=raw_id)
        await finish_session(channel)
        return
    attempt_id: int | None = None
    state, cause = CallState.FAILED, ""
    try:
        recording = (
            await record_leg(channel, ctx, leg.call_id, request.uniqueid, ctx.now())
            if leg.record
            else None
        )
        dial_string = await trunk_dial_string(channel, leg.dial_number)
        attempt_id = (
            await ctx.db.run(open_customer_ring, leg.call_id, dial_string, ctx.now())
            if dial_string is not None
            else None
        )
        if dial_string is None:
            cause = "no trunk in the dialplan"
        elif attempt_id is None:
            cause = "the agent rings with another call"
        else:
            hook = f"U({ctx.settings.answered_context}^{leg.call_id}^{attempt_id})"
            dialled_at = ctx.now()
            await channel.exec_app("Dial", dial_string, CUSTOMER_RING_TIMEOUT_S, hook)
            dial_status = (await channel.get_variable(DIAL_STATUS_VARIABLE) or "").upper()
            state = _STATES.get(dial_status, CallState.FAILED)
            cause = f"DIALSTATUS {dial_status}" if state is CallState.FAILED else ""
            if state is CallState.ANSWERED:
                view = await ctx.db.run(calls.get_call, leg.call_id)
                answered_at = view.answered_at
                if answered_at is None:  # the U() session did not reach us: the ring's start
                    answered_at = dialled_at
                    await ctx.db.run(calls.answered, attempt_id, answered_at)
                if recording is not None:  # the talk time: from the answer to now
                    talked_s = max(0, int((ctx.now() - answered_at).total_seconds()))
                    await ctx.db.run(
                        calls.finish_recording,
                        leg.call_id,
                        recording.path,
                        recording.started_at or answered_at,
                        talked_s,
                    )
    except ChannelHungUp:
        view = await ctx.db.run(calls.get_call, leg.call_id)
        state = CallState.ANSWERED if view.answered_at is not None else CallState.NO_ANSWER
        cause = "the agent hung up"
        await ctx.db.run(finish_outbound, leg.call_id, attempt_id, state, ctx.now(), cause=cause)
        raise
    except Exception as error:
        # The flow broke (an AGI or database error, a bug): the call ends as failed and the
        # agent is released, unless the process is shutting down (it is resumed then).
        if not ctx.stopping():
            cause = f"{type(error).__name__}: {getattr(error, 'message', error)}"
            await ctx.db.run(
                finish_outbound, leg.call_id, attempt_id, CallState.FAILED, ctx.now(), cause=cause
            )
            # Over for Hotline: the dialplan must not dial the customer on its own now.
            try:
                await finish_session(channel)
            except Exception:
                pass  # the channel may be what failed; the error below is what counts
        raise
    await ctx.db.run(finish_outbound, leg.call_id, attempt_id, state, ctx.now(), cause=cause)
    await finish_session(channel)
