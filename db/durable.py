"""Small JSON files that survive a crash: what a spool keeps while the database is down.

R-7.3: a voicemail, a callback request or a call's state change that the database could not
take is kept on disk until it can. :func:`write_json` writes to a temporary name, flushes
and fsyncs it, renames it into place and fsyncs the folder, so a crash leaves either the
whole file or none. :func:`read_json_files` lists a folder's files oldest first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def write_json(directory: Path, name: str, data: Any) -> Path:
    """``data`` as ``directory/name.json``, durably; the path."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{name}.json"
    temporary = directory / f".{name}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
    except OSError:
        temporary.unlink(missing_ok=True)  # a full disk keeps no half-written file
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return final


def read_json(path: Path) -> Any:
    """The data of one file; ``None`` when it is missing or cannot be parsed."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_json_files(directory: Path) -> Iterator[tuple[Path, Any]]:
    """Every ``*.json`` file of ``directory``, oldest first, with its data (``None`` for a
    file that cannot be read or parsed)."""
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("*.json"), key=_age):
        try:
            yield path, json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            yield path, None


def _age(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile: its place in the order no longer matters
        return 0.0


def quarantine(path: Path, directory: Path) -> Path:
    """Move an unreadable file into ``directory`` for a human, never delete it."""
    directory.mkdir(exist_ok=True)
    moved = directory / path.name
    os.replace(path, moved)
    return moved
