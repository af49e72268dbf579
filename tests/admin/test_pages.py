"""The administration pages (R-6.2, R-7.4): who sees them, CSRF on every form, create /
edit / retire / delete with an audit entry of each change, the audit trail, customers by
search and page, import with a preview that is what applying does, and export."""

from __future__ import annotations

import html
import json
import re
import textwrap

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from twisted.internet.task import Clock

from admin.routes import form_values
from admin.store import find_record
from db.catalog import export_catalog, load_catalog
from db.models import Agent, AuditLog, Department, SupervisorDepartment
from dialplan.store.routing import did_target, load_queue
from hotline.web import WebRoot
from tests.support.centre import StaffCentre
from tests.support.db import InlineDBRunner
from tests.support.web import Browser
from web.request import ProcessInfo
from web.sign_in_throttle import UNLOCK_CHECK_S

POSTS = [
    ("/admin/s/queues/save", {"code": "X", "name": "X"}),
    ("/admin/s/dids/delete", {"key": "5000"}),
    ("/admin/settings", {"centre_name": "X"}),
    ("/admin/import", {"text": "departments: [{name: X}]", "apply": "1"}),
]


def _audit(db: InlineDBRunner) -> list[tuple[str, str, dict[str, object]]]:
    def read(session: Session) -> list[tuple[str, str, dict[str, object]]]:
        rows = session.scalars(select(AuditLog).order_by(AuditLog.id))
        return [(r.action, r.target, json.loads(r.detail)) for r in rows]

    return db.run_sync(read)


@pytest.mark.parametrize("login", ["eva", "bob"])
@pytest.mark.parametrize(
    "path", ["/admin", "/admin/s/queues", "/admin/s/agents", "/admin/settings", "/admin/audit"]
)
def test_agents_and_back_office_staff_see_nothing_of_admin(
    browser: Browser, centre: StaffCentre, login: str, path: str
) -> None:
    start = browser.signed_in(login)
    assert 'href="/admin"' not in start.text
    assert browser.get(path).status == 403


@pytest.mark.parametrize(("path", "data"), POSTS)
def test_a_supervisor_reads_but_cannot_change(
    browser: Browser, db: InlineDBRunner, departments: None, path: str, data: dict[str, str]
) -> None:
    start = browser.signed_in("sue")
    assert 'href="/admin"' in start.text
    page = browser.get("/admin/s/queues/edit?key=support")
    assert page.status == 200
    assert "<fieldset disabled>" in page.text and 'id="admin-save"' not in page.text
    before = db.run_sync(export_catalog)
    assert browser.post(path, data).status == 403
    assert browser.get("/admin/export").status == 403
    assert db.run_sync(export_catalog) == before


def test_a_supervisor_sees_the_agents_of_his_departments_only(
    browser: Browser, departments: None
) -> None:
    browser.signed_in("sue")
    listing = browser.get("/admin/s/agents").text
    assert 'data-key="eva"' in listing and 'data-key="bob"' not in listing
    assert browser.get("/admin/s/agents/edit?key=eva").status == 200
    assert browser.get("/admin/s/agents/edit?key=bob").status == 404


@pytest.mark.parametrize(("path", "data"), POSTS)
def test_every_form_needs_the_csrf_token(
    browser: Browser, db: InlineDBRunner, admin: int, path: str, data: dict[str, str]
) -> None:
    browser.signed_in("ada")
    before = db.run_sync(export_catalog)
    assert browser.post(path, data, csrf=False).status == 403
    assert browser.post(path, data, csrf="forged").status == 403
    assert db.run_sync(export_catalog) == before
    assert _audit(db) == []


