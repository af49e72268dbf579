"""Call records and offers: what the call flows write, one transaction per step.

The offer is the heart of R-1.3: reserving an agent for a call happens in one transaction
that locks the agent's live session row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's
single writer takes the lock with ``BEGIN IMMEDIATE``), checks the agent is still on-air and
idle, and inserts the live ring attempt that a partial unique index allows only once per
agent. Whichever process loses the race gets ``None`` and tries another agent: several
processes share one database without ever offering two calls to one agent (R-7.1).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agent_desktop import agent_state as agent_core
from agent_desktop.store import agent_sessions
from callbacks.store import resolve_by_contact
from db.events import emit
from db.fit import fit
from db.models import (
    Call,
    IvrKeyPress,
    PhoneSeat,
    Queue,
    Recording,
    RingAttempt,
    VoicemailItem,
)
from dialplan.matching import FreeAgent, WaitingCall, match
from domain.enums import (
    FINAL_STATES,
    Activity,
    AgentState,
    CallState,
    Direction,
    ItemKind,
    ItemState,
    IvrOutcome,
    ProcessingState,
    RingOutcome,
)
from domain.refusals import CallNotFoundError
from reports.store.kpi import record_box_choice, service_level_threshold_s

# An agent whose phone answered BUSY (a private call, a second line in use) is not rung
# again for this long, by any call: without it a queue whose only free agent is busy would
# redial that phone as fast as Asterisk answers BUSY. Asterisk's own queue waits 5 s too.
BUSY_RETRY_S = 5
# Every server touches the calls it holds an AGI session for every HEARTBEAT_INTERVAL_S
# (dialplan.store.janitor); one not touched for three beats lost its server.
HEARTBEAT_INTERVAL_S = 5.0
HELD_WITHIN_S = 3 * HEARTBEAT_INTERVAL_S
# calls.flow_step of a call in a box: which one the caller chose.
BOX_VOICEMAIL = "box:voicemail"
BOX_CALLBACK = "box:callback"


@dataclass(frozen=True)
class CallView:
    id: int
    uniqueid: str
    direction: str
    did: str
    caller_number: str
    caller_name: str
    queue_id: int | None
    state: str
    started_at: datetime
    queue_entered_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    overflowed: bool
    agent_id: int | None
    flow_step: str


@dataclass(frozen=True)
class OfferView:
    attempt_id: int
    call_id: int
    agent_id: int
    dial_string: str
    started_at: datetime
    overflow: bool


def _view(call: Call) -> CallView:
    return CallView(
        id=call.id,
        uniqueid=call.uniqueid,
        direction=call.direction.value,
        did=call.did,
        caller_number=call.caller_number,
        caller_name=call.caller_name,
        queue_id=call.queue_id,
        state=call.state.value,
        started_at=call.started_at,
        queue_entered_at=call.queue_entered_at,
        answered_at=call.answered_at,
        ended_at=call.ended_at,
        overflowed=call.overflowed,
        agent_id=call.agent_id,
        flow_step=call.flow_step,
    )


def _call(session: Session, call_id: int, *, lock: bool = False) -> Call:
    call = session.get(Call, call_id, with_for_update=lock)
    if call is None:
        raise CallNotFoundError()
    return call


def open_call(
    session: Session,
    *,
    uniqueid: str,
    direction: Direction,
    now: datetime,
    linkedid: str = "",
    did: str = "",
    caller_number: str = "",
    caller_name: str = "",
    callee_number: str = "",
    driven_by: str = "",
    channel: str = "",
    only_new: bool = False,
    started_at: datetime | None = None,
) -> CallView | None:
    """The call with this uniqueid, created when new (a resumed flow finds its own call).
    ``only_new``: None when a call with this uniqueid exists already, which is left as it is
    (a second ``inbound`` session for one channel must not take over its call).

    ``channel`` is the Asterisk channel name of the AGI request (``agi_channel``): what a
    transfer redirects (R-1.12). ``started_at``: when the call really arrived, if that was
    before ``now`` (it came while the database was down, issue 11)."""
    # A new call (``only_new``) goes straight to the insert: the unique uniqueid refuses a
    # second one, one statement less on every call (issue 12).
    existing = None
    if not only_new:
        existing = session.scalars(select(Call).where(Call.uniqueid == uniqueid)).one_or_none()
    if existing is not None:
        existing.driven_by = driven_by or existing.driven_by
        existing.channel = channel or existing.channel
        existing.heartbeat_at = now
        return _view(existing)
    call = Call(
        uniqueid=uniqueid,
        linkedid=linkedid or uniqueid,
        channel=channel,
        direction=direction,
        did=fit(Call, "did", did),
        caller_number=fit(Call, "caller_number", caller_number),
        caller_name=fit(Call, "caller_name", caller_name),
        callee_number=fit(Call, "callee_number", callee_number),
        state=CallState.IVR,
        started_at=started_at or now,
        ivr_entered_at=started_at or now,
        driven_by=driven_by,
        heartbeat_at=now,
    )
    try:
        with session.begin_nested():
            session.add(call)
            session.flush()
    except IntegrityError:
        # Another process opened it between our read and insert (a resume racing the flow).
        if only_new:
            return None
        found = session.scalars(select(Call).where(Call.uniqueid == uniqueid)).one()
        return _view(found)
    emit(session, "call.new", now, call_id=call.id, caller=caller_number, did=did)
    return _view(call)


def get_call(session: Session, call_id: int) -> CallView:
    return _view(_call(session, call_id))


def find_call(session: Session, uniqueid: str) -> CallView | None:
    call = session.scalars(select(Call).where(Call.uniqueid == uniqueid)).one_or_none()
    return None if call is None else _view(call)


def record_ivr_key(
    session: Session, call_id: int, menu_id: int, digit: str, outcome: str, now: datetime
) -> None:
    """Every key press in an IVR menu, for the IVR report (R-1.1)."""
    session.add(
        IvrKeyPress(
            call_id=call_id, menu_id=menu_id, digit=digit[:1], outcome=IvrOutcome(outcome), at=now
        )
    )


def enter_queue(
    session: Session,
    call_id: int,
    queue_id: int,
    now: datetime,
    *,
    keep_waiting_start: bool,
    recording_path: str = "",
) -> CallView:
    """The hand-over to a queue: waiting starts now (R-1.2), unless a resumed call keeps its
    original start (R-1.16). ``recording_path``: the leg's recording the flow starts next,
    whose row is made in the same transaction (:func:`start_recording`; issue 12)."""
    call = _call(session, call_id, lock=True)
    if call.state in FINAL_STATES:
        return _view(call)
    if recording_path:
        start_recording(session, call_id, recording_path, now)
    if keep_waiting_start:
        # A resumed call: the ring the dead session started is over by now.
        end_live_ring(session, call_id, RingOutcome.FAILED, now)
    call.queue_id = queue_id
    call.state = CallState.WAITING
    call.flow_step = "queue"
    if not (keep_waiting_start and call.queue_entered_at is not None):
        call.queue_entered_at = now
    emit(
        session,
        "call.queued",
        now,
        call_id=call.id,
        queue_id=queue_id,
        waiting_since=call.queue_entered_at,
    )
    return _view(call)


def waiting_calls(session: Session, now: datetime | None = None) -> list[WaitingCall]:
    """Calls parked in any queue, with the agents each has rung already.

    Given ``now``, only the calls a live AGI session holds: those whose server touched them
    within ``HELD_WITHIN_S`` (``dialplan.store.janitor``). A call whose server died is
    still ``waiting`` in its row until the janitor closes it; first come, first served
    must not hand it the free agent meanwhile (issue 10, defect 2).
    """
    held = [Call.state == CallState.WAITING, Call.queue_entered_at.is_not(None)]
    if now is not None:
        held.append(Call.heartbeat_at >= now - timedelta(seconds=HELD_WITHIN_S))
    calls = session.execute(
        select(
            Call.id,
            Call.queue_id,
            Call.queue_entered_at,
            Call.overflowed,
            Call.preferred_agent_id,
        ).where(*held)
    ).all()
    if not calls:
        return []
    tried: dict[int, set[int]] = {}
    for call_id, agent_id in session.execute(
        select(RingAttempt.call_id, RingAttempt.agent_id).where(
            RingAttempt.call_id.in_([c.id for c in calls]), RingAttempt.agent_id.is_not(None)
        )
    ):
        if agent_id is not None:
            tried.setdefault(call_id, set()).add(agent_id)
    return [
        WaitingCall(
            call_id=c.id,
            queue_id=c.queue_id or 0,
            waiting_since=c.queue_entered_at,  # type: ignore[arg-type]
            overflowed=c.overflowed,
            preferred_agent_id=c.preferred_agent_id,
            tried_agent_ids=frozenset(tried.get(c.id, ())),
        )
        for c in calls
    ]


def free_agents(session: Session, now: datetime | None = None) -> list[FreeAgent]:
    """Agents who can be offered a call; given ``now``, less those whose phone answered
    BUSY within the last ``BUSY_RETRY_S`` seconds."""
    busy: set[int] = set()
    if now is not None:
        busy = set(
            session.scalars(
                select(RingAttempt.agent_id).where(
                    RingAttempt.outcome == RingOutcome.BUSY,
                    RingAttempt.ended_at > now - timedelta(seconds=BUSY_RETRY_S),
                    RingAttempt.agent_id.is_not(None),
                )
            )
        )
    return [
        FreeAgent(agent_id, queues, idle)
        for agent_id, idle, queues in agent_sessions.free_agent_rows(session)
        if agent_id not in busy
    ]


def offer(
    session: Session, call_id: int, agent_id: int, now: datetime, *, overflow: bool = False
) -> OfferView | None:
    """Reserve ``agent_id`` for ``call_id`` and open the ring attempt; None if either is gone."""
    row = agent_sessions.open_session_row(session, agent_id, lock=True)
    if row is None or row.state is not AgentState.ON_AIR or row.activity is not Activity.IDLE:
        return None
    call = _call(session, call_id, lock=True)
    if call.state is not CallState.WAITING:
        return None
    dial_string = session.scalar(select(PhoneSeat.dial_string).where(PhoneSeat.id == row.seat_id))
    assert dial_string is not None
    attempt = open_ring(
        session,
        call,
        agent_id,
        dial_string,
        now,
        overflow=overflow,
        waiting_since=call.queue_entered_at,
        caller=call.caller_number,
    )
    if attempt is None:
        return None  # the database's last word: this agent or this call already rings
    agent_sessions.apply_to_row(session, row, agent_core.Offered(), now, f"call {call_id}")
    row.current_call_id = call_id
    return OfferView(attempt.id, call_id, agent_id, dial_string, now, overflow)


def end_offer(
    session: Session,
    attempt_id: int,
    outcome: RingOutcome,
    now: datetime,
    *,
    missed: bool = False,
    missed_pause_type_id: int | None = None,
) -> None:
    """Close a live offer that was not answered; the call goes back to waiting if still live."""
    attempt = session.get(RingAttempt, attempt_id, with_for_update=True)
    if attempt is None or attempt.outcome is not RingOutcome.RINGING:
        return
    attempt.outcome = outcome
    attempt.ended_at = now
    if attempt.agent_id is not None:
        row = agent_sessions.open_session_row(session, attempt.agent_id)
        if row is not None and row.activity is Activity.RINGING:
            agent_sessions.apply_to_row(
                session,
                row,
                agent_core.RingEnded(missed, missed_pause_type_id),
                now,
                "missed call" if missed else f"ring ended: {outcome.value}",
            )
            row.current_call_id = None
    call = _call(session, attempt.call_id, lock=True)
    if call.state is CallState.RINGING:
        call.state = CallState.WAITING
    emit(
        session,
        "call.ring_ended",
        now,
        call_id=call.id,
        agent_id=attempt.agent_id,
        queue_id=call.queue_id,
        outcome=outcome.value,
    )


def answered(session: Session, attempt_id: int, now: datetime) -> CallView:
    """The agent picked up (the ``U()`` AGI on the agent leg, decision 1).

    Everything it reads comes before what it writes, so that the writes go to the database
    together at the commit, not flushed piecemeal before each read (issue 12)."""
    attempt = session.get(RingAttempt, attempt_id, with_for_update=True)
    if attempt is None:
        raise CallNotFoundError()
    call = _call(session, attempt.call_id, lock=True)
    if attempt.outcome is RingOutcome.ANSWERED:
        return _view(call)
    waited = (now - (call.queue_entered_at or now)).total_seconds()
    # with the centre's threshold in force now.
    threshold_s = service_level_threshold_s(session)
    row = (
        agent_sessions.open_session_row(session, attempt.agent_id)
        if attempt.agent_id is not None
        else None
    )
    queue = None
    if attempt.agent_id is not None and call.queue_id is not None:
        queue = session.scalar(select(Queue.name).where(Queue.id == call.queue_id))
    # with no callback request open at all (most answers), there is none to resolve.
    callbacks_open = session.scalar(
        select(VoicemailItem.id)
        .where(
            VoicemailItem.state == ItemState.OPEN,
            VoicemailItem.kind == ItemKind.CALLBACK,
            VoicemailItem.created_at <= now,
        )
        .limit(1)
    )
    attempt.outcome = RingOutcome.ANSWERED
    attempt.ended_at = now
    call.state = CallState.TALKING
    call.answered_at = now
    call.agent_id = attempt.agent_id
    call.processing_state = ProcessingState.PENDING
    call.reached = True
    call.within_service_level = waited <= threshold_s
    if row is not None and row.activity is Activity.RINGING:
        # A queue offer reserved the agent; a support-turn ring rings a phone
        # directly and leaves the operator's desk state alone.
        agent_sessions.apply_to_row(session, row, agent_core.Answered(), now, f"call {call.id}")
        row.current_call_id = call.id
    emit(
        session,
        "call.answered",
        now,
        call_id=call.id,
        agent_id=attempt.agent_id,
        queue_id=call.queue_id,
        waiting_since=call.queue_entered_at,
    )
    if attempt.agent_id is not None:
        # "waiting time was mm:ss", at the moment of answer (the flow only hears
        # about the answer when Dial returns, after the conversation).
        notify_agent(
            session,
            call.id,
            attempt.agent_id,
            "connected",
            now,
            waiting_s=max(0, int(waited)),
            queue=queue or "",
        )
    if callbacks_open:
        # in the same transaction: the customer reached us, so their open callback
        # requests are resolved by this call.
        resolve_by_contact(session, call.id, now)
    return _view(call)


@dataclass(frozen=True)
class ConversationEnd:
    """When the agent picked up; ``hook_missed``: the answer hook never reached Hotline,
    so the ring's start stands in for the answer (decision 1)."""

    answered_at: datetime
    hook_missed: bool


