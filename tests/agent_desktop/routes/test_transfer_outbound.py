"""The transfer dialog (R-2.14, R-1.12) and the outbound dialogs (R-2.15, R-1.13) over the
real Klein resource, with Hotline's AMI client talking to the fake AMI on an in-memory
network driven by the test's Clock: what the agent sees, what reaches Asterisk, refusals,
CSRF."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from twisted.internet.task import Clock

from agent_desktop import agent_state as core
from agent_desktop.store import agent_sessions
from db.models import (
    AgentSession,
    Call,
    ContactPerson,
    Customer,
    CustomerPhone,
    Location,
    Queue,
    QueueLocation,
)
from dialplan.store import outbound, transfers
from domain.enums import CallState, Direction, ProcessingState
from hotline.web import WebRoot
from tests.support.centre import StaffCentre
from tests.support.db import InlineDBRunner
from tests.support.i18n import extracted_messages
from tests.support.web import Browser, PumpingBrowser, Telephony
from web.i18n import LOCALE_DIR, load_po
from web.request import ProcessInfo

CALLER_CHANNEL = "PJSIP/trunk-00000001"
JSON = "application/json"


@pytest.fixture
def telephony(clock: Clock) -> Telephony:
    return Telephony(clock)


@pytest.fixture
def phone_web(db: InlineDBRunner, clock: Clock, telephony: Telephony) -> Iterator[WebRoot]:
    root = WebRoot(db, ProcessInfo(), clock=clock, ami=telephony.client)
    yield root
    root.stop()


@pytest.fixture
def agent(phone_web: WebRoot, clock: Clock) -> PumpingBrowser:
    return PumpingBrowser(phone_web.resource(), clock)


@pytest.fixture
def colleague(phone_web: WebRoot, clock: Clock) -> PumpingBrowser:
    return PumpingBrowser(phone_web.resource(), clock)


def now_of(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock.seconds(), UTC)


def at_seat(
    db: InlineDBRunner, centre: StaffCentre, clock: Clock, login: str, seat: str, *, on_air: bool
) -> None:
    def go(session: Session) -> None:
        agent_sessions.log_in(session, centre.agents[login], centre.seats[seat], now_of(clock))
        if on_air:
            agent_sessions.apply_event(session, centre.agents[login], core.GoOnAir(), now_of(clock))

    db.run_sync(go)


def talking(db: InlineDBRunner, centre: StaffCentre, clock: Clock, login: str = "eva") -> int:
    """``login`` at seat 101 talking with a caller of the support queue."""
    at_seat(db, centre, clock, login, "101", on_air=True)

    def go(session: Session) -> int:
        agent_id, now = centre.agents[login], now_of(clock)
        agent_sessions.apply_event(session, agent_id, core.Offered(), now)
        agent_sessions.apply_event(session, agent_id, core.Answered(), now)
        call = Call(
            uniqueid="1795313269.33",
            channel=CALLER_CHANNEL,
            direction=Direction.INBOUND,
            state=CallState.TALKING,
            queue_id=centre.support,
            agent_id=agent_id,
            caller_number="777123456",
            started_at=now,
            queue_entered_at=now,
            answered_at=now,
            processing_state=ProcessingState.PENDING,
        )
        session.add(call)
        session.flush()
        row = agent_sessions.open_session_row(session, agent_id)
        assert row is not None
        row.current_call_id = call.id
        return call.id

    return db.run_sync(go)


@pytest.fixture
def customers(db: InlineDBRunner, centre: StaffCentre) -> dict[str, int]:
    def go(session: Session) -> dict[str, int]:
        brno = Location(code="BRNO", name="Brno")
        session.add(brno)
        session.flush()
        session.add(QueueLocation(queue_id=centre.support, location_id=brno.id))
        jan = Customer(
            location_id=brno.id, name="Jan Zakaznik", contract_number="C-1", address="Kotlářská 12"
        )
        pseudo = Customer(
            location_id=brno.id, name="OUTBOUND CALL", contract_number="OUT", is_pseudo=True
        )
        session.add_all([jan, pseudo])
        session.flush()
        session.add(
            CustomerPhone(
                customer_id=jan.id, position=1, number="777 123 456", digits="420777123456"
            )
        )
        contact = ContactPerson(
            customer_id=jan.id, name="Petra Zakaznikova", phone="+421 905 111 222"
        )
        session.add(contact)
        session.flush()
        return {"jan": jan.id, "pseudo": pseudo.id, "petra": contact.id}

    return db.run_sync(go)


CUSTOMER_DETAILS = "Kotlářská 12 · contract C-1 · Brno"


def the_call(db: InlineDBRunner, call_id: int) -> Call:
    return db.run_sync(lambda s: s.get(Call, call_id))


def desk_of(db: InlineDBRunner, centre: StaffCentre, login: str) -> tuple[str, str, int | None]:
    def go(session: Session) -> tuple[str, str, int | None]:
        row = session.scalars(
            select(AgentSession).where(
                AgentSession.agent_id == centre.agents[login],
                AgentSession.logged_out_at.is_(None),
            )
        ).one()
        return row.state.value, row.activity.value, row.current_call_id

    return db.run_sync(go)


# --------------------------------------------------------------------------- transfer


def test_the_transfer_dialog_lists_active_queues_and_on_air_agents(
    agent: PumpingBrowser, db: InlineDBRunner, centre: StaffCentre, clock: Clock
) -> None:
    call_id = talking(db, centre, clock)
    at_seat(db, centre, clock, "jan", "102", on_air=True)

    def switch_off_billing(session: Session) -> None:
        session.add(Queue(code="old", name="Old queue", active=False))

    db.run_sync(switch_off_billing)
    agent.signed_in("eva")
    page = agent.get(f"/calls/{call_id}/transfer")
    assert page.status == 200, page.text
    targets = re.findall(r'name="target" value="([a-z]+-\d+)"', page.text)
    assert targets == [
        f"queue-{centre.billing}",
        f"queue-{centre.support}",
        f"agent-{centre.agents['jan']}",
    ]  # Old queue is switched off; eva herself is not offered
    assert "Jan Novák" in page.text and "Old queue" not in page.text
    assert "Telephony is not configured" not in page.text
    listed = json.loads(agent.get(f"/calls/{call_id}/transfer", accept=JSON).text)
    assert [q["name"] for q in listed["queues"]] == ["Billing", "Technical support"]
    assert [a["target"] for a in listed["agents"]] == [f"agent-{centre.agents['jan']}"]


def test_transferring_to_a_queue_marks_and_redirects_the_callers_channel(
    agent: PumpingBrowser,
    db: InlineDBRunner,
    centre: StaffCentre,
    clock: Clock,
    telephony: Telephony,
) -> None:
    call_id = talking(db, centre, clock)
    telephony.backend.add_channel(CALLER_CHANNEL, context="hotline-inbound", exten="222111001")
    agent.signed_in("eva")
    agent.get(f"/calls/{call_id}/transfer")
    done = agent.post(f"/calls/{call_id}/transfer", {"target": f"queue-{centre.billing}"})
    target = f"queue-{centre.billing}"
    assert (done.status, done.location) == (303, f"/desktop/call?transferred={target}")
    assert telephony.actions("setvar") == [(CALLER_CHANNEL, "HOTLINE_TRANSFER", "1")]
    assert telephony.actions("redirect") == [(CALLER_CHANNEL, "hotline-transfer", "billing", "1")]
    # Issue 16: the agent lands on the call's form, which says where the call went and
    # what is left to do.
    page = agent.get(done.location)
    assert page.status == 200 and f'data-call-id="{call_id}"' in page.text
    notice = page.text.split('id="cf-notice">', 1)[1].split("</p>", 1)[0]
    assert notice == (
        "The call was transferred to the queue Billing, where the caller waits for an agent. "
        "Save the form to finish the call."
    )


def test_after_a_transfer_to_a_colleague_the_form_names_them_in_the_agents_language(
    colleague: PumpingBrowser,
    db: InlineDBRunner,
    centre: StaffCentre,
    clock: Clock,
    telephony: Telephony,
) -> None:
    """Issue 16: every action says what happened, a transfer too, in the reader's language;
    a target that names nothing adds no notice."""
    call_id = talking(db, centre, clock, "jan")  # Jan reads Czech
    at_seat(db, centre, clock, "eva", "102", on_air=True)
    telephony.backend.add_channel(CALLER_CHANNEL)
    colleague.signed_in("jan")
    eva = centre.agents["eva"]
    done = colleague.post(f"/calls/{call_id}/transfer", {"target": f"agent-{eva}"})
    assert (done.status, done.location) == (303, f"/desktop/call?transferred=agent-{eva}")
    page = colleague.get(done.location)
    notice = page.text.split('id="cf-notice">', 1)[1].split("</p>", 1)[0]
    assert notice.startswith("Hovor byl přepojen na operátora Eva Dvořák, kterému se nabídne")
    for nothing in ("queue-999", "agent-x", "elsewhere"):
        page = colleague.get(f"/desktop/call?transferred={nothing}")
        assert page.status == 200 and 'id="cf-notice"' not in page.text


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("agent-{bob}", "That agent is not on air any more."),  # and in no queue
        ("agent-{eva}", "You cannot transfer a call to yourself."),
        ("queue-999", "There is no such queue or agent to transfer to."),
        ("somewhere", "There is no such queue or agent to transfer to."),
    ],
)
def test_transfers_the_dialog_refuses_reach_no_telephony(
    agent: PumpingBrowser,
    db: InlineDBRunner,
    centre: StaffCentre,
    clock: Clock,
    telephony: Telephony,
    target: str,
    message: str,
) -> None:
    call_id = talking(db, centre, clock)
    at_seat(db, centre, clock, "jan", "102", on_air=False)
    agent.signed_in("eva")
    target = target.format(
        jan=centre.agents["jan"], eva=centre.agents["eva"], bob=centre.agents["bob"]
    )
    page = agent.post(f"/calls/{call_id}/transfer", {"target": target})
    assert page.status == 409
    assert message in page.text and 'id="transfer-form"' in page.text  # the dialog again
    answer = agent.post(f"/calls/{call_id}/transfer", {"target": target}, accept=JSON)
    assert (answer.status, json.loads(answer.text)) == (409, {"error": message})
    assert telephony.backend.calls == []


@pytest.mark.parametrize("logged_in", [True, False])
def test_a_colleague_who_went_off_air_meanwhile_gets_the_call_in_their_queue_unpreferred(
    agent: PumpingBrowser,
    db: InlineDBRunner,
    centre: StaffCentre,
    clock: Clock,
    telephony: Telephony,
    logged_in: bool,
) -> None:
    """R-1.12: the dialog listed Jan on air; when Eva picks him he is off-air (paused, or
    logged out): the call goes to Jan's queue without preference, and the dialog says so."""
    call_id = talking(db, centre, clock)
    at_seat(db, centre, clock, "jan", "102", on_air=True)
    telephony.backend.add_channel(CALLER_CHANNEL)
    agent.signed_in("eva")
    jan = centre.agents["jan"]
    assert f"agent-{jan}" in agent.get(f"/calls/{call_id}/transfer").text
    db.run_sync(
        lambda s: agent_sessions.apply_event(
            s,
            jan,
            core.Pause(centre.pauses["personal"]) if logged_in else core.LogOut(),
            now_of(clock),
        )
    )
    page = agent.post(f"/calls/{call_id}/transfer", {"target": f"agent-{jan}"})
    assert page.status == 200, page.text
    notice = (
        "Jan Novák is not on air any more: the call went to the queue Technical support, "
        "without preference."
    )
    assert notice in page.text and 'id="transfer-notice"' in page.text
    assert 'id="transfer-form"' not in page.text  # done: nothing left to pick
    assert telephony.actions("redirect") == [(CALLER_CHANNEL, "hotline-transfer", "support", "1")]


