"""What happened to each simulated call: a readable transcript, rings, outcome, summary.

Direction marks follow ``shared/asterisk-facts``: ``<<`` is what the fake Asterisk sent,
``>>`` what Hotline's FastAGI server sent. Times are seconds since the call started.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class TranscriptLine:
    at_s: float
    channel: str
    kind: str
    text: str


@dataclass
class RingRecord:
    """One phone rung by a Dial or an Originate."""

    target: str
    channel: str
    started_at: float
    ended_at: float | None = None
    outcome: str = "ringing"  # answered | noanswer | busy | unavailable | cancelled | ...

    @property
    def ring_s(self) -> float:
        return (self.ended_at if self.ended_at is not None else self.started_at) - self.started_at


@dataclass
class AgiRun:
    url: str
    channel: str
    started_at: float
    ended_at: float | None = None
    status: str = ""


@dataclass
class CallRecord:
    """Everything observed about one call (all channels sharing a linkedid)."""

    linkedid: str
    label: str
    started_at: float
    direction: str = "in"
    lines: list[TranscriptLine] = field(default_factory=list)
    rings: list[RingRecord] = field(default_factory=list)
    agi_runs: list[AgiRun] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    recordings: list[tuple[str, float]] = field(default_factory=list)  # RECORD FILE, VoiceMail
    monitors: list[tuple[str, float]] = field(default_factory=list)  # MixMonitor
    violations: list[str] = field(default_factory=list)
    ended_at: float | None = None
    answered_by: str | None = None
    answered_via: str = ""  # "agi" (Hotline's EXEC Dial) or "dialplan" (fallback)
    answer_wait_s: float | None = None
    talk_s: float = 0.0
    exit_digit: str | None = None
    voicemail_left: bool = False
    hangup_by: str = ""

    def add(self, now: float, channel: str, kind: str, text: str) -> None:
        self.lines.append(TranscriptLine(now - self.started_at, channel, kind, text))

    @property
    def duration_s(self) -> float:
        end = self.ended_at if self.ended_at is not None else self.started_at
        return end - self.started_at

    @property
    def category(self) -> str:
        """One word for the summary."""
        if self.answered_by:
            return "answered" if self.answered_via != "dialplan" else "fallback-answered"
        if self.voicemail_left:
            return "fallback-voicemail"
        if self.recordings:
            return "recorded"
        if self.exit_digit is not None:
            return f"pressed-{self.exit_digit}"
        if self.hangup_by == "caller":
            return "abandoned"
        if self.hangup_by == "hotline":
            return "ended-by-hotline"
        if self.agi_runs and all(run.status == "FAILURE" for run in self.agi_runs):
            return "no-server"
        return f"ended-by-{self.hangup_by or 'switch'}"

    @property
    def outcome(self) -> str:
        """One readable sentence."""
        if self.answered_by:
            via = " (fallback ring group)" if self.answered_via == "dialplan" else ""
            wait = f" after {self.answer_wait_s:.1f} s ringing" if self.answer_wait_s else ""
            return f"answered by {self.answered_by}{wait}{via}, talked {self.talk_s:.1f} s"
        parts = [self.category.replace("-", " ")]
        if self.recordings:
            path, seconds = self.recordings[-1]
            parts.append(f"recording {seconds:.1f} s at {path}")
        if self.exit_digit is not None and self.category != f"pressed-{self.exit_digit}":
            parts.append(f"left the ringing with '{self.exit_digit}'")
        parts.append(f"after {self.duration_s:.1f} s")
        return ", ".join(parts)

    def render(self, verbose: bool = False) -> str:
        """The transcript as text; ``verbose`` also prints every wire line and event."""
        head = f"=== call {self.linkedid} {self.label} ({self.direction})"
        out = [head]
        for line in self.lines:
            if not verbose and line.kind == "env":
                continue
            text = line.text
            if line.kind == "env" and verbose:
                text = text.replace(" | ", "\n" + " " * 31)
            out.append(f"{line.at_s:9.3f}  {line.channel[:16]:16}  {line.kind:>7}  {text}")
        for ring in self.rings:
            channel = f" ({ring.channel})" if ring.channel else ""
            out.append(f"    ring {ring.target}{channel} {ring.ring_s:.1f} s: {ring.outcome}")
        for path, seconds in self.monitors:
            out.append(f"    call recording {path} ({seconds:.1f} s)")
        for violation in self.violations:
            out.append(f"    VIOLATION {violation}")
        out.append(f"    outcome: {self.outcome}")
        return "\n".join(out)


@dataclass(frozen=True)
class RunSummary:
    """Counts and times over many calls."""

    calls: int
    categories: dict[str, int]
    agi_statuses: dict[str, int]
    mean_answer_wait_s: float | None
    max_answer_wait_s: float | None
    violations: int
    max_concurrent_channels: int

    def render(self) -> str:
        lines = [f"calls: {self.calls}"]
        for name, count in sorted(self.categories.items()):
            lines.append(f"  {name}: {count}")
        statuses = ", ".join(f"{k}={v}" for k, v in sorted(self.agi_statuses.items()))
        lines.append(f"AGI sessions: {statuses or 'none'}")
        if self.mean_answer_wait_s is not None:
            lines.append(
                f"ringing before answer: mean {self.mean_answer_wait_s:.1f} s, "
                f"max {self.max_answer_wait_s:.1f} s"
            )
        lines.append(f"most channels at once: {self.max_concurrent_channels}")
        lines.append(f"violations: {self.violations}")
        return "\n".join(lines)


def summarize(records: Iterable[CallRecord], max_concurrent_channels: int = 0) -> RunSummary:
    records = list(records)
    waits = [r.answer_wait_s for r in records if r.answer_wait_s is not None]
    statuses = Counter(run.status or "RUNNING" for r in records for run in r.agi_runs)
    return RunSummary(
        calls=len(records),
        categories=dict(Counter(r.category for r in records)),
        agi_statuses=dict(statuses),
        mean_answer_wait_s=statistics.fmean(waits) if waits else None,
        max_answer_wait_s=max(waits) if waits else None,
        violations=sum(len(r.violations) for r in records),
        max_concurrent_channels=max_concurrent_channels,
    )