def end_conversation(
    session: Session,
    call_id: int,
    attempt_id: int,
    ring_started_at: datetime,
    ended_at: datetime,
    *,
    recording_path: str = "",
    recording_started_at: datetime | None = None,
    state: CallState | None = None,
    cause: str = "",
) -> ConversationEnd:
    """A conversation is over (Dial returned ANSWER), in one transaction (issue 12): the
    answer as the hook stored it (or the ring's start when the hook could not reach
    Hotline), the leg's recording with its length from the answer to ``ended_at``
    (R-1.14), and, given ``state``, the call's final state (:func:`close_call`)."""
    call = _call(session, call_id, lock=True)
    hook_missed = call.answered_at is None
    if hook_missed:
        answered(session, attempt_id, ring_started_at)
    answered_at = call.answered_at or ring_started_at
    if recording_path:
        talked_s = int((ended_at - answered_at).total_seconds())
        finish_recording(
            session, call_id, recording_path, recording_started_at or answered_at, talked_s
        )
    if state is not None:
        _close(session, call, state, ended_at, cause=cause)
    return ConversationEnd(answered_at, hook_missed)


def choose_box(session: Session, call_id: int, step: str, now: datetime) -> CallView:
    """The caller chose a box (``step``: BOX_VOICEMAIL or BOX_CALLBACK; by # or 0, or the
    closed hours sent them): out of the waiting set at once, so the callers behind are
    offered the next free agent while this one records (R-1.7, R-1.8; issue 10, defect
    1). Reached and the service level count from this moment (R-5.4)."""
    call = _call(session, call_id, lock=True)
    if call.state in FINAL_STATES or call.state is CallState.IN_BOX:
        return _view(call)
    end_live_ring(session, call_id, RingOutcome.CANCELLED, now)
    call.state = CallState.IN_BOX
    call.flow_step = step
    record_box_choice(session, call, now)
    emit(session, "call.in_box", now, call_id=call.id, queue_id=call.queue_id, box=step[4:])
    return _view(call)


