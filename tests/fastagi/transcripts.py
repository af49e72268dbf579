"""Load the real-Asterisk AGI transcripts and replay them against a FastAGI protocol.

A transcript line is ``seconds  <<|>>  'python-repr-of-line'``: ``<<`` is what Asterisk sent,
``>>`` what the FastAGI server sent (``shared/asterisk-facts/README.md``). The files -- and the
AMI recording ``ami-originate-and-redirect-events.txt`` that tests/ami and tests/simulator use --
are copied into ``tests/support/asterisk-facts/`` so the suite runs without the shared folder;
``test_transcripts.py`` checks the copies still match the originals when those are present.

:class:`Replayer` feeds Asterisk's lines into a protocol on a ``StringTransport`` and checks
that the bytes the server wrote in between are EXACTLY the recorded ``>>`` lines. Before each
Asterisk line the injected clock is advanced to its recorded time, so the session's deadlines
see the real timing (the 8-second Dial of 006, the 10-second environment deadline).
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from tests.support.asterisk_facts import FACTS_DIR

ASTERISK = "<<"
SERVER = ">>"

_LINE_RE = re.compile(r"^\s*(?P<seconds>\d+\.\d+)\s+(?P<direction><<|>>)\s+(?P<text>.+?)\s*$")


@dataclass(frozen=True)
class Entry:
    """One recorded line: when (seconds since connect), who sent it, and the exact text
    including its ``\\n``."""

    seconds: float
    direction: str
    text: str


def parse_transcript(source: str) -> list[Entry]:
    """Parse a transcript's text; raises ``ValueError`` on a line of another shape."""
    entries: list[Entry] = []
    for number, raw in enumerate(source.splitlines(), start=1):
        if not raw.strip():
            continue
        match = _LINE_RE.match(raw)
        if match is None:
            raise ValueError(f"line {number}: not a transcript line: {raw!r}")
        text = ast.literal_eval(match.group("text"))
        if not isinstance(text, str):
            raise ValueError(f"line {number}: the recorded line is not a string literal")
        entries.append(Entry(float(match.group("seconds")), match.group("direction"), text))
    return entries


def transcript_names() -> list[str]:
    """The AGI transcripts (every ``*.txt`` except the AMI one)."""
    return sorted(p.stem for p in FACTS_DIR.glob("*.txt") if not p.name.startswith("ami-"))


def load(name: str) -> list[Entry]:
    """The entries of transcript ``name`` (file stem, e.g. ``001-basic``)."""
    return parse_transcript((FACTS_DIR / f"{name}.txt").read_text(encoding="utf-8"))


def entries_from(pairs: Iterable[tuple[str, str]], seconds: float = 0.0) -> list[Entry]:
    """Build entries by hand (direction, text), all at ``seconds``."""
    return [Entry(seconds, direction, text) for direction, text in pairs]


class Replayer:
    """Plays Asterisk's side of a transcript into ``protocol`` and checks the server's side."""

    def __init__(self, protocol: Protocol, transport: StringTransport, clock: Clock) -> None:
        self.protocol = protocol
        self.transport = transport
        self.clock = clock

    def play(self, entries: Sequence[Entry], chunks: Sequence[Sequence[int]] | None = None) -> None:
        """Replay ``entries``. ``chunks`` optionally gives, per run of consecutive Asterisk
        lines, the byte offsets where that run is split into separate ``dataReceived`` calls
        (by default each line is one call)."""
        expected: list[str] = []
        run: list[Entry] = []
        run_index = 0
        for entry in [*entries, None]:
            if entry is not None and entry.direction == ASTERISK:
                run.append(entry)
                continue
            if run:
                self.expect(expected)
                expected = []
                self._feed(run, chunks[run_index] if chunks and run_index < len(chunks) else None)
                run_index += 1
                run = []
            if entry is not None:
                expected.append(entry.text)
        self.expect(expected)

    def _feed(self, run: list[Entry], cuts: Sequence[int] | None) -> None:
        if cuts is None:
            for entry in run:
                self._advance_to(entry.seconds)
                self.protocol.dataReceived(entry.text.encode("utf-8"))
            return
        self._advance_to(run[-1].seconds)
        data = "".join(entry.text for entry in run).encode("utf-8")
        points = sorted({0, *(c for c in cuts if 0 < c < len(data)), len(data)})
        for start, end in itertools.pairwise(points):
            self.protocol.dataReceived(data[start:end])

    def _advance_to(self, seconds: float) -> None:
        if seconds > self.clock.seconds():
            self.clock.advance(seconds - self.clock.seconds())

    def expect(self, lines: Sequence[str]) -> None:
        """Assert the server wrote exactly ``lines`` since the last check."""
        written = self.transport.value()
        self.transport.clear()
        wanted = "".join(lines).encode("utf-8")
        assert written == wanted, f"server wrote {written!r}, the transcript has {wanted!r}"
