"""Deleting seats, boxes, departments, locations and IVR menus on ``/admin`` (R-6.2): what
nothing refers to goes (audited); what something still needs or history keeps is refused
with what still uses it, in the reader's language, and nothing changes."""

from __future__ import annotations

import html
import textwrap
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin.store import find_record
from db.catalog import export_catalog, load_catalog
from db.models import Agent, AgentSession, AuditLog, IvrOption, PhoneSeat
from tests.support.centre import StaffCentre
from tests.support.db import InlineDBRunner
from tests.support.time import T0
from tests.support.web import Browser

CENTRE = textwrap.dedent(
    """\
    departments: [{name: Support}, {name: Empty}]
    locations: [{code: BRNO, name: Brno}, {code: ZLIN, name: Zlín}]
    voicemail_boxes:
      - {code: VM, name: Voicemail, kind: voicemail}
      - {code: SPARE, name: Spare box, kind: voicemail}
    phone_seats:
      - {name: S1, dial_string: PJSIP/201}
      - {name: S2, dial_string: PJSIP/202}
      - {name: S3, dial_string: PJSIP/203}
    agents:
      - {login: petr, name: Petr, password: secret, department: Support, seats: [S1],
         boxes: [VM]}
    customers:
      - {contract_number: C-1, name: First, location: BRNO}
    queues:
      - {code: TECH, name: Tech, voicemail_box: VM}
    ivr_menus:
      - code: MAIN
        name: Main
        prompt: demo/main
        options: [{digit: '1', menu: SUB}]
      - {code: SUB, name: Sub, prompt: demo/sub, options: [{digit: '1', queue: TECH}]}
      - {code: NIGHT, name: Night, prompt: demo/night, options: [{digit: '1', queue: TECH}]}
    dids:
      - {number: '5000', name: Main line, menu: MAIN}
    """
)


@pytest.fixture
def centre_yaml(db: InlineDBRunner) -> None:
    db.run_sync(lambda s: load_catalog(s, CENTRE))


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("phone_seats", "S2"),
        ("voicemail_boxes", "SPARE"),
        ("departments", "Empty"),
        ("locations", "ZLIN"),
        ("ivr_menus", "NIGHT"),
    ],
)
def test_a_record_nothing_uses_is_deleted_audited(
    browser: Browser, db: InlineDBRunner, admin: int, centre_yaml: None, section: str, key: str
) -> None:
    browser.signed_in("ada")
    page = browser.get(f"/admin/s/{section}/edit?key={key}")
    assert 'id="admin-delete"' in page.text
    done = browser.post(f"/admin/s/{section}/delete", {"key": key})
    assert (done.status, done.location) == (303, f"/admin/s/{section}?done=deleted")
    assert db.run_sync(find_record, section, key) is None

    def audit(session: Session) -> list[tuple[str, str]]:
        return [(r.action, r.target) for r in session.scalars(select(AuditLog))]

    assert db.run_sync(audit) == [(f"admin.{section}.delete", f"{section}:{key}")]
    if section == "ivr_menus":  # its options went with it, the others' stay
        menus = db.run_sync(lambda s: sorted(s.scalars(select(IvrOption.menu_id))))
        assert len(menus) == 2


@pytest.mark.parametrize(
    ("section", "key", "reasons"),
    [
        ("phone_seats", "S1", ["agents with a right to this seat (1)"]),
        (
            "phone_seats",
            "S3",
            ["logins at this seat, kept in the login history (1)"],
        ),
        (
            "voicemail_boxes",
            "VM",
            ["queues whose voicemail box it is (1)", "agents with a right to this box (1)"],
        ),
        ("departments", "Support", ["agents in this department (1)"]),
        ("locations", "BRNO", ["customers at this location (1)"]),
        ("ivr_menus", "MAIN", ["DIDs leading to this menu (1)"]),
        ("ivr_menus", "SUB", ["options of other menus leading to it (1)"]),
    ],
)
def test_a_record_in_use_is_not_deleted_and_the_page_says_what_uses_it(
    browser: Browser,
    db: InlineDBRunner,
    admin: int,
    centre_yaml: None,
    section: str,
    key: str,
    reasons: list[str],
) -> None:
    def logged_in_at_s3(session: Session) -> None:
        petr = session.scalars(select(Agent.id).where(Agent.login == "petr")).one()
        seat = session.scalars(select(PhoneSeat.id).where(PhoneSeat.name == "S3")).one()
        session.add(
            AgentSession(
                agent_id=petr,
                seat_id=seat,
                logged_in_at=T0,
                logged_out_at=T0 + timedelta(hours=1),
                state_since=T0,
                idle_since=T0,
            )
        )

    db.run_sync(logged_in_at_s3)
    browser.signed_in("ada")
    before = db.run_sync(export_catalog)
    refused = browser.post(f"/admin/s/{section}/delete", {"key": key})
    assert refused.status == 409
    shown = html.unescape(refused.text)
    assert "Not deleted." in shown
    for reason in reasons:
        assert f"Still in use, so not deleted: {reason}." in shown
    assert db.run_sync(export_catalog) == before


def test_the_refusal_in_czech(
    browser: Browser, db: InlineDBRunner, admin: int, centre_yaml: None
) -> None:
    browser.signed_in("ada")
    browser.post("/account/language", {"language": "cs"})
    refused = browser.post("/admin/s/departments/delete", {"key": "Support"})
    assert refused.status == 409
    assert "Stále se používá, proto nesmazáno: operátoři v tomto oddělení (1)." in html.unescape(
        refused.text
    )


def test_supervisors_cannot_delete(
    browser: Browser, db: InlineDBRunner, centre: StaffCentre, centre_yaml: None
) -> None:
    db.run_sync(lambda s: load_catalog(s, "agents: [{login: sue, name: Sue, supervises: [Empty]}]"))
    browser.signed_in("sue")  # she reads the department she supervises, but cannot delete it
    page = browser.get("/admin/s/departments/edit?key=Empty")
    assert page.status == 200 and 'id="admin-delete"' not in page.text
    assert browser.post("/admin/s/departments/delete", {"key": "Empty"}).status == 403
    assert db.run_sync(find_record, "departments", "Empty") is not None