def mark_overflowed(session: Session, call_id: int, now: datetime) -> None:
    """R-1.6: marked for good; never unset."""
    call = _call(session, call_id, lock=True)
    if not call.overflowed:
        call.overflowed = True
        emit(session, "call.overflowed", now, call_id=call_id, queue_id=call.queue_id)


def heartbeat(session: Session, call_id: int, now: datetime, step: str) -> None:
    call = _call(session, call_id)
    call.heartbeat_at = now
    call.flow_step = step


# The cause the janitor gives a call it closes because no server holds it any more: a guess,
# which what the call's own flow or request says later corrects.
LOST = "hotline server lost"


def guessed_lost(call: Call) -> bool:
    return call.state is CallState.FALLBACK and call.hangup_cause == LOST


def close_call(
    session: Session, call_id: int, state: CallState, now: datetime, *, cause: str = ""
) -> CallView:
    """Give the call its final state (R-1.15); frees any agent still reserved for it.

    A final state stays, but for the janitor's guess (``fallback``, :data:`LOST`): the flow
    that knows how the call ended writes it over that, late after an outage (issue 11)."""
    return _close(session, _call(session, call_id, lock=True), state, now, cause=cause)


def _close(
    session: Session, call: Call, state: CallState, now: datetime, *, cause: str = ""
) -> CallView:
    """:func:`close_call` of the call row, locked already."""
    call_id = call.id
    if call.state in FINAL_STATES and not guessed_lost(call):
        return _view(call)
    live = session.scalars(
        select(RingAttempt).where(
            RingAttempt.call_id == call_id, RingAttempt.outcome == RingOutcome.RINGING
        )
    ).all()
    for attempt in live:
        end_offer(session, attempt.id, RingOutcome.CALLER_HUNG_UP, now)
    if call.state is CallState.TALKING and call.agent_id is not None:
        row = agent_sessions.open_session_row(session, call.agent_id)
        if row is not None and row.activity is Activity.IN_CALL:
            agent_sessions.apply_to_row(
                session, row, agent_core.CallEnded(), now, f"call {call.id} ended"
            )
    chose_box_before = call.state is CallState.IN_BOX
    call.state = state
    call.ended_at = now
    # The column holds 64 characters; a long error text must not make the close fail.
    call.hangup_cause = (cause or call.hangup_cause)[:64]
    call.flow_step = "done"
    if state in (CallState.VOICEMAIL, CallState.CALLBACK) and not chose_box_before:
        # choosing voicemail/callback counts as reached, and as within the service
        # level when chosen within the threshold (choose_box did it at the choice itself).
        record_box_choice(session, call, now)
    emit(
        session,
        "call.ended",
        now,
        call_id=call.id,
        agent_id=call.agent_id,
        queue_id=call.queue_id,
        state=state.value,
    )
    return _view(call)


