"""One guard on every route (R-7.4): CSRF, foreign requests, roles and rights, declarations,
and clear answers for wrong fields (400), a database that is down (503) and surprises (500).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.internet.task import Clock

from db.engine import make_engine
from domain.enums import Role
from hotline.web import WebRoot, default_route_tables
from tests.support.centre import StaffCentre
from tests.support.db import InlineDBRunner
from tests.support.web import Browser
from web.access import (
    CALL_CENTRE,
    SAFE_METHODS,
    SIGNED_IN,
    Access,
    RouteTable,
    public,
    queue_right,
    roles,
)
from web.guard import UndeclaredRouteError
from web.request import ProcessInfo, RequestContext

FORGED = "did not come from a page of this Hotline"


def probe_routes() -> RouteTable:
    """Routes that exercise the rules the desktop itself does not use."""
    routes = RouteTable("probe")

    @routes.route("/probe/queues/<int:queue_id>", methods=["GET"], access=queue_right("queue_id"))
    async def queue_page(rc: RequestContext, queue_id: int) -> bytes:
        return f"queue {queue_id} for {rc.signed_in.login}".encode()

    @routes.route("/probe/supervise", methods=["GET"], access=roles(Role.SUPERVISOR, Role.ADMIN))
    async def supervise(rc: RequestContext) -> bytes:
        return b"supervising"

    @routes.route("/probe/boom", methods=["POST"], access=CALL_CENTRE)
    async def boom(rc: RequestContext) -> bytes:
        raise RuntimeError("secret internals /etc/passwd")

    return routes


@pytest.fixture
def probed(db: InlineDBRunner, clock: Clock, centre: StaffCentre) -> Browser:
    root = WebRoot(
        db,
        ProcessInfo(),
        clock=clock,
        route_tables=[*default_route_tables(), probe_routes()],
    )
    return Browser(root.resource())


# --------------------------------------------------------------------------- CSRF


def test_a_state_change_without_the_csrf_token_is_refused_with_a_clear_page(
    browser: Browser, centre: StaffCentre
) -> None:
    browser.signed_in("eva")
    page = browser.post("/desktop/seat", {"seat_id": centre.seats["101"]}, csrf=None)
    assert page.status == 403
    assert FORGED in page.text
    assert "<html" in page.text
    assert "Traceback" not in page.text
    # Nothing happened: still not at a seat.
    assert "Log in to a phone seat" in browser.get("/desktop").text


def test_a_forged_token_is_refused_and_a_fetch_gets_json(
    browser: Browser, centre: StaffCentre
) -> None:
    browser.signed_in("eva")
    page = browser.post(
        "/desktop/seat", {"seat_id": centre.seats["101"]}, csrf="forged", accept="*/*"
    )
    assert page.status == 403
    assert page.header("content-type") == "application/json"
    assert FORGED in page.text


def test_another_users_token_does_not_work(
    browser: Browser, other_browser: Browser, centre: StaffCentre
) -> None:
    other_browser.signed_in("jan")
    browser.signed_in("eva")
    jan_token = other_browser.token
    page = browser.post("/desktop/seat", {"seat_id": centre.seats["101"]}, csrf=jan_token)
    assert page.status == 403


def test_fetch_sends_the_token_in_a_header(browser: Browser, centre: StaffCentre) -> None:
    browser.signed_in("eva")
    token = browser.token
    page = browser.post(
        "/desktop/seat",
        {"seat_id": centre.seats["101"]},
        csrf=None,
        accept="application/json",
        headers={"X-CSRF-Token": token or ""},
    )
    assert page.status == 200
    assert '"ok": true' in page.text


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
    ],
)
def test_a_request_from_another_site_is_refused_even_with_the_token(
    browser: Browser, centre: StaffCentre, headers: dict[str, str]
) -> None:
    browser.signed_in("eva")
    page = browser.post("/desktop/seat", {"seat_id": centre.seats["101"]}, headers=headers)
    assert page.status == 403
    assert FORGED in page.text


def test_same_origin_requests_pass(browser: Browser, centre: StaffCentre) -> None:
    browser.signed_in("eva")
    page = browser.post(
        "/desktop/seat",
        {"seat_id": centre.seats["101"]},
        headers={"Origin": "http://hotline.example", "Sec-Fetch-Site": "same-origin"},
    )
    assert page.status == 303


# --------------------------------------------------------------------------- roles and rights


def test_a_user_without_a_queue_right_cannot_use_the_desktop(
    browser: Browser, centre: StaffCentre
) -> None:
    browser.signed_in("bob")
    page = browser.get("/desktop")
    assert page.status == 403
    assert "does not have the right" in page.text
    refused = browser.post("/desktop/seat", {"seat_id": centre.seats["101"]})
    assert refused.status == 403


def test_a_queue_right_is_checked_against_the_queue_in_the_url(
    probed: Browser, centre: StaffCentre
) -> None:
    probed.signed_in("eva")
    assert probed.get(f"/probe/queues/{centre.support}").status == 200
    assert probed.get(f"/probe/queues/{centre.billing}").status == 403
    assert probed.get("/probe/queues/99999").status == 403


def test_a_role_is_checked(probed: Browser, other_browser: Browser, centre: StaffCentre) -> None:
    probed.signed_in("eva")
    assert probed.get("/probe/supervise").status == 403
    probed.post("/sign-out")
    probed.signed_in("sue")
    page = probed.get("/probe/supervise")
    assert page.status == 200 and page.text == "supervising"


def test_not_signed_in_fetch_and_streams_get_401(browser: Browser, centre: StaffCentre) -> None:
    page = browser.get("/desktop", accept="application/json")
    assert page.status == 401
    assert page.header("www-authenticate")
    stream = browser.open_stream("/events")
    assert stream.status == 401


# --------------------------------------------------------------------------- declarations


def test_every_route_declares_its_access_and_state_changes_are_never_public_but_sign_in(
    web: WebRoot,
) -> None:
    routes = web.describe_routes()
    assert len(routes) >= 10
    for route in routes:
        assert isinstance(route["access"], Access), route
        if not set(route["methods"]) <= SAFE_METHODS and route["access"].public:
            assert route["path"] == "/sign-in", route


def test_a_route_added_without_a_declaration_stops_the_web_root(
    db: InlineDBRunner, clock: Clock
) -> None:
    root = WebRoot(db, ProcessInfo(), clock=clock)

    @root.app.route("/sneaky", methods=["POST"])
    def sneaky(request: object) -> bytes:
        return b"changed something"

    with pytest.raises(UndeclaredRouteError, match="/sneaky"):
        root.resource()


def test_a_route_cannot_be_declared_without_access() -> None:
    routes = RouteTable("t")
    with pytest.raises(TypeError):
        routes.route("/x", methods=["GET"])  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        routes.route("/x", methods=["GET"], access=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        public("")


def test_only_a_signed_in_route_that_changes_nothing_reads_with_the_user() -> None:
    """A change reads after it writes, and a public page has no user to read with."""
    routes = RouteTable("t")

    def rows(session: object, user: object, now: object) -> None:
        return None

    with pytest.raises(ValueError):
        routes.route("/x", methods=["POST"], access=SIGNED_IN, read_with_user=rows)
    with pytest.raises(ValueError):
        routes.route("/x", methods=["GET"], access=public("a test"), read_with_user=rows)
    routes.route("/x", methods=["GET"], access=SIGNED_IN, read_with_user=rows)


def test_a_right_on_an_argument_the_url_lacks_is_refused_at_start(
    db: InlineDBRunner, clock: Clock
) -> None:
    routes = RouteTable("bad")

    @routes.route("/bad", methods=["GET"], access=queue_right("queue_id"))
    async def bad(rc: RequestContext) -> bytes:
        return b""

    with pytest.raises(ValueError, match="queue_id"):
        WebRoot(db, ProcessInfo(), clock=clock, route_tables=[routes])


# --------------------------------------------------------------------------- clear errors


@pytest.mark.parametrize(
    ("path", "fields", "expected"),
    [
        ("/desktop/seat", {"seat_id": "abc"}, "“Phone seat” must be a whole number"),
        ("/desktop/seat", {"seat_id": ["1", "2"]}, "seat_id was sent more than once"),
        ("/desktop/seat", {}, "Please fill in “Phone seat”."),
        ("/desktop/seat", {"seat_id": "99999999999999999999"}, "“Phone seat” must be a whole"),
        ("/desktop/state", {"action": "fly"}, "“action” has a value that is not offered"),
        ("/desktop/state", {"action": "pause"}, "Please fill in “pause_type_id”."),
        ("/desktop/state", {"action": "pause", "pause_type_id": "-3"}, "out of range"),
        ("/account/language", {"language": "tlh"}, "“Language” has a value that is not offered"),
    ],
)
def test_wrong_form_fields_get_400_with_a_message(
    browser: Browser, centre: StaffCentre, path: str, fields: dict[str, object], expected: str
) -> None:
    browser.signed_in("eva")
    page = browser.post(path, fields)
    assert page.status == 400, page.text
    assert expected in page.text
    assert "Traceback" not in page.text


def test_a_wrong_field_is_named_by_its_label_with_its_limits_in_the_layout(
    browser: Browser, centre: StaffCentre
) -> None:
    """Issue 16: no raw field name ("minutes") on a bare page: the label the form shows and
    the bounds, with the page's header (the layout)."""
    browser.signed_in("sue")
    page = browser.post(
        "/supervisor/messages",
        {"agent_id": centre.agents["eva"], "severity": "info", "minutes": "0", "message": "Hi"},
    )
    assert page.status == 400
    assert "“Show for (minutes)” must be a whole number from 1 to 1440." in page.text
    assert '<header class="top">' in page.text and "Sue Visor" in page.text