def test_an_admin_creates_and_edits_a_queue_with_hours_and_a_reason_tree_audited(
    browser: Browser, db: InlineDBRunner, admin: int
) -> None:
    browser.signed_in("ada")
    index = browser.get("/admin")
    assert index.status == 200 and 'href="/admin/s/queues"' in index.text
    new = browser.get("/admin/s/queues/edit")
    assert new.status == 200 and 'name="ring_timeout_s"' in new.text
    form = {
        "code": "SALES",
        "name": "Sales",
        "active": "true",
        "ring_timeout_s": "15",
        "overflow_after_s": "90",
        "callback_offer_after_s": "",
        "callback_offer_repeat_s": "60",
        "country_prefix": "420",
        "closed_action": "voicemail",
        "hours_prompt": "hotline/opening-hours",
        "moh_class": "default",
        "agents": "[eva]",
        "hours": "- {weekday: mon, opens: '08:00', closes: '17:00'}\n"
        "- {weekday: tue, opens: '08:00', closes: '12:00'}\n",
    }
    saved = browser.post("/admin/s/queues/save", form)
    assert saved.status == 303, re.findall(r"field-error[^<]*<|alert-error[^<]*<", saved.text)
    assert saved.location == "/admin/s/queues/edit?key=SALES&done=saved"
    shown = browser.get(saved.location)
    assert "Saved." in shown.text
    record = db.run_sync(find_record, "queues", "SALES")
    assert record is not None
    assert (record["ring_timeout_s"], record["callback_offer_after_s"]) == (15, None)
    assert record["overflow_enabled"] is False  # its box was left unticked
    assert record["agents"] == ["eva"]
    assert record["hours"][1] == {"weekday": "tue", "opens": "08:00", "closes": "12:00"}
    # Edit: the ring timeout only.
    values = form_values("queues", record)
    values = {k: v for k, v in values.items() if v != "false"}
    assert browser.post("/admin/s/queues/save", {**values, "ring_timeout_s": "25"}).status == 303
    [created, updated] = _audit(db)
    assert created[:2] == ("admin.queues.create", "queues:SALES")
    assert created[2]["before"] is None and created[2]["after"]["name"] == "Sales"  # type: ignore[index]
    assert updated[:2] == ("admin.queues.update", "queues:SALES")
    assert updated[2]["changed"] == ["ring_timeout_s"]
    assert (updated[2]["before"]["ring_timeout_s"], updated[2]["after"]["ring_timeout_s"]) == (  # type: ignore[index]
        15,
        25,
    )
    # Saving it unchanged writes no audit entry.
    same = browser.post("/admin/s/queues/save", {**values, "ring_timeout_s": "25"})
    assert same.location == "/admin/s/queues/edit?key=SALES&done=unchanged"
    assert len(_audit(db)) == 2
    # The audit trail page, searched by record and by actor.
    trail = browser.get("/admin/audit?target=queues:SALES&actor=ada").text
    assert "admin.queues.update" in trail and "<del>15</del> → <ins>25</ins>" in trail
    assert "admin.queues" not in browser.get("/admin/audit?actor=sue").text


def test_a_did_is_deleted_and_a_pause_type_retired_audited(
    browser: Browser, db: InlineDBRunner, admin: int
) -> None:
    db.run_sync(
        lambda s: load_catalog(
            s,
            "queues: [{code: TECH, name: Tech}]\n"
            "dids: [{number: '5000', name: Line, queue: TECH}]\n"
            "pause_types: [{position: 5, name: Lunch}]\n",
        )
    )
    browser.signed_in("ada")
    page = browser.get("/admin/s/dids/edit?key=5000")
    assert 'id="admin-delete"' in page.text
    assert browser.post("/admin/s/dids/delete", {"key": "5000"}).status == 303
    assert db.run_sync(find_record, "dids", "5000") is None
    record = db.run_sync(find_record, "pause_types", "5")
    values = {k: v for k, v in form_values("pause_types", record).items() if v != "false"}
    values.pop("active")  # the Active box cleared: retired
    assert browser.post("/admin/s/pause_types/save", values).status == 303
    assert db.run_sync(find_record, "pause_types", "5")["active"] is False  # type: ignore[index]
    actions = [(a, t) for a, t, _ in _audit(db)]
    assert actions == [
        ("admin.dids.delete", "dids:5000"),
        ("admin.pause_types.update", "pause_types:5"),
    ]