def fail_to_fallback(session: Session, call_id: int, now: datetime, cause: str) -> CallView:
    """The flow driving the call broke (an AGI or database error, a bug): the caller goes to
    the dialplan's fallback, so the call ends as ``fallback`` with ``cause``; a ring it had
    started ends as failed and frees the agent."""
    end_live_ring(session, call_id, RingOutcome.FAILED, now)
    return close_call(session, call_id, CallState.FALLBACK, now, cause=cause)


def queue_by_code(session: Session, code: str) -> Queue | None:
    return session.scalars(select(Queue).where(Queue.code == code)).one_or_none()


@dataclass(frozen=True)
class PlannedOffer:
    """Whom the matching gives a waiting call to, and whether as an overflow (R-1.6)."""

    agent_id: int
    overflow: bool


def offer_plan(session: Session, now: datetime) -> dict[int, PlannedOffer]:
    """The first-come-first-served matching of every held waiting call with the free agents,
    by call id (R-1.5): one computation serves every waiting caller of a process (issue 12).

    Every process computes the same matching from the same rows; the random choice for
    overflowed calls is seeded from those rows so that processes agree on it too. With
    nobody free, the waiting calls are not even read.
    """
    free = free_agents(session, now)
    if not free:
        return {}
    _forget_off_air_preferences(session)
    return _matching(session, now, free)


