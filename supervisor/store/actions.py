"""A supervisor's actions on an agent (R-4.7): set the agent's state as the agent's own
desktop would, and write who did it to the audit trail.

The rules are the agent's: the change goes through ``agent_desktop``'s state machine and
stores (``agent_sessions.apply_event``, ``desk.start_pause``), so a supervisor can no more
pause an agent who is processing a call than the agent could. Only an agent of a department
the supervisor supervises may be changed (an admin: anyone, R-4.6); any other is "not
found", not "forbidden", so the answer tells nothing of other departments. The audit entry
(``audit_log``, shown by ``/admin/audit``) is written in the same transaction as the change.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy.orm import Session

from agent_desktop import agent_state as core
from agent_desktop.store import agent_sessions, desk
from db.models import Agent, AuditLog, PauseType
from domain.refusals import BadInputError, ConflictError, NotFoundError
from domain.texts import N_
from supervisor.store.live import may_see_agent

ACTIONS = ("on_air", "off_air", "pause", "log_out")
NO_SUCH_AGENT = N_("There is no such agent among those you supervise.")
PAUSE_NEEDED = N_("Choose the pause type.")
AUDIT_ACTION = "supervisor.agent_state"
# The agent's refusals, said to the supervisor about the agent (the rule is the same).
FOR_THE_SUPERVISOR = {
    core.FINISH_FIRST: N_("The agent is handling a call; the state can change once it is saved."),
    core.NO_LOGOUT_IN_CALL: N_("The agent is in a call and cannot be logged out now."),
    agent_sessions.NOT_AT_SEAT: N_("The agent is not logged in at a phone seat."),
}


class AgentStateRefusedError(ConflictError):
    """The agent's own rules refuse the change now."""


def _described(session: Session, agent_id: int) -> dict[str, object]:
    row = agent_sessions.open_session_row(session, agent_id)
    if row is None:
        return {"state": "logged_out"}
    pause = session.get(PauseType, row.pause_type_id) if row.pause_type_id else None
    return {
        "state": row.state.value,
        "activity": row.activity.value,
        "pause": pause.name if pause else None,
    }


def set_agent_state(
    session: Session,
    supervisor_id: int,
    agent_id: int,
    action: str,
    pause_type_id: int | None,
    now: datetime,
) -> None:
    """Put ``agent_id`` on air, off air, on a pause of ``pause_type_id`` or out of the seat.

    Refusals: ``NotFoundError`` (not an agent the supervisor sees), ``BadInputError`` (an
    unknown action or pause type), the agent's own (``AgentStateError``: "Finish processing
    the call with Save first.", ``SeatError``: not logged in at a seat).
    """
    if action not in ACTIONS:
        raise BadInputError(N_("Choose what to set."))
    agent = session.get(Agent, agent_id)
    if agent is None or not may_see_agent(session, supervisor_id, agent_id):
        raise NotFoundError(NO_SUCH_AGENT)
    supervisor = session.get(Agent, supervisor_id)
    reason = f"supervisor {supervisor.login if supervisor else supervisor_id}"
    before = _described(session, agent_id)
    try:
        _apply(session, agent_id, action, pause_type_id, now, reason)
    except ConflictError as refusal:
        message = FOR_THE_SUPERVISOR.get(refusal.message)
        if message is None:
            raise
        raise AgentStateRefusedError(message) from None
    after = _described(session, agent_id)
    session.add(
        AuditLog(
            at=now,
            actor_id=supervisor_id,
            action=AUDIT_ACTION,
            target=f"agents:{agent.login}"[:200],
            detail=json.dumps(
                {"before": before, "after": after, "action": action}, ensure_ascii=False
            ),
        )
    )


def _apply(
    session: Session,
    agent_id: int,
    action: str,
    pause_type_id: int | None,
    now: datetime,
    reason: str,
) -> None:
    if action == "pause":
        if pause_type_id is None:
            raise BadInputError(PAUSE_NEEDED)
        pause = session.get(PauseType, pause_type_id)
        if pause is None or not pause.active:
            raise desk.UnknownPauseTypeError()
        agent_sessions.apply_event(session, agent_id, core.Pause(pause_type_id), now, reason)
    else:
        event: core.Event = core.LogOut()
        if action == "on_air":
            event = core.GoOnAir()
        elif action == "off_air":
            event = core.GoOffAir()
        agent_sessions.apply_event(session, agent_id, event, now, reason)
