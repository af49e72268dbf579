"""Signing in and out (R-7.4): scrypt check, session cookie, rotation, expiry, login CSRF."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from twisted.internet.task import Clock

from db.models import WebSession
from hotline.web import WebRoot
from tests.support.centre import StaffCentre
from tests.support.db import InlineDBRunner
from tests.support.web import Browser
from web import sessions as web_sessions


def session_rows(db: InlineDBRunner) -> list[tuple[str, int]]:
    return db.run_sync(
        lambda s: [tuple(r) for r in s.execute(select(WebSession.token_hash, WebSession.agent_id))]
    )


def cookie_value(page_cookies: list[str], name: str) -> str | None:
    for cookie in page_cookies:
        if cookie.startswith(name + "="):
            return cookie.split(";", 1)[0].split("=", 1)[1]
    return None


def test_not_signed_in_pages_redirect_to_sign_in(browser: Browser, centre: StaffCentre) -> None:
    page = browser.get("/desktop")
    assert page.status == 303
    assert page.location == "/sign-in?next=%2Fdesktop"
    assert browser.get("/").location == "/sign-in"


def test_sign_in_sets_an_http_only_lax_cookie_and_stores_only_its_hash(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    done = browser.sign_in("eva")
    assert done.status == 303
    assert done.location == "/desktop"
    cookies = done.set_cookies()
    session_cookie = next(c for c in cookies if c.startswith("hotline_session="))
    assert "HttpOnly" in session_cookie
    assert "SameSite=lax" in session_cookie or "SameSite=Lax" in session_cookie
    token = cookie_value(cookies, "hotline_session")
    assert token and len(token) >= 40
    rows = session_rows(db)
    assert rows == [(web_sessions.token_hash(token), centre.agents["eva"])]
    assert token not in str(rows)
    page = browser.get("/desktop")
    assert page.status == 200
    assert "Eva Dvořák" in page.text


def test_wrong_password_unknown_login_and_inactive_account_are_refused_alike(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    for login, password in (("eva", "wrong"), ("nobody", "correct horse"), ("ina", None)):
        page = browser.sign_in(login, password) if password else browser.sign_in(login)
        assert page.status == 401
        assert "Wrong login or password." in page.text
        assert not any(c.startswith("hotline_session=") for c in page.set_cookies())
    assert session_rows(db) == []


def test_a_new_sign_in_rotates_the_token_and_drops_the_old_session(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    first = cookie_value(browser.sign_in("eva").set_cookies(), "hotline_session")
    second = cookie_value(browser.sign_in("eva").set_cookies(), "hotline_session")
    assert first and second and first != second
    assert [h for h, _ in session_rows(db)] == [web_sessions.token_hash(second)]


def test_a_stolen_old_cookie_is_worthless_after_rotation(
    web: WebRoot, browser: Browser, centre: StaffCentre
) -> None:
    old = cookie_value(browser.sign_in("eva").set_cookies(), "hotline_session")
    browser.sign_in("eva")
    thief = Browser(web.resource())
    page = thief.get("/desktop", headers={"Cookie": f"hotline_session={old}"})
    assert page.status == 303 and page.location and page.location.startswith("/sign-in")
    # The stale cookie is cleared.
    assert any(c.startswith("hotline_session=;") for c in page.set_cookies())


def test_sign_out_deletes_the_session(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    browser.signed_in("eva")
    done = browser.post("/sign-out")
    assert done.status == 303 and done.location == "/sign-in"
    assert session_rows(db) == []
    assert browser.get("/desktop").status == 303


def test_a_session_expires_when_idle_and_slides_while_used(
    browser: Browser, centre: StaffCentre, clock: Clock, db: InlineDBRunner
) -> None:
    browser.signed_in("eva")
    clock.advance(web_sessions.IDLE_S - 60)
    assert browser.get("/desktop").status == 200  # used: expiry slides on
    clock.advance(web_sessions.IDLE_S - 60)
    assert browser.get("/desktop").status == 200
    clock.advance(web_sessions.IDLE_S + 1)
    assert browser.get("/desktop").status == 303
    assert db.run_sync(lambda s: s.scalar(select(func.count()).select_from(WebSession))) == 0


def test_a_session_ends_at_its_lifetime_even_when_used(
    browser: Browser, centre: StaffCentre, clock: Clock
) -> None:
    browser.signed_in("eva")
    used_s = 0
    while used_s + 3600 < web_sessions.LIFETIME_S:
        clock.advance(3600)
        used_s += 3600
        assert browser.get("/desktop").status == 200
    clock.advance(web_sessions.LIFETIME_S - used_s + 1)
    assert browser.get("/desktop").status == 303


def test_sign_in_needs_the_form_token_from_the_sign_in_page(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    browser.get("/sign-in")
    forged = browser.post("/sign-in", {"login": "eva", "password": "correct horse"}, csrf=None)
    assert forged.status == 403
    wrong = browser.post("/sign-in", {"login": "eva", "password": "correct horse"}, csrf="x" * 32)
    assert wrong.status == 403
    assert session_rows(db) == []


def test_sign_in_goes_back_to_the_page_asked_for_but_never_off_site(
    browser: Browser, centre: StaffCentre
) -> None:
    form = browser.get("/sign-in?next=%2Fhome")
    done = browser.post(
        "/sign-in", {"login": "eva", "password": "correct horse", "next": "/home"}, csrf=form.csrf()
    )
    assert done.location == "/home"
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        form = browser.get("/sign-in")
        if form.status == 303:  # already signed in: sign out first
            browser.post("/sign-out")
            form = browser.get("/sign-in")
        done = browser.post(
            "/sign-in",
            {"login": "eva", "password": "correct horse", "next": evil},
            csrf=form.csrf(),
        )
        assert done.location == "/desktop", evil


def test_people_without_a_queue_right_start_on_the_home_page(
    browser: Browser, centre: StaffCentre
) -> None:
    done = browser.sign_in("bob")
    assert done.location == "/home"
    page = browser.get("/home")
    assert "Bob Office" in page.text
    assert 'id="badge"' not in page.text  # no badge for people who take no calls


def test_session_rows_expire_on_the_next_sign_in(
    browser: Browser, other_browser: Browser, centre: StaffCentre, clock: Clock, db: InlineDBRunner
) -> None:
    browser.sign_in("jan")
    clock.advance(web_sessions.IDLE_S + 1)
    other_browser.sign_in("eva")
    assert [agent for _, agent in session_rows(db)] == [centre.agents["eva"]]
    assert timedelta(seconds=web_sessions.IDLE_S) < timedelta(seconds=web_sessions.LIFETIME_S)


def test_password_guessing_is_slowed_down_per_login(
    browser: Browser, other_browser: Browser, centre: StaffCentre, clock: Clock, db: InlineDBRunner
) -> None:
    """R-7.4: after five wrong passwords for one login, even the right one is refused for a
    while (the password is not checked at all), with a clear message and Retry-After."""
    for _ in range(5):
        assert browser.sign_in("eva", "guess").status == 401
    locked = browser.sign_in("eva")  # the right password, but too late
    assert locked.status == 429
    assert "Too many failed sign-ins. Try again in 5 min." in locked.text
    assert locked.header("Retry-After") == "300"
    assert session_rows(db) == []
    # Another person's sign-in is not held up by it; EVA is the same login as eva.
    assert other_browser.sign_in("bob").status == 303
    assert browser.sign_in("EVA", "guess").status == 429
    clock.advance(301)
    assert browser.sign_in("eva").status == 303


def test_a_right_password_clears_the_count_of_wrong_ones(
    browser: Browser, centre: StaffCentre, clock: Clock
) -> None:
    for _ in range(4):
        assert browser.sign_in("eva", "typo").status == 401
    assert browser.sign_in("eva").status == 303
    for _ in range(4):
        assert browser.sign_in("eva", "typo").status == 401
    assert browser.sign_in("eva").status == 303


def test_the_lock_message_is_in_czech_for_czech_speakers(
    browser: Browser, centre: StaffCentre
) -> None:
    for _ in range(5):
        browser.sign_in("eva", "guess")
    form = browser.get("/sign-in", headers={"Accept-Language": "cs"})
    page = browser.post(
        "/sign-in",
        {"login": "eva", "password": "x"},
        csrf=form.csrf(),
        headers={"Accept-Language": "cs"},
    )
    assert page.status == 429
    assert "Příliš mnoho neúspěšných přihlášení. Zkuste to znovu za 5 min." in page.text
