"""The agent's desktop: seat login (R-2.1), states and pauses (R-2.2, R-2.4), the badge on
every page (R-2.3), supervisors' notifications (R-2.16) and Czech (R-2.17)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from twisted.internet.task import Clock

from agent_desktop import agent_state as core
from agent_desktop.store import agent_sessions
from db.models import (
    Agent,
    AgentSession,
    AgentStateChange,
    Location,
    Notification,
    PauseRecord,
    QueueLocation,
)
from domain.enums import Severity
from tests.support.centre import StaffCentre, add_notification
from tests.support.db import InlineDBRunner
from tests.support.web import Browser


def now_of(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock.seconds(), UTC)


def badge_text(html: str) -> str | None:
    """The label of the header badge, or None when the page has no badge."""
    match = re.search(r'id="badge".*?class="badge-label">([^<]*)<', html, re.S)
    return match.group(1) if match else None


def at_seat(browser: Browser, centre: StaffCentre, login: str = "eva", seat: str = "101") -> None:
    browser.signed_in(login)
    done = browser.post("/desktop/seat", {"seat_id": centre.seats[seat]})
    assert done.status == 303, done.text
    browser.get("/desktop")


# --------------------------------------------------------------------------- seats


def test_seat_list_hides_restricted_seats_without_a_right_and_marks_taken_ones(
    browser: Browser, other_browser: Browser, centre: StaffCentre
) -> None:
    at_seat(other_browser, centre, "jan", "102")
    page = browser.signed_in("eva")
    options = dict(re.findall(r'<option value="(\d+)"[^>]*>([^<]*)</option>', page.text))
    names = {v.split(" ")[0] for v in options.values()}
    assert names == {"101", "102", "103", "901"}  # 902 is restricted, eva has no right
    assert "(taken by Jan Novák)" in options[str(centre.seats["102"])]
    assert re.search(rf'<option value="{centre.seats["102"]}" disabled>', page.text)


def test_logging_in_at_a_seat_turns_the_badge_off_air_and_names_the_seat(
    browser: Browser, centre: StaffCentre
) -> None:
    page = browser.signed_in("eva")
    assert badge_text(page.text) == "Not logged in"
    at_seat(browser, centre)
    page = browser.get("/desktop")
    assert badge_text(page.text) == "Off air"
    assert "Seat 101" in page.text


def test_a_restricted_seat_without_a_right_is_refused(
    browser: Browser, centre: StaffCentre
) -> None:
    browser.signed_in("eva")
    page = browser.post("/desktop/seat", {"seat_id": centre.seats["902"]})
    assert page.status == 409
    assert "You may not use this phone seat." in page.text


def test_one_agent_cannot_be_logged_in_twice_with_different_seats(
    browser: Browser, other_browser: Browser, centre: StaffCentre
) -> None:
    at_seat(browser, centre, "eva", "101")
    other_browser.signed_in("eva")  # a second computer
    page = other_browser.post("/desktop/seat", {"seat_id": centre.seats["103"]})
    assert page.status == 409
    assert "You are already logged in at seat 101; log out there first." in page.text
    again = other_browser.post("/desktop/seat", {"seat_id": centre.seats["101"]})
    assert again.status == 303  # the same seat: the same login


def test_a_seat_taken_by_someone_else_is_refused(
    browser: Browser, other_browser: Browser, centre: StaffCentre
) -> None:
    at_seat(other_browser, centre, "jan", "101")
    browser.signed_in("eva")
    page = browser.post("/desktop/seat", {"seat_id": centre.seats["101"]}, accept="*/*")
    assert page.status == 409
    assert page.header("content-type") == "application/json"
    assert "Seat 101 is taken by someone else." in page.text


def test_logout_is_refused_during_a_call_and_works_after_save(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner, clock: Clock
) -> None:
    at_seat(browser, centre)
    eva = centre.agents["eva"]
    browser.post("/desktop/state", {"action": "on_air"})
    for event in (core.Offered(), core.Answered()):
        db.run_sync(agent_sessions.apply_event, eva, event, now_of(clock))
    page = browser.post("/desktop/seat/leave")
    assert page.status == 409
    assert "You cannot log out during a call." in page.text
    db.run_sync(agent_sessions.apply_event, eva, core.CallEnded(), now_of(clock))
    db.run_sync(agent_sessions.apply_event, eva, core.Saved(), now_of(clock))
    done = browser.post("/desktop/seat/leave")
    assert done.status == 303
    assert badge_text(browser.get("/desktop").text) == "Not logged in"


# --------------------------------------------------------------------------- states


def test_going_on_air_and_pausing_changes_state_and_badge(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    at_seat(browser, centre)
    assert browser.post("/desktop/state", {"action": "on_air"}).status == 303
    page = browser.get("/desktop")
    assert badge_text(page.text) == "On air"
    pause = browser.post(
        "/desktop/state", {"action": "pause", "pause_type_id": centre.pauses["meeting"]}
    )
    assert pause.status == 303
    page = browser.get("/desktop")
    assert badge_text(page.text) == "Off air"
    assert "Pause: Meeting" in page.text
    row = db.run_sync(
        lambda s: s.scalars(select(AgentSession).where(AgentSession.logged_out_at.is_(None))).one()
    )
    assert (row.state.value, row.activity.value) == ("off_air", "paused")


def controls_of(html: str) -> tuple[bool, bool, list[str], bool]:
    """("Go on air" offered, "Outbound call" offered, the pauses marked current, the pause
    buttons disabled)."""
    on_air = re.search(r'<button [^>]*id="go-on-air"[^>]*>', html)
    outbound = re.search(r'<a [^>]*id="outbound-call"[^>]*>', html)
    assert on_air and outbound, html
    current = re.findall(r'class="pause current"[^>]*>([^<]+)<', html)
    pauses = re.findall(r'<button [^>]*class="pause[^"]*"[^>]*>', html)
    disabled = {" disabled" in button for button in pauses}
    assert len(disabled) == 1, pauses  # all pause buttons alike
    return (
        " hidden" not in on_air.group(0),
        " hidden" not in outbound.group(0),
        [c.strip() for c in current],
        disabled.pop(),
    )


def test_the_controls_follow_the_state_on_air_paused_and_in_a_call(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner, clock: Clock
) -> None:
    """R-2.2/R-2.15, issue 16: "Go on air" is offered only off air and not in a call; the
    pauses are disabled where the state machine would refuse them; "Outbound call" is
    offered only off air and not busy with a call (the dialog would refuse), whoever changed
    the state."""
    at_seat(browser, centre)
    assert controls_of(browser.get("/desktop").text) == (True, True, [], False)  # off air
    browser.post("/desktop/state", {"action": "on_air"})
    assert controls_of(browser.get("/desktop").text) == (False, False, [], False)
    browser.post("/desktop/state", {"action": "pause", "pause_type_id": centre.pauses["meeting"]})
    assert controls_of(browser.get("/desktop").text) == (True, True, ["Meeting"], False)
    eva = centre.agents["eva"]
    db.run_sync(agent_sessions.apply_event, eva, core.GoOnAir(), now_of(clock))
    db.run_sync(agent_sessions.apply_event, eva, core.Offered(), now_of(clock))
    assert controls_of(browser.get("/desktop").text) == (False, False, [], True)  # ringing
    for event in (core.Answered(), core.CallEnded()):  # in a call, then processing it
        db.run_sync(agent_sessions.apply_event, eva, event, now_of(clock))
        assert controls_of(browser.get("/desktop").text) == (False, False, [], True)


def location_options(html: str) -> list[tuple[str, bool, str]]:
    """(value, selected, name) of the "Your location" select."""
    select = re.search(r'<select id="location_id".*?</select>', html, re.S)
    assert select, html
    return [
        (value, bool(selected), name)
        for value, selected, name in re.findall(
            r'<option value="(\d*)"( selected)?>([^<]*)</option>', select.group(0)
        )
    ]


def test_the_agent_chooses_their_location_among_the_locations_of_their_queues(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    """R-2.6 matches the agent's selected location among several active customers: the
    desktop offers the locations of the agent's queues, and only those."""

    def places(session: Session) -> dict[str, int]:
        rows = {code: Location(code=code, name=code.title()) for code in ("north", "south", "east")}
        session.add_all(rows.values())
        session.flush()
        session.add_all(
            [
                QueueLocation(queue_id=centre.support, location_id=rows["north"].id),
                QueueLocation(queue_id=centre.support, location_id=rows["south"].id),
                QueueLocation(queue_id=centre.billing, location_id=rows["east"].id),  # not eva's
            ]
        )
        return {code: row.id for code, row in rows.items()}

    ids = db.run_sync(places)
    eva = centre.agents["eva"]

    def selected() -> int | None:
        return db.run_sync(lambda s: s.get(Agent, eva).selected_location_id)

    browser.signed_in("eva")
    north, south = str(ids["north"]), str(ids["south"])
    assert location_options(browser.get("/desktop").text) == [
        ("", True, "No location"),
        (north, False, "North"),
        (south, False, "South"),
    ]
    done = browser.post("/desktop/location", {"location_id": ids["south"]})
    assert (done.status, done.location) == (303, "/desktop")
    assert selected() == ids["south"]
    assert location_options(browser.get("/desktop").text)[2] == (south, True, "South")

    refused = browser.post("/desktop/location", {"location_id": ids["east"]})
    assert refused.status == 400 and "There is no such location in your queues." in refused.text
    assert browser.post("/desktop/location", {"location_id": "x"}).status == 400
    forged = browser.post("/desktop/location", {"location_id": ids["north"]}, csrf="forged")
    assert forged.status == 403
    assert selected() == ids["south"]  # neither changed it

    cleared = browser.post("/desktop/location", {"location_id": ""}, accept="application/json")
    assert cleared.status == 200 and selected() is None


