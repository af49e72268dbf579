"""The header badge on every page (R-2.3) and the words for an agent's activity (R-2.2).

Pure. The badge says on-air, off-air or not logged in; "not logged in" is shown only to
call-centre users (those with a right to some queue), so that it does not bother people who
never take calls. Texts are gettext message ids, translated by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from domain.texts import N_


class BadgeState(StrEnum):
    ON_AIR = "on_air"
    OFF_AIR = "off_air"
    NOT_LOGGED_IN = "not_logged_in"


LABELS = {
    BadgeState.ON_AIR: N_("On air"),
    BadgeState.OFF_AIR: N_("Off air"),
    BadgeState.NOT_LOGGED_IN: N_("Not logged in"),
}

# Why an agent is where they are (values of agent_state.Activity).
ACTIVITY_TEXTS = {
    "idle": "",
    "ringing": N_("Ringing"),
    "in_call": N_("In a call"),
    "processing": N_("Processing a call"),
    "outbound": N_("Outbound call"),
    "backoffice": N_("Voicemail and callback work"),
    "paused": "",
}
PAUSED_AS = N_("Pause: %(name)s")


@dataclass(frozen=True)
class Badge:
    state: BadgeState
    label: str
    detail: str = ""


def badge_for(
    *,
    call_centre_user: bool,
    state: str | None,
    activity: str | None = None,
    pause_name: str | None = None,
    gettext: Callable[[str], str] = N_,
) -> Badge | None:
    """The badge for a user; ``state`` None means not logged in at a seat. None: no badge."""
    if state is None:
        if not call_centre_user:
            return None
        return Badge(BadgeState.NOT_LOGGED_IN, gettext(LABELS[BadgeState.NOT_LOGGED_IN]))
    badge_state = BadgeState.ON_AIR if state == BadgeState.ON_AIR else BadgeState.OFF_AIR
    return Badge(
        badge_state,
        gettext(LABELS[badge_state]),
        activity_text(activity, pause_name, gettext),
    )


def activity_text(
    activity: str | None, pause_name: str | None, gettext: Callable[[str], str] = N_
) -> str:
    if activity == "paused" and pause_name:
        try:
            return gettext(PAUSED_AS) % {"name": pause_name}
        except (KeyError, ValueError, TypeError):
            return pause_name
    msgid = ACTIVITY_TEXTS.get(activity or "", "")
    return gettext(msgid) if msgid else ""


def badge_from_event(
    kind: str,
    payload: Mapping[str, object],
    pause_names: Mapping[int, str],
    gettext: Callable[[str], str] = N_,
) -> Badge | None:
    """The new badge after an ``agent.state`` / ``agent.login`` / ``agent.logout`` event."""
    if kind == "agent.logout":
        return badge_for(call_centre_user=True, state=None, gettext=gettext)
    if kind == "agent.login":
        # A fresh login is off-air until the agent goes on-air (agent_state.logged_in).
        return badge_for(call_centre_user=True, state="off_air", gettext=gettext)
    if kind != "agent.state":
        return None
    state, activity = payload.get("state"), payload.get("activity")
    pause_id = payload.get("pause_type_id")
    pause_name = pause_names.get(pause_id) if isinstance(pause_id, int) else None
    return badge_for(
        call_centre_user=True,
        state=state if isinstance(state, str) else "off_air",
        activity=activity if isinstance(activity, str) else None,
        pause_name=pause_name,
        gettext=gettext,
    )
