"""Taking in voicemails and callback requests without ever losing one (R-1.7, R-1.8, R-7.3).

:func:`take_message` is what a caller's ``#`` ends in (``callbacks.intake`` does the same
for ``0``); both go through :func:`store_request`, which tries the database and, when the
database cannot take it, keeps the request in the disk spool instead: the caller still hears
their confirmation. :func:`import_spool` runs periodically and brings spooled requests in,
deleting each file only after its transaction committed.
"""

from __future__ import annotations

import wave
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

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
        self,
        kind: str,
        box_id: int,
        recording_path: str = "",
        duration_s: int | None = None,
        complete_by: datetime | None = None,
    ) -> SpooledRequest:
        """The caller's one ``kind`` request (its key is the call's: stored once)."""
        return SpooledRequest(
            spool_key=Spool.key_for(kind, self.uniqueid),
            kind=kind,
            box_id=box_id,
            call_uniqueid=self.uniqueid,
            caller_number=self.number,
            created_at=self.at.isoformat(),
            recording_path=recording_path,
            duration_s=duration_s,
            caller_digits=self.digits,
            complete_by=complete_by.isoformat() if complete_by is not None else "",
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


def wav_seconds(path: Path) -> int | None:
    """Whole seconds of a recorded WAV file; None when there is no usable recording (no file,
    or nothing but a header). A file whose header was never finished (the recorder was cut
    off) is measured by its size, as 8 kHz 16-bit mono."""
    try:
        size = path.stat().st_size
    except OSError:
        return None
    if size <= _WAV_HEADER:
        return None
    try:
        with wave.open(str(path), "rb") as recording:
            frames, rate = recording.getnframes(), recording.getframerate()
        if frames > 0 and rate > 0:
            return frames // rate
    except (OSError, EOFError, wave.Error):
        pass
    return (size - _WAV_HEADER) // 16000


_WAV_HEADER = 44


async def import_spool(
    db: DBRunner,
    spool: Spool,
    on_new_item: NewItemHook | None = None,
    *,
    recordings_dir: Path | None = None,
    now: datetime | None = None,
) -> tuple[int, int]:
    """Import spooled entries; returns (created, already imported). Stops at the first
    database failure and leaves the rest for the next run.

    Given the ``recordings_dir`` and ``now``, also the pending messages whose recording must
    be over by now (their server died while the caller spoke): one with a recording on
    disk becomes a voicemail item, one without is dropped (the caller said nothing).
    """
    created = duplicates = 0
    due: list[tuple[Path, SpooledRequest | None]] = list(spool.entries())
    if recordings_dir is not None and now is not None:
        for path, entry in spool.pending_entries():
            if entry is None or entry.deadline is None or entry.deadline <= now:
                due.append((path, _finished(entry, recordings_dir, path)))
    for path, entry in due:
        if entry is None:
            moved = spool.quarantine(path)
            _log.error("unreadable spool entry moved to {path}", path=str(moved))
            continue
        if entry.complete_by:  # a pending message with no recording: nothing to keep
            spool.remove(path)
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


def _finished(
    entry: SpooledRequest | None, recordings_dir: Path, path: Path
) -> SpooledRequest | None:
    """A pending message whose time is up, as the request it now is (its length read from
    the recording); kept pending-marked when there is no recording."""
    if entry is None:
        return None
    seconds = wav_seconds(recordings_dir / entry.recording_path)
    if seconds is None:
        _log.info(
            "call {uniqueid}: no message was recorded ({path} is empty or missing)",
            uniqueid=entry.call_uniqueid,
            path=entry.recording_path,
        )
        return entry
    _log.warn(
        "call {uniqueid}: message recorded while its server was away, taken in from {path}",
        uniqueid=entry.call_uniqueid,
        path=str(path),
    )
    return replace(entry, duration_s=seconds, complete_by="")


SPOOL_IMPORT_INTERVAL_S = 30.0


class SpoolImportService(Service):
    """R-7.3: imports the spool at start and every ``interval_s`` on ``clock``, so that a
    request kept on disk while the database was down comes in once it is back, and a
    message whose server died while the caller spoke comes in from its recording."""

    def __init__(
        self,
        db: DBRunner,
        spool: Spool,
        clock: Clock,
        on_new_item: NewItemHook | None = None,
        interval_s: float = SPOOL_IMPORT_INTERVAL_S,
        recordings_dir: Path | None = None,
    ) -> None:
        self._db = db
        self._spool = spool
        self._clock = clock
        self._on_new_item = on_new_item
        self._interval_s = interval_s
        self._recordings_dir = recordings_dir
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
            created, _ = await import_spool(
                self._db,
                self._spool,
                self._on_new_item,
                recordings_dir=self._recordings_dir,
                now=datetime.fromtimestamp(self._clock.seconds(), UTC),
            )
        except DatabaseError as exc:
            _log.warn("spool import waits for the database: {e}", e=str(exc).splitlines()[0])
            return 0
        except Exception:
            _log.failure("spool import failed")
            return 0
        if created:
            _log.info("imported {n} spooled voicemail/callback request(s)", n=created)
        return created
