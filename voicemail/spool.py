"""A durable disk spool for voicemails and callback requests the database could not take.

R-7.3: no lost voicemail or callback request. When the insert fails because the database is
down, the request is written here (the recording itself is already a file on disk) and
imported when the database is back. Each entry carries a ``spool_key`` that the database
keeps unique, so an entry imported twice (say the process died between commit and delete)
creates one item only: exactly once.

Files are written by ``db.durable``: a crash leaves either a whole entry or none. When the
disk refuses an entry too (full), it is kept in this process's memory, offered to the disk
again at every listing, and imported from memory once the database takes it: only a crash
while both refuse can lose it.

A message being recorded is a *pending* entry (``pending/``) from the moment the caller hears
the beep until it is stored: if the server dies meanwhile (issue 10, defect 4), the entry is
imported once its ``complete_by`` time has passed and the recording is on disk. Keys are
made from the call and the kind of request (:meth:`Spool.key_for`), so the flow, a resumed
flow and the import of a pending entry all name one item: it is created once.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from db.durable import quarantine, read_json_files, write_json

# Told what the disk refused and why (the process logs it: this module imports no framework).
Refused = Callable[[str, OSError], None]


def _ignore(what: str, error: OSError) -> None:
    """The default: nobody to tell."""


@dataclass(frozen=True)
class SpooledRequest:
    spool_key: str
    kind: str  # "message" or "callback"
    box_id: int
    call_uniqueid: str
    caller_number: str
    created_at: str  # ISO 8601, aware
    recording_path: str = ""
    duration_s: int | None = None
    caller_digits: str = ""  # normalised, for matching the customer
    # A pending message (ISO 8601): when its recording must be over at the latest.
    complete_by: str = ""

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.created_at)

    @property
    def deadline(self) -> datetime | None:
        return datetime.fromisoformat(self.complete_by) if self.complete_by else None


class Spool:
    def __init__(self, directory: Path, on_refused: Refused = _ignore) -> None:
        self.directory = directory
        self._on_refused = on_refused
        # Entries the disk refused (full), by key: kept until the disk or the database
        # takes them.
        self._unwritten: dict[str, SpooledRequest] = {}

    @staticmethod
    def new_key() -> str:
        return uuid.uuid4().hex

    @staticmethod
    def key_for(kind: str, call_uniqueid: str) -> str:
        """The key of the one ``kind`` request a call can leave (a message, a callback)."""
        return hashlib.sha256(f"{kind}:{call_uniqueid}".encode()).hexdigest()[:40]

    @property
    def pending_directory(self) -> Path:
        return self.directory / "pending"

    def put(self, request: SpooledRequest) -> Path:
        """Keep ``request`` until the database takes it: on disk, or in memory if the disk
        refuses it. The path it has (or will have) on disk."""
        try:
            return _write(self.directory, request)
        except OSError as exc:
            self._unwritten[request.spool_key] = request
            self._on_refused(f"the {request.kind} of call {request.call_uniqueid}", exc)
            return self.directory / f"{request.spool_key}.json"

    @property
    def unwritten(self) -> int:
        """How many requests only this process's memory holds (the disk refused them)."""
        return len(self._unwritten)

    def put_pending(self, request: SpooledRequest) -> Path:
        """Keep a message that is being recorded until :meth:`remove_pending`."""
        return _write(self.pending_directory, request)

    def remove_pending(self, spool_key: str) -> None:
        (self.pending_directory / f"{spool_key}.json").unlink(missing_ok=True)

    def entries(self) -> Iterator[tuple[Path, SpooledRequest | None]]:
        """Every entry, oldest file first (an unreadable one as ``None``), then those the
        disk still refuses, each first offered to the disk again."""
        for key, request in list(self._unwritten.items()):
            try:
                _write(self.directory, request)
            except OSError:
                continue
            del self._unwritten[key]
        yield from _entries(self.directory)
        for key, request in list(self._unwritten.items()):
            yield self.directory / f"{key}.json", request

    def pending_entries(self) -> Iterator[tuple[Path, SpooledRequest | None]]:
        """Every pending message, oldest first (an unreadable one as ``None``)."""
        return _entries(self.pending_directory)

    def remove(self, path: Path) -> None:
        self._unwritten.pop(path.stem, None)
        path.unlink(missing_ok=True)

    def quarantine(self, path: Path) -> Path:
        """Move an unreadable entry aside for a human, never delete it."""
        return quarantine(path, self.directory / "damaged")


def _write(directory: Path, request: SpooledRequest) -> Path:
    return write_json(directory, request.spool_key, asdict(request))


def _entries(directory: Path) -> Iterator[tuple[Path, SpooledRequest | None]]:
    for path, data in read_json_files(directory):
        try:
            yield path, SpooledRequest(**data)
        except TypeError:  # not a mapping of the request's fields
            yield path, None