def test_the_off_air_fallback_is_told_to_fetch_in_the_agents_language(
    colleague: PumpingBrowser,
    db: InlineDBRunner,
    centre: StaffCentre,
    clock: Clock,
    telephony: Telephony,
) -> None:
    call_id = talking(db, centre, clock, "jan")  # Jan reads Czech
    at_seat(db, centre, clock, "eva", "102", on_air=False)
    telephony.backend.add_channel(CALLER_CHANNEL)
    colleague.signed_in("jan")
    eva = centre.agents["eva"]
    answer = colleague.post(f"/calls/{call_id}/transfer", {"target": f"agent-{eva}"}, accept=JSON)
    assert answer.status == 200, answer.text
    body = json.loads(answer.text)
    assert (body["ok"], body["target"]) == (True, "support")
    assert "už není na příjmu: hovor šel do fronty Technical support" in body["notice"]


def test_only_the_agent_in_the_call_can_transfer_it(
    agent: PumpingBrowser,
    colleague: PumpingBrowser,
    db: InlineDBRunner,
    centre: StaffCentre,
    clock: Clock,
    telephony: Telephony,
) -> None:
    call_id = talking(db, centre, clock)
    at_seat(db, centre, clock, "jan", "102", on_air=True)
    colleague.signed_in("jan")
    page = colleague.get(f"/calls/{call_id}/transfer")
    # jan reads Czech: "You can transfer only a call you are talking in."
    assert page.status == 409 and "Přepojit můžete jen hovor, který právě vedete." in page.text
    done = colleague.post(f"/calls/{call_id}/transfer", {"target": f"queue-{centre.billing}"})
    assert done.status == 409
    assert telephony.backend.calls == []