def read_offer_plan(session: Session, now: datetime) -> dict[int, PlannedOffer] | None:
    """:func:`offer_plan` for ``DBRunner.read``: the same matching without a write, or None
    when a preference for a colleague gone off air must be forgotten first (R-1.12), which
    is a write (:func:`offer_plan` then). Waiting callers plan through this, so on SQLite
    their matching never takes the write lock (issue 12)."""
    free = free_agents(session, now)
    if not free:
        return {}
    if _off_air_preferences(session):
        return None
    return _matching(session, now, free)


def _matching(session: Session, now: datetime, free: list[FreeAgent]) -> dict[int, PlannedOffer]:
    waiting = waiting_calls(session, now)
    if not waiting:
        return {}
    seed = "|".join(
        [",".join(str(c.call_id) for c in waiting), ",".join(str(a.agent_id) for a in free)]
    )
    pairs = match(waiting, free, random.Random(seed))
    queues = {a.agent_id: a.queue_ids for a in free}
    calls = {c.call_id: c for c in waiting}
    return {
        call_id: PlannedOffer(
            agent_id, calls[call_id].overflowed and calls[call_id].queue_id not in queues[agent_id]
        )
        for call_id, agent_id in pairs.items()
    }


def _off_air_preferences(session: Session) -> list[int]:
    """The ids of the waiting calls that prefer a colleague who is no longer on air
    (R-1.12)."""
    preferring = session.execute(
        select(Call.id, Call.preferred_agent_id).where(
            Call.state == CallState.WAITING, Call.preferred_agent_id.is_not(None)
        )
    ).all()
    stale = []
    for call_id, agent_id in preferring:
        assert agent_id is not None
        preferred = agent_sessions.open_session_row(session, agent_id, lock=False)
        if preferred is None or preferred.state is not AgentState.ON_AIR:
            stale.append(call_id)
    return stale


