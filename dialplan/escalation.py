"""The life of one call in a queue as a state machine (R-1.3 .. R-1.9, R-1.15, R-2.5).

Pure: ``transition(status, event, policy, now) -> (status, effects)``. The FastAGI flow feeds
it what happened (an offer was made, the ring timed out, the caller pressed a key or hung
up...) and carries out the effects it returns (ring, pause the agent, tell the agent's
status line, record a voicemail...). Keeping the rules here lets property tests check the
invariants without a socket: never two rings at one agent, overflow marked exactly once, a
call that ended never changes again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from domain.enums import AgentNotice, CallState


class Phase(StrEnum):
    WAITING = "waiting"
    RINGING = "ringing"
    TALKING = "talking"
    ENDED = "ended"


@dataclass(frozen=True)
class QueuePolicy:
    ring_timeout_s: int = 20
    overflow_enabled: bool = True
    overflow_after_s: int = 120
    callback_offer_after_s: int | None = 60
    callback_offer_repeat_s: int = 60
    voicemail_box: str | None = None  # box name, None = '#' does nothing
    callback_box: str | None = None  # box name, None = '0' does nothing
    pause_on_missed_call: bool = True


@dataclass(frozen=True)
class CallStatus:
    phase: Phase
    waiting_since: datetime
    overflowed: bool = False
    ringing_agent_id: int | None = None
    agent_id: int | None = None  # who answered
    tried_agent_ids: frozenset[int] = field(default_factory=frozenset)
    last_callback_offer_at: datetime | None = None
    outcome: CallState | None = None

    @classmethod
    def entering_queue(cls, now: datetime) -> CallStatus:
        """The hand-over from the IVR: the start of waiting (R-1.2)."""
        return cls(phase=Phase.WAITING, waiting_since=now)


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Offered:
    agent_id: int


@dataclass(frozen=True)
class RangOut:
    someone_else_free: bool


@dataclass(frozen=True)
class AgentBusy:
    pass


@dataclass(frozen=True)
class RingCancelled:
    """The ring ended through no fault of the agent (a key with no box behind it)."""


@dataclass(frozen=True)
class Answered:
    pass


@dataclass(frozen=True)
class KeyPressed:
    digit: str


@dataclass(frozen=True)
class CallerHungUp:
    pass


@dataclass(frozen=True)
class ConversationEnded:
    pass


@dataclass(frozen=True)
class Tick:
    """Time passed while waiting; checks overflow and the callback announcement."""


Event = (
    Offered
    | RangOut
    | AgentBusy
    | RingCancelled
    | Answered
    | KeyPressed
    | CallerHungUp
    | ConversationEnded
    | Tick
)


# --------------------------------------------------------------------------- effects


@dataclass(frozen=True)
class RingAgent:
    agent_id: int
    timeout_s: int
    overflow: bool


@dataclass(frozen=True)
class EndRing:
    """Close the live offer: frees the agent's reservation."""

    agent_id: int
    outcome: str  # a domain.enums.RingOutcome value


@dataclass(frozen=True)
class PauseAgent:
    agent_id: int
    reason: str  # "missed_call"


@dataclass(frozen=True)
class NotifyAgent:
    agent_id: int
    notice: AgentNotice
    waiting_s: int = 0
    box_name: str = ""


@dataclass(frozen=True)
class MarkOverflowed:
    pass


@dataclass(frozen=True)
class AnnounceCallbackOption:
    pass


@dataclass(frozen=True)
class RecordVoicemail:
    box_name: str


@dataclass(frozen=True)
class RegisterCallback:
    box_name: str


@dataclass(frozen=True)
class CloseCall:
    outcome: CallState


Effect = (
    RingAgent
    | EndRing
    | PauseAgent
    | NotifyAgent
    | MarkOverflowed
    | AnnounceCallbackOption
    | RecordVoicemail
    | RegisterCallback
    | CloseCall
)


class TransitionError(Exception):
    """An event that cannot happen in the call's phase (a bug in the caller, not the line)."""


def waited_s(status: CallStatus, now: datetime) -> int:
    return max(0, int((now - status.waiting_since).total_seconds()))


def overflow_due(status: CallStatus, policy: QueuePolicy, now: datetime) -> bool:
    return (
        policy.overflow_enabled
        and not status.overflowed
        and now - status.waiting_since >= timedelta(seconds=policy.overflow_after_s)
    )


def callback_offer_due(status: CallStatus, policy: QueuePolicy, now: datetime) -> bool:
    if policy.callback_offer_after_s is None or policy.callback_box is None:
        return False
    if status.last_callback_offer_at is None:
        return now - status.waiting_since >= timedelta(seconds=policy.callback_offer_after_s)
    return now - status.last_callback_offer_at >= timedelta(seconds=policy.callback_offer_repeat_s)