def test_a_transfer_needs_the_csrf_token(
    agent: PumpingBrowser,
    db: InlineDBRunner,
    centre: StaffCentre,
    clock: Clock,
    telephony: Telephony,
) -> None:
    call_id = talking(db, centre, clock)
    agent.signed_in("eva")
    forged = agent.post(
        f"/calls/{call_id}/transfer", {"target": f"queue-{centre.billing}"}, csrf="forged"
    )
    assert forged.status == 403
    missing = agent.post(
        f"/calls/{call_id}/transfer", {"target": f"queue-{centre.billing}"}, csrf=None
    )
    assert missing.status == 403
    assert telephony.backend.calls == []


def test_back_office_staff_get_no_transfer_dialog(
    agent: PumpingBrowser, db: InlineDBRunner, centre: StaffCentre, clock: Clock
) -> None:
    call_id = talking(db, centre, clock)
    agent.signed_in("bob")
    assert agent.get(f"/calls/{call_id}/transfer").status == 403
    assert agent.get("/outbound").status == 403


def test_without_telephony_the_dialogs_say_so(
    browser: Browser, db: InlineDBRunner, centre: StaffCentre, clock: Clock
) -> None:
    call_id = talking(db, centre, clock)
    browser.signed_in("eva")
    page = browser.get(f"/calls/{call_id}/transfer")
    assert "Telephony is not configured" in page.text
    assert re.search(r'id="transfer-submit" disabled', page.text)
    refused = browser.post(f"/calls/{call_id}/transfer", {"target": f"queue-{centre.billing}"})
    assert refused.status == 409 and "Telephony is not configured" in refused.text
    assert the_call(db, call_id).state is CallState.TALKING
    assert "Telephony is not configured" in browser.get("/outbound").text


