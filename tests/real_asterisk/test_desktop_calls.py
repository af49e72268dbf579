"""What agents start from the web desktop, carried out by a real Asterisk 22 through the AMI
(R-1.12, R-1.13): a transfer by Redirect, and a click-to-call out through the trunk."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Call, Customer, Queue
from tests.real_asterisk.conftest import SUPPORT_DID, Tier
from tests.support.real_asterisk import place_call, wait_until


def _calls(tier: Tier) -> list[Call]:
    with Session(tier.engine) as s:
        return list(s.scalars(select(Call).order_by(Call.id)))


def test_an_agent_transfers_a_call_to_another_queue_by_redirect(tier: Tier) -> None:
    tier.seat_phone("101", "talk-1-60")
    tier.seat_phone("102", "talk-1-2")
    caller = place_call(tier.ami, tier.pbx, SUPPORT_DID)
    tier.on_air("eva", "101")
    talking = tier.call_where(lambda c: c.state.value == "talking")
    tier.on_air("jan", "102")
    with Session(tier.engine) as s:
        sales = s.scalars(select(Queue.id).where(Queue.code == "SALES")).one()
    status, body = tier.web("eva").post(
        f"/calls/{talking.id}/transfer", {"target": f"queue-{sales}"}
    )
    assert status == 200, body
    assert json.loads(body)["ok"] is True

    def over() -> list[Call] | None:
        rows = _calls(tier)
        return rows if len(rows) == 2 and all(c.ended_at for c in rows) else None

    first, second = wait_until("both legs are over", over, 40)
    assert first.state.value == "transferred"  # Eva's leg
    assert second.state.value == "answered"  # then Jan's, in Sales
    assert second.transferred_from_queue_id == first.queue_id
    assert second.queue_id == sales
    assert "hotline-transfer" in tier.pbx.new_log()  # the caller went there by Redirect
    assert not caller.is_up()


def test_click_to_call_rings_the_agent_then_the_customer_through_the_trunk(tier: Tier) -> None:
    tier.seat_phone("101", "talk-1-30")
    tier.on_air("eva", "101", on_air=False)  # calls go out from off air
    with Session(tier.engine) as s:
        customer = s.scalars(select(Customer.id).where(Customer.name == "Jan Zakaznik")).one()
    status, body = tier.web("eva").post(
        "/outbound", {"customer_id": str(customer), "number": "777 123 456"}
    )
    assert status == 200, body
    call_id = json.loads(body)["call_id"]
    tier.pbx.wait_for_log("TIER: trunk dialled 420777123456")

    def ended() -> Call | None:
        rows = [c for c in _calls(tier) if c.id == call_id and c.ended_at is not None]
        return rows[0] if rows else None

    call = wait_until("the outbound call is over", ended, 40)
    assert call.direction.value == "out"
    assert call.state.value == "answered"
    assert call.answered_at is not None
    assert 2 <= (call.ended_at - call.answered_at).total_seconds() <= 6  # the trunk talks 3 s