def _forget_off_air_preferences(session: Session) -> None:
    """R-1.12: a transferred call whose chosen colleague went off air meanwhile goes to the
    queue without the preference."""
    for call_id in _off_air_preferences(session):
        _call(session, call_id).preferred_agent_id = None


def offer_planned(
    session: Session, call_id: int, planned: PlannedOffer, now: datetime
) -> OfferView | None:
    """The offer :func:`offer_plan` gave ``call_id``, if the agent and the call are still
    free to take it."""
    return offer(session, call_id, planned.agent_id, now, overflow=planned.overflow)


def offer_next(session: Session, call_id: int, now: datetime) -> OfferView | None:
    """Offer ``call_id`` to the agent the first-come-first-served matching gives it, if any."""
    call = _call(session, call_id)
    if call.state is not CallState.WAITING:
        return None
    planned = offer_plan(session, now).get(call_id)
    return None if planned is None else offer_planned(session, call_id, planned, now)


def someone_free_for(session: Session, call_id: int, now: datetime) -> bool:
    """Is another agent free for this call right now (for the agent's status line, R-2.5)?
    Free as :func:`offer_next` counts it, so the notice agrees with who is rung next."""
    call = _call(session, call_id)
    return any(call.overflowed or call.queue_id in a.queue_ids for a in free_agents(session, now))


def open_ring(
    session: Session,
    call: Call,
    agent_id: int | None,
    dial_string: str,
    now: datetime,
    *,
    overflow: bool = False,
    event: str = "call.ringing",
    **payload: object,
) -> RingAttempt | None:
    """R-1.3's reservation, the one way a phone starts ringing for a call: insert the live
    ring attempt, which the partial unique indexes allow once per agent and once per call,
    mark the call ringing and tell the live views (``event`` with ``payload``). None when the
    database refuses it: that agent or this call already rings (another process won).

    Used by a queue's offer (inbound and transferred calls), a support-turn ring (R-1.11)
    and an outbound call's ring of the customer (R-1.13), whose agent is its ``agent_id``.
    """
    attempt = RingAttempt(
        call_id=call.id,
        agent_id=agent_id,
        dial_string=dial_string[:200],
        started_at=now,
        outcome=RingOutcome.RINGING,
        overflow=overflow,
    )
    try:
        with session.begin_nested():
            session.add(attempt)
            session.flush()
    except IntegrityError:
        return None
    call.state = CallState.RINGING
    emit(
        session,
        event,
        now,
        call_id=call.id,
        agent_id=agent_id,
        queue_id=call.queue_id,
        overflow=overflow,
        **payload,
    )
    return attempt