def test_a_czech_agent_reads_the_refusal_in_czech(
    colleague: PumpingBrowser, db: InlineDBRunner, centre: StaffCentre, clock: Clock
) -> None:
    call_id = talking(db, centre, clock, "jan")
    colleague.signed_in("jan")  # jan's language is Czech
    page = colleague.post(f"/calls/{call_id}/transfer", {"target": "nowhere"})
    assert page.status == 409
    assert "Taková fronta ani operátor pro přepojení neexistuje." in page.text


# --------------------------------------------------------------------------- outbound


def test_the_outbound_dialog_searches_picks_and_prefills_the_main_number(
    agent: PumpingBrowser,
    db: InlineDBRunner,
    centre: StaffCentre,
    clock: Clock,
    customers: dict[str, int],
) -> None:
    at_seat(db, centre, clock, "eva", "101", on_air=False)
    agent.signed_in("eva")
    page = agent.get("/outbound")
    assert page.status == 200 and "First search for the customer" in page.text
    found = agent.get("/outbound?q=Zakaznik")
    assert f'href="/outbound?customer_id={customers["jan"]}"' in found.text
    # Issue 16: under the results the hint is about them, no longer "First search".
    assert "Pick the customer from the list above." in found.text
    assert "First search for the customer" not in found.text
    picked = agent.get(f"/outbound?customer_id={customers['jan']}")
    assert re.search(r'id="number" name="number" type="tel" value="777 123 456"', picked.text)
    # What tells two customers of one name apart: address, contract, location.
    details = re.search(r'id="picked-customer-details">([^<]*)<', picked.text)
    assert details and details.group(1) == CUSTOMER_DETAILS, details
    assert "Petra Zakaznikova" in picked.text and 'id="save-number"' in picked.text
    contact = agent.get(f"/outbound?customer_id={customers['jan']}&contact_id={customers['petra']}")
    assert 'value="+421 905 111 222"' in contact.text  # the contact person's own number
    pseudo = agent.get(f"/outbound?customer_id={customers['pseudo']}")
    assert "OUTBOUND CALL" in pseudo.text and 'id="save-number"' not in pseudo.text


