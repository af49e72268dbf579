"""An agent whose phone answers BUSY (a private call, the line in use) is tried again only
after a pause, by every call alike, and is not sent off air: a waiting caller is not stuck
behind a hot loop of dials, and is served by the next agent who comes free (R-1.3, R-1.4)."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import RingAttempt
from dialplan.store.calls import BUSY_RETRY_S
from simulator.switch import CallerScript, PhoneBehaviour
from tests.support.e2e_world import make_e2e_world

SUPPORT = "222111001"


def test_a_busy_phone_is_retried_after_a_pause_and_the_next_free_agent_answers(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(
        db_url,
        tmp_path,
        {"PJSIP/101": PhoneBehaviour(busy=True), "PJSIP/102": PhoneBehaviour(answer_after_s=2)},
    )
    world.log_in("eva")  # on air, but her phone is busy
    world.call(CallerScript(did=SUPPORT, talk_s=None))
    world.run(31)
    [call] = world.calls()
    assert call["state"] == "waiting"
    with Session(world.engine) as s:
        starts = list(
            s.scalars(
                select(RingAttempt.started_at)
                .where(RingAttempt.call_id == call["id"])
                .order_by(RingAttempt.id)
            )
        )
    assert 2 <= len(starts) <= 31 // BUSY_RETRY_S + 1
    gaps = [(b - a).total_seconds() for a, b in pairwise(starts)]
    assert min(gaps) >= BUSY_RETRY_S
    assert {a[2] for a in world.attempts(call["id"])} == {"busy"}
    assert world.agent_state("eva") == ("on_air", "idle", None)  # not paused for a busy line

    world.log_in("jan")
    world.run(10)
    [call] = world.calls()
    assert call["state"] == "talking"
    assert world.attempts(call["id"])[-1] == ("jan", "PJSIP/102", "answered", False)
