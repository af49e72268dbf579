"""``/healthz`` and ``/status`` (hotline.status_routes): a stranger learns only what a load
balancer needs, someone signed in sees the version, counts and listeners (R-7.4)."""

from __future__ import annotations

import json

from tests.support.centre import StaffCentre
from tests.support.web import Browser


def test_a_stranger_sees_no_listener_and_no_count(browser: Browser, centre: StaffCentre) -> None:
    health = browser.get("/healthz", accept="application/json")
    assert health.status == 200
    assert json.loads(health.text) == {"status": "ok", "telephony": "not configured"}
    page = browser.get("/status")
    assert page.status == 200 and "Database reachable" in page.text
    assert "tcp:0" not in page.text  # the web listener of the fixture's process
    assert "Customers" not in page.text and "Calls in progress" not in page.text


def test_someone_signed_in_sees_the_details(browser: Browser, centre: StaffCentre) -> None:
    browser.signed_in("eva")
    health = json.loads(browser.get("/healthz", accept="application/json").text)
    assert health["listeners"]["web_listen"] == "tcp:0"
    assert health["database"]["agents"] > 0
    page = browser.get("/status")
    assert "tcp:0" in page.text and "Customers" in page.text
