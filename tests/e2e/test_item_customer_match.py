"""A voicemail or callback item is matched to its customer by the call form's rules (R-2.6):
the caller's number completed with the QUEUE's country prefix, only customers of the queue's
locations (R-1.2), an active customer before inactive ones -- end to end, caller presses 0."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import ContactPerson, Customer, CustomerPhone, Location, Queue, VoicemailItem
from simulator.switch import CallerScript
from tests.support.e2e_world import E2EWorld, make_e2e_world

SUPPORT = "222111001"  # the SUPPORT queue serves location BRNO only


def add_customer(
    world: E2EWorld,
    name: str,
    location: str,
    digits: str,
    *,
    active: bool = True,
    contact: bool = False,
) -> None:
    with Session(world.engine) as s, s.begin():
        location_id = s.scalar(select(Location.id).where(Location.code == location))
        if location_id is None:
            place = Location(code=location, name=location.title())
            s.add(place)
            s.flush()
            location_id = place.id
        customer = Customer(location_id=location_id, name=name, active=active)
        s.add(customer)
        s.flush()
        if contact:
            s.add(ContactPerson(customer_id=customer.id, name="Contact", phone_digits=digits))
        else:
            s.add(CustomerPhone(customer_id=customer.id, position=1, number=digits, digits=digits))


def matched_customer(world: E2EWorld) -> str | None:
    with Session(world.engine) as s:
        item = s.scalars(select(VoicemailItem)).one()
        customer = s.get(Customer, item.customer_id) if item.customer_id else None
        return customer.name if customer is not None else None


def callback_from(world: E2EWorld, number: str) -> None:
    world.call(CallerScript(did=SUPPORT, caller_id_num=number, keys=((5.0, "0"),)))
    world.run(30)


NUMBER = "420777123456"


@pytest.mark.parametrize(
    ("customers", "expected"),
    [
        # another location's customer never counts; the active one wins over the inactive
        ([("Praha", "PRAHA", True), ("Old", "BRNO", False), ("New", "BRNO", True)], "New"),
        # only an inactive customer of the queue's locations: that one (to re-activate)
        ([("Praha", "PRAHA", True), ("Old", "BRNO", False)], "Old"),
        # two active customers share the number: nobody is guessed
        ([("One", "BRNO", True), ("Two", "BRNO", True)], None),
        # only customers of other locations: unknown
        ([("Praha", "PRAHA", True)], None),
    ],
)
def test_the_item_gets_the_customer_of_the_queues_locations_active_first(
    db_url: str, tmp_path: Path, customers: list[tuple[str, str, bool]], expected: str | None
) -> None:
    world = make_e2e_world(db_url, tmp_path)
    for name, location, active in customers:
        add_customer(world, name, location, NUMBER, active=active)
    callback_from(world, "777123456")
    assert matched_customer(world) == expected


def test_a_match_through_a_contact_person(db_url: str, tmp_path: Path) -> None:
    world = make_e2e_world(db_url, tmp_path)
    add_customer(world, "Firm", "BRNO", NUMBER, contact=True)
    callback_from(world, "777123456")
    assert matched_customer(world) == "Firm"


def test_the_callers_number_is_completed_with_the_queues_country_prefix(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(db_url, tmp_path)
    with Session(world.engine) as s, s.begin():
        s.execute(update(Queue).where(Queue.code == "SUPPORT").values(country_prefix="421"))
    add_customer(world, "Czech", "BRNO", "420903123456")
    add_customer(world, "Slovak", "BRNO", "421903123456")
    callback_from(world, "903123456")  # a national number of the queue's country
    assert matched_customer(world) == "Slovak"
