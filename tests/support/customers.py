"""Customers as the catalog stores them: their phone numbers in order, with the digits
normalised for the centre's country prefix (420), and their contact persons."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from db.models import ContactPerson, Customer, CustomerPhone
from domain.numbers import normalise_number


def add_customer(
    session: Session,
    name: str,
    location_id: int,
    phones: tuple[str, ...] = (),
    *,
    active: bool = True,
    address: str = "",
    contract: str = "",
    contacts: tuple[tuple[str, str], ...] = (),
) -> int:
    customer = Customer(
        name=name,
        location_id=location_id,
        active=active,
        address=address,
        contract_number=contract or f"C-{name[:12]}",
    )
    session.add(customer)
    session.flush()
    add_phones(session, customer.id, phones)
    for position, (contact_name, phone) in enumerate(contacts, start=1):
        session.add(
            ContactPerson(
                customer_id=customer.id,
                position=position,
                name=contact_name,
                phone=phone,
                phone_digits=normalise_number(phone, "420") if phone else "",
            )
        )
    session.flush()
    return customer.id


def add_phones(session: Session, customer_id: int, numbers: Iterable[str]) -> None:
    """The customer's phone numbers, first to last."""
    for position, number in enumerate(numbers, start=1):
        session.add(
            CustomerPhone(
                customer_id=customer_id,
                position=position,
                number=number,
                digits=normalise_number(number, "420"),
            )
        )
