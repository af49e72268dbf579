"""Which flow runs for which AGI script (the names the shipped dialplan uses,
``dialplan.channel_vars.SCRIPTS``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from dialplan.flows.context import FlowContext
from dialplan.flows.inbound import answered, inbound
from dialplan.flows.outbound import outbound
from dialplan.flows.transfer import transfer
from fastagi.channel import AGIChannel
from fastagi.protocol import AGIRequest
from fastagi.server import Flow, Router


async def resume(channel: AGIChannel, ctx: FlowContext) -> None:
    """The dialplan's way back after a FastAGI server died or restarted (R-1.16)."""
    await inbound(channel, ctx, resume=True)


FLOWS: dict[str, Callable[[AGIChannel, FlowContext], Awaitable[None]]] = {
    "inbound": inbound,
    "resume": resume,
    "answered": answered,
    "transfer": transfer,
    "outbound": outbound,
}


def build_router(ctx: FlowContext) -> Router:
    def route(request: AGIRequest) -> Flow | None:
        flow = FLOWS.get(request.script)
        if flow is None:
            return None
        return lambda channel: flow(channel, ctx)

    return route