def direct_offer(
    session: Session, call_id: int, agent_id: int | None, dial_string: str, now: datetime
) -> OfferView | None:
    """A ring that is not a queue offer: a support-turn operator (R-1.11). An agent who is
    already ringing with another call is skipped, never rung twice."""
    call = _call(session, call_id, lock=True)
    attempt = open_ring(
        session,
        call,
        agent_id,
        dial_string,
        now,
        number=dial_string,
        support_turn=True,
    )
    if attempt is None:
        return None
    return OfferView(attempt.id, call_id, agent_id or 0, dial_string, now, False)


def start_recording(session: Session, call_id: int, path: str, started_at: datetime) -> None:
    """A leg's recording has started (R-1.14): its row exists from the first second, so a
    server that dies mid-conversation loses no recording (issue 10, defect 4). ``path`` is
    relative to the recordings dir; starting the same file again (a resumed call whose
    recorder still runs) adds nothing."""
    exists = session.scalar(
        select(Recording.id).where(Recording.call_id == call_id, Recording.path == path)
    )
    if exists is None:
        session.add(Recording(call_id=call_id, path=path, started_at=started_at))


def finish_recording(
    session: Session, call_id: int, path: str, started_at: datetime, duration_s: int
) -> None:
    """The recorded conversation lasted ``duration_s`` (from the answer to the Dial's end);
    the row is made now if its start could not be written (the database was down then)."""
    recording = session.scalars(
        select(Recording).where(Recording.call_id == call_id, Recording.path == path)
    ).first()
    if recording is None:
        recording = Recording(call_id=call_id, path=path, started_at=started_at)
        session.add(recording)
    recording.duration_s = max(0, duration_s)


def live_ring(session: Session, call_id: int) -> OfferView | None:
    """The call's ring that is still open in the database, if any (a resumed call asks
    what became of it, issue 10 defect 3)."""
    attempt = session.scalars(
        select(RingAttempt).where(
            RingAttempt.call_id == call_id, RingAttempt.outcome == RingOutcome.RINGING
        )
    ).first()
    if attempt is None:
        return None
    return OfferView(
        attempt.id,
        call_id,
        attempt.agent_id or 0,
        attempt.dial_string,
        attempt.started_at,
        attempt.overflow,
    )


def end_live_ring(
    session: Session,
    call_id: int,
    outcome: RingOutcome,
    now: datetime,
    *,
    missed: bool = False,
    missed_pause_type_id: int | None = None,
) -> None:
    """Close the call's live offer, whichever agent it rings."""
    attempt_id = session.scalar(
        select(RingAttempt.id).where(
            RingAttempt.call_id == call_id, RingAttempt.outcome == RingOutcome.RINGING
        )
    )
    if attempt_id is not None:
        end_offer(
            session,
            attempt_id,
            outcome,
            now,
            missed=missed,
            missed_pause_type_id=missed_pause_type_id if missed else None,
        )


def notify_agent(
    session: Session,
    call_id: int,
    agent_id: int,
    notice: str,
    now: datetime,
    *,
    waiting_s: int = 0,
    box_name: str = "",
    queue: str = "",
    from_queue: str = "",
    by_agent: str = "",
) -> None:
    """A status-line message for the agent (R-2.5), as a live event. ``from_queue`` and
    ``by_agent`` name where a transferred call came from and who moved it (R-1.12)."""
    transferred: dict[str, Any] = {}
    if by_agent:
        transferred = {"from_queue": from_queue, "by_agent": by_agent}
    emit(
        session,
        "agent.notice",
        now,
        call_id=call_id,
        agent_id=agent_id,
        notice=notice,
        waiting_s=waiting_s,
        box_name=box_name,
        queue=queue,
        **transferred,
    )
