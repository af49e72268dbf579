"""Signing in and out (R-7.4): scrypt check, session cookie, rotation, expiry, login CSRF;
the throttle, and sign-ins that never hold up the calls' database work (R-7.5)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import Engine, func, select, text
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from db.models import WebSession
from db.passwords import verify_password
from domain.enums import Role
from hotline.web import WebRoot
from tests.support.centre import StaffCentre
from tests.support.db import InlineDBRunner
from tests.support.web import Browser
from web import sessions as web_sessions
from web.password_checks import PasswordChecks
from web.request import ProcessInfo
from web.routes import start_page


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
    assert done.status == 303 and done.location == "/sign-in?signed_out=yes"
    assert session_rows(db) == []
    assert browser.get("/desktop").status == 303
    # Issue 16: the page after signing out says so.
    assert "You have signed out." in browser.get(done.location).text


def test_signing_out_says_what_became_of_the_seat(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    browser.signed_in("eva")
    browser.post("/desktop/seat", {"seat_id": centre.seats["101"]})
    done = browser.post("/sign-out")
    assert done.location == "/sign-in?signed_out=seat_left"
    assert "You have signed out and left your phone seat." in browser.get(done.location).text
    assert "signed out" not in browser.get("/sign-in").text  # only right after signing out


def test_each_person_starts_where_their_work_is(browser: Browser, centre: StaffCentre) -> None:
    """Issue 16: an agent on the desktop, back-office staff on the back office, a supervisor
    on the live view; the entry point sends them the same way. An admin who takes no calls
    starts on the administration, anyone else on the start page."""
    for login, start in (("eva", "/desktop"), ("bob", "/backoffice"), ("sue", "/supervisor")):
        assert browser.sign_in(login).location == start, login
        assert browser.get("/").location == start, login
    assert start_page(False, False, Role.ADMIN) == "/admin"
    assert start_page(True, False, Role.SUPERVISOR) == "/desktop"  # one who takes calls
    assert start_page(False, False, Role.AGENT) == "/home"


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


def test_people_without_a_queue_right_have_a_start_page_without_the_badge(
    browser: Browser, centre: StaffCentre
) -> None:
    browser.sign_in("sue")
    page = browser.get("/home")
    assert "Sue Visor" in page.text
    assert 'id="badge"' not in page.text  # no badge for people who take no calls


def test_session_rows_expire_on_the_next_sign_in(
    browser: Browser, other_browser: Browser, centre: StaffCentre, clock: Clock, db: InlineDBRunner
) -> None:
    browser.sign_in("jan")
    clock.advance(web_sessions.IDLE_S + 1)
    other_browser.sign_in("eva")
    assert [agent for _, agent in session_rows(db)] == [centre.agents["eva"]]
    assert timedelta(seconds=web_sessions.IDLE_S) < timedelta(seconds=web_sessions.LIFETIME_S)


def test_password_guessing_is_slowed_down_per_login_and_address(
    browser: Browser, other_browser: Browser, centre: StaffCentre, clock: Clock, db: InlineDBRunner
) -> None:
    """R-7.4: three misses are typos; from the fourth, the next try of that login from that
    address waits, twice as long after each further miss, and the refusal says how long;
    meanwhile even the right password is not checked. The wait ends."""
    for _ in range(3):
        assert browser.sign_in("eva", "guess").status == 401
    assert browser.sign_in("eva", "guess").status == 401  # the fourth: now a wait of 5 s
    held = browser.sign_in("eva")  # the right password, but too soon
    assert held.status == 429
    assert "Too many failed sign-ins. Try again in 5 s." in held.text
    assert held.header("Retry-After") == "5"
    assert session_rows(db) == []
    # Another person's sign-in is not held up by it; EVA is the same login as eva.
    assert other_browser.sign_in("bob").status == 303
    assert browser.sign_in("EVA", "guess").status == 429
    clock.advance(5)
    assert browser.sign_in("eva", "guess").status == 401  # the fifth: 10 s
    assert browser.sign_in("eva").header("Retry-After") == "10"
    for _ in range(4):  # the sixth to the ninth: 20, 40, 80, 160 s
        clock.advance(300)
        assert browser.sign_in("eva", "guess").status == 401
    held = browser.sign_in("eva")
    assert held.header("Retry-After") == "160"
    assert "Too many failed sign-ins. Try again in 3 min." in held.text
    clock.advance(160)
    assert browser.sign_in("eva").status == 303


def test_a_right_password_clears_the_count_of_wrong_ones(
    browser: Browser, centre: StaffCentre, clock: Clock
) -> None:
    for _ in range(3):
        assert browser.sign_in("eva", "typo").status == 401
    assert browser.sign_in("eva").status == 303
    for _ in range(3):
        assert browser.sign_in("eva", "typo").status == 401
    assert browser.sign_in("eva").status == 303  # six misses in all, but never four in a row


def test_the_wait_message_is_in_czech_for_czech_speakers(
    browser: Browser, centre: StaffCentre
) -> None:
    for _ in range(4):
        browser.sign_in("eva", "guess")
    form = browser.get("/sign-in", headers={"Accept-Language": "cs"})
    page = browser.post(
        "/sign-in",
        {"login": "eva", "password": "x"},
        csrf=form.csrf(),
        headers={"Accept-Language": "cs"},
    )
    assert page.status == 429
    assert "Příliš mnoho neúspěšných přihlášení. Zkuste to znovu za 5 s." in page.text


# ------------------------------------------------------------- sign-ins and the calls


@contextmanager
def the_database_held_by_someone_else(engine: Engine) -> Iterator[None]:
    """Another connection holds what a transaction would need, and gives up at once rather
    than wait when it cannot: on SQLite the write lock (``BEGIN IMMEDIATE``), on PostgreSQL
    an exclusive lock on the agents table (any open transaction that read it conflicts)."""
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        assert path
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            yield
            other.execute("ROLLBACK")
        finally:
            other.close()
        return
    with engine.connect() as conn, conn.begin() as txn:
        conn.execute(text("LOCK TABLE agents IN ACCESS EXCLUSIVE MODE NOWAIT"))
        yield
        txn.rollback()


def test_the_password_is_checked_outside_any_database_transaction(
    engine: Engine, db: InlineDBRunner, clock: Clock, centre: StaffCentre
) -> None:
    """Issue 11, item 9: the scrypt check holds no transaction (on SQLite: not the write
    lock), so another writer can hold the database for the whole check, and the calls'
    database work never waits for sign-ins' hashing."""
    checked: list[str] = []

    def verify_while_held(password: str, stored_hash: str) -> bool:
        with the_database_held_by_someone_else(engine):
            checked.append(password)
            return verify_password(password, stored_hash)

    checks = PasswordChecks.inline(verify=verify_while_held)
    root = WebRoot(db, ProcessInfo(), clock=clock, password_checks=checks)
    try:
        browser = Browser(root.resource())
        assert browser.sign_in("eva").status == 303
        assert browser.sign_in("eva", "wrong").status == 401
        assert browser.sign_in("nobody").status == 401  # an unknown login is checked too
    finally:
        root.stop()
    assert checked == ["correct horse", "wrong", "correct horse"]


