"""IVR menu steps (R-1.1) and the support-turn rota (R-1.11)."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from dialplan.menu import GiveUp, Menu, Retry, ToMenu, ToQueue, step
from dialplan.support_turns import (
    TurnDay,
    TurnMember,
    TurnRoute,
    ring_order,
    rota_applies,
    route_for,
)
from domain.enums import IvrOutcome

MAIN = Menu(
    code="main",
    prompt="hotline/main-menu",
    max_retries=2,
    options={"1": ToQueue("support"), "2": ToQueue("billing"), "9": ToMenu("more")},
    default=ToQueue("support"),
)


def test_a_valid_digit_leads_to_its_target() -> None:
    assert step(MAIN, "2", 0) == (IvrOutcome.OPTION, ToQueue("billing"))
    assert step(MAIN, "9", 2) == (IvrOutcome.OPTION, ToMenu("more"))
    assert MAIN.digits == "129"


def test_invalid_and_silence_are_retried_then_the_default_applies() -> None:
    assert step(MAIN, "7", 0) == (IvrOutcome.INVALID, Retry(play_invalid=True))
    assert step(MAIN, "", 1) == (IvrOutcome.TIMEOUT, Retry(play_invalid=False))
    assert step(MAIN, "", 2) == (IvrOutcome.TIMEOUT, ToQueue("support"))


def test_without_a_default_the_caller_is_let_go() -> None:
    menu = Menu(code="m", prompt="p", max_retries=0, options={"1": ToQueue("q")})
    assert step(menu, "5", 0) == (IvrOutcome.INVALID, GiveUp())


PRAGUE = ZoneInfo("Europe/Prague")
ROTA = [
    TurnDay(
        0,
        time(8),
        time(16),
        (
            TurnMember(priority=1, agent_id=3),
            TurnMember(priority=5, external_number="+420603111222"),
            TurnMember(priority=0, agent_id=4),
            TurnMember(priority=5, agent_id=2),
        ),
    )
]


def test_the_rota_rings_from_the_highest_priority_and_skips_zero() -> None:
    monday = datetime(2026, 11, 23, 19, 0, tzinfo=PRAGUE)
    order = ring_order(ROTA, monday)
    assert [(m.priority, m.agent_id, m.external_number) for m in order] == [
        (5, None, "+420603111222"),
        (5, 2, ""),
        (1, 3, ""),
    ]
    assert ring_order(ROTA, datetime(2026, 11, 24, 19, 0, tzinfo=PRAGUE)) == []


def test_the_rota_applies_after_hours_or_when_no_operator_is_logged_in() -> None:
    inside = datetime(2026, 11, 23, 10, 0, tzinfo=PRAGUE)
    after = datetime(2026, 11, 23, 17, 0, tzinfo=PRAGUE)
    assert rota_applies(ROTA, after, logged_in={2, 3})
    assert rota_applies(ROTA, inside, logged_in={99})
    assert not rota_applies(ROTA, inside, logged_in={3})


def test_a_support_turn_queue_routes_by_the_day_the_hours_and_who_is_in() -> None:
    """R-1.11 with the queue's calendar (issue 10, defect 7): a holiday or a closed weekend
    is outside the standard hours all day; a closed-time voicemail rule wins there."""
    inside = datetime(2026, 11, 23, 10, 0, tzinfo=PRAGUE)
    after = datetime(2026, 11, 23, 17, 0, tzinfo=PRAGUE)

    def route(local: datetime, *, closed_day: bool = False, rule: bool = False) -> TurnRoute:
        return route_for(ROTA, local, {3}, closed_day=closed_day, voicemail_rule=rule)

    assert route(inside) is TurnRoute.QUEUE  # an operator is in, in the standard hours
    assert route(inside, closed_day=True) is TurnRoute.ROTA  # a holiday: the rota is on duty
    assert route(after) is TurnRoute.ROTA
    assert route(after, rule=True) is TurnRoute.CLOSED  # the admin's voicemail window
    assert route(inside, closed_day=True, rule=True) is TurnRoute.CLOSED
    assert route(inside, rule=True) is TurnRoute.QUEUE  # a rule only speaks when closed
    assert route_for(ROTA, inside, {99}, closed_day=False, voicemail_rule=False) is (TurnRoute.ROTA)
