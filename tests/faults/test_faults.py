"""The fault suite (issue 11; R-7.6): a fault injected at each step of a call while the simulator
drives it, on SQLite and on PostgreSQL, and then, from the database, nothing lost and
nobody stuck (``tests.support.faults``).

Steps: as the call arrives, in the IVR, waiting, ringing, at the answer, at the
conversation's end, while a message is recorded, as a callback is asked for. Faults: the
database unreachable for 30 s from that moment; its write locks held by another client
for 30 s (a slow database: writes give up after the lock timeout); the server driving the
call killed
(SIGKILL: no goodbye on the wire) or stopped (SIGTERM: the flows are told, every connection
closed with a goodbye), with a second server left to resume it.
``scripts/faults`` prints the table of every case.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_twisted

from db.engine import make_engine
from simulator.switch import CallerScript, PhoneBehaviour
from tests.conftest import POSTGRES_URL
from tests.support.db import hold_write_locks
from tests.support.e2e_world import E2EWorld, make_e2e_world
from tests.support.faults import tally
from tests.support.full_disk import fill, small_disk

MAIN, SUPPORT = "222111000", "222111001"
SETTLE_S = 400  # every call over, the janitor's windows passed, the journal replayed


@dataclass(frozen=True)
class Step:
    """A call and the moment (seconds after it starts) it stands at the step."""

    script: CallerScript
    at_s: float
    # Final states that tell the truth of what the caller went through with this fault.
    truthful: frozenset[str]
    phones: dict[str, PhoneBehaviour] = field(default_factory=dict)
    log_in_at_s: float | None = 0.0  # eva goes on air then (None: nobody answers)


ANSWERED = frozenset({"answered"})
STEPS: dict[str, Step] = {
    "arrival": Step(  # the fault comes first, the call into it
        CallerScript(did=SUPPORT, talk_s=10),
        at_s=0.0,
        truthful=frozenset({"answered", "fallback"}),
        phones={"PJSIP/101": PhoneBehaviour(answer_after_s=2)},
    ),
    "ivr": Step(
        CallerScript(did=MAIN, keys=((4.0, "1"),), talk_s=10),
        at_s=2.0,
        truthful=frozenset({"answered", "fallback"}),
        phones={"PJSIP/101": PhoneBehaviour(answer_after_s=2)},
    ),
    "waiting": Step(
        CallerScript(did=SUPPORT, talk_s=10),
        at_s=10.0,
        truthful=ANSWERED,
        phones={"PJSIP/101": PhoneBehaviour(answer_after_s=2)},
        log_in_at_s=20.0,
    ),
    "ringing": Step(
        CallerScript(did=SUPPORT, talk_s=10),
        at_s=3.0,
        truthful=ANSWERED,
        phones={"PJSIP/101": PhoneBehaviour(answer_after_s=8)},
    ),
    "answer": Step(
        CallerScript(did=SUPPORT, talk_s=10),
        at_s=3.5,
        truthful=ANSWERED,
        phones={"PJSIP/101": PhoneBehaviour(answer_after_s=4)},
    ),
    "conversation end": Step(
        CallerScript(did=SUPPORT, talk_s=10),
        at_s=11.0,
        truthful=ANSWERED,
        phones={"PJSIP/101": PhoneBehaviour(answer_after_s=2)},
    ),
    "recording": Step(
        CallerScript(did=SUPPORT, keys=((5.0, "#"),), speech_s=8),
        at_s=9.0,
        truthful=frozenset({"voicemail"}),
        log_in_at_s=None,
    ),
    "callback": Step(
        CallerScript(did=SUPPORT, keys=((5.0, "0"),)),
        at_s=5.2,
        truthful=frozenset({"callback"}),
        log_in_at_s=None,
    ),
}


def _outage(world: E2EWorld, tmp_path: Path) -> Callable[[], None]:
    world.db.go_down(tmp_path)
    return world.db.come_back


def _kill(world: E2EWorld, tmp_path: Path) -> Callable[[], None]:
    world.servers[4573].kill()  # the call's server; 4574 resumes it
    return lambda: None


def _locked(world: E2EWorld, tmp_path: Path) -> Callable[[], None]:
    """Another client holds every write lock; the servers' writes give up after a short
    lock timeout (10 s in production: here short, as this world's database calls block
    for real) and are ridden out as an outage. Reads go on."""
    url = world.engine.url.render_as_string(hide_password=False)
    impatient = make_engine(url, lock_timeout_s=0.05)
    release = hold_write_locks(world.engine)
    world.db.bind(impatient)

    def end() -> None:
        release()
        world.db.come_back()
        impatient.dispose()

    return end


def _terminate(world: E2EWorld, tmp_path: Path) -> Callable[[], None]:
    world.servers[4573].terminate()  # stopped as by SIGTERM; 4574 resumes the call
    return lambda: None


def _full_disk(world: E2EWorld, tmp_path: Path) -> Callable[[], None]:
    """The disk the world lives on (its spool, its recordings and, on SQLite, its database
    file) is full: every write needing a new block fails with ENOSPC until it is freed."""
    return fill(world.tmp)


FAULTS: dict[str, tuple[Callable[[E2EWorld, Path], Callable[[], None]], float]] = {
    # the fault, and how long it lasts
    "database down 30 s": (_outage, 30.0),
    "disk full 30 s": (_full_disk, 30.0),
    "database locked 30 s": (_locked, 30.0),
    "server killed": (_kill, 0.0),
    "server stopped (SIGTERM)": (_terminate, 0.0),
}


@pytest.mark.parametrize("step_name", list(STEPS))
@pytest.mark.parametrize("fault_name", list(FAULTS))
@pytest_twisted.ensureDeferred
async def test_nothing_is_lost_and_nobody_stuck(
    db_url: str, tmp_path: Path, fault_name: str, step_name: str
) -> None:
    with ExitStack() as stack:
        home, url = tmp_path, db_url
        if fault_name in ON_SMALL_DISK:
            home = stack.enter_context(small_disk(tmp_path / "disk"))
            url = _moved_onto(db_url, home)
        await _case(url, home, fault_name, step_name)


ON_SMALL_DISK = frozenset({"disk full 30 s"})


def _moved_onto(db_url: str, disk: Path) -> str:
    """The test's database on ``disk``: an SQLite file moves there; PostgreSQL stays (its
    disk is not ours)."""
    if not db_url.startswith("sqlite:///"):
        return db_url
    moved = disk / "hotline.db"
    shutil.copy(db_url.removeprefix("sqlite:///"), moved)
    return f"sqlite:///{moved}"


async def _case(db_url: str, tmp_path: Path, fault_name: str, step_name: str) -> None:
    step = STEPS[step_name]
    inject, lasts_s = FAULTS[fault_name]
    world = make_e2e_world(db_url, tmp_path, step.phones, servers=(4573, 4574))
    if step.log_in_at_s == 0.0:
        world.log_in("eva")
    if step.at_s == 0.0:
        end_fault = inject(world, tmp_path)
        placed = world.call(step.script)
    else:
        placed = world.call(step.script)
        await world.run(step.at_s)
        end_fault = inject(world, tmp_path)
    if step.log_in_at_s is not None and step.log_in_at_s > step.at_s:
        await world.run(lasts_s)
        end_fault()
        await world.run(max(0.0, step.log_in_at_s - step.at_s - lasts_s))
        world.log_in("eva")
    else:
        await world.run(lasts_s)
        end_fault()
    await world.run(SETTLE_S)
    result = tally(
        world,
        [placed],
        fault=fault_name,
        step=step_name,
        database="PostgreSQL" if POSTGRES_URL else "SQLite",
    )
    assert (result.lost, result.stuck, result.overlaps) == (0, 0, 0), result
    assert result.recorded == result.placed == 1
    [state] = result.states
    assert state in step.truthful, result
