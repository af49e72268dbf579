"""Who a back-office item or a call is about: a customer and every form of their numbers,
or a bare number (R-3.1, R-3.6, R-4.5).

Calls carry the caller's number as Asterisk gave it, customers carry international digits
(``420777123456``). A call belongs to a customer when it carries their ``customer_id`` or
its number is one of theirs written in any form the number rules of ``domain.numbers``
read back to the same digits: the back office counts a customer's calls by it, a later
answered call resolves their callback requests by it, and a lost caller counts as
recovered by it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.orm import Session

from db.models import Call, CustomerPhone, Queue, Setting, VoicemailItem
from domain.centre import DEFAULT_COUNTRY_PREFIX
from domain.enums import Direction
from domain.numbers import is_country_prefix, national_forms, normalise_number


def centre_prefix(session: Session) -> str:
    stored = session.get(Setting, "country_prefix")
    if stored is not None and is_country_prefix(stored.value):
        return stored.value
    return DEFAULT_COUNTRY_PREFIX


def known_prefixes(session: Session) -> set[str]:
    prefixes = {centre_prefix(session)}
    prefixes.update(p for p in session.scalars(select(Queue.country_prefix).distinct()) if p)
    return {p for p in prefixes if is_country_prefix(p)}


def digits_of(raw: str, prefix: str) -> str:
    """International digits of ``raw``, or "" for a hidden or unreadable number."""
    if not raw or raw.strip().lower() in ("unknown", "anonymous"):
        return ""
    try:
        return normalise_number(raw, prefix)
    except ValueError:
        return ""


def written_forms(digits: Iterable[str], prefixes: Collection[str]) -> set[str]:
    """Every way a caller ID may write these numbers that normalises back to them: the
    international forms, and the national ones on a line of the number's own country."""
    forms: set[str] = set()
    for d in digits:
        if not d:
            continue
        forms.update((d, "+" + d, "00" + d))
        if any(d.startswith(prefix) for prefix in prefixes):
            forms.update(national_forms(d))
    return forms


@dataclass(frozen=True)
class Party:
    """Who an item or a call is about: a customer and their numbers, or a bare number."""

    customer_id: int | None
    forms: frozenset[str]

    def calls(self, *, inbound_only: bool) -> ColumnElement[bool]:
        parts: list[ColumnElement[bool]] = []
        if self.customer_id is not None:
            by_customer = Call.customer_id == self.customer_id
            if inbound_only:
                # "How many times this customer called": a call back is not one.
                by_customer = by_customer & (Call.direction == Direction.INBOUND)
            parts.append(by_customer)
        if self.forms:
            inbound = (Call.direction == Direction.INBOUND) & Call.caller_number.in_(self.forms)
            parts.append(inbound)
            if not inbound_only:
                parts.append(
                    (Call.direction == Direction.OUTBOUND) & Call.callee_number.in_(self.forms)
                )
        return or_(*parts) if parts else false()

    def items(self) -> ColumnElement[bool]:
        parts: list[ColumnElement[bool]] = []
        if self.customer_id is not None:
            parts.append(VoicemailItem.customer_id == self.customer_id)
        if self.forms:
            parts.append(VoicemailItem.caller_number.in_(self.forms))
        return or_(*parts) if parts else false()


def party_of(
    session: Session, customer_id: int | None, number: str, prefix: str, prefixes: set[str]
) -> Party:
    digits = {digits_of(number, prefix)}
    if customer_id is not None:
        digits.update(
            session.scalars(
                select(CustomerPhone.digits).where(CustomerPhone.customer_id == customer_id)
            )
        )
    return Party(customer_id, frozenset(written_forms(digits - {""}, prefixes)))


def only_owner(session: Session, digits: str) -> int | None:
    """The customer this number belongs to, when exactly one has it (as ``create_item``)."""
    if not digits:
        return None
    owners = set(
        session.scalars(select(CustomerPhone.customer_id).where(CustomerPhone.digits == digits))
    )
    return owners.pop() if len(owners) == 1 else None


def item_prefix(session: Session, item: VoicemailItem, centre: str) -> str:
    """The country prefix of the queue the item's call came through, else the centre's."""
    if item.call_id is None:
        return centre
    prefix = session.scalar(
        select(Queue.country_prefix)
        .join(Call, Call.queue_id == Queue.id)
        .where(Call.id == item.call_id)
    )
    return prefix if prefix and is_country_prefix(prefix) else centre
