"""Taking in voicemails and callback requests without ever losing one (R-1.7, R-1.8, R-7.3).

``store_request`` tries the database; if the database cannot be reached the request goes to
the disk spool instead and the caller still hears their confirmation. ``import_spool`` runs
periodically and brings spooled requests in, deleting each file only after its transaction
committed.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.exc import DBAPIError, OperationalError
from twisted.logger import Logger

from db.runner import DBRunner
from voicemail.spool import Spool, SpooledRequest
from voicemail.store.intake import ItemView, create_item

_log = Logger()


NewItemHook = Callable[[int], object]


async def store_request(
    db: DBRunner,
    spool: Spool,
    request: SpooledRequest,
    on_new_item: NewItemHook | None = None,
) -> ItemView | None:
    """Store in the database, or spool to disk when the database is down. None = spooled.

    ``on_new_item(item_id)`` runs for a stored item (the e-mail report of R-3.5); it must not
    block or raise into the call flow."""
    try:
        view = await db.run(create_item, request)
    except (OperationalError, DBAPIError) as exc:
        path = spool.put(request)
        _log.warn(
            "database unavailable, {kind} for call {uniqueid} kept in {path}: {error}",
            kind=request.kind,
            uniqueid=request.call_uniqueid,
            path=str(path),
            error=str(exc).splitlines()[0],
        )
        return None
    if view is not None and on_new_item is not None:
        on_new_item(view.id)
    return view


async def import_spool(
    db: DBRunner, spool: Spool, on_new_item: NewItemHook | None = None
) -> tuple[int, int]:
    """Import spooled entries; returns (created, already imported). Stops at the first
    database failure and leaves the rest for the next run."""
    created = duplicates = 0
    for path, entry in spool.entries():
        if entry is None:
            moved = spool.quarantine(path)
            _log.error("unreadable spool entry moved to {path}", path=str(moved))
            continue
        view = await db.run(create_item, entry)
        spool.remove(path)  # only after the commit above
        if view is None:
            duplicates += 1
        else:
            created += 1
            if on_new_item is not None:
                on_new_item(view.id)
    return created, duplicates
