"""The suite's instant: Monday 23 November 2026, 09:00 UTC, which is 10:00 in Prague (CET),
when the test centres' queues are open; and ``t(seconds)``, an instant that long after it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def t(seconds: float) -> datetime:
    """``seconds`` after :data:`T0`."""
    return T0 + timedelta(seconds=seconds)