def test_a_wrong_field_is_named_in_czech_for_a_czech_reader(
    browser: Browser, centre: StaffCentre
) -> None:
    browser.signed_in("jan")
    page = browser.get("/outbound?q=" + "x" * 101)
    assert page.status == 400
    assert "„Vyhledat zákazníka“ smí mít nejvýše 100 znaků." in page.text
    assert '<header class="top">' in page.text and "Jan Novák" in page.text


def test_a_body_that_is_not_utf8_gets_400(browser: Browser, centre: StaffCentre) -> None:
    browser.signed_in("eva")
    d = browser.stub.post(
        "http://hotline.example/desktop/seat",
        data=b"seat_id=%FF%FE&csrf_token=" + (browser.token or "").encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"},
        allow_redirects=False,
    )
    page = browser._finish(d)
    assert page.status == 400
    assert "not valid UTF-8" in page.text


def test_unknown_pages_and_wrong_methods_get_clear_pages(
    browser: Browser, centre: StaffCentre
) -> None:
    missing = browser.get("/no/such/page")
    assert missing.status == 404
    assert "/no/such/page" in missing.text and "<html" in missing.text
    wrong = browser.get("/desktop/seat")
    assert wrong.status == 405


def test_an_unexpected_error_is_a_500_page_without_internals(
    probed: Browser, centre: StaffCentre
) -> None:
    probed.signed_in("eva")
    page = probed.post("/probe/boom")
    assert page.status == 500
    assert "unexpected error" in page.text
    assert "secret internals" not in page.text and "Traceback" not in page.text