def test_sign_ins_beyond_the_queue_are_told_to_come_back_and_the_rest_go_through(
    db: InlineDBRunner, clock: Clock, centre: StaffCentre
) -> None:
    """R-7.5: at most two sign-ins are under way at once and a few more wait; more than
    that are answered 503 at once ("try again"), never queued without end."""
    checks_asked: list[tuple[Callable[[], bool], Deferred[bool]]] = []

    def in_a_thread(check: Callable[[], bool]) -> Deferred[bool]:
        d: Deferred[bool] = Deferred()
        checks_asked.append((check, d))
        return d

    checks = PasswordChecks(in_a_thread, at_once=2, waiting=1)
    root = WebRoot(db, ProcessInfo(), clock=clock, password_checks=checks)
    try:
        people = ["eva", "jan", "bob"]
        browsers = [Browser(root.resource()) for _ in people]
        pending = [b.start_sign_in(login) for b, login in zip(browsers, people, strict=True)]
        assert len(checks_asked) == 2  # two checks under way, the third sign-in waits
        late = Browser(root.resource()).sign_in("eva")
        assert late.status == 503
        assert late.header("Retry-After") == "2"
        assert "Many people are signing in right now. Try again in a few seconds." in late.text
        while any(not d.called for _, d in checks_asked):
            check, d = next((c, d) for c, d in checks_asked if not d.called)
            d.callback(check())  # a check finishes: the waiting sign-in gets its turn
        assert len(checks_asked) == 3
        for browser, answer in zip(browsers, pending, strict=True):
            assert browser.finish(answer).status == 303
        assert checks.under_way == 0 and checks.queued == 0
        again = Browser(root.resource())  # the queue is open again
        answer = again.start_sign_in("jan")
        check, d = checks_asked[-1]
        assert len(checks_asked) == 4 and not d.called
        d.callback(check())
        assert again.finish(answer).status == 303
    finally:
        root.stop()
