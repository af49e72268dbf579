"""An agent's state as a state machine (R-1.3, R-1.4, R-2.1, R-2.2, R-2.4, R-2.12).

Pure. The state is on-air/off-air plus the activity that explains it. Only an on-air, idle
agent can be offered a call. Ringing keeps the agent on-air (they did nothing yet) but
reserved. Answering takes them off-air until the Active call form is saved, which puts them
back on-air by itself (R-2.12). While a call is being handled the agent cannot switch state
(R-2.2) nor log out (R-2.1).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from domain.enums import Activity, AgentState
from domain.refusals import ConflictError
from domain.texts import N_

FINISH_FIRST = N_("Finish processing the call with Save first.")
NO_LOGOUT_IN_CALL = N_("You cannot log out during a call.")


BUSY_WITH_A_CALL = frozenset({Activity.RINGING, Activity.IN_CALL, Activity.PROCESSING})


@dataclass(frozen=True)
class AgentStatus:
    state: AgentState
    activity: Activity
    since: datetime
    idle_since: datetime  # longest idle first
    pause_type_id: int | None = None

    @classmethod
    def logged_in(cls, now: datetime) -> AgentStatus:
        """A fresh login: off-air until the agent goes on-air themselves."""
        return cls(AgentState.OFF_AIR, Activity.PAUSED, now, now)

    @property
    def can_take_calls(self) -> bool:
        return self.state is AgentState.ON_AIR and self.activity is Activity.IDLE


class AgentStateError(ConflictError):
    """A change the agent may not make now; ``message`` is what the agent reads."""


@dataclass(frozen=True)
class GoOnAir:
    pass


@dataclass(frozen=True)
class Pause:
    pause_type_id: int


@dataclass(frozen=True)
class GoOffAir:
    """Off air without a pause type, as after a login (a supervisor's action, R-4.7): the
    same rule as a pause, refused while a call is handled."""


@dataclass(frozen=True)
class Offered:
    pass


@dataclass(frozen=True)
class RingEnded:
    """The offer ended without an answer. ``missed``: the agent let it ring out and goes
    off-air with the missed-call pause (R-1.4), ``pause_type_id`` when one is configured."""

    missed: bool = False
    pause_type_id: int | None = None


@dataclass(frozen=True)
class Answered:
    pass


@dataclass(frozen=True)
class CallEnded:
    """The conversation ended; the form stays open for processing (after-call work)."""


@dataclass(frozen=True)
class Saved:
    """The Active call form was saved (R-2.12)."""


@dataclass(frozen=True)
class StartWork:
    """Outbound call or back-office work: off-air while doing it (R-2.2)."""

    activity: Activity


@dataclass(frozen=True)
class EndWork:
    pass


@dataclass(frozen=True)
class CallBackEnded:
    """A call back placed from a back-office item ended, connected or not (R-3.3): its
    after-call work is the item's own (Done, Cancel, another call back), not the Active call
    form, so the person goes back to working the item. Also ends the processing of a call
    back that was left in it (before this rule, it stranded staff who have no call form)."""


@dataclass(frozen=True)
class LogOut:
    pass


Event = (
    GoOnAir
    | Pause
    | GoOffAir
    | Offered
    | RingEnded
    | Answered
    | CallEnded
    | Saved
    | StartWork
    | EndWork
    | CallBackEnded
    | LogOut
)


@dataclass(frozen=True)
class DeskControls:
    """Which of the desktop's state controls apply now (R-2.2, R-2.15): rendered with the
    page and sent with every live state change, so that the controls follow the state."""

    on_air: bool  # "Go on air" shows pressed
    pause_type_id: int | None  # the pause shown as current
    can_call_out: bool  # "Outbound call" offered: off-air and not busy with a call
    # "Go on air" offered: off air and not busy with a call (on air already, or ringing,
    # talking, processing, it would change nothing or be refused: FINISH_FIRST).
    can_go_on_air: bool
    # The pause buttons work: not busy with a call (transition refuses them then).
    can_pause: bool


def desk_controls(state: str, activity: str, pause_type_id: int | None = None) -> DeskControls:
    """The controls for an agent's ``state`` and ``activity`` (the values of the enums)."""
    doing = Activity(activity)
    busy = doing in BUSY_WITH_A_CALL or doing is Activity.OUTBOUND
    return DeskControls(
        on_air=AgentState(state) is AgentState.ON_AIR,
        pause_type_id=pause_type_id if doing is Activity.PAUSED else None,
        # transition() refuses StartWork(OUTBOUND) while busy; on air, the dialog refuses
        # too ("Go off air before you place an outbound call.", R-2.15).
        can_call_out=AgentState(state) is AgentState.OFF_AIR and not busy,
        can_go_on_air=AgentState(state) is AgentState.OFF_AIR and doing not in BUSY_WITH_A_CALL,
        can_pause=doing not in BUSY_WITH_A_CALL,
    )


def transition(status: AgentStatus, event: Event, now: datetime) -> AgentStatus | None:
    """The agent's next status; None after a logout. Raises AgentStateError when refused."""
    activity = status.activity
    if isinstance(event, GoOnAir | Pause | GoOffAir):
        if activity in BUSY_WITH_A_CALL:
            raise AgentStateError(FINISH_FIRST)
        if isinstance(event, GoOnAir):
            if status.can_take_calls:
                return status
            return AgentStatus(AgentState.ON_AIR, Activity.IDLE, now, now)
        if isinstance(event, GoOffAir):
            off = (AgentState.OFF_AIR, Activity.PAUSED, None)
            if (status.state, status.activity, status.pause_type_id) == off:
                return status
            return replace(status, state=off[0], activity=off[1], since=now, pause_type_id=None)
        return replace(
            status,
            state=AgentState.OFF_AIR,
            activity=Activity.PAUSED,
            since=now,
            pause_type_id=event.pause_type_id,
        )
    if isinstance(event, Offered):
        if not status.can_take_calls:
            raise AgentStateError("The agent is not free to take a call.")
        return replace(status, activity=Activity.RINGING, since=now)
    if isinstance(event, RingEnded):
        if activity is not Activity.RINGING:
            raise AgentStateError("No call is ringing.")
        if event.missed:
            return replace(
                status,
                state=AgentState.OFF_AIR,
                activity=Activity.PAUSED,
                since=now,
                pause_type_id=event.pause_type_id,
            )
        # Not the agent's fault (caller hung up, pressed #): keep their place in the line.
        return replace(status, activity=Activity.IDLE, since=now)
    if isinstance(event, Answered):
        if activity is not Activity.RINGING:
            raise AgentStateError("No call is ringing.")
        return replace(status, state=AgentState.OFF_AIR, activity=Activity.IN_CALL, since=now)
    if isinstance(event, CallEnded):
        if activity not in (Activity.IN_CALL, Activity.OUTBOUND):
            raise AgentStateError("No call is in progress.")
        return replace(status, state=AgentState.OFF_AIR, activity=Activity.PROCESSING, since=now)
    if isinstance(event, Saved):
        if activity is not Activity.PROCESSING:
            raise AgentStateError("No call is being processed.")
        return AgentStatus(AgentState.ON_AIR, Activity.IDLE, now, now)
    if isinstance(event, StartWork):
        if activity in BUSY_WITH_A_CALL:
            raise AgentStateError(FINISH_FIRST)
        if event.activity not in (Activity.OUTBOUND, Activity.BACKOFFICE):
            raise AgentStateError(f"{event.activity} is not work an agent starts")
        return replace(status, state=AgentState.OFF_AIR, activity=event.activity, since=now)
    if isinstance(event, EndWork):
        if activity not in (Activity.OUTBOUND, Activity.BACKOFFICE):
            raise AgentStateError("No work is in progress.")
        return replace(status, state=AgentState.OFF_AIR, activity=Activity.PAUSED, since=now)
    if isinstance(event, CallBackEnded):
        if activity not in (Activity.OUTBOUND, Activity.PROCESSING):
            raise AgentStateError("No call back is in progress.")
        return replace(status, state=AgentState.OFF_AIR, activity=Activity.BACKOFFICE, since=now)
    if isinstance(event, LogOut):
        if activity in BUSY_WITH_A_CALL or activity is Activity.OUTBOUND:
            raise AgentStateError(NO_LOGOUT_IN_CALL)
        return None
    raise AgentStateError(f"unknown event {event!r}")
