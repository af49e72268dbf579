"""Call back from a back-office item (R-3.3, R-1.13): the service the item page's "Call back"
uses.

The item is claimed again first (someone else's running claim refuses the call back), which
also takes an on-air person off-air for it: outbound calls are placed from off-air (R-2.15).
Then the outbound service rings the person's phone and the customer's, naming the item in
the call's ``call.outbound`` event; how the call went reaches the item when it ends
(``callbacks.store.settle_call_back``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from db.runner import DBRunner
from dialplan.services.outbound_calls import OutboundView, start_outbound_call
from domain.clock import Clock
from domain.refusals import ConflictError
from domain.texts import N_
from voicemail.store import work

NO_TELEPHONY = N_("Calling back is not possible: telephony (AMI) is not configured.")
NEEDS_SEAT = N_("Log in to a phone seat first: the call back rings your phone.")
NO_NUMBER = N_("There is no number to call.")


class CallBackError(ConflictError):
    """The call back cannot be placed from the item; ``message`` says why."""


async def call_back(
    ami: Any, db: DBRunner, clock: Clock, *, agent_id: int, item_id: int, number: str
) -> OutboundView:
    """Place the call back of ``item_id`` by ``agent_id`` to ``number`` (the item's caller
    when empty). Raises the item's refusals, CallBackError, or the outbound service's
    ``OutboundError``."""
    now = datetime.fromtimestamp(clock.seconds(), UTC)
    await db.run(work.open_for_work, item_id, agent_id, now)
    data = await db.run(work.item_page, item_id, agent_id, now)
    number = number or data.detail.caller_number
    if not number:
        raise CallBackError(NO_NUMBER)
    if ami is None:
        raise CallBackError(NO_TELEPHONY)
    if data.desk_activity is None:
        raise CallBackError(NEEDS_SEAT)
    return await start_outbound_call(
        ami,
        db,
        clock,
        agent_id=agent_id,
        number=number,
        customer_id=data.detail.item.customer_id,
        queue_id=data.queue_id,
        item_id=item_id,
    )
