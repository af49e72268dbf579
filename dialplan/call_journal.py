"""The calls' own spool: state changes the database could not take, on disk (issue 11; R-7.6).

R-7.3 asks that nothing is lost while the database is down; the voicemail spool
(``voicemail.spool``) keeps messages and callback requests, and this journal keeps the calls
themselves, so that reports and the supervisor's figures count every call:

- a call that arrives while the database is down is journalled as it arrives
  (:class:`CallArrival`: who called which DID, and when);
- a call's end that cannot be written (:class:`CallEnd`: its final state, time and cause) is
  journalled before the flow goes on, so that a server killed before the database is back
  does not lose it.

One file per call (its uniqueid's hash), holding the call's changes in the order they
happened, written durably by ``db.durable``. The janitor replays the files in order
(``dialplan.store.journal``) and removes each only after its transaction committed; replay
is keyed by the uniqueid and skips what the database has already (a call that exists, an end
already final), so a file replayed twice changes nothing the second time: exactly once.

A full disk (or any write the file system refuses) must not cost the caller the call: the
change is then kept in this process's memory, the error logged, and written to disk at the
next chance (every :meth:`CallJournal.entries`, i.e. each janitor beat). The janitor replays
such an entry all the same, straight from memory, once the database takes it. Only a crash
of this process while both the disk and the database refuse loses it: nothing is left to
write it to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from db.durable import quarantine, read_json, read_json_files, write_json

# The journal's folder inside the spool directory (HOTLINE_SPOOL_DIR).
JOURNAL_FOLDER = "calls"

# Told what the disk refused and why (the process logs it: this module imports no framework).
Refused = Callable[[str, OSError], None]


def _ignore(what: str, error: OSError) -> None:
    """The default: nobody to tell."""


@dataclass(frozen=True)
class CallArrival:
    """An inbound call that reached Hotline while the database was down."""

    uniqueid: str
    at: datetime
    linkedid: str = ""
    did: str = ""
    caller_number: str = ""
    caller_name: str = ""
    channel: str = ""


@dataclass(frozen=True)
class CallEnd:
    """A call's final state (a ``domain.enums.CallState`` value), when and why."""

    uniqueid: str
    state: str
    at: datetime
    cause: str = ""


Change = CallArrival | CallEnd


@dataclass(frozen=True)
class JournalEntry:
    """One call's journalled changes, oldest first."""

    uniqueid: str
    changes: tuple[Change, ...]

    @property
    def arrival(self) -> CallArrival | None:
        return next((c for c in self.changes if isinstance(c, CallArrival)), None)


class CallJournal:
    """The journal in ``directory`` (shared by the flows and the janitor of one process)."""

    def __init__(self, directory: Path, on_refused: Refused = _ignore) -> None:
        self.directory = directory
        self._on_refused = on_refused
        # Entries the disk refused (full, read-only): kept here until it takes them.
        self._unwritten: dict[str, JournalEntry] = {}

    def arrived(self, arrival: CallArrival) -> Path | None:
        """Journal a call's arrival; the file, or ``None`` if it is kept in memory."""
        return self._append(arrival)

    def ended(self, end: CallEnd) -> Path | None:
        """Journal a call's end; the file, or ``None`` if it is kept in memory."""
        return self._append(end)

    def entry(self, uniqueid: str) -> JournalEntry | None:
        unwritten = self._unwritten.get(uniqueid)
        if unwritten is not None:
            return unwritten
        data = read_json(self._path(uniqueid))
        return None if data is None else _entry(data)

    def forget(self, uniqueid: str) -> None:
        """The database has what was journalled for the call (or a flow wrote it itself)."""
        self._unwritten.pop(uniqueid, None)
        self._path(uniqueid).unlink(missing_ok=True)

    @property
    def unwritten(self) -> int:
        """How many calls' changes only this process's memory holds (the disk refused)."""
        return len(self._unwritten)

    def entries(self) -> Iterator[tuple[Path | None, JournalEntry | None]]:
        """Every call's entry, oldest file first (an unreadable one as ``None``), then those
        the disk still refuses (with no path). Each one kept in memory is first offered to
        the disk again."""
        for entry in list(self._unwritten.values()):
            if self._write(entry) is not None:
                del self._unwritten[entry.uniqueid]
        for path, data in read_json_files(self.directory):
            yield path, _entry(data)
        for entry in list(self._unwritten.values()):
            yield None, entry

    def quarantine(self, path: Path) -> Path:
        return quarantine(path, self.directory / "damaged")

    def _path(self, uniqueid: str) -> Path:
        return self.directory / f"{_name(uniqueid)}.json"

    def _append(self, change: Change) -> Path | None:
        before = self.entry(change.uniqueid)
        entry = JournalEntry(
            change.uniqueid, (*(before.changes if before is not None else ()), change)
        )
        written = self._write(entry)
        if written is None:
            self._unwritten[entry.uniqueid] = entry
        else:
            self._unwritten.pop(entry.uniqueid, None)
        return written

    def _write(self, entry: JournalEntry) -> Path | None:
        try:
            return write_json(
                self.directory,
                _name(entry.uniqueid),
                {"uniqueid": entry.uniqueid, "changes": [_dump(c) for c in entry.changes]},
            )
        except OSError as exc:
            self._on_refused(f"the journal of call {entry.uniqueid}", exc)
            return None


def _name(uniqueid: str) -> str:
    # A uniqueid comes from the wire: hashed, it can never name a path outside the folder.
    return hashlib.sha256(uniqueid.encode("utf-8", "replace")).hexdigest()[:40]


def _dump(change: Change) -> dict[str, Any]:
    data = asdict(change)
    data["at"] = change.at.isoformat()
    data["kind"] = "arrival" if isinstance(change, CallArrival) else "end"
    return data


def _entry(data: Any) -> JournalEntry | None:
    try:
        changes: list[Change] = []
        for raw in data["changes"]:
            fields = {k: v for k, v in raw.items() if k != "kind"}
            fields["at"] = datetime.fromisoformat(fields["at"])
            kind = raw["kind"]
            if kind == "arrival":
                changes.append(CallArrival(**fields))
            elif kind == "end":
                changes.append(CallEnd(**fields))
            else:
                return None
        return JournalEntry(str(data["uniqueid"]), tuple(changes))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