def test_state_changes_are_refused_while_processing_a_call(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner, clock: Clock
) -> None:
    at_seat(browser, centre)
    browser.post("/desktop/state", {"action": "on_air"})
    eva = centre.agents["eva"]
    for event in (core.Offered(), core.Answered(), core.CallEnded()):
        db.run_sync(agent_sessions.apply_event, eva, event, now_of(clock))
    for fields in (
        {"action": "on_air"},
        {"action": "pause", "pause_type_id": centre.pauses["personal"]},
    ):
        page = browser.post("/desktop/state", fields)
        assert page.status == 409
        assert core.FINISH_FIRST in page.text
        assert 'role="alert"' in page.text
    page = browser.get("/desktop")
    assert "Processing a call" in page.text


def test_switched_off_and_unknown_pause_types_are_bad_requests(
    browser: Browser, centre: StaffCentre
) -> None:
    at_seat(browser, centre)
    for pause_id in (centre.pauses["old"], 4242):
        page = browser.post("/desktop/state", {"action": "pause", "pause_type_id": pause_id})
        assert page.status == 400
        assert "There is no such pause type." in page.text


def test_not_at_a_seat_a_state_change_says_so(browser: Browser, centre: StaffCentre) -> None:
    browser.signed_in("eva")
    page = browser.post("/desktop/state", {"action": "on_air"})
    assert page.status == 409
    assert "You are not logged in at a phone seat." in page.text