def test_calling_needs_a_picked_customer(
    agent: PumpingBrowser,
    db: InlineDBRunner,
    centre: StaffCentre,
    clock: Clock,
    telephony: Telephony,
) -> None:
    at_seat(db, centre, clock, "eva", "101", on_air=False)
    agent.signed_in("eva")
    agent.get("/outbound")
    page = agent.post("/outbound", {"number": "777123456"})
    assert page.status == 409 and "First search for the customer" in page.text
    assert telephony.backend.calls == []


def test_placing_a_call_originates_the_agents_seat_and_shows_the_ringing_dialog(
    agent: PumpingBrowser,
    db: InlineDBRunner,
    centre: StaffCentre,
    clock: Clock,
    telephony: Telephony,
    customers: dict[str, int],
) -> None:
    at_seat(db, centre, clock, "eva", "101", on_air=False)
    agent.signed_in("eva")
    agent.get(f"/outbound?customer_id={customers['jan']}")
    done = agent.post(
        "/outbound",
        {"customer_id": customers["jan"], "number": "777 123 456", "queue_id": centre.support},
    )
    assert done.status == 303, done.text
    call_id = int((done.location or "").rsplit("/", 1)[1])
    [(fields, _action_id)] = telephony.actions("originate")
    assert fields["Channel"] == "PJSIP/101"
    assert (fields["Context"], fields["Exten"], fields["Priority"]) == (
        "hotline-outbound",
        "420777123456",
        "1",
    )
    assert fields["Variable"] == f"HOTLINE_CALL_ID={call_id}"
    call = the_call(db, call_id)
    assert (call.direction, call.callee_number, call.customer_id) == (
        Direction.OUTBOUND,
        "420777123456",
        customers["jan"],
    )
    assert desk_of(db, centre, "eva") == ("off_air", "outbound", call_id)
    ringing = agent.get(done.location or "")
    assert "Your phone is ringing" in ringing.text and 'id="cancel-call"' in ringing.text
    assert f'data-call-id="{call_id}"' in ringing.text
    state = json.loads(agent.get(f"/outbound/{call_id}", accept=JSON).text)
    assert (state["state"], state["step"], state["final"]) == ("ringing", "originate", False)
    # The channel of the ringing phone came with the VarSet event: Cancel hangs it up.
    assert the_call(db, call_id).channel.startswith("PJSIP/101-")
    cancelled = agent.post(f"/outbound/{call_id}/cancel", {})
    assert (cancelled.status, cancelled.location) == (303, f"/outbound/{call_id}")
    assert [c for c, _ in telephony.actions("hangup")] == [the_call(db, call_id).channel]
    assert the_call(db, call_id).state is CallState.FAILED
    assert desk_of(db, centre, "eva") == ("off_air", "paused", None)
    after = agent.get(f"/outbound/{call_id}")
    assert "The call could not be made." in after.text and 'id="cancel-call"' not in after.text


@pytest.mark.parametrize(
    ("on_air", "number", "message"),
    [
        (True, "777123456", "Go off air before you place an outbound call."),
        (False, "no digits", "This is not a phone number that can be dialled."),
    ],
)
def test_outbound_refusals(
    agent: PumpingBrowser,
    db: InlineDBRunner,
    centre: StaffCentre,
    clock: Clock,
    telephony: Telephony,
    customers: dict[str, int],
    on_air: bool,
    number: str,
    message: str,
) -> None:
    at_seat(db, centre, clock, "eva", "101", on_air=on_air)
    agent.signed_in("eva")
    page = agent.post("/outbound", {"customer_id": customers["jan"], "number": number})
    assert page.status == 409 and message in page.text
    answer = agent.post(
        "/outbound", {"customer_id": customers["jan"], "number": number}, accept=JSON
    )
    assert (answer.status, json.loads(answer.text)) == (409, {"error": message})
    assert telephony.actions("originate") == []
    assert db.run_sync(lambda s: s.scalars(select(Call)).all()) == []


