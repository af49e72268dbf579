"""Agents and customers are too many to offer whole on a form (tens of thousands of
customers, R-6.2): the pickers offer the first matches of a search (a GET form, no script
needed) and what the record already names, and say when there are more."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from admin.routes import form_values
from admin.sections import PICK_LIMIT
from admin.store import find_record
from db.catalog import load_catalog
from db.models import Agent, Customer, Location
from domain.search import searchable
from tests.support.centre import StaffCentre
from tests.support.db import InlineDBRunner
from tests.support.web import Browser

CUSTOMERS = 3000
CUSTOMER_OPTION = re.compile(r'<option value="(K-\d+)">')


@pytest.fixture
def many_customers(db: InlineDBRunner, centre: StaffCentre) -> None:
    def make(session: Session) -> None:
        load_catalog(session, "locations: [{code: BRNO, name: Brno}, {code: ZLIN, name: Zlín}]")
        brno = session.scalars(select(Location.id).where(Location.code == "BRNO")).one()
        rows = []
        for n in range(CUSTOMERS):
            number, name = f"K-{n:05d}", f"Zákazník {n:05d}"
            rows.append(
                {
                    "location_id": brno,
                    "name": name,
                    "contract_number": number,
                    "search_text": searchable(name, "", number),
                }
            )
        rows[1234]["name"] = "Kotlářská družstva"
        rows[1234]["search_text"] = searchable("Kotlářská družstva", "", "K-01234")
        session.execute(insert(Customer), rows)
        load_catalog(session, "locations: [{code: BRNO, name: Brno, operator: K-02999}]")

    db.run_sync(make)


def test_a_customer_picker_offers_the_first_matches_and_finds_one_by_search(
    browser: Browser, db: InlineDBRunner, admin: int, many_customers: None
) -> None:
    browser.signed_in("ada")
    page = browser.get("/admin/s/locations/edit?key=BRNO")
    assert page.status == 200
    offered = CUSTOMER_OPTION.findall(page.text)
    assert len(offered) == PICK_LIMIT + 1  # the first fifty, and the operator it names
    assert "K-02999" in offered and "K-02998" not in offered
    assert 'id="find-customer-more"' in page.text
    assert "refine your search" in page.text
    assert 'list="dl-customer"' in page.text
    # The search is a GET form of its own, sent without script.
    assert re.search(
        r'<form method="get" action="/admin/s/locations/edit" id="admin-find"', page.text
    )
    assert 'name="find.customer"' in page.text and 'form="admin-find"' in page.text
    found = browser.get("/admin/s/locations/edit?key=BRNO&find.customer=kotlarska").text
    assert CUSTOMER_OPTION.findall(found) == ["K-01234", "K-02999"]
    assert "Kotlářská družstva (K-01234)" in found and 'id="find-customer-more"' not in found
    assert 'value="kotlarska"' in found  # the search kept in its box
    none = browser.get("/admin/s/locations/edit?key=BRNO&find.customer=nobody-at-all").text
    assert 'id="find-customer-none"' in none
    # The customers' own section is searched and paged as before.
    listing = browser.get("/admin/s/customers").text
    assert listing.count('<tr data-key="K-') == 50


def test_the_member_agents_picker_offers_the_first_matches_and_the_members(
    browser: Browser, db: InlineDBRunner, centre: StaffCentre, admin: int
) -> None:
    def make(session: Session) -> None:
        session.add_all(
            Agent(login=f"a{n:03d}", name=f"Agent {n:03d}", password_hash="x") for n in range(120)
        )
        load_catalog(session, "queues: [{code: BIG, name: Big, agents: [a119]}]")

    db.run_sync(make)
    browser.signed_in("ada")
    page = browser.get("/admin/s/queues/edit?key=BIG").text
    boxes = re.findall(r'name="agents" value="([^"]+)"', page)
    assert len(boxes) == PICK_LIMIT + 1 and "a119" in boxes and "a100" not in boxes
    assert re.search(r'name="agents" value="a119" checked>\s*Agent 119 \(a119\)', page)
    assert 'id="find-agent-more"' in page
    found = browser.get("/admin/s/queues/edit?key=BIG&find.agent=agent%20107").text
    assert re.findall(r'name="agents" value="([^"]+)"', found) == ["a107", "a119"]
    # Saving what the page offers keeps the member and adds the one found.
    record = db.run_sync(find_record, "queues", "BIG")
    assert record is not None
    values = {k: v for k, v in form_values("queues", record).items() if v != "false"}
    form: dict[str, object] = {**values, "agents.picked": "1", "agents": ["a107", "a119"]}
    assert browser.post("/admin/s/queues/save", form).status == 303
    assert db.run_sync(find_record, "queues", "BIG")["agents"] == ["a107", "a119"]  # type: ignore[index]
