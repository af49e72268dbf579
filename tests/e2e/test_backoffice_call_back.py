"""A back-office call back end to end (R-3.3, R-1.13, R-2.1, R-2.2; issue 16, item 1): a
caller presses `0`, a back-office worker without a queue takes a phone seat on
``/backoffice``, claims the request and calls back through the web pages; Hotline's AMI
client rings her simulated phone, the ``outbound`` script dials the customer, the call
connects and ends. Her work on the item is the call's after-call work: she is never left
"Processing a call" (which only an agent's Active call form could end), a second call back,
Done and leaving the seat all work, and the seat is free for a colleague, who until then is
told who holds every seat."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from agent_desktop.routes import desktop as desktop_routes
from db.catalog import load_catalog
from db.models import AgentSession, PhoneSeat, VoicemailItem
from domain.enums import ItemKind
from hotline.web import WebRoot
from simulator.switch import CallerScript, PhoneBehaviour, PhoneBook
from tests.support.e2e_world import E2EWorld, make_e2e_world
from tests.support.web import Browser, PumpingBrowser
from voicemail import routes as backoffice_routes
from web.request import ProcessInfo

STAFF = """
  - {login: marie, name: Marie Benesova, role: backoffice, password: x, boxes: [VM, CB]}
"""
CUSTOMER_LINE = "PJSIP/420777123456@trunk"
MARIES_PHONE = PhoneBehaviour(answer_after_s=2, talk_s=None)


def with_marie(db_url: str, tmp_path: Path) -> E2EWorld:
    world = make_e2e_world(
        db_url,
        tmp_path,
        {
            "PJSIP/104": MARIES_PHONE,
            CUSTOMER_LINE: PhoneBehaviour(answer_after_s=3, talk_s=20),  # then hangs up
        },
    )
    # The staff list of the centre, with a back-office worker who has boxes but no queue.
    with Session(world.engine) as s, s.begin():
        load_catalog(s, "agents:" + STAFF, source="staff.yaml")
    return world


def browser_for(world: E2EWorld, web: WebRoot, login: str) -> Browser:
    browser = PumpingBrowser(web.resource(), world.clock)
    browser.sign_in(login, "x")
    return browser


def desk(world: E2EWorld, login: str) -> tuple[str, str] | None:
    with Session(world.engine) as s:
        row = s.scalars(
            select(AgentSession).where(
                AgentSession.agent_id == world.agent_id(login),
                AgentSession.logged_out_at.is_(None),
            )
        ).one_or_none()
        return (row.state.value, row.activity.value) if row is not None else None


def seat_id(world: E2EWorld, name: str) -> int:
    with Session(world.engine) as s:
        return int(s.scalar(select(PhoneSeat.id).where(PhoneSeat.name == name)))


def the_request(world: E2EWorld) -> int:
    with Session(world.engine) as s:
        [item] = s.scalars(
            select(VoicemailItem.id).where(VoicemailItem.kind == ItemKind.CALLBACK)
        ).all()
        return int(item)


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> E2EWorld:
    return with_marie(db_url, tmp_path)


def test_a_back_office_call_back_leaves_the_worker_free_to_go_on(
    world: E2EWorld, tmp_path: Path
) -> None:
    ami = world.connect_ami()
    web = WebRoot(
        world.db,
        ProcessInfo(web_listen="tcp:0"),
        clock=world.clock,
        route_tables=[desktop_routes.routes, backoffice_routes.routes],
        ami=ami,
        recordings_dir=tmp_path / "recordings",
    )
    try:
        # Nobody is on air: the caller waits and presses 0 for a callback.
        world.call(CallerScript(did="222111001", keys=((5.0, "0"),)))
        world.run(30)
        item = the_request(world)
        for login in ("eva", "jan", "petr"):  # seats 101..103 are taken by agents
            world.log_in(login, on_air=False)

        marie = browser_for(world, web, "marie")
        assert marie.get("/backoffice").status == 200
        sat = marie.post("/backoffice/seat", {"seat_id": str(seat_id(world, "104"))})
        assert (sat.status, sat.location) == (303, "/backoffice")

        # A colleague who finds every seat taken is told so, and by whom.
        olga = browser_for(world, web, "olga")
        full = olga.get("/desktop")
        assert 'id="seats-all-taken"' in full.text
        assert "104 (taken by Marie Benesova)" in full.text

        assert marie.post(f"/backoffice/items/{item}/claim").status == 303
        assert desk(world, "marie") == ("off_air", "backoffice")
        placed = marie.post(f"/backoffice/items/{item}/call-back", {"number": ""})
        assert placed.status == 303, placed.text
        world.run(5)
        assert desk(world, "marie") == ("off_air", "outbound")
        world.run(60)  # her phone answers, the customer answers, talks 20 s and hangs up

        page = marie.get(f"/backoffice/items/{item}")
        assert "Processing a call" not in page.text
        assert "Voicemail and callback work" in page.text  # back on the item
        assert desk(world, "marie") == ("off_air", "backoffice")
        assert "Called back, connected" in page.text

        # A second call back goes out; this time nobody answers.
        world.switch.phones = PhoneBook(
            {"PJSIP/104": MARIES_PHONE, CUSTOMER_LINE: PhoneBehaviour(answer_after_s=None)}
        )
        again = marie.post(f"/backoffice/items/{item}/call-back", {"number": ""})
        assert again.status == 303, again.text
        world.run(90)
        assert desk(world, "marie") == ("off_air", "backoffice")

        # Done ends her work on the item; leaving the seat frees it for a colleague.
        done = marie.post(f"/backoffice/items/{item}/done")
        assert done.status == 303 and done.location == f"/backoffice?outcome=done&item={item}"
        assert desk(world, "marie") == ("off_air", "paused")
        listing = marie.get("/backoffice")
        assert "Processing a call" not in listing.text
        left = marie.post("/backoffice/seat/leave")
        assert (left.status, left.location) == (303, "/backoffice"), left.text
        assert desk(world, "marie") is None

        free = olga.get("/desktop")
        assert 'id="seats-all-taken"' not in free.text
        taken = olga.post("/desktop/seat", {"seat_id": str(seat_id(world, "104"))})
        assert taken.status == 303, taken.text
        assert desk(world, "olga") == ("off_air", "paused")
    finally:
        web.stop()