def test_customers_are_found_by_search_a_page_at_a_time(
    browser: Browser, db: InlineDBRunner, admin: int
) -> None:
    rows = "\n".join(
        f"  - {{contract_number: C-{n:04d}, name: Customer {n}, location: BRNO, "
        f"phones: ['777 000 {n:03d}']}}"
        for n in range(1, 121)
    )
    db.run_sync(
        lambda s: load_catalog(s, f"locations: [{{code: BRNO, name: Brno}}]\ncustomers:\n{rows}\n")
    )
    browser.signed_in("ada")
    first = browser.get("/admin/s/customers").text
    assert "120 found" in first and "Page 1 of 3" in first
    assert 'data-key="C-0050"' in first and 'data-key="C-0051"' not in first
    third = browser.get("/admin/s/customers?page=3").text
    assert 'data-key="C-0120"' in third and 'data-key="C-0001"' not in third
    by_phone = browser.get("/admin/s/customers?q=777000077").text
    assert "1 found" in by_phone and 'data-key="C-0077"' in by_phone
    by_name = browser.get("/admin/s/customers?q=customer 11").text
    assert 'data-key="C-0011"' in by_name and 'data-key="C-0110"' in by_name


def test_settings_are_changed_and_audited(browser: Browser, db: InlineDBRunner, admin: int) -> None:
    browser.signed_in("ada")
    assert browser.get("/admin/settings").status == 200
    saved = browser.post("/admin/settings", {"service_level_s": "30", "time_zone": "Europe/Prague"})
    assert saved.location == "/admin/settings?done=saved"
    [(action, target, detail)] = _audit(db)
    assert (action, target, detail["after"]) == (
        "admin.settings.update",
        "settings",
        {"service_level_s": "30", "time_zone": "Europe/Prague"},
    )


PLAN_ROW = re.compile(
    r'<tr data-section="(\w+)"><td><code>\w+</code></td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>'
)


def _plan(page: str) -> dict[str, tuple[int, int, int]]:
    return {m[0]: (int(m[1]), int(m[2]), int(m[3])) for m in PLAN_ROW.findall(page)}


CENTRE = textwrap.dedent(
    """\
    departments:
      - name: Support
      - name: Sales
    queues:
      - {code: TECH, name: Technical support, ring_timeout_s: 30}
    """
)


def test_import_shows_what_would_change_then_applies_it_in_one_go(
    browser: Browser, db: InlineDBRunner, admin: int
) -> None:
    db.run_sync(
        lambda s: load_catalog(
            s, "departments: [{name: Support}]\nqueues: [{code: TECH, name: Tech}]\n"
        )
    )
    browser.signed_in("ada")
    assert browser.get("/admin/import").status == 200
    before = db.run_sync(export_catalog)
    preview = browser.post("/admin/import", {"text": CENTRE, "apply": "0"})
    assert preview.status == 200, preview.text
    assert db.run_sync(export_catalog) == before  # a preview changes nothing
    # departments: Sales created, Support untouched; queues: TECH updated.
    plan = {"departments": (1, 0, 1), "queues": (0, 1, 0)}
    assert _plan(preview.text) == plan
    applied = browser.post("/admin/import", {"text": CENTRE, "apply": "1"})
    assert applied.status == 200 and "Imported." in applied.text
    assert _plan(applied.text) == plan  # what the preview said is what applying did
    assert db.run_sync(find_record, "queues", "TECH")["ring_timeout_s"] == 30  # type: ignore[index]
    assert [a for a, _, _ in _audit(db)] == ["admin.import"]
    refused = browser.post(
        "/admin/import", {"text": "queues: [{code: X, name: X, ring_timeout_s: 0}]", "apply": "1"}
    )
    assert refused.status == 409
    assert "line 1: ring_timeout_s: 0 is out of range (must be at least 1)" in refused.text


def test_export_downloads_what_hotline_export_writes(
    browser: Browser, db: InlineDBRunner, admin: int
) -> None:
    db.run_sync(lambda s: load_catalog(s, CENTRE))
    browser.signed_in("ada")
    page = browser.get("/admin/export")
    assert page.status == 200
    assert page.header("Content-Disposition") == 'attachment; filename="centre.yaml"'
    assert page.text == db.run_sync(export_catalog)


