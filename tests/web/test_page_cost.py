"""What a page costs the database (issue 12): a signed-in page is read without the write
lock, and the session's expiry is written at most once a minute, however often pages are
loaded; an expired session still ends at its first request."""

from __future__ import annotations

from sqlalchemy import func, select
from twisted.internet.task import Clock

from db.models import WebSession
from tests.support.centre import StaffCentre
from tests.support.db import InlineDBRunner
from tests.support.web import Browser
from web import sessions as web_sessions


def test_the_desktop_is_read_without_a_write(
    browser: Browser, centre: StaffCentre, clock: Clock, db: InlineDBRunner
) -> None:
    browser.signed_in("eva")
    db.writes.clear()
    db.transactions.clear()
    for _ in range(5):
        clock.advance(5)
        page = browser.get("/desktop")
        assert page.status == 200 and "Eva Dvořák" in page.text
    assert db.writes == {}
    # Two reads per page: who is signed in (with their seat), and the desktop's own rows.
    assert sum(db.transactions.values()) == 10


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
