"""The header badge's words (R-2.3), before and after live events; that the badge stays free
of frameworks is a contract of .importlinter (tests/test_layers.py). The status line's
rendering is tests/agent_desktop/test_status_line.py."""

from __future__ import annotations

import pytest

from web.badge import BadgeState, badge_for, badge_from_event


def test_not_logged_in_only_for_call_centre_users() -> None:
    badge = badge_for(call_centre_user=True, state=None)
    assert badge is not None and badge.state is BadgeState.NOT_LOGGED_IN
    assert badge.label == "Not logged in"
    assert badge_for(call_centre_user=False, state=None) is None
    # Someone without a queue right who is at a seat anyway still sees on/off air.
    at_seat = badge_for(call_centre_user=False, state="on_air", activity="idle")
    assert at_seat is not None and at_seat.label == "On air"


@pytest.mark.parametrize(
    ("state", "activity", "pause", "label", "detail"),
    [
        ("on_air", "idle", None, "On air", ""),
        ("on_air", "ringing", None, "On air", "Ringing"),
        ("off_air", "in_call", None, "Off air", "In a call"),
        ("off_air", "processing", None, "Off air", "Processing a call"),
        ("off_air", "outbound", None, "Off air", "Outbound call"),
        ("off_air", "backoffice", None, "Off air", "Voicemail and callback work"),
        ("off_air", "paused", "Training", "Off air", "Pause: Training"),
        ("off_air", "paused", None, "Off air", ""),
    ],
)
def test_badge_words(state: str, activity: str, pause: str | None, label: str, detail: str) -> None:
    badge = badge_for(call_centre_user=True, state=state, activity=activity, pause_name=pause)
    assert badge is not None
    assert (badge.label, badge.detail) == (label, detail)


def test_badge_after_live_events() -> None:
    names = {3: "Meeting"}
    login = badge_from_event("agent.login", {}, names)
    logout = badge_from_event("agent.logout", {}, names)
    paused = badge_from_event(
        "agent.state", {"state": "off_air", "activity": "paused", "pause_type_id": 3}, names
    )
    assert login is not None and login.state is BadgeState.OFF_AIR
    assert logout is not None and logout.state is BadgeState.NOT_LOGGED_IN
    assert paused is not None and paused.detail == "Pause: Meeting"
    assert badge_from_event("call.ringing", {}, names) is None