def test_a_change_is_seen_by_another_process_and_the_next_call_at_once(
    browser: Browser, db: InlineDBRunner, admin: int, clock: Clock
) -> None:
    """Two web roots on one database, as two ``hotline serve`` processes: nothing is kept per
    process, so the other one's next page and the next call's routing see the change."""
    db.run_sync(lambda s: load_catalog(s, "queues: [{code: TECH, name: Tech}]\n"))
    other = WebRoot(db, ProcessInfo(web_listen="tcp:0"), clock=clock, time_zone="Europe/Prague")
    try:
        reader = Browser(other.resource())
        reader.signed_in("ada")
        assert 'data-key="5001"' not in reader.get("/admin/s/dids").text
        browser.signed_in("ada")
        made = browser.post(
            "/admin/s/dids/save", {"number": "5001", "name": "New", "queue": "TECH"}
        )
        assert made.status == 303, made.text
        assert 'data-key="5001"' in reader.get("/admin/s/dids").text
        target = db.run_sync(did_target, "5001")
        assert target is not None and target.queue_code == "TECH"
        record = db.run_sync(find_record, "queues", "TECH")
        values = {k: v for k, v in form_values("queues", record).items() if v != "false"}
        changed = browser.post("/admin/s/queues/save", {**values, "ring_timeout_s": "7"})
        assert changed.status == 303
        queue = db.run_sync(load_queue, time_zone="Europe/Prague", code="TECH")
        assert queue is not None and queue.policy.ring_timeout_s == 7
    finally:
        other.stop()


def test_an_admin_unlocks_an_agent_held_back_by_wrong_passwords_audited(
    browser: Browser, other_browser: Browser, db: InlineDBRunner, centre: StaffCentre, admin: int
) -> None:
    browser.signed_in("ada")
    assert 'id="admin-not-locked"' in browser.get("/admin/s/agents/edit?key=eva").text
    for _ in range(5):
        assert other_browser.sign_in("eva", password="guess").status in (401, 429)
    assert other_browser.sign_in("eva").status == 429  # held back, even with her password
    page = browser.get("/admin/s/agents/edit?key=eva").text
    assert "Sign-ins as eva are held back for" in page and 'id="admin-unlock"' in page
    assert browser.post("/admin/agents/unlock", {"key": "eva"}, csrf=False).status == 403
    done = browser.post("/admin/agents/unlock", {"key": "eva"})
    assert done.location == "/admin/s/agents/edit?key=eva&done=unlocked"
    assert "Unlocked: the next sign-in is tried at once." in browser.get(done.location).text
    assert other_browser.sign_in("eva").status == 303
    assert [(a, t) for a, t, _ in _audit(db)] == [("admin.agents.unlock", "agents:eva")]
    assert browser.post("/admin/agents/unlock", {"key": "nobody"}).status == 404


def test_unlock_reaches_every_web_process_sharing_the_database(
    browser: Browser, db: InlineDBRunner, centre: StaffCentre, admin: int, clock: Clock
) -> None:
    """Each process keeps its own count of wrong passwords; the unlock made in one is read
    from the audit trail by the other when it next holds the login back (issue 15)."""
    other = WebRoot(db, ProcessInfo(web_listen="tcp:0"), clock=clock, time_zone="Europe/Prague")
    try:
        guesser, reader = Browser(other.resource()), Browser(other.resource())
        browser.signed_in("ada")
        reader.signed_in("ada")
        for _ in range(5):
            assert guesser.sign_in("eva", password="guess").status in (401, 429)
        assert guesser.sign_in("eva").status == 429  # held back in the other process
        assert browser.post("/admin/agents/unlock", {"key": "eva"}).status == 303
        # There a sign-in asks the database at most every few seconds per login and
        # address (a flood of sign-ins is no flood of queries); her wait is not over yet.
        clock.advance(UNLOCK_CHECK_S)
        assert guesser.sign_in("eva").status == 303
        # Wrong passwords after an unlock count again; the agent's page there shows the
        # lock, and an unlock made here at once.
        for _ in range(5):
            guesser.sign_in("eva", password="guess again")
        assert guesser.sign_in("eva").status == 429
        assert 'id="admin-locked"' in reader.get("/admin/s/agents/edit?key=eva").text
        assert browser.post("/admin/agents/unlock", {"key": "eva"}).status == 303
        assert 'id="admin-not-locked"' in reader.get("/admin/s/agents/edit?key=eva").text
        assert guesser.sign_in("eva").status == 303
    finally:
        other.stop()


