"""A supervisor messages an agent (R-2.16, R-4.1): the agent sees it live and on the
desktop, the supervisor sees whether it was read; only the watched departments (R-4.6)."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from twisted.internet.task import Clock

from db.models import Agent, Department, Notification, SupervisorDepartment
from tests.support.centre import StaffCentre
from tests.support.db import InlineDBRunner
from tests.support.web import Browser, open_desktop_stream, tick


def departments(db: InlineDBRunner, centre: StaffCentre) -> None:
    """eva and jan work in Support, bob in Back office; sue supervises Support only."""

    def make(session: Session) -> None:
        support, office = Department(name="Support"), Department(name="Back office")
        session.add_all([support, office])
        session.flush()
        for login, dept in (("eva", support), ("jan", support), ("bob", office)):
            agent = session.get(Agent, centre.agents[login])
            assert agent is not None
            agent.department_id = dept.id
        session.add(SupervisorDepartment(agent_id=centre.agents["sue"], department_id=support.id))

    db.run_sync(make)


def message_to(agent_id: int | str, **fields: str) -> dict[str, str]:
    return {"agent_id": str(agent_id), "severity": "info", "message": "x", "minutes": "5", **fields}


def stored(db: InlineDBRunner) -> int:
    return db.run_sync(lambda s: s.scalar(select(func.count()).select_from(Notification)))


def test_a_message_reaches_the_agents_desktop_live_and_its_reading_is_seen(
    browser: Browser, other_browser: Browser, centre: StaffCentre, db: InlineDBRunner, clock: Clock
) -> None:
    departments(db, centre)
    stream = open_desktop_stream(other_browser, centre, "eva")
    sue = browser
    form = sue.signed_in("sue")
    assert 'href="/supervisor/messages"' in form.text  # in the supervisor's header
    page = sue.get("/supervisor/messages")
    assert page.status == 200
    assert ">Eva Dvořák · Support</option>" in page.text
    assert "Jan Novák · Support" in page.text and "Bob Office" not in page.text
    sent = sue.post(
        "/supervisor/messages",
        {
            "agent_id": str(centre.agents["eva"]),
            "severity": "critical",
            "message": "  Please take billing calls\r\nuntil noon  ",
            "minutes": "30",
        },
    )
    assert (sent.status, sent.location) == (303, "/supervisor/messages?sent=1")
    # Live on eva's desktop, with severity, sender and the 30-minute window.
    tick(other_browser, clock)
    [message] = stream.messages()
    assert message["event"] == "notification"
    data = json.loads(message["data"])
    assert data["message"] == "Please take billing calls\nuntil noon"
    assert (data["severity"], data["sender"]) == ("critical", "Sue Visor")
    assert data["hide_in_ms"] == 30 * 60 * 1000 - 500
    desktop = other_browser.get("/desktop")
    assert "Please take billing calls" in desktop.text and "note-critical" in desktop.text
    # The supervisor's list says it is not read yet; after eva marks it, it is.
    listing = sue.get("/supervisor/messages?sent=1").text
    assert "The message was sent." in listing and "not yet" in listing
    [nid] = db.run_sync(lambda s: list(s.scalars(select(Notification.id))))
    assert other_browser.post(f"/notifications/{nid}/read").status in (200, 303)
    assert "not yet" not in sue.get("/supervisor/messages").text


def test_only_the_watched_departments_and_only_supervisors(
    browser: Browser, other_browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    departments(db, centre)
    sue = browser
    sue.signed_in("sue")
    refused = sue.post(
        "/supervisor/messages",
        {
            "agent_id": str(centre.agents["bob"]),
            "severity": "info",
            "message": "Hi",
            "minutes": "5",
        },
    )
    assert refused.status == 409
    assert "only to the people of the departments you supervise" in refused.text
    assert stored(db) == 0
    # An agent may neither see the page nor send.
    eva = other_browser
    eva.signed_in("eva")
    assert eva.get("/supervisor/messages").status == 403
    forged = eva.post(
        "/supervisor/messages",
        {"agent_id": str(centre.agents["jan"]), "severity": "info", "message": "x", "minutes": "5"},
    )
    assert forged.status == 403 and stored(db) == 0
    # Without the form's token nothing is sent either.
    no_token = sue.post(
        "/supervisor/messages",
        {"agent_id": str(centre.agents["eva"]), "severity": "info", "message": "x", "minutes": "5"},
        csrf=False,
    )
    assert no_token.status == 403 and stored(db) == 0


def test_bad_input_is_refused_with_a_reason_and_keeps_what_was_typed(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    departments(db, centre)
    browser.signed_in("sue")
    eva = str(centre.agents["eva"])
    empty = browser.post(
        "/supervisor/messages",
        {"agent_id": eva, "severity": "info", "message": " ", "minutes": "5"},
    )
    assert empty.status == 409 and "Write the message." in empty.text
    control = browser.post(
        "/supervisor/messages",
        {"agent_id": eva, "severity": "warning", "message": "bell\x07", "minutes": "5"},
    )
    assert control.status == 409 and "cannot be stored" in control.text
    assert '<option value="warning" selected>' in control.text
    long = browser.post(
        "/supervisor/messages",
        {"agent_id": eva, "severity": "info", "message": "x" * 1001, "minutes": "5"},
    )
    assert long.status == 409 and "too long" in long.text
    for field, value in (("severity", "panic"), ("minutes", "0"), ("minutes", "99999")):
        fields = {"agent_id": eva, "severity": "info", "message": "ok", "minutes": "5"}
        fields[field] = value
        assert browser.post("/supervisor/messages", fields).status == 400, field
    assert stored(db) == 0


def test_a_refused_field_shows_the_form_again_with_everything_typed(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    """Issue 16: a refusal of a field (here the minutes) shows the message form again, in
    the page's layout, with the reason naming the field by its label and its bounds, and
    what the supervisor wrote still there; so does a refusal in the reader's language."""
    departments(db, centre)
    browser.signed_in("sue")
    jan = centre.agents["jan"]
    typed = "Please call the customer <Novák> back\nbefore noon."
    page = browser.post(
        "/supervisor/messages",
        {"agent_id": str(jan), "severity": "warning", "message": typed, "minutes": "0"},
    )
    assert page.status == 400
    assert 'id="sv-form"' in page.text and 'id="sv-heading"' in page.text
    error = page.text.split('id="sv-error">', 1)[1].split("</p>", 1)[0]
    assert error == "“Show for (minutes)” must be a whole number from 1 to 1440."
    kept = page.text.split('id="sv-message"', 1)[1].split("</textarea>", 1)[0]
    assert kept.endswith(">Please call the customer &lt;Novák&gt; back\nbefore noon.")
    assert f'<option value="{jan}" selected>' in page.text
    assert '<option value="warning" selected>' in page.text
    assert 'id="sv-minutes" name="minutes" type="number" min="1" max="1440" value="0"' in (
        page.text
    )
    assert stored(db) == 0
    db.run_sync(lambda s: setattr(s.get(Agent, centre.agents["sue"]), "language", "cs"))
    czech = browser.post("/supervisor/messages", {**message_to(jan), "minutes": "abc"})
    assert czech.status == 400
    assert "„Zobrazit po dobu (minut)“ musí být celé číslo." in czech.text
    assert ">x</textarea>" in czech.text
    sent = browser.post("/supervisor/messages", message_to(jan, message=typed))
    assert sent.status == 303 and stored(db) == 1


def test_an_admin_may_message_anyone_active(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    from domain.enums import Role

    def promote(session: Session) -> None:
        sue = session.get(Agent, centre.agents["sue"])
        assert sue is not None
        sue.role = Role.ADMIN

    db.run_sync(promote)
    browser.signed_in("sue")
    page = browser.get("/supervisor/messages").text
    assert "Bob Office" in page and "Eva Dvořák" in page
    assert "Ina Gone" not in page  # inactive
