"""Every call leg is recorded (R-1.14) -- support turns included -- unless the queue's
``recording_enabled`` is off, end to end over the AGI wire."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import Queue, Recording
from simulator.switch import CallerScript, PhoneBehaviour
from tests.support.e2e_world import E2EWorld, make_e2e_world

SUPPORT = "222111001"
NIGHT = "222111003"  # the support-turn queue of the e2e world's centre


def recordings(world: E2EWorld) -> list[tuple[int, str, int | None]]:
    with Session(world.engine) as s:
        return [
            (r.call_id, r.path, r.duration_s)
            for r in s.scalars(select(Recording).order_by(Recording.id))
        ]


def test_a_support_turn_call_is_recorded(db_url: str, tmp_path: Path) -> None:
    world = make_e2e_world(
        db_url,
        tmp_path,
        {
            "PJSIP/420603111222@trunk": PhoneBehaviour(answer_after_s=3, talk_s=25),
        },
        start=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),  # Monday 10:00, the rota's hours
    )
    sim_call = world.call(CallerScript(did=NIGHT, talk_s=None))
    world.run(60)
    [call] = world.calls()
    assert call["state"] == "answered"
    assert world.attempts(call["id"]) == [("", "PJSIP/420603111222@trunk", "answered", False)]
    [(call_id, path, duration_s)] = recordings(world)
    assert call_id == call["id"]
    assert path.startswith("calls/2026/11/23/") and path.endswith(".wav")
    # Asterisk's ANSWEREDTIME: the caller channel's up time, the ring included (transcript 006)
    assert duration_s is not None and 25 <= duration_s <= 29
    assert (tmp_path / "recordings" / path).is_file()  # MixMonitor wrote the file
    assert sim_call.record is not None and sim_call.record.monitors


@pytest.mark.parametrize("enabled", [True, False])
def test_recording_follows_the_queues_recording_enabled(
    db_url: str, tmp_path: Path, enabled: bool
) -> None:
    world = make_e2e_world(
        db_url, tmp_path, {"PJSIP/101": PhoneBehaviour(answer_after_s=2, talk_s=15)}
    )
    with Session(world.engine) as s, s.begin():
        s.execute(update(Queue).where(Queue.code == "SUPPORT").values(recording_enabled=enabled))
    world.log_in("eva")
    sim_call = world.call(CallerScript(did=SUPPORT, talk_s=None))
    world.run(60)
    [call] = world.calls()
    assert call["state"] == "answered"
    record = sim_call.record
    assert record is not None
    mixmonitor = any("MixMonitor" in step for run in record.lines for step in [str(run)])
    if enabled:
        [(call_id, path, duration_s)] = recordings(world)
        assert call_id == call["id"]
        assert duration_s is not None and 15 <= duration_s <= 18
        assert (tmp_path / "recordings" / path).is_file()
        assert mixmonitor
    else:
        assert recordings(world) == []
        assert not mixmonitor  # Asterisk was never asked to record
        assert not (tmp_path / "recordings" / "calls").exists()
