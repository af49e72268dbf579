"""The ``transfer,<target>`` script (R-1.12): the caller's channel after the redirect of
``dialplan.services.transfers.transfer_call`` arrives in ``[hotline-transfer]``. The leg
the first agent took ends for them, a new call record carries the live leg in the target
queue (``dialplan.store.transfers.take_over``), and the inbound flow's queue part serves it.
"""

from __future__ import annotations

from twisted.logger import Logger

from dialplan.channel_vars import TRANSFER_VARIABLE
from dialplan.flows.context import FlowContext
from dialplan.flows.inbound import (
    Where,
    close_leg,
    drive,
    finish_session,
    serve_queue,
    wait_and_offer,
)
from dialplan.store import calls, routing, transfers
from domain.enums import CallState
from fastagi.channel import AGIChannel

_log = Logger()


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
        transfers.take_over,
        request.uniqueid,
        exten,
        ctx.now(),
        channel=request.channel,
        caller_number=caller,
        caller_name=request.calleridname if request.calleridname != "unknown" else "",
        node=ctx.node,
    )
    leg = await ctx.db.run(calls.get_call, moved.call_id)
    where = Where(
        moved.call_id,
        phase="queue",
        from_queue=moved.from_queue,
        by_agent=moved.by_agent,
        recording_name=f"{request.uniqueid}-{moved.call_id}",
        uniqueid=request.uniqueid,
        did=leg.did,
        opened_at=leg.started_at,
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
