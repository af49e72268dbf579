"""A supervisor listens to a live call through a real Asterisk 22 (R-4.7): ChanSpy is
originated to the supervisor's own phone, hears the agent's call, and ends with it (ChanSpy's
``E``), so the supervisor is never left listening to whatever the agent's phone does next."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import PhoneSeat
from tests.real_asterisk.conftest import SUPPORT_DID, Tier
from tests.support.real_asterisk import place_call, wait_until


def test_a_supervisor_listens_to_a_call_and_the_listen_ends_with_it(tier: Tier) -> None:
    tier.seat_phone("101", "talk-1-12")  # Eva answers after 1 s and hangs up 12 s later
    tier.seat_phone("103", "talk-1-120")  # the supervisor's phone answers and stays
    place_call(tier.ami, tier.pbx, SUPPORT_DID)
    tier.on_air("eva", "101")
    talking = tier.call_where(lambda c: c.state.value == "talking")
    with Session(tier.engine) as s:
        seat = s.scalars(select(PhoneSeat.id).where(PhoneSeat.name == "103")).one()
    sue = tier.web("sue")
    status, body = sue.post(
        f"/supervisor/calls/{talking.id}/spy", {"mode": "listen", "seat_id": str(seat)}
    )
    assert status == 200, body
    answer = json.loads(body)
    assert answer["ok"] is True and answer["mode"] == "listen"
    spy_channel = answer["channel"]
    assert spy_channel.startswith("Local/talk-1-120@")
    # The supervisor's phone is in ChanSpy on Eva's leg, and the screen says so after a reload.
    tier.pbx.wait_for_log("Spying on channel Local/talk-1-12@")
    assert spy_channel in tier.pbx.channels()
    status, page = sue.get("/supervisor")
    assert status == 200 and "sv-spy-stop" in page
    # Eva's call ends: the listen ends with it, long before the supervisor's phone would.
    wait_until(
        "the supervisor's phone left with the call",
        lambda: spy_channel not in tier.pbx.channels() or None,
        40,
    )
    assert tier.call_where(lambda c: c.id == talking.id and c.ended_at is not None)
