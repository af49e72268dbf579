"""Transfer of a call from the desktop (R-1.12, R-2.14): the AMI redirect, and the safety
nets around it.

How a transfer runs:

1. The agent talking with a caller picks a target in the dialog: an active queue, or an
   on-air colleague (``dialplan.store.transfers.transfer_targets``). :func:`transfer_call`
   checks the call is theirs and live, sets ``HOTLINE_TRANSFER=1`` on the caller's channel
   (``Call.channel``) and AMI-``Redirect``\\ s it to ``hotline-transfer,<target>,1``. The
   target is the queue's code in lower case (the shipped pattern is ``_[0-9a-z].``) or
   ``agent-<id>``.
2. The caller's old AGI session sees the redirect as a hang-up (transcript redirect-001);
   ``dialplan.flows.inbound.drive`` tells it apart by the context and the marker variable
   and leaves the call to the new session.
3. The ``transfer`` script (``dialplan.flows.transfer``) runs on the same channel, so it
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

from datetime import UTC, datetime
from typing import Any, Protocol

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from ami.client import AMIActionError
from ami.protocol import AMIError
from db.runner import DBRunner
from dialplan.channel_vars import TRANSFER_CONTEXT, TRANSFER_VARIABLE
from dialplan.store.transfers import (
    CALLER_GONE,
    TELEPHONY_REFUSED,
    TransferError,
    TransferPlan,
    plan_transfer,
    settle_transfer,
)
from domain.clock import Clock
from domain.enums import CallState

_log = Logger()

# After a redirect the transfer session takes the call over within milliseconds; if the
# caller hangs up in between, nobody would: the desktop settles it after this long.
SETTLE_AFTER_S = 30.0
# After a refused redirect, how long until the caller's channel is looked for again.
RECHECK_AFTER_S = 5.0


class TransferAMI(Protocol):
    """The AMI actions a transfer uses (``ami.client.AMIClient``)."""

    def setvar(self, channel: str, name: str, value: str) -> Deferred[Any]: ...

    def redirect(
        self, channel: str, context: str, exten: str, priority: int = 1
    ) -> Deferred[Any]: ...

    def getvar(self, channel: str, name: str) -> Deferred[str]: ...


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