# --------------------------------------------------------------------------- pauses


def test_pause_history_rows_are_kept_with_their_paid_flag(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner, clock: Clock
) -> None:
    at_seat(browser, centre)
    browser.post("/desktop/state", {"action": "pause", "pause_type_id": centre.pauses["personal"]})
    clock.advance(300)
    browser.post("/desktop/state", {"action": "pause", "pause_type_id": centre.pauses["meeting"]})
    clock.advance(600)
    browser.post("/desktop/state", {"action": "on_air"})
    rows = db.run_sync(
        lambda s: [
            (r.pause_type_id, r.paid, (r.ended_at - r.started_at).total_seconds())
            for r in s.scalars(select(PauseRecord).order_by(PauseRecord.id))
        ]
    )
    assert rows == [
        (centre.pauses["personal"], True, 300.0),
        (centre.pauses["meeting"], False, 600.0),
    ]
    history = db.run_sync(
        lambda s: [
            c.reason for c in s.scalars(select(AgentStateChange).order_by(AgentStateChange.id))
        ]
    )
    assert history == ["login", "pause", "pause", "on air"]
    page = browser.get("/desktop")
    table = page.text.split("Pauses at this seat", 1)[1]
    assert table.index("Meeting") < table.index("Personal")  # newest first
    assert "09:35" in table and "09:45" in table  # Prague time of the changes


def test_the_pause_buttons_offer_active_types_in_order(
    browser: Browser, centre: StaffCentre
) -> None:
    at_seat(browser, centre)
    page = browser.get("/desktop")
    offered = re.findall(r'name="pause_type_id" value="(\d+)"', page.text)
    assert offered == [str(centre.pauses[k]) for k in ("personal", "meeting", "missed")]


# --------------------------------------------------------------------------- badge


@pytest.mark.parametrize("path", ["/desktop", "/home", "/status", "/no/such/page"])
def test_the_badge_is_on_every_page(browser: Browser, centre: StaffCentre, path: str) -> None:
    at_seat(browser, centre)
    browser.post("/desktop/state", {"action": "on_air"})
    assert badge_text(browser.get(path).text) == "On air"


def test_no_badge_for_someone_without_a_queue_right(browser: Browser, centre: StaffCentre) -> None:
    page = browser.signed_in("sue")
    assert badge_text(page.text) is None
    assert badge_text(browser.get("/status").text) is None


# --------------------------------------------------------------------------- notifications