def test_a_supervisor_sees_a_lock_but_cannot_unlock(
    browser: Browser, other_browser: Browser, db: InlineDBRunner, centre: StaffCentre
) -> None:
    def eva_in_sues_department(session: Session) -> None:
        support = Department(name="Support")
        session.add(support)
        session.flush()
        session.get(Agent, centre.agents["eva"]).department_id = support.id  # type: ignore[union-attr]
        session.add(SupervisorDepartment(agent_id=centre.agents["sue"], department_id=support.id))

    db.run_sync(eva_in_sues_department)
    for _ in range(5):
        other_browser.sign_in("eva", password="guess")
    browser.signed_in("sue")
    page = browser.get("/admin/s/agents/edit?key=eva").text
    assert 'id="admin-locked"' in page and 'id="admin-unlock"' not in page
    assert browser.post("/admin/agents/unlock", {"key": "eva"}).status == 403
    assert other_browser.sign_in("eva").status == 429


def test_rights_and_members_are_picked_from_labelled_check_boxes(
    browser: Browser, db: InlineDBRunner, centre: StaffCentre, admin: int
) -> None:
    """Issue 15: an agent's seats and boxes, a queue's member agents are check boxes with
    labels; ticking none clears the list; a single reference suggests what exists."""
    browser.signed_in("ada")
    page = browser.get("/admin/s/agents/edit?key=eva").text
    assert re.search(r'name="seats" value="901" checked>\s*901 \(PJSIP/901\)', page)
    assert re.search(r'name="seats" value="101">\s*101 \(PJSIP/101\)', page)
    assert re.search(r'name="boxes" value="vm">\s*Support voicemail \(vm\)', page)
    assert 'list="dl-department"' in page
    record = db.run_sync(find_record, "agents", "eva")
    values = {k: v for k, v in form_values("agents", record).items() if v != "false"}  # type: ignore[arg-type]
    values.update({"seats.picked": "1", "boxes.picked": "1"})
    form: dict[str, object] = {**values, "seats": ["101", "102"], "boxes": ["vm"]}
    assert browser.post("/admin/s/agents/save", form).status == 303
    saved = db.run_sync(find_record, "agents", "eva")
    assert (saved["seats"], saved["boxes"]) == (["101", "102"], ["vm"])  # type: ignore[index]
    # Nothing ticked: no rights. A value that is no record is refused as a file's would be.
    form = {k: v for k, v in form.items() if k not in ("seats", "boxes")}
    assert browser.post("/admin/s/agents/save", form).status == 303
    assert db.run_sync(find_record, "agents", "eva")["seats"] == []  # type: ignore[index]
    refused = browser.post("/admin/s/agents/save", {**form, "seats": ["999"]})
    assert refused.status == 409 and 'id="f-seats-error"' in refused.text
    queue = browser.get("/admin/s/queues/edit?key=support").text
    assert re.search(r'name="agents" value="eva" checked>\s*Eva Dvořák \(eva\)', queue)


def test_a_key_with_a_few_allowed_values_is_a_list_of_them(
    browser: Browser, centre: StaffCentre, admin: int
) -> None:
    browser.signed_in("ada")
    agent = browser.get("/admin/s/agents/edit?key=jan").text
    assert re.search(
        r'<select id="f-role" name="role"[^>]*>\s*<option value="agent" selected>', agent
    )
    assert '<option value="supervisor">supervisor</option>' in agent
    assert '<option value="cs" selected>cs</option>' in agent  # Jan's language
    assert '<option value="">(the default)</option>' in agent
    queue = browser.get("/admin/s/queues/edit?key=support").text
    assert '<select id="f-closed_action" name="closed_action"' in queue