def transition(
    status: CallStatus, event: Event, policy: QueuePolicy, now: datetime
) -> tuple[CallStatus, tuple[Effect, ...]]:
    """The next status and what to do, for ``event`` at ``now``."""
    if status.phase is Phase.ENDED:
        raise TransitionError(f"the call has ended ({status.outcome}); {event!r} came too late")
    phase = status.phase
    ringing = status.ringing_agent_id

    if isinstance(event, Offered):
        if phase is not Phase.WAITING:
            raise TransitionError(f"an offer needs a waiting call, the call is {phase}")
        return (
            replace(
                status,
                phase=Phase.RINGING,
                ringing_agent_id=event.agent_id,
                tried_agent_ids=status.tried_agent_ids | {event.agent_id},
            ),
            (
                RingAgent(event.agent_id, policy.ring_timeout_s, status.overflowed),
                NotifyAgent(event.agent_id, AgentNotice.INCOMING, waited_s(status, now)),
            ),
        )

    if isinstance(event, RangOut | AgentBusy | RingCancelled):
        if phase is not Phase.RINGING or ringing is None:
            raise TransitionError(f"no ring to time out, the call is {phase}")
        effects: list[Effect] = []
        if isinstance(event, RangOut):
            effects.append(EndRing(ringing, "no_answer"))
            if policy.pause_on_missed_call:
                effects.append(PauseAgent(ringing, "missed_call"))
            notice = (
                AgentNotice.HANDED_TO_ANOTHER
                if event.someone_else_free
                else AgentNotice.WILL_BE_HANDED
            )
            effects.append(NotifyAgent(ringing, notice))
        elif isinstance(event, AgentBusy):
            effects.append(EndRing(ringing, "busy"))
        else:
            effects.append(EndRing(ringing, "cancelled"))
        return replace(status, phase=Phase.WAITING, ringing_agent_id=None), tuple(effects)

    if isinstance(event, Answered):
        if phase is not Phase.RINGING or ringing is None:
            raise TransitionError(f"nobody rings to answer, the call is {phase}")
        return (
            replace(status, phase=Phase.TALKING, ringing_agent_id=None, agent_id=ringing),
            (
                EndRing(ringing, "answered"),
                NotifyAgent(ringing, AgentNotice.CONNECTED, waited_s(status, now)),
            ),
        )

    if isinstance(event, KeyPressed):
        if phase not in (Phase.WAITING, Phase.RINGING):
            return status, ()  # keys during a conversation are the agent's business
        if event.digit == "#" and policy.voicemail_box:
            return _to_box(status, CallState.VOICEMAIL, policy.voicemail_box, now)
        if event.digit == "0" and policy.callback_box:
            return _to_box(status, CallState.CALLBACK, policy.callback_box, now)
        return status, ()

    if isinstance(event, CallerHungUp):
        if phase is Phase.TALKING:
            return _end(status, CallState.ANSWERED, ())
        if phase is Phase.RINGING and ringing is not None:
            return _end(
                status,
                CallState.ABANDONED_RINGING,
                (
                    EndRing(ringing, "caller_hung_up"),
                    NotifyAgent(ringing, AgentNotice.CALLER_HUNG_UP),
                ),
            )
        return _end(status, CallState.ABANDONED_QUEUE, ())

    if isinstance(event, ConversationEnded):
        if phase is not Phase.TALKING:
            raise TransitionError(f"no conversation to end, the call is {phase}")
        return _end(status, CallState.ANSWERED, ())

    if isinstance(event, Tick):
        if phase is not Phase.WAITING:
            return status, ()
        tick_effects: list[Effect] = []
        if overflow_due(status, policy, now):
            status = replace(status, overflowed=True)
            tick_effects.append(MarkOverflowed())
        if callback_offer_due(status, policy, now):
            status = replace(status, last_callback_offer_at=now)
            tick_effects.append(AnnounceCallbackOption())
        return status, tuple(tick_effects)

    raise TransitionError(f"unknown event {event!r}")


def _to_box(
    status: CallStatus, outcome: CallState, box_name: str, now: datetime
) -> tuple[CallStatus, tuple[Effect, ...]]:
    effects: list[Effect] = []
    ringing = status.ringing_agent_id
    if ringing is not None:
        effects.append(EndRing(ringing, "cancelled"))
        effects.append(NotifyAgent(ringing, AgentNotice.MOVED_TO_BOX, box_name=box_name))
    effects.append(
        RecordVoicemail(box_name) if outcome is CallState.VOICEMAIL else RegisterCallback(box_name)
    )
    return _end(status, outcome, tuple(effects))


def _end(
    status: CallStatus, outcome: CallState, effects: tuple[Effect, ...]
) -> tuple[CallStatus, tuple[Effect, ...]]:
    ended = replace(status, phase=Phase.ENDED, ringing_agent_id=None, outcome=outcome)
    return ended, (*effects, CloseCall(outcome))
