"""What a page costs the database (issue 12): a signed-in page is read without the write
lock, in one transaction with the user's lookup, and the session's expiry is written at most
once a minute, however often pages are loaded; an expired session still ends at its first
request. Nothing of it is kept in the process: what another process changes shows at the
next request (R-7.1)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, delete, func, select, update
from twisted.internet.task import Clock

from agent_desktop import agent_state as core
from agent_desktop.store import agent_sessions
from db.models import Agent, QueueRight, WebSession
from tests.agent_desktop.routes.test_desktop import at_seat, badge_text
from tests.support.centre import StaffCentre, add_notification
from tests.support.db import InlineDBRunner, Selects, counted_selects
from tests.support.web import Browser
from web import sessions as web_sessions


@pytest.fixture
def selects(engine: Engine) -> Iterator[Selects]:
    with counted_selects(engine) as counted:
        yield counted


def now_of(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock.seconds(), UTC)


def test_the_desktop_is_one_read_of_six_queries(
    browser: Browser, centre: StaffCentre, clock: Clock, db: InlineDBRunner, selects: Selects
) -> None:
    at_seat(browser, centre)
    db.run_sync(add_notification, centre, "eva", "Team meeting at ten", now_of(clock))
    db.writes.clear()
    db.transactions.clear()
    selects.count = 0
    for _ in range(5):
        clock.advance(5)
        page = browser.get("/desktop")
        assert page.status == 200 and "Team meeting at ten" in page.text
    assert db.writes == {}
    # One read per page: who is signed in, with their seat and the desktop's own rows.
    assert db.transactions == {"look_up_user": 5}
    # The user with their seat, their rights, the pause types, the pauses taken at the
    # seat, the notifications, the locations.
    assert selects.count == 5 * 6


def test_a_page_the_user_may_not_see_reads_nothing_of_it(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner, selects: Selects
) -> None:
    browser.signed_in("bob")  # no queue right: no desktop
    selects.count = 0
    assert browser.get("/desktop").status == 403
    assert selects.count == 2  # the user and their rights, not the desktop's rows


def test_what_another_process_changes_shows_at_the_next_page(
    browser: Browser, centre: StaffCentre, clock: Clock, db: InlineDBRunner
) -> None:
    """R-7.1: the seat's state, a right taken away, a deactivated account and a sign-out
    made by another process (here: straight in the database) count at the next request."""
    eva = centre.agents["eva"]
    at_seat(browser, centre)
    assert badge_text(browser.get("/desktop").text) == "Off air"
    db.run_sync(agent_sessions.apply_event, eva, core.GoOnAir(), now_of(clock))
    assert badge_text(browser.get("/desktop").text) == "On air"
    db.run_sync(lambda s: s.execute(delete(QueueRight).where(QueueRight.agent_id == eva)))
    assert browser.get("/desktop").status == 403
    db.run_sync(lambda s: s.add(QueueRight(agent_id=eva, queue_id=centre.support)))
    assert browser.get("/desktop").status == 200
    db.run_sync(lambda s: s.execute(update(Agent).where(Agent.id == eva).values(active=False)))
    assert browser.get("/desktop").status == 303  # to the sign-in page
    db.run_sync(lambda s: s.execute(update(Agent).where(Agent.id == eva).values(active=True)))
    browser.signed_in("eva")
    assert browser.get("/desktop").status == 200
    db.run_sync(lambda s: s.execute(delete(WebSession)))  # signed out elsewhere
    assert browser.get("/desktop").status == 303


def test_the_session_is_touched_at_most_once_a_minute(
    browser: Browser, centre: StaffCentre, clock: Clock, db: InlineDBRunner
) -> None:
    browser.signed_in("eva")
    expiry_before = db.run_sync(lambda s: s.scalar(select(WebSession.expires_at)))
    db.writes.clear()
    for _ in range(12):  # two minutes of a page every ten seconds
        clock.advance(10)
        assert browser.get("/desktop").status == 200
    assert db.writes == {"touch_session": 2}
    expiry_after = db.run_sync(lambda s: s.scalar(select(WebSession.expires_at)))
    assert (expiry_after - expiry_before).total_seconds() >= 110


def test_an_expired_session_is_deleted_at_its_next_request(
    browser: Browser, centre: StaffCentre, clock: Clock, db: InlineDBRunner
) -> None:
    browser.signed_in("eva")
    clock.advance(web_sessions.IDLE_S + 1)
    assert browser.get("/desktop").status == 303
    assert db.run_sync(lambda s: s.scalar(select(func.count()).select_from(WebSession))) == 0
