"""Calls written straight into the database for the call records' tests."""

from __future__ import annotations

import io
import itertools
import wave
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from db.models import Call, RingAttempt
from domain.enums import CallState, Direction, RingOutcome

_ids = itertools.count(1)


def add_call(
    session: Session,
    queue_id: int | None,
    started_at: datetime,
    *,
    caller: str = "777123456",
    state: CallState = CallState.ANSWERED,
    answered_after_s: int | None = 30,
    length_s: int = 120,
    rings: tuple[tuple[int | None, int, int, RingOutcome], ...] = (),
    **columns: Any,
) -> int:
    """A finished inbound call; ``rings``: (agent id, start offset s, seconds, outcome)."""
    call = Call(
        uniqueid=f"test-{next(_ids)}-{started_at.timestamp()}",
        linkedid=columns.pop("linkedid", ""),
        direction=columns.pop("direction", Direction.INBOUND),
        caller_number=caller,
        queue_id=queue_id,
        state=state,
        started_at=started_at,
        queue_entered_at=started_at + timedelta(seconds=5),
        answered_at=started_at + timedelta(seconds=answered_after_s)
        if answered_after_s is not None
        else None,
        ended_at=started_at + timedelta(seconds=length_s),
        **columns,
    )
    session.add(call)
    session.flush()
    for agent_id, offset_s, seconds, outcome in rings:
        begun = started_at + timedelta(seconds=offset_s)
        session.add(
            RingAttempt(
                call_id=call.id,
                agent_id=agent_id,
                dial_string="PJSIP/101",
                started_at=begun,
                ended_at=begun + timedelta(seconds=seconds),
                outcome=outcome,
            )
        )
    session.flush()
    return call.id


def write_wav(path: Path, seconds: float) -> bytes:
    """A real WAV file of ``seconds`` of sound at ``path``; its bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(bytes(range(256)) * int(seconds * 8000 * 2 / 256))
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()