def test_notifications_in_their_window_are_shown_with_severity_and_can_be_marked_read(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner, clock: Clock
) -> None:
    now = now_of(clock)
    shown = db.run_sync(
        add_notification,
        centre,
        "eva",
        "Queue is long, <b>hurry</b>",
        now,
        severity=Severity.CRITICAL,
    )
    db.run_sync(add_notification, centre, "eva", "later", now, shown_from_s=600)
    db.run_sync(add_notification, centre, "eva", "too old", now, shown_until_s=-1, shown_from_s=-9)
    db.run_sync(add_notification, centre, "jan", "for jan", now)
    page = browser.signed_in("eva")
    page = browser.get("/desktop")
    assert "Queue is long, &lt;b&gt;hurry&lt;/b&gt;" in page.text  # autoescaped
    assert 'class="note note-critical"' in page.text
    assert "Sue Visor" in page.text
    for hidden in ("later", "too old", "for jan"):
        assert hidden not in page.text
    done = browser.post(f"/notifications/{shown}/read")
    assert done.status == 303
    read_at = db.run_sync(lambda s: s.get(Notification, shown).read_at)
    assert read_at == now
    assert "Queue is long" not in browser.get("/desktop").text


def test_marking_someone_elses_notification_is_not_found(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner, clock: Clock
) -> None:
    other = db.run_sync(add_notification, centre, "jan", "for jan", now_of(clock))
    browser.signed_in("eva")
    page = browser.post(f"/notifications/{other}/read", accept="application/json")
    assert page.status == 404
    assert db.run_sync(lambda s: s.get(Notification, other).read_at) is None


# --------------------------------------------------------------------------- Czech


def test_an_agent_with_czech_gets_czech_pages_and_messages(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner, clock: Clock
) -> None:
    page = browser.signed_in("jan")
    assert '<html lang="cs">' in page.text
    assert "Přihlášení k telefonu" in page.text
    assert badge_text(page.text) == "Nepřihlášen"
    browser.post("/desktop/seat", {"seat_id": centre.seats["101"]})
    browser.post("/desktop/state", {"action": "pause", "pause_type_id": centre.pauses["personal"]})
    page = browser.get("/desktop")
    assert badge_text(page.text) == "Neaktivní"
    assert "Přestávka: Personal" in page.text
    jan = centre.agents["jan"]
    db.run_sync(agent_sessions.apply_event, jan, core.GoOnAir(), now_of(clock))
    for event in (core.Offered(), core.Answered(), core.CallEnded()):
        db.run_sync(agent_sessions.apply_event, jan, event, now_of(clock))
    refused = browser.post("/desktop/state", {"action": "on_air"})
    assert "Nejdříve dokončete zpracování hovoru tlačítkem Uložit." in refused.text


def test_switching_the_language_to_czech_and_back(browser: Browser, centre: StaffCentre) -> None:
    browser.signed_in("eva")
    done = browser.post("/account/language", {"language": "cs", "next": "/desktop"})
    assert done.status == 303 and done.location == "/desktop"
    page = browser.get("/desktop")
    assert "Odhlásit" in page.text and "Sign out" not in page.text
    browser.post("/account/language", {"language": "en", "next": "/desktop"})
    assert "Sign out" in browser.get("/desktop").text


def test_the_sign_in_page_follows_the_browser_language(
    browser: Browser, centre: StaffCentre
) -> None:
    page = browser.get("/sign-in", headers={"Accept-Language": "cs-CZ,cs;q=0.9,en;q=0.5"})
    assert "Přihlášení do Hotline" in page.text
    page = browser.get("/sign-in", headers={"Accept-Language": "de, en;q=0.3"})
    assert "Sign in to Hotline" in page.text


def test_dates_look_alike_in_both_languages_in_the_centre_time_zone(
    browser: Browser, other_browser: Browser, centre: StaffCentre
) -> None:
    """Issue 16: a four-digit year and a 24-hour clock in Czech and in English."""
    at_seat(browser, centre, "jan")
    assert "Přihlášen(a) od 02.03.2026 09:30" in browser.get("/desktop").text
    other_browser.signed_in("eva")
    other_browser.post("/desktop/seat", {"seat_id": centre.seats["102"]})
    assert "Logged in at 02.03.2026 09:30" in other_browser.get("/desktop").text


def test_a_saved_language_wins_else_the_browsers(browser: Browser, centre: StaffCentre) -> None:
    """R-2.17, issue 16: someone who never chose a language gets the browser's; a choice
    saved in the profile wins over any browser."""
    czech_browser = {"Accept-Language": "cs-CZ,cs;q=0.9"}
    english_browser = {"Accept-Language": "en-GB,en;q=0.9"}
    browser.signed_in("eva")  # no saved choice
    assert '<html lang="cs">' in browser.get("/desktop", headers=czech_browser).text
    assert '<html lang="en">' in browser.get("/desktop", headers=english_browser).text
    browser.post("/account/language", {"language": "en", "next": "/desktop"})
    assert '<html lang="en">' in browser.get("/desktop", headers=czech_browser).text
    browser.signed_in("jan")  # chose Czech
    assert '<html lang="cs">' in browser.get("/desktop", headers=english_browser).text