def test_an_outbound_call_needs_the_csrf_token(
    agent: PumpingBrowser,
    db: InlineDBRunner,
    centre: StaffCentre,
    clock: Clock,
    telephony: Telephony,
    customers: dict[str, int],
) -> None:
    at_seat(db, centre, clock, "eva", "101", on_air=False)
    agent.signed_in("eva")
    page = agent.post(
        "/outbound", {"customer_id": customers["jan"], "number": "777123456"}, csrf=None
    )
    assert page.status == 403
    assert telephony.backend.calls == []


def test_someone_elses_outbound_call_is_not_found(
    agent: PumpingBrowser,
    colleague: PumpingBrowser,
    db: InlineDBRunner,
    centre: StaffCentre,
    clock: Clock,
    customers: dict[str, int],
) -> None:
    at_seat(db, centre, clock, "eva", "101", on_air=False)
    agent.signed_in("eva")
    done = agent.post("/outbound", {"customer_id": customers["jan"], "number": "777123456"})
    call_id = int((done.location or "").rsplit("/", 1)[1])
    colleague.signed_in("jan")
    assert colleague.get(f"/outbound/{call_id}").status == 404
    assert colleague.post(f"/outbound/{call_id}/cancel", {}).status == 404
    assert the_call(db, call_id).state is CallState.RINGING


def test_save_number_adds_a_new_number_and_corrects_one(
    agent: PumpingBrowser,
    db: InlineDBRunner,
    centre: StaffCentre,
    clock: Clock,
    customers: dict[str, int],
) -> None:
    at_seat(db, centre, clock, "eva", "101", on_air=False)
    agent.signed_in("eva")
    jan = customers["jan"]
    added = agent.post("/outbound/number", {"customer_id": jan, "number": "603 111 222"})
    assert added.status == 303
    page = agent.get(added.location or "")
    assert "The number was saved." in page.text and 'value="603 111 222"' in page.text

    def phones(session: Session) -> list[tuple[int, str, str]]:
        rows = session.scalars(
            select(CustomerPhone)
            .where(CustomerPhone.customer_id == jan)
            .order_by(CustomerPhone.position)
        )
        return [(p.position, p.number, p.digits) for p in rows]

    assert db.run_sync(phones) == [
        (1, "777 123 456", "420777123456"),
        (2, "603 111 222", "420603111222"),
    ]
    main = db.run_sync(
        lambda s: s.scalar(select(CustomerPhone.id).where(CustomerPhone.position == 1))
    )
    agent.post(
        "/outbound/number", {"customer_id": jan, "phone_id": main, "number": "+420 777 999 000"}
    )
    assert db.run_sync(phones)[0] == (1, "+420 777 999 000", "420777999000")
    refused = agent.post("/outbound/number", {"customer_id": customers["pseudo"], "number": "603"})
    assert refused.status == 409 and "Pick the customer the number belongs to." in refused.text
    bad = agent.post("/outbound/number", {"customer_id": jan, "number": "---"}, accept=JSON)
    assert json.loads(bad.text) == {"error": "This is not a phone number that can be dialled."}


# --------------------------------------------------------------------------- messages


@pytest.mark.parametrize("module", [transfers, outbound], ids=lambda m: m.__name__)
def test_every_refusal_of_the_services_is_marked_and_translated(module: Any) -> None:
    texts = {
        value
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str) and " " in value
    }
    assert texts and texts <= extracted_messages()
    czech = load_po(LOCALE_DIR / "cs" / "LC_MESSAGES" / "hotline.po")
    assert all(czech.gettext(text) != text for text in texts)


def test_the_status_page_tells_admins_whether_telephony_is_connected(
    agent: PumpingBrowser, telephony: Telephony, clock: Clock
) -> None:
    """Transfers and outbound calls need the AMI connection: /status and /healthz say
    whether it is up, so an admin (or a monitor) sees why the dialogs would refuse."""
    assert json.loads(agent.get("/healthz", accept="application/json").text)["telephony"] == (
        "ready"
    )
    assert '<td id="telephony">ready</td>' in agent.get("/status").text
    telephony.client.stop()
    for _ in range(20):
        clock.advance(0)
    health = json.loads(agent.get("/healthz", accept="application/json").text)
    assert health["telephony"] == "stopped"
    assert '<td id="telephony">stopped</td>' in agent.get("/status").text
