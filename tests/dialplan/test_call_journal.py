"""The calls' journal on disk (issue 11, item 3): changes kept in order per call, whatever
the uniqueid, and a damaged file set aside, never lost or replayed half."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from dialplan.call_journal import CallArrival, CallEnd, CallJournal

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
