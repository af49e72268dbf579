"""What a supervisor reads of ``/admin`` (R-6.2, R-4.6, R-7.4): only what belongs to the departments
he supervises, in every section tied to departments (queues, agents, seats, boxes, menus,
DIDs, departments, report schedules); a direct link to another department's record is not
found. Also the queues' list of reason trees (``/admin/reasons`` without a queue) and the
queue's form, which links to its tree instead of showing it as YAML."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.orm import Session

from admin.routes import form_values
from admin.store import find_record
from db.catalog import load_catalog
from db.models import AgentSession, ReportSchedule
from domain.enums import ReportFormat, ReportPeriod
from tests.support.centre import StaffCentre
from tests.support.db import InlineDBRunner
from tests.support.time import T0
from tests.support.web import Browser

# Support (eva, jan: sue supervises it) works the queue ``support``; Office (bob) works
# OFFICE. Each department has its own seat, box, menu, DID and report schedule.
OFFICE = """
phone_seats:
  - {name: Office desk, dial_string: PJSIP/301}
voicemail_boxes:
  - {code: OFFBOX, name: Office box, kind: voicemail}
  - {code: SUPBOX, name: Support box, kind: voicemail}
queues:
  - {code: OFFICE, name: Office queue, agents: [bob], voicemail_box: OFFBOX}
  - {code: support, name: Technical support, voicemail_box: SUPBOX}
agents:
  - {login: bob, name: Bob Office, seats: [Office desk], boxes: [OFFBOX]}
ivr_menus:
  - {code: OFFMENU, name: Office menu, prompt: demo/office, options: [{digit: '1', queue: OFFICE}]}
  - {code: SUPMENU, name: Support menu, prompt: demo/support, default_queue: support}
  - {code: TOPMENU, name: Top menu, prompt: demo/top, options: [{digit: '1', menu: SUPMENU}]}
dids:
  - {number: '5001', name: Office line, queue: OFFICE}
  - {number: '5002', name: Support line, menu: TOPMENU}
