"""The database side of the e-mail report of each new voicemail (R-3.5): what to say, and
that it was sent or given up on (kept in the item's history)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Customer, VoicemailBox, VoicemailItem, VoicemailItemHistory


@dataclass(frozen=True)
class VoicemailReport:
    """What the e-mail of R-3.5 says about a new item."""

    item_id: int
    email_to: tuple[str, ...]
    box_name: str
    kind: str
    caller_number: str
    customer_name: str
    created_at: datetime
    duration_s: int | None
    recording_path: str


def _addresses(email_to: str) -> tuple[str, ...]:
    return tuple(a.strip() for a in email_to.replace(";", ",").split(",") if a.strip())


def voicemail_report(session: Session, item_id: int) -> VoicemailReport | None:
    """What to e-mail about this item; None when its box sends no e-mail or it was sent."""
    found = session.execute(
        select(VoicemailItem, VoicemailBox, Customer.name)
        .join(VoicemailBox, VoicemailBox.id == VoicemailItem.box_id)
        .outerjoin(Customer, Customer.id == VoicemailItem.customer_id)
        .where(VoicemailItem.id == item_id)
    ).one_or_none()
    if found is None:
        return None
    item, box, customer_name = found
    addresses = _addresses(box.email_to)
    if not addresses or item.emailed_at is not None:
        return None
    return VoicemailReport(
        item_id=item.id,
        email_to=addresses,
        box_name=box.name,
        kind=item.kind.value,
        caller_number=item.caller_number,
        customer_name=customer_name or "",
        created_at=item.created_at,
        duration_s=item.duration_s,
        recording_path=item.recording_path,
    )


def mark_emailed(session: Session, item_id: int, now: datetime) -> None:
    """The report of R-3.5 was delivered; history keeps when and to whom."""
    item = session.get(VoicemailItem, item_id)
    if item is None or item.emailed_at is not None:
        return
    item.emailed_at = now
    box = session.get(VoicemailBox, item.box_id)
    session.add(
        VoicemailItemHistory(
            item_id=item.id,
            at=now,
            agent_id=None,
            action="emailed",
            params=json.dumps({"to": list(_addresses(box.email_to)) if box else []}),
        )
    )


def mark_email_failed(
    session: Session, item_id: int, addresses: Iterable[str], now: datetime
) -> None:
    """The mailer gave up on the report of R-3.5: say so in the item's history, with whom it
    did not reach, so that staff know nobody was told (the log is not where they look)."""
    if session.get(VoicemailItem, item_id) is None:
        return
    session.add(
        VoicemailItemHistory(
            item_id=item_id,
            at=now,
            agent_id=None,
            action="email_failed",
            params=json.dumps({"to": list(addresses)}),
        )
    )


def items_awaiting_email(session: Session, since: datetime) -> list[int]:
    """Items since ``since`` whose box sends e-mail and whose report was not delivered yet
    (for a restart: the mailer's queue lives in memory)."""
    return list(
        session.scalars(
            select(VoicemailItem.id)
            .join(VoicemailBox, VoicemailBox.id == VoicemailItem.box_id)
            .where(
                VoicemailItem.emailed_at.is_(None),
                VoicemailItem.created_at >= since,
                VoicemailBox.email_to != "",
            )
            .order_by(VoicemailItem.id)
        )
    )
