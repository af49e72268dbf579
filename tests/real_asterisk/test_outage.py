"""The database going away while a real Asterisk 22 brings calls in (R-7.3; issue 11 item
3): the caller hears music, never silence; nothing the caller did is lost; the record keeps
the real times once the database answers again.

On SQLite the database file is moved away and back (the server never creates a missing
file); on PostgreSQL the server reaches the database through a TCP gate that is shut and
opened again, as when the database host goes away.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import make_url

from tests.real_asterisk.conftest import SUPPORT_DID, Tier
from tests.support.real_asterisk import place_call, wait_until
from tests.support.tcp_gate import TcpGate


class Outage:
    """The server's database, taken away and given back."""

    def __init__(self, tier: Tier, db_url: str) -> None:
        url = make_url(db_url)
        self._file: Path | None = None
        self._gate: TcpGate | None = None
        if url.get_backend_name() == "sqlite":
            assert url.database is not None
            self._file = Path(url.database)
        else:
            self._gate = TcpGate(url.host or "127.0.0.1", url.port or 5432)
            gated = url.set(host="127.0.0.1", port=self._gate.port)
            tier.stop_server()
            tier.env["HOTLINE_DATABASE_URL"] = gated.render_as_string(hide_password=False)
            tier.start_server()

    def begin(self) -> datetime:
        if self._file is not None:
            self._file.rename(self._away)
        else:
            assert self._gate is not None
            self._gate.shut()
        return datetime.now(UTC)

    def end(self) -> datetime:
        if self._file is not None:
            self._away.rename(self._file)
        else:
            assert self._gate is not None
            self._gate.reopen()
        return datetime.now(UTC)

    def close(self) -> None:
        if self._file is not None and self._away.exists():
            self._away.rename(self._file)
        if self._gate is not None:
            self._gate.close()

    @property
    def _away(self) -> Path:
        assert self._file is not None
        return self._file.with_name(self._file.name + ".away")


@pytest.fixture
def outage(tier: Tier, db_url: str) -> Iterator[Outage]:
    taken = Outage(tier, db_url)
    try:
        yield taken
    finally:
        taken.close()


def _music_for_the_caller(tier: Tier) -> None:
    """Asterisk logs the music on hold the inbound session started on the caller's side."""

    def started() -> bool:
        return any(
            "Started music on hold" in line and f"Local/{SUPPORT_DID}@hotline-inbound" in line
            for line in tier.pbx.new_log().splitlines()
        )

    wait_until("the caller hears music on hold", started, 15, 0.2)


def test_a_call_arriving_while_the_database_is_down_is_answered_once_it_is_back(
    tier: Tier, outage: Outage
) -> None:
    tier.seat_phone("101", "talk-1-2")
    tier.on_air("eva", "101")
    outage.begin()
    placed = datetime.now(UTC)
    caller = place_call(tier.ami, tier.pbx, SUPPORT_DID)
    _music_for_the_caller(tier)
    time.sleep(4)  # the real clock: the caller waits on the music through the outage
    assert caller.is_up()
    back = outage.end()
    call = tier.call_where(lambda c: c.ended_at is not None)
    assert call.state.value == "answered"
    started = call.started_at
    assert placed.timestamp() - 1 <= started.timestamp() <= placed.timestamp() + 2
    assert (back - started).total_seconds() >= 4  # the arrival's own time, not the retry's
    assert "hotline-fallback" not in tier.pbx.new_log()
    assert os.listdir(tier.cwd / "spool" / "calls") == []  # the journal is empty again


def test_a_caller_hanging_up_during_the_outage_is_recorded_once_the_database_is_back(
    tier: Tier, outage: Outage
) -> None:
    outage.begin()
    placed = datetime.now(UTC)
    caller = place_call(tier.ami, tier.pbx, SUPPORT_DID)
    _music_for_the_caller(tier)
    time.sleep(2)
    caller.hang_up()
    hung_up = datetime.now(UTC)
    wait_until("the journal holds the call", lambda: os.listdir(tier.cwd / "spool" / "calls"), 10)
    time.sleep(1)
    outage.end()
    call = tier.call_where(lambda c: c.ended_at is not None)  # the janitor's replay
    assert call.state.value == "abandoned_ivr"
    assert call.ended_at is not None
    assert abs((call.started_at - placed).total_seconds()) <= 2
    assert abs((call.ended_at - hung_up).total_seconds()) <= 2  # not when written
    assert not caller.is_up()


def test_a_long_outage_hands_the_caller_to_the_fallback_and_records_why(
    tier: Tier, outage: Outage
) -> None:
    outage.begin()
    caller = place_call(tier.ami, tier.pbx, SUPPORT_DID)
    _music_for_the_caller(tier)
    tier.pbx.wait_for_log("TIER: fallback phone answered", timeout_s=40)
    outage.end()
    call = tier.call_where(lambda c: c.ended_at is not None)
    assert call.state.value == "fallback"
    assert "database" in call.hangup_cause
    wait_until("the caller's line is over", lambda: not caller.is_up(), 20)