# --------------------------------------------------------------------------- database down


@pytest.fixture
def down(clock: Clock, tmp_path: Path) -> Browser:
    engine = make_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'hotline.db'}")
    root = WebRoot(InlineDBRunner(engine, clock), ProcessInfo(), clock=clock)
    return Browser(root.resource())


def test_a_database_that_is_down_gives_503_pages_never_a_traceback(down: Browser) -> None:
    form = down.get("/sign-in")
    assert form.status == 200  # the form itself needs no database
    page = down.post("/sign-in", {"login": "eva", "password": "x"}, csrf=form.csrf())
    assert page.status == 503
    assert "cannot reach its database" in page.text
    assert "Traceback" not in page.text and "sqlite" not in page.text.lower()
    with_cookie = down.get("/desktop", headers={"Cookie": "hotline_session=abc"})
    assert with_cookie.status == 503
    assert down.get("/healthz").status == 503
    status = down.get("/status")
    assert status.status == 503 and "not reachable" in status.text
    fetch = down.get("/desktop", accept="application/json", headers={"Cookie": "hotline_session=a"})
    assert fetch.status == 503 and fetch.header("content-type") == "application/json"


def test_static_files_need_no_session_and_no_database(down: Browser) -> None:
    css = down.get("/static/hotline.css", headers={"Cookie": "hotline_session=abc"})
    assert css.status == 200
    assert css.header("content-type") == "text/css; charset=utf-8"
    assert ".badge-on_air" in css.text
    assert down.get("/static/hotline.js").status == 200
    for bad in ("/static/missing.css", "/static/..%2Fweb.py", "/static/layout.html"):
        assert down.get(bad).status == 404, bad


def test_a_forwarded_host_from_a_peer_that_is_no_trusted_proxy_is_not_the_origin(
    browser: Browser, centre: StaffCentre
) -> None:
    """Behind a trusted proxy it is (tests/web/test_server.py, over real TCP)."""
    browser.signed_in("eva")
    page = browser.post(
        "/desktop/seat",
        {"seat_id": centre.seats["101"]},
        headers={
            "Origin": "https://hotline.example.org",
            "X-Forwarded-Host": "hotline.example.org",
        },
    )
    assert page.status == 403
