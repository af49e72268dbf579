"""What the fault suite checks after each fault, from the database (issue 11): every call
the simulator placed has a record with a final state, every ``#``/``0`` choice its item
(and a message its audio file), no agent is left reserved, no two rings of one agent
overlapped.

:func:`tally` counts those for one case; with ``HOTLINE_FAULT_TABLE`` naming a file, each
case appends its row there (JSON lines), which ``scripts/faults`` turns into the table of
``docs/reliability.md``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import AgentSession, Call, RingAttempt, VoicemailItem
from domain.enums import FINAL_STATES, Activity, ItemKind
from simulator.switch import SimCall
from tests.support.e2e_world import E2EWorld

# An agent is reserved while the centre holds them for a call.
_RESERVED = (Activity.RINGING, Activity.IN_CALL)


@dataclass(frozen=True)
class Tally:
    """One fault case: what was placed, and what the database kept of it."""

    fault: str
    step: str
    database: str
    placed: int
    recorded: int  # placed calls with a record in a final state
    choices: int  # "#" or "0" taken by a box
    items: int  # of those, the ones with their item (a message with its audio file)
    lost: int
    stuck: int  # agents reserved with no live call
    overlaps: int  # pairs of one agent's rings that overlapped in time
    states: tuple[str, ...]  # the placed calls' final states, in order

    def write(self) -> None:
        target = os.environ.get("HOTLINE_FAULT_TABLE")
        if target:
            with open(target, "a", encoding="utf-8") as out:
                out.write(json.dumps(asdict(self)) + "\n")


def tally(
    world: E2EWorld, placed: Sequence[SimCall], *, fault: str, step: str, database: str
) -> Tally:
    uniqueids = [c.record.linkedid if c.record is not None else "" for c in placed]
    with Session(world.engine) as s:
        calls = {c.uniqueid: c for c in s.scalars(select(Call).where(Call.uniqueid.in_(uniqueids)))}
        states = tuple(calls[u].state.value if u in calls else "(no record)" for u in uniqueids)
        recorded = sum(1 for u in uniqueids if u in calls and calls[u].state in FINAL_STATES)
        # A choice is a # or 0 the caller pressed (the script's keys); one without a
        # record at all counts as a choice without its item.
        pressed = [
            u
            for u, c in zip(uniqueids, placed, strict=True)
            if any(key in ("#", "0") for _, key in c.script.keys)
        ]
        chose = [calls[u].id if u in calls else 0 for u in pressed]
        items = s.scalars(select(VoicemailItem).where(VoicemailItem.call_id.in_(chose))).all()
        kept = sum(
            1
            for i in items
            if i.kind is not ItemKind.MESSAGE
            or (i.recording_path and (world.tmp / "recordings" / i.recording_path).is_file())
        )
        live = {
            c.agent_id
            for c in s.scalars(select(Call).where(Call.state.not_in(FINAL_STATES)))
            if c.agent_id is not None
        }
        stuck = sum(
            1
            for row in s.scalars(select(AgentSession).where(AgentSession.logged_out_at.is_(None)))
            if row.activity in _RESERVED and row.agent_id not in live
        )
        overlaps = 0
        rings = s.scalars(
            select(RingAttempt).order_by(RingAttempt.agent_id, RingAttempt.started_at)
        )
        by_agent: dict[int | None, list[RingAttempt]] = {}
        for ring in rings:
            by_agent.setdefault(ring.agent_id, []).append(ring)
        for agent_id, own in by_agent.items():
            if agent_id is None:
                continue
            for first, second in pairwise(own):
                if first.ended_at is None or first.ended_at > second.started_at:
                    overlaps += 1
    lost = (len(placed) - recorded) + (len(chose) - kept)
    result = Tally(
        fault=fault,
        step=step,
        database=database,
        placed=len(placed),
        recorded=recorded,
        choices=len(chose),
        items=kept,
        lost=lost,
        stuck=stuck,
        overlaps=overlaps,
        states=states,
    )
    result.write()
    return result
