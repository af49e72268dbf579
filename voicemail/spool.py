"""A durable disk spool for voicemails and callback requests the database could not take.

R-7.3: no lost voicemail or callback request. When the insert fails because the database is
down, the request is written here (the recording itself is already a file on disk) and
imported when the database is back. Each entry carries a ``spool_key`` that the database
keeps unique, so an entry imported twice (say the process died between commit and delete)
creates one item only: exactly once.

Files are written to a temporary name, flushed and fsynced, then renamed into place: a crash
leaves either a whole entry or none.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path


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

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.created_at)


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @staticmethod
    def new_key() -> str:
        return uuid.uuid4().hex

    def put(self, request: SpooledRequest) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / f"{request.spool_key}.json"
        temporary = self.directory / f".{request.spool_key}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(asdict(request), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return final

    def entries(self) -> Iterator[tuple[Path, SpooledRequest | None]]:
        """Every entry, oldest file first; an unreadable one is returned as ``None``."""
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("*.json"), key=lambda p: p.stat().st_mtime):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                yield path, SpooledRequest(**data)
            except (OSError, ValueError, TypeError):
                yield path, None

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def quarantine(self, path: Path) -> Path:
        """Move an unreadable entry aside for a human, never delete it."""
        target = self.directory / "damaged"
        target.mkdir(exist_ok=True)
        moved = target / path.name
        os.replace(path, moved)
        return moved