"""

# section, a record of Support (sue sees it), a record of Office (she does not)
CASES = [
    ("queues", "support", "OFFICE"),
    ("agents", "eva", "bob"),
    ("phone_seats", "901", "Office desk"),
    ("voicemail_boxes", "SUPBOX", "OFFBOX"),
    ("ivr_menus", "TOPMENU", "OFFMENU"),
    ("dids", "5002", "5001"),
    ("departments", "Support", "Office"),
    (  # a schedule's key is all its keys: report, period, format, recipients, owner, time
        "report_schedules",
        "queues weekly csv sue@example.com sue 06:00",
        "queues weekly csv bob@example.com bob 06:00",
    ),
]


@pytest.fixture
def office(db: InlineDBRunner, centre: StaffCentre, departments: None) -> None:
    def make(session: Session) -> None:
        load_catalog(session, OFFICE)
        for owner, email in (("sue", "sue@example.com"), ("bob", "bob@example.com")):
            session.add(
                ReportSchedule(
                    report="queues",
                    period=ReportPeriod.WEEKLY,
                    format=ReportFormat.CSV,
                    email_to=email,
                    owner_id=centre.agents[owner],
                )
            )
        # jan logged in at seat 102 once: a seat Support uses
        session.add(
            AgentSession(
                agent_id=centre.agents["jan"],
                seat_id=centre.seats["102"],
                logged_in_at=T0,
                logged_out_at=T0,
                state_since=T0,
                idle_since=T0,
            )
        )

    db.run_sync(make)


@pytest.mark.parametrize(("section", "ours", "theirs"), CASES)
def test_a_supervisor_reads_only_his_departments_rows_and_not_another_departments_by_link(
    browser: Browser, office: None, admin: int, section: str, ours: str, theirs: str
) -> None:
    browser.signed_in("sue")
    listing = browser.get(f"/admin/s/{section}")
    assert listing.status == 200
    assert f'data-key="{ours}"' in listing.text
    assert f'data-key="{theirs}"' not in listing.text
    assert browser.get(f"/admin/s/{section}/edit?key={ours}").status == 200
    assert browser.get(f"/admin/s/{section}/edit?key={theirs}").status == 404
    # An admin sees both.
    browser.signed_in("ada")
    listing = browser.get(f"/admin/s/{section}")
    assert f'data-key="{ours}"' in listing.text and f'data-key="{theirs}"' in listing.text
    assert browser.get(f"/admin/s/{section}/edit?key={theirs}").status == 200


def test_a_supervisor_sees_the_seats_his_agents_used_and_the_centre_wide_sections_whole(
    browser: Browser, office: None
) -> None:
    browser.signed_in("sue")
    seats = browser.get("/admin/s/phone_seats").text
    assert 'data-key="102"' in seats  # jan logged in there
    assert 'data-key="103"' not in seats  # nobody of Support has a right to it or used it
    pauses = browser.get("/admin/s/pause_types").text
    assert 'data-key="1"' in pauses and 'data-key="9"' in pauses


def test_a_supervisor_reads_the_reason_trees_of_his_queues_only(
    browser: Browser, office: None
) -> None:
    browser.signed_in("sue")
    index = browser.get("/admin/reasons")
    assert index.status == 200
    assert 'href="/admin/reasons?queue=support"' in index.text
    assert "OFFICE" not in index.text
    assert browser.get("/admin/reasons?queue=support").status == 200
    assert browser.get("/admin/reasons?queue=OFFICE").status == 404


def test_the_queues_reason_trees_are_listed_and_the_queue_form_links_to_its_tree(
    browser: Browser, db: InlineDBRunner, centre: StaffCentre, admin: int
) -> None:
    db.run_sync(
        lambda s: load_catalog(
            s,
            "queues:\n  - code: TECH\n    name: Tech & co\n    reasons:\n"
            "      in: [{label: Internet, code: T-1}]\n",
        )
    )
    browser.signed_in("ada")
    index = browser.get("/admin/reasons")
    assert index.status == 200
    for code in ("TECH", "support", "billing"):
        assert f'href="/admin/reasons?queue={code}"' in index.text
    assert "Tech &amp; co" in index.text
    assert 'href="/admin/reasons"' in browser.get("/admin/s/queues").text
    form = browser.get("/admin/s/queues/edit?key=TECH").text
    assert 'name="reasons"' not in form and "Internet" not in form  # no YAML of the tree
    assert re.search(
        r'<a href="/admin/reasons\?queue=TECH" id="admin-reasons">Edit reason tree</a>', form
    )
    assert 'id="admin-reasons-later"' in browser.get("/admin/s/queues/edit").text
    # Saving the form keeps the tree, even when a (forged) YAML of it comes along.
    record = db.run_sync(find_record, "queues", "TECH")
    values = {k: v for k, v in form_values("queues", record).items() if v != "false"}  # type: ignore[arg-type]
    assert "reasons" not in values
    saved = browser.post(
        "/admin/s/queues/save", {**values, "ring_timeout_s": "33", "reasons": "in: []"}
    )
    assert saved.status == 303
    after = db.run_sync(find_record, "queues", "TECH")
    assert after["ring_timeout_s"] == 33  # type: ignore[index]
    assert after["reasons"] == {"in": [{"label": "Internet", "code": "T-1"}], "out": []}  # type: ignore[index]


def test_a_supervisor_reads_the_audit_of_what_he_may_read_only(
    browser: Browser, db: InlineDBRunner, office: None, admin: int
) -> None:
    browser.signed_in("ada")
    for section, key, change in (
        ("queues", "OFFICE", {"ring_timeout_s": "31"}),
        ("queues", "support", {"ring_timeout_s": "32"}),
        ("pause_types", "1", {"name": "Personal time"}),
    ):
        record = db.run_sync(find_record, section, key)
        values = {k: v for k, v in form_values(section, record).items() if v != "false"}  # type: ignore[arg-type]
        assert browser.post(f"/admin/s/{section}/save", {**values, **change}).status == 303
    trail = browser.get("/admin/audit").text
    assert all(t in trail for t in ("queues:OFFICE", "queues:support", "pause_types:1"))
    browser.signed_in("sue")
    trail = browser.get("/admin/audit").text
    assert "queues:support" in trail and "pause_types:1" in trail
    assert "queues:OFFICE" not in trail
    assert "queues:OFFICE" not in browser.get("/admin/audit?target=OFFICE").text


def test_a_supervisor_reads_the_prompts_his_menus_name_not_another_departments(
    browser: Browser, office: None
) -> None:
    browser.signed_in("sue")
    page = browser.get("/admin/prompts").text
    assert "ivr_menus:SUPMENU prompt" in page and "demo/support" in page
    assert "OFFMENU" not in page and "demo/office" not in page
