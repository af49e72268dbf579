"""The calls' journal on disk (issue 11, item 3; R-7.6): changes kept in order per call, whatever
the uniqueid, a damaged file set aside, never lost or replayed half, and a full disk
riding on memory until it has room again."""

from __future__ import annotations

import errno
from datetime import UTC, datetime
from pathlib import Path

from dialplan.call_journal import CallArrival, CallEnd, CallJournal, JournalEntry
from tests.support.full_disk import fill, small_disk

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_a_calls_changes_come_back_in_the_order_they_were_kept(tmp_path: Path) -> None:
    journal = CallJournal(tmp_path / "calls")
    arrival = CallArrival("1765000000.17", T0, did="222111001", caller_number="777123456")
    end = CallEnd("1765000000.17", "abandoned_ivr", T0.replace(second=9), "caller hung up")
    journal.arrived(arrival)
    journal.ended(end)
    assert journal.entry("1765000000.17") is not None
    [(_, entry)] = list(CallJournal(tmp_path / "calls").entries())  # as a restarted server
    assert entry is not None
    assert entry.changes == (arrival, end) and entry.arrival == arrival
    journal.forget("1765000000.17")
    assert list(journal.entries()) == [] and journal.entry("1765000000.17") is None


def test_a_uniqueid_from_the_wire_never_names_a_path_outside_the_journal(tmp_path: Path) -> None:
    journal = CallJournal(tmp_path / "calls")
    path = journal.ended(CallEnd("../../etc/passwd\x00\udcff", "fallback", T0))
    assert path.parent == tmp_path / "calls"
    [(_, entry)] = list(journal.entries())
    assert entry is not None and entry.uniqueid == "../../etc/passwd\x00\udcff"


def test_a_damaged_entry_is_set_aside_for_a_human(tmp_path: Path) -> None:
    journal = CallJournal(tmp_path / "calls")
    journal.arrived(CallArrival("a.1", T0))
    broken = tmp_path / "calls" / "broken.json"
    broken.write_text('{"uniqueid": "b.2", "changes": [{"kind": "teleport"}]}')
    entries = dict(journal.entries())
    assert entries[broken] is None
    moved = journal.quarantine(broken)
    assert moved.read_text().startswith('{"uniqueid": "b.2"')
    assert [e.uniqueid for _, e in journal.entries() if e is not None] == ["a.1"]


def test_a_full_disk_keeps_the_changes_in_memory_until_it_has_room(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", size_mb=4) as disk:
        told: list[tuple[str, int | None]] = []
        journal = CallJournal(disk / "calls", lambda what, error: told.append((what, error.errno)))
        journal.arrived(CallArrival("early.1", T0))  # on disk before it filled
        free = fill(disk)
        arrival = CallArrival("1765000000.18", T0, did="222111001")
        end = CallEnd("1765000000.18", "fallback", T0.replace(second=40), "database unavailable")
        assert journal.arrived(arrival) is None and journal.ended(end) is None
        assert journal.unwritten == 1
        assert told == [("the journal of call 1765000000.18", errno.ENOSPC)] * 2  # logged
        assert not list((disk / "calls").glob(".*.tmp"))  # no half-written file left behind
        # The janitor sees it all the same, after what the disk holds.
        assert [(p is None, e.uniqueid if e else None) for p, e in journal.entries()] == [
            (False, "early.1"),
            (True, "1765000000.18"),
        ]
        assert journal.entry("1765000000.18") == JournalEntry("1765000000.18", (arrival, end))
        free()
        # The next listing writes it to disk: a restarted server would find it there.
        assert len(list(journal.entries())) == 2 and journal.unwritten == 0
        entry = CallJournal(disk / "calls").entry("1765000000.18")
        assert entry is not None and entry.changes == (arrival, end)


def test_what_only_memory_holds_is_forgotten_once_the_database_has_it(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", size_mb=4) as disk:
        journal = CallJournal(disk / "calls")
        fill(disk)
        journal.arrived(CallArrival("1765000000.19", T0))
        journal.forget("1765000000.19")
        assert journal.unwritten == 0 and list(journal.entries()) == []