def test_hours_rules_holidays_and_options_are_tables_of_rows(
    browser: Browser, db: InlineDBRunner, admin: int
) -> None:
    """Issue 15: a list of flat children is a table, a row per child, with empty rows for
    new ones; what it sends goes through the same loader (a wrong time is refused with the
    file's reason, next to the table) and an emptied row is removed."""
    db.run_sync(
        lambda s: load_catalog(
            s,
            "queues:\n  - code: TECH\n    name: Tech\n    hours:\n"
            "      - {weekday: mon, opens: '08:00', closes: '17:00'}\n"
            "ivr_menus:\n  - {code: M, name: M, prompt: demo/m,\n"
            "     options: [{digit: '1', queue: TECH}]}\n",
        )
    )
    browser.signed_in("ada")
    page = browser.get("/admin/s/queues/edit?key=TECH").text
    assert '<table class="admin-rows" id="f-hours"' in page
    assert 'name="hours.0.opens" id="f-hours-0-opens" value="08:00"' in page
    assert 'name="hours.rows" value="4"' in page  # a row, and three empty ones
    record = db.run_sync(find_record, "queues", "TECH")
    values = {k: v for k, v in form_values("queues", record).items() if v != "false"}  # type: ignore[arg-type]
    table = {
        "hours.rows": "3",
        "hours.0.weekday": "mon",
        "hours.0.opens": "",  # emptied: removed
        "hours.0.closes": "",
        "hours.1.weekday": "tue",
        "hours.1.opens": "09:00",
        "hours.1.closes": "12:00",
        "hours.2.weekday": "",
        "closed_rules.rows": "1",
        "closed_rules.0.weekday": "",  # every day
        "closed_rules.0.starts": "20:00",
        "closed_rules.0.ends": "06:00",
        "closed_rules.0.action": "voicemail",
    }
    saved = browser.post("/admin/s/queues/save", {**values, **table})
    assert saved.status == 303, re.findall(r"field-error[^<]*<|alert-error[^<]*<", saved.text)
    record = db.run_sync(find_record, "queues", "TECH")
    assert record["hours"] == [{"weekday": "tue", "opens": "09:00", "closes": "12:00"}]  # type: ignore[index]
    assert record["closed_rules"] == [  # type: ignore[index]
        {"starts": "20:00", "ends": "06:00", "action": "voicemail"}
    ]
    refused = browser.post("/admin/s/queues/save", {**values, **table, "hours.1.opens": "25:00"})
    assert refused.status == 409
    assert "opens: expected a time HH:MM (00:00..23:59), got the text '25:00'" in html.unescape(
        refused.text
    )
    assert 'id="f-hours-error"' in refused.text
    # kept as typed (the emptied row is gone, so Tuesday is the first)
    assert 'name="hours.0.opens" id="f-hours-0-opens" value="25:00"' in refused.text
    menu = browser.get("/admin/s/ivr_menus/edit?key=M").text
    option = 'id="f-options-0-queue" value="TECH" aria-label="Queue 1" list="dl-queue"'
    assert option in menu
    assert '<datalist id="dl-queue"><option value="TECH">Tech (TECH)</option>' in menu


def test_a_customers_numbers_and_contact_persons_are_tables(
    browser: Browser, db: InlineDBRunner, admin: int
) -> None:
    db.run_sync(
        lambda s: load_catalog(
            s,
            "locations: [{code: BRNO, name: Brno}]\n"
            "settings: {country_prefix: '420'}\n"
            "customers:\n  - {contract_number: C-1, name: First, location: BRNO,\n"
            "     phones: ['777 000 111'],\n"
            "     contacts: [{name: Petr Novák, phone: '777 111 222'}]}\n",
        )
    )
    browser.signed_in("ada")
    page = browser.get("/admin/s/customers/edit?key=C-1").text
    assert 'id="f-contacts-0-name" value="Petr Novák"' in page
    record = db.run_sync(find_record, "customers", "C-1")
    values = {k: v for k, v in form_values("customers", record).items() if v != "false"}  # type: ignore[arg-type]
    assert 'id="f-phones-0-number" value="777 000 111"' in page
    contacts = {
        "phones.rows": "3",
        "phones.0.number": "",  # emptied: removed
        "phones.1.number": "777 999 888",
        "phones.2.number": "",
        "contacts.rows": "2",
        "contacts.0.name": "Petr Novák",
        "contacts.0.phone": "777 111 222",
        "contacts.1.name": "Jana Malá",
        "contacts.1.email": "jana@example.com",
    }
    assert browser.post("/admin/s/customers/save", {**values, **contacts}).status == 303
    saved = db.run_sync(find_record, "customers", "C-1")
    assert [c["name"] for c in saved["contacts"]] == ["Petr Novák", "Jana Malá"]  # type: ignore[index]
    assert saved["contacts"][1]["email"] == "jana@example.com"  # type: ignore[index]
    assert saved["phones"] == ["777 999 888"]  # type: ignore[index]
