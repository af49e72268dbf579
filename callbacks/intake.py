"""R-1.8: a caller pressed ``0`` while waiting or while an agent's phone rang (or chose a call
back outside business hours, R-1.10): a callback request for the queue's box, no recording.
Taken like a voicemail (``voicemail.intake``): kept on disk when the database cannot take it
(R-7.3), so that no request is lost.
"""

from __future__ import annotations

from db.runner import DBRunner
from voicemail.intake import Caller, NewItemHook, store_request
from voicemail.spool import Spool
from voicemail.store.intake import ItemView


async def take_callback_request(
    db: DBRunner,
    spool: Spool,
    caller: Caller,
    *,
    box_id: int,
    on_new_item: NewItemHook | None = None,
) -> ItemView | None:
    """Register the request in ``box_id``; None when it was spooled."""
    return await store_request(db, spool, caller.request("callback", box_id), on_new_item)
