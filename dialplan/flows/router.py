"""Which flow runs for which AGI script (the names the shipped dialplan uses)."""

from __future__ import annotations

from dialplan.flows.context import FlowContext
from dialplan.flows.inbound import answered, inbound
from dialplan.flows.outbound import outbound
from dialplan.flows.transfer import transfer
from fastagi.protocol import AGIRequest
from fastagi.server import Flow, Router

SCRIPTS = ("inbound", "resume", "answered", "transfer", "outbound")


def build_router(ctx: FlowContext) -> Router:
    def route(request: AGIRequest) -> Flow | None:
        script = request.script
        if script == "inbound":
            return lambda channel: inbound(channel, ctx)
        if script == "resume":
            return lambda channel: inbound(channel, ctx, resume=True)
        if script == "answered":
            return lambda channel: answered(channel, ctx)
        if script == "transfer":
            return lambda channel: transfer(channel, ctx)
        if script == "outbound":
            return lambda channel: outbound(channel, ctx)
        return None

    return route
