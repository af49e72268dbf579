"""Taking in voicemails and callback requests without ever losing one (R-1.7, R-1.8, R-7.3).

:func:`take_message` is what a caller's ``#`` ends in (``callbacks.intake`` does the same
for ``0``); both go through :func:`store_request`, which tries the database and, when the
database cannot take it, keeps the request in the disk spool instead: the caller still hears
their confirmation. :func:`import_spool` runs periodically and brings spooled requests in,
deleting each file only after its transaction committed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from db.errors import DatabaseError
from db.runner import DBRunner
from dialplan.store.boxes import take_request
from domain.clock import Clock
from voicemail.spool import Spool, SpooledRequest
from voicemail.store.intake import ItemView

_log = Logger()


NewItemHook = Callable[[int], object]


@dataclass(frozen=True)
class Caller:
    """Who left a request: the call's uniqueid, the caller's number as Asterisk gave it and
    in international digits (for the customer match, R-2.6), and when."""

    uniqueid: str
    number: str
    digits: str
    at: datetime

    def request(
        self, kind: str, box_id: int, recording_path: str = "", duration_s: int | None = None
    ) -> SpooledRequest:
        return SpooledRequest(
            spool_key=Spool.new_key(),
            kind=kind,
            box_id=box_id,
            call_uniqueid=self.uniqueid,
            caller_number=self.number,
            created_at=self.at.isoformat(),
            recording_path=recording_path,
            duration_s=duration_s,
            caller_digits=self.digits,
        )


async def take_message(
    db: DBRunner,
    spool: Spool,
    caller: Caller,
    *,
    box_id: int,
    recording_path: str,
    duration_s: int | None,
    on_new_item: NewItemHook | None = None,
) -> ItemView | None:
    """R-1.7: the message a caller left in ``box_id`` (``recording_path`` relative to the
    recordings directory; ``duration_s`` None when the caller hung up while recording)."""
    request = caller.request("message", box_id, recording_path, duration_s)
    return await store_request(db, spool, request, on_new_item)


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
        view = await db.run(take_request, request)
    except DatabaseError as exc:  # down, or refusing it: the disk keeps it
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
        view = await db.run(take_request, entry)
        spool.remove(path)  # only after the commit above
        if view is None:
            duplicates += 1
        else:
            created += 1
            if on_new_item is not None:
                on_new_item(view.id)
    return created, duplicates


SPOOL_IMPORT_INTERVAL_S = 30.0


class SpoolImportService(Service):
    """R-7.3: imports the spool at start and every ``interval_s`` on ``clock``, so that a
    request kept on disk while the database was down comes in once it is back."""

    def __init__(
        self,
        db: DBRunner,
        spool: Spool,
        clock: Clock,
        on_new_item: NewItemHook | None = None,
        interval_s: float = SPOOL_IMPORT_INTERVAL_S,
    ) -> None:
        self._db = db
        self._spool = spool
        self._clock = clock
        self._on_new_item = on_new_item
        self._interval_s = interval_s
        self._loop: LoopingCall | None = None

    def startService(self) -> None:
        super().startService()
        self._loop = LoopingCall(lambda: Deferred.fromCoroutine(self.import_now()))
        self._loop.clock = self._clock  # type: ignore[assignment]
        self._loop.start(self._interval_s, now=True)

    def stopService(self) -> None:
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    async def import_now(self) -> int:
        """One import; the number of items it created. Never raises: the next run tries
        again (a database still down, or anything unexpected, is logged)."""
        try:
            created, _ = await import_spool(self._db, self._spool, self._on_new_item)
        except DatabaseError as exc:
            _log.warn("spool import waits for the database: {e}", e=str(exc).splitlines()[0])
            return 0
        except Exception:
            _log.failure("spool import failed")
            return 0
        if created:
            _log.info("imported {n} spooled voicemail/callback request(s)", n=created)
        return created
