"""The Active call form's pages over the real Klein resource (R-2.6 .. R-2.13).

Calls are made through ``dialplan.store.calls`` as the call flows make them (offer, answer,
hang-up), on SQLite or PostgreSQL. Requests come from ``StubTreq``: a page load asks for
HTML, what the desktop's script fetches asks for anything (``*/*``) and gets the HTML
fragment it swaps in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session
from twisted.internet.task import Clock

from agent_desktop import call_form as core
from agent_desktop.agent_state import GoOnAir
from agent_desktop.store import agent_sessions
from db.models import (
    AuditLog,
    Call,
    Customer,
    CustomerPhone,
    FollowUpProcess,
    Location,
    QueueLocation,
)
from dialplan.store import calls
from domain.enums import CallState, Direction, ReasonDirection
from tests.support.call_form import add_reasons
from tests.support.centre import StaffCentre
from tests.support.customers import add_customer
from tests.support.db import InlineDBRunner
from tests.support.i18n import extracted_messages
from tests.support.web import Browser, Page

FETCH = "*/*"


def now_of(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock.seconds(), UTC)


def text_of(html: str) -> str:
    """The page's text, tags dropped and spaces folded, for assertions about what it says."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


@dataclass(frozen=True)
class Desk:
    centre: StaffCentre
    north: int
    south: int
    east: int
    customers: dict[str, int]
    reasons: dict[str, int]
    operator: int


def build_desk(session: Session, centre: StaffCentre) -> Desk:
    """Support serves north and south, billing serves east; a reason tree for support."""
    north, south, east = (Location(code=c, name=c.title()) for c in ("north", "south", "east"))
    session.add_all([north, south, east])
    session.flush()
    session.add_all(
        [
            QueueLocation(queue_id=centre.support, location_id=north.id),
            QueueLocation(queue_id=centre.support, location_id=south.id),
            QueueLocation(queue_id=centre.billing, location_id=east.id),
        ]
    )
    customers = {
        "bakery": add_customer(
            session,
            "Pekařství Novák",
            north.id,
            ("+420 777 123 456",),
            address="Masarykova 5, Brno",
            contract="BR-10042",
            contacts=(("Jan Novák", "+420 602 111 222"),),
        ),
        "alice": add_customer(session, "Alice Dvořák", north.id, ("+420 603 333 444",)),
        "bob": add_customer(session, "Bob Dvořák", south.id, ("603 333 444",)),
        "old": add_customer(session, "Olga Stará", north.id, ("+420 604 555 666",), active=False),
        "eastern": add_customer(session, "Eastern Novák", east.id, ("+420 605 777 888",)),
    }
    operator = add_customer(session, "North Operator s.r.o.", north.id, ("+420 500 000 001",))
    north.operator_customer_id = operator
    reasons = add_reasons(session, centre.support, ReasonDirection.INBOUND)
    session.flush()
    return Desk(centre, north.id, south.id, east.id, customers, reasons, operator)


def on_air(session: Session, centre: StaffCentre, login: str, seat: str, at: datetime) -> None:
    agent_id = centre.agents[login]
    if agent_sessions.open_session_row(session, agent_id, lock=False) is None:
        agent_sessions.log_in(session, agent_id, centre.seats[seat], at)
    agent_sessions.apply_event(session, agent_id, GoOnAir(), at)


def take_call(
    session: Session,
    centre: StaffCentre,
    login: str,
    caller: str,
    at: datetime,
    *,
    seat: str = "101",
    queue: str = "support",
    hang_up: bool = True,
    overflowed: bool = False,
) -> int:
    """A call answered by ``login`` at ``at`` + 10 s; hung up after 60 s by default."""
    on_air(session, centre, login, seat, at - timedelta(minutes=5))
    view = calls.open_call(
        session,
        uniqueid=f"{login}-{at.timestamp()}-{caller}",
        direction=Direction.INBOUND,
        now=at,
        caller_number=caller,
        did="2200",
    )
    queue_id = centre.support if queue == "support" else centre.billing
    calls.enter_queue(session, view.id, queue_id, at, keep_waiting_start=False)
    if overflowed:
        calls.mark_overflowed(session, view.id, at)
    offer = calls.offer(session, view.id, centre.agents[login], at + timedelta(seconds=5))
    assert offer is not None
    calls.answered(session, offer.attempt_id, at + timedelta(seconds=10))
    if hang_up:
        calls.close_call(session, view.id, CallState.ANSWERED, at + timedelta(seconds=70))
    return view.id


@pytest.fixture
def desk(db: InlineDBRunner, centre: StaffCentre) -> Desk:
    return db.run_sync(build_desk, centre)


@pytest.fixture
def eva(browser: Browser, centre: StaffCentre) -> Browser:
    browser.signed_in("eva")
    return browser


@pytest.fixture
def jan(other_browser: Browser, centre: StaffCentre) -> Browser:
    other_browser.signed_in("jan")
    return other_browser


def call_of(db: InlineDBRunner, call_id: int) -> Call:
    def load(session: Session) -> Call:
        call = session.get(Call, call_id)
        assert call is not None
        return call

    return db.run_sync(load)


def a_call(
    db: InlineDBRunner, clock: Clock, desk: Desk, caller: str, login: str = "eva", **kw: object
) -> int:
    return db.run_sync(
        take_call,
        desk.centre,
        login,
        caller,
        now_of(clock) - timedelta(minutes=2),
        **kw,  # type: ignore[arg-type]
    )


def save(browser: Browser, call_id: int, **fields: object) -> Page:
    return browser.post(f"/call-form/{call_id}/save", fields, accept=FETCH)


# --------------------------------------------------------------------------- opening


@pytest.mark.parametrize(
    ("caller", "shown", "customer"),
    [
        ("00420777123456", "777 123 456", "Pekařství Novák"),  # the centre's own: national
        ("+420 777 123 456", "777 123 456", "Pekařství Novák"),
        ("421903123456", "+421 903 123 456", None),  # abroad: international, with "+"
        ("0049301234567", "+49 30 1234567", None),
        ("+44 20 7946 0958", "+44 20 7946 0958", None),
    ],
)
def test_the_caller_is_shown_in_one_format_and_still_matched(
    eva: Browser,
    db: InlineDBRunner,
    clock: Clock,
    desk: Desk,
    caller: str,
    shown: str,
    customer: str | None,
) -> None:
    """Issue 16: however the caller ID writes the number, the form shows it one way, by the
    centre's country (the Czech Republic here); a Czech number written internationally
    still finds its customer."""
    a_call(db, clock, desk, caller, hang_up=False)
    text = text_of(eva.get("/desktop/call").text)
    assert f"Caller {shown} " in text
    if customer is not None:
        assert f"Name {customer} " in text
    else:
        assert "Name ????? " in text


def test_the_call_desk_opens_the_form_of_the_connected_call_with_the_matched_customer(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk
) -> None:
    call_id = a_call(db, clock, desk, "777123456", hang_up=False)
    page = eva.get("/desktop/call")
    assert page.status == 200
    text = text_of(page.text)
    assert f'data-call-id="{call_id}"' in page.text
    # Issue 16: what tells two customers of one name apart comes with the name.
    assert (
        "Name Pekařství Novák Address Masarykova 5, Brno Contract BR-10042 Location North"
        " Queue Technical support Caller 777 123 456"
    ) in text
    assert "Connected since" in text and "Save when the call has ended." in text
    assert '<script src="/static/call_form.js"' in page.text
    # The match is stored on the call, so a recovery opens with it as well.
    assert call_of(db, call_id).customer_id == desk.customers["bakery"]


def test_without_a_call_the_desk_shows_the_idle_panel_with_recovery(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk, centre: StaffCentre
) -> None:
    db.run_sync(on_air, centre, "eva", "101", now_of(clock))
    page = eva.get("/desktop/call")
    assert page.status == 200
    assert "The form opens by itself when your call connects." in text_of(page.text)
    assert 'id="cf-recover"' in page.text
    assert "data-call-id" not in page.text


def test_the_fragment_the_desktop_loads_on_answer_is_the_form_alone(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk
) -> None:
    call_id = a_call(db, clock, desk, "+420 777 123 456", hang_up=False)
    part = eva.get(f"/call-form/{call_id}/form", accept=FETCH)
    assert part.status == 200
    assert "<html" not in part.text and f'data-call-id="{call_id}"' in part.text
    assert "Pekařství Novák" in part.text


def test_the_panel_fragment_shows_the_desks_current_call_or_the_idle_panel(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk
) -> None:
    call_id = a_call(db, clock, desk, "777123456", hang_up=False)
    part = eva.get("/call-form/panel", accept=FETCH)
    assert part.status == 200 and f'data-call-id="{call_id}"' in part.text
    assert "<html" not in part.text
    db.run_sync(calls.close_call, call_id, CallState.ANSWERED, now_of(clock))
    assert save(eva, call_id, reason_0=desk.reasons["Other"]).status == 200
    idle = eva.get("/call-form/panel", accept=FETCH)
    assert 'id="cf-recover"' in idle.text and "data-call-id" not in idle.text


def test_a_match_through_a_contact_person_shows_company_and_contact(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk
) -> None:
    call_id = a_call(db, clock, desk, "602111222")
    part = eva.get(f"/call-form/{call_id}/form", accept=FETCH)
    assert re.search(r'id="cf-name">Pekařství Novák \(Jan Novák\)<', part.text)


def test_several_active_customers_give_a_pick_list_with_a_notice_and_picking_fills_the_form(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk
) -> None:
    call_id = a_call(db, clock, desk, "603333444")
    part = eva.get(f"/call-form/{call_id}/form", accept=FETCH)
    text = text_of(part.text)
    assert core.PICK_LIST_NOTICE in text
    assert "Alice Dvořák Pick" in text and "Bob Dvořák Pick" in text
    assert re.search(r'id="cf-name">\?\?\?\?\? · Technical support<', part.text)

    picked = eva.post(
        f"/call-form/{call_id}/customer", {"customer_id": desk.customers["bob"]}, accept=FETCH
    )
    assert picked.status == 200
    assert picked.text.lstrip().startswith("<section") and 'id="cf-customer"' in picked.text
    assert re.search(r'id="cf-name">Bob Dvořák<', picked.text)
    assert core.PICK_LIST_NOTICE not in picked.text
    assert call_of(db, call_id).customer_id == desk.customers["bob"]


def test_the_agents_selected_location_decides_between_two_active_customers(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk, centre: StaffCentre
) -> None:
    # Chosen on the desktop, as the agent does it.
    assert eva.post("/desktop/location", {"location_id": desk.south}).status == 303
    call_id = a_call(db, clock, desk, "603333444")
    part = eva.get(f"/call-form/{call_id}/form", accept=FETCH)
    assert re.search(r'id="cf-name">Bob Dvořák<', part.text)
    assert "cf-choices" not in part.text


def test_only_an_inactive_customer_is_offered_for_re_activation(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk
) -> None:
    call_id = a_call(db, clock, desk, "604555666")
    part = eva.get(f"/call-form/{call_id}/form", accept=FETCH)
    text = text_of(part.text)
    assert "belongs to the inactive customer Olga Stará" in text
    assert "Olga Stará Re-activate" in text
    assert call_of(db, call_id).customer_id is None  # not required to go on

    done = eva.post(
        f"/call-form/{call_id}/reactivate", {"customer_id": desk.customers["old"]}, accept=FETCH
    )
    assert done.status == 200
    assert re.search(r'id="cf-name">Olga Stará<', done.text)

    def check(session: Session) -> tuple[bool, list[str]]:
        customer = session.get(Customer, desk.customers["old"])
        assert customer is not None
        actions = session.scalars(select(AuditLog.action)).all()
        return customer.active, list(actions)

    active, actions = db.run_sync(check)
    assert active and "customer.reactivate" in actions
    assert call_of(db, call_id).customer_id == desk.customers["old"]


def test_re_activating_a_customer_of_another_queue_is_refused_and_changes_nothing(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk
) -> None:
    def deactivate(session: Session) -> None:
        customer = session.get(Customer, desk.customers["eastern"])
        assert customer is not None
        customer.active = False

    db.run_sync(deactivate)
    call_id = a_call(db, clock, desk, "111222333")
    refused = eva.post(
        f"/call-form/{call_id}/reactivate",
        {"customer_id": desk.customers["eastern"]},
        accept=FETCH,
    )
    assert refused.status == 409
    assert core.CUSTOMER_OUTSIDE_QUEUE in text_of(refused.text)

    def active(session: Session) -> bool:
        customer = session.get(Customer, desk.customers["eastern"])
        assert customer is not None
        return customer.active

    assert db.run_sync(active) is False


def test_an_unknown_caller_shows_question_marks_and_the_queue_marked_when_overflowed(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk
) -> None:
    call_id = a_call(db, clock, desk, "731000999", overflowed=True)
    part = eva.get(f"/call-form/{call_id}/form", accept=FETCH)
    assert re.search(r'id="cf-name">\?\?\?\?\? · Technical support \(overflowed call\)<', part.text)
    assert re.search(r'id="cf-queue">Technical support \(overflowed call\)<', part.text)


# --------------------------------------------------------------------------- search


@pytest.mark.parametrize(
    "query", ["pekařství", "Masarykova 5", "BR-10042", "777 123 456", "+420777123456"]
)
def test_customers_are_found_by_name_address_contract_and_phone(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk, query: str
) -> None:
    call_id = a_call(db, clock, desk, "731000999")
    found = eva.get(f"/call-form/{call_id}/customers?q={query}", accept=FETCH)
    assert found.status == 200
    assert 'id="cf-results"' in found.text
    assert "Pekařství Novák" in found.text
    assert f'name="customer_id" value="{desk.customers["bakery"]}"' in found.text


def test_the_search_stays_within_the_queues_locations(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk
) -> None:
    call_id = a_call(db, clock, desk, "731000999")
    found = text_of(eva.get(f"/call-form/{call_id}/customers?q=Novák", accept=FETCH).text)
    assert "Pekařství Novák" in found and "Eastern Novák" not in found
    none = text_of(eva.get(f"/call-form/{call_id}/customers?q=Nobody", accept=FETCH).text)
    assert "No customer found." in none
    empty = text_of(eva.get(f"/call-form/{call_id}/customers?q=", accept=FETCH).text)
    assert "Type a name, an address, a contract number or a phone number." in empty


def test_picking_a_customer_outside_the_queues_locations_is_refused_next_to_the_customer(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk
) -> None:
    call_id = a_call(db, clock, desk, "731000999")
    refused = eva.post(
        f"/call-form/{call_id}/customer", {"customer_id": desk.customers["eastern"]}, accept=FETCH
    )
    assert refused.status == 409
    assert re.search(
        r'id="cf-customer-error">This customer does not belong to a location', refused.text
    )
    assert call_of(db, call_id).customer_id is None


def test_without_javascript_search_and_pick_land_back_on_the_calls_page(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk
) -> None:
    call_id = a_call(db, clock, desk, "731000999")
    page = eva.get(f"/call-form/{call_id}?q=Pekařství")
    assert page.status == 200 and "<html" in page.text
    assert "Pekařství Novák Masarykova 5, Brno · BR-10042" in text_of(page.text)
    assert f'name="customer_id" value="{desk.customers["bakery"]}"' in page.text
    done = eva.post(f"/call-form/{call_id}/customer", {"customer_id": desk.customers["bakery"]})
    assert done.status == 303 and done.location == f"/call-form/{call_id}"
    again = eva.get(done.location)
    assert re.search(r'id="cf-name">Pekařství Novák<', again.text)


# --------------------------------------------------------------------------- reasons


def reason_selects(html: str) -> list[tuple[str, list[str], str | None]]:
    """Each level: its name, its option labels, and the selected label."""
    levels = []
    for name, body in re.findall(r'<select[^>]*name="(reason_\d)"[^>]*>(.*?)</select>', html, re.S):
        options = re.findall(r'<option value="\d+"[^>]*>([^<]*)</option>', body)
        chosen = re.search(r'<option value="\d+" selected>([^<]*)</option>', body)
        levels.append((name, options, chosen.group(1) if chosen else None))
    return levels


def test_choosing_a_reason_level_loads_the_next_down_to_the_code(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk
) -> None:
    call_id = a_call(db, clock, desk, "777123456")
    r = desk.reasons
    first = eva.get(f"/call-form/{call_id}/form", accept=FETCH).text
    assert reason_selects(first) == [("reason_0", ["Hardware", "Other (OTH)"], None)]
    step = eva.get(f"/call-form/{call_id}/reasons?reason_0={r['Hardware']}", accept=FETCH)
    assert reason_selects(step.text) == [
        ("reason_0", ["Hardware", "Other (OTH)"], "Hardware"),
        ("reason_1", ["Router"], None),
    ]
    url = f"/call-form/{call_id}/reasons?reason_0={r['Hardware']}&reason_1={r['Router']}"
    deep = eva.get(url, accept=FETCH).text
    assert reason_selects(deep)[2] == ("reason_2", ["No signal (RT-1)", "Slow (RT-2)"], None)
    assert "Reason code</label>" in deep
    leaf = eva.get(url + f"&reason_2={r['Slow']}", accept=FETCH).text
    assert "Reason code: RT-2" in text_of(leaf)


def test_changing_a_reason_level_clears_every_level_below(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk
) -> None:
    call_id = a_call(db, clock, desk, "777123456")
    r = desk.reasons
    # The browser sends the changed level 0 and nothing below; a stale level 1 is dropped too.
    url = f"/call-form/{call_id}/reasons?reason_0={r['Other']}&reason_1={r['Router']}"
    part = eva.get(url, accept=FETCH).text
    assert reason_selects(part) == [("reason_0", ["Hardware", "Other (OTH)"], "Other (OTH)")]
    assert "Reason code: OTH" in text_of(part)


def test_a_queue_without_a_reason_tree_hides_the_field(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk
) -> None:
    call_id = a_call(db, clock, desk, "605777888", queue="billing")
    part = eva.get(f"/call-form/{call_id}/form", accept=FETCH).text
    assert 'id="cf-reasons"' not in part and "Call reason" not in part
    assert save(eva, call_id).status == 200  # the matched customer, and no reason needed


# --------------------------------------------------------------------------- save


def test_save_refuses_with_messages_next_to_the_fields_and_keeps_what_was_entered(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk
) -> None:
    call_id = a_call(db, clock, desk, "731000999")
    eva.get(f"/call-form/{call_id}/form", accept=FETCH)
    refused = save(
        eva,
        call_id,
        reason_0=desk.reasons["Hardware"],
        note="Router blinks red",
        rt_number="12a4",
    )
    assert refused.status == 422
    html = refused.text
    assert re.search(r'id="cf-customer-error">First search for the customer<', html)
    assert re.search(r'id="cf-rt-error">The RT number is not a number<', html)
    assert "Choose the call reason and the reason code." in html
    assert 'value="12a4"' in html and ">Router blinks red</textarea>" in html
    assert reason_selects(html)[0][2] == "Hardware"  # the chosen level is kept
    assert call_of(db, call_id).processing_state.value == "pending"


@pytest.fixture
def ended_call(db: InlineDBRunner, clock: Clock, desk: Desk) -> int:
    return a_call(db, clock, desk, "777123456")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    fields=st.dictionaries(
        st.sampled_from(
            [
                "reason_0",
                "reason_1",
                "note",
                "rt_number",
                "customer_unknown",
                "assign_to_location_operator",
                "operator_location_id",
                "replace_number",
            ]
        ),
        st.text(max_size=30),
        max_size=5,
    )
)
def test_whatever_the_save_form_holds_the_answer_is_a_clear_one(
    eva: Browser, ended_call: int, fields: dict[str, str]
) -> None:
    """R-7.2: a form with any values is saved, refused next to a field, or a bad request
    (after one save worked, the call is processed already: refused as well)."""
    call_id = ended_call
    answer = save(eva, call_id, **fields)
    assert answer.status in (200, 400, 422), answer.text[:500]
    if answer.status == 422:
        assert 'class="field-error"' in answer.text or "alert-error" in answer.text


@pytest.mark.parametrize("rt", ["12345678901", "１２３", "12 34", "-1"])
def test_an_rt_number_that_is_not_at_most_ten_digits_is_refused(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk, rt: str
) -> None:
    call_id = a_call(db, clock, desk, "777123456")
    refused = save(eva, call_id, reason_0=desk.reasons["Other"], rt_number=rt)
    assert refused.status == 422
    assert "The RT number is not a number" in refused.text


def test_save_closes_processing_and_puts_the_agent_on_air_again(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk, centre: StaffCentre
) -> None:
    call_id = a_call(db, clock, desk, "777123456")
    r = desk.reasons
    done = save(
        eva,
        call_id,
        reason_0=r["Hardware"],
        reason_1=r["Router"],
        reason_2=r["No signal"],
        note="Outage",
        rt_number="0012345678",
    )
    assert done.status == 200, text_of(done.text)
    assert "The call was saved. You are on air again." in text_of(done.text)
    call = call_of(db, call_id)
    assert (call.processing_state.value, call.reason_code, call.rt_number, call.note) == (
        "done",
        "RT-1",
        "0012345678",
        "Outage",
    )

    def state(session: Session) -> str:
        row = agent_sessions.open_session_row(session, centre.agents["eva"])
        assert row is not None
        return row.state.value

    assert db.run_sync(state) == "on_air"
    page = eva.get("/desktop/call")
    assert 'class="badge-label">On air<' in page.text and "data-call-id" not in page.text


def test_saving_while_the_call_is_connected_is_refused(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk
) -> None:
    call_id = a_call(db, clock, desk, "777123456", hang_up=False)
    refused = save(eva, call_id, reason_0=desk.reasons["Other"])
    assert refused.status == 422
    assert core.CALL_STILL_CONNECTED in refused.text


def test_an_unknown_caller_is_saved_as_unknown_or_for_the_locations_operator(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk
) -> None:
    first = a_call(db, clock, desk, "731000999")
    assert save(eva, first, reason_0=desk.reasons["Other"], customer_unknown="1").status == 200
    assert call_of(db, first).customer_unknown is True

    clock.advance(300)
    second = a_call(db, clock, desk, "731000998")
    form = eva.get(f"/call-form/{second}/form", accept=FETCH).text
    assert "Assign the call to the location's operator" in text_of(form)
    assert "(North Operator s.r.o.)" in form  # one location with an operator: no choice
    done = save(eva, second, reason_0=desk.reasons["Other"], assign_to_location_operator="1")
    assert done.status == 200
    call = call_of(db, second)
    assert call.assigned_to_location_operator and call.customer_id == desk.operator


def test_replace_number_makes_the_callers_number_the_customers_main_one(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk
) -> None:
    call_id = a_call(db, clock, desk, "731000999")
    form = eva.get(f"/call-form/{call_id}/form", accept=FETCH).text
    assert "Replace number: 731 000 999 becomes the customer's main number" in text_of(form)
    eva.post(
        f"/call-form/{call_id}/customer", {"customer_id": desk.customers["alice"]}, accept=FETCH
    )
    done = save(eva, call_id, reason_0=desk.reasons["Other"], replace_number="1")
    assert done.status == 200

    def phones(session: Session) -> list[tuple[int, str]]:
        rows = session.scalars(
            select(CustomerPhone)
            .where(CustomerPhone.customer_id == desk.customers["alice"])
            .order_by(CustomerPhone.position)
        )
        return [(p.position, p.digits) for p in rows]

    assert db.run_sync(phones) == [(1, "420731000999"), (2, "420603333444")]


# --------------------------------------------------------------------------- processes


def test_processes_are_created_from_the_call_and_list_their_calls(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk
) -> None:
    call_id = a_call(db, clock, desk, "777123456")
    made = eva.post(f"/call-form/{call_id}/processes", {"title": "Send a technician"}, accept=FETCH)
    assert made.status == 200 and made.text.lstrip().startswith("<section")
    text = text_of(made.text)
    assert "Send a technician" in text
    # time, caller, callee (the DID), and the talk time of the connected call
    assert re.search(r"Time Caller Called number Duration \S+ \S+ 777 123 456 2200 01:00", text)
    assert db.run_sync(lambda s: len(s.scalars(select(FollowUpProcess)).all())) == 1
    refused = eva.post(f"/call-form/{call_id}/processes", {"title": "  "}, accept=FETCH)
    assert refused.status == 409 and "Give the process a title." in refused.text


def test_a_later_call_of_the_customer_joins_an_open_process(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk
) -> None:
    """R-2.11: the bakery calls again about the same matter; the agent adds this call to
    the open process, which then lists both calls. A call of another customer is refused."""
    first = a_call(db, clock, desk, "777123456")
    eva.post(f"/call-form/{first}/processes", {"title": "Send a technician"}, accept=FETCH)
    assert save(eva, first, reason_0=desk.reasons["Other"]).status == 200
    [process_id] = db.run_sync(lambda s: list(s.scalars(select(FollowUpProcess.id))))
    clock.advance(3600)
    later = a_call(db, clock, desk, "777123456")
    form = eva.get(f"/call-form/{later}/form", accept=FETCH)
    assert 'id="cf-join"' in form.text and "Send a technician" in form.text
    joined = eva.post(
        f"/call-form/{later}/processes/join", {"process_id": str(process_id)}, accept=FETCH
    )
    assert joined.status == 200
    rows = re.findall(r"<tr><td>[^<]+</td><td>777 123 456</td>", joined.text)
    assert len(rows) == 2  # the first call and this one, each with its time
    assert 'id="cf-join"' not in joined.text  # nothing left to join
    assert save(eva, later, reason_0=desk.reasons["Other"]).status == 200
    # Bob's call cannot join the bakery's process.
    other = a_call(db, clock, desk, "603333444")
    refused = eva.post(
        f"/call-form/{other}/processes/join", {"process_id": str(process_id)}, accept=FETCH
    )
    assert refused.status == 409
    assert "This process is about another customer, or it is closed." in refused.text
    assert 'id="cf-join"' not in eva.get(f"/call-form/{other}/form", accept=FETCH).text


# --------------------------------------------------------------------------- recovery


def test_an_off_air_agent_recovers_a_call_left_unsaved_in_a_closed_browser(
    eva: Browser,
    jan: Browser,
    db: InlineDBRunner,
    clock: Clock,
    desk: Desk,
    centre: StaffCentre,
) -> None:
    # Jan answered, the call ended, and his browser went away before Save.
    call_id = a_call(db, clock, desk, "777123456", login="jan", seat="102")
    db.run_sync(agent_sessions.log_in, centre.agents["eva"], centre.seats["101"], now_of(clock))
    eva.get("/desktop/call")  # a fresh login is off air (paused)
    found = eva.post("/call-form/recover", accept=FETCH)
    assert found.status == 200
    # 09:28 in Prague: the call started two minutes before 09:30
    assert "Showing unprocessed call from 02.03.2026 09:28" in text_of(found.text)
    assert f'data-call-id="{call_id}"' in found.text and "Pekařství Novák" in found.text
    saved = save(eva, call_id, reason_0=desk.reasons["Other"])
    assert saved.status == 200, text_of(saved.text)
    assert "The call was saved." in saved.text and "You are on air again." not in saved.text
    assert call_of(db, call_id).processed_by_id == centre.agents["eva"]

    # Jan comes back: his form says it was processed, and closing it puts him on air.
    back = jan.get("/desktop/call")
    assert "Tento hovor už byl zpracován." in back.text and 'id="cf-close"' in back.text
    closed = save(jan, call_id)
    assert closed.status == 200 and "Jste opět ve stavu Aktivní." in closed.text


def test_a_colleagues_unsaved_call_opens_only_for_an_off_air_agent_who_recovered_it(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk, centre: StaffCentre
) -> None:
    """R-2.2/R-2.13: Jan's ended, unsaved call is his to process; Eva, with the same queue
    right, cannot open or save it by its URL while on air, nor off-air before she loaded it
    through recovery, nor once she went on air again."""
    call_id = a_call(db, clock, desk, "777123456", login="jan", seat="102")
    form, save_path = f"/call-form/{call_id}/form", f"/call-form/{call_id}/save"
    reason = {"reason_0": desk.reasons["Other"]}
    db.run_sync(on_air, centre, "eva", "101", now_of(clock))
    assert eva.get(form, accept=FETCH).status == 403
    assert eva.get(f"/call-form/{call_id}").status == 403
    assert eva.post(save_path, reason, accept=FETCH).status == 403
    assert eva.post(f"/call-form/{call_id}/processes", {"title": "x"}, accept=FETCH).status == 403
    assert call_of(db, call_id).customer_id is None  # not even matched for her

    eva.post("/desktop/state", {"action": "pause", "pause_type_id": centre.pauses["personal"]})
    assert eva.get(form, accept=FETCH).status == 403  # off air, but not recovered
    assert eva.post("/call-form/recover", accept=FETCH).status == 200
    assert eva.get(form, accept=FETCH).status == 200  # now hers to finish

    eva.post("/desktop/state", {"action": "on_air"})
    assert desk_state(db, centre, "eva") == "on_air"
    assert eva.get(form, accept=FETCH).status == 403
    assert eva.post(save_path, reason, accept=FETCH).status == 403
    assert call_of(db, call_id).processing_state.value == "pending"


def desk_state(db: InlineDBRunner, centre: StaffCentre, login: str) -> str:
    def load(session: Session) -> str:
        row = agent_sessions.open_session_row(session, centre.agents[login], lock=False)
        assert row is not None
        return row.state.value

    return db.run_sync(load)


def test_recovery_without_javascript_shows_the_notice_on_the_calls_page(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk, centre: StaffCentre
) -> None:
    call_id = a_call(db, clock, desk, "777123456", login="jan", seat="102")
    db.run_sync(agent_sessions.log_in, centre.agents["eva"], centre.seats["101"], now_of(clock))
    eva.get("/desktop/call")
    moved = eva.post("/call-form/recover")
    assert moved.status == 303 and moved.location == f"/call-form/{call_id}?recovered=1"
    page = eva.get(moved.location)
    assert "Showing unprocessed call from 02.03.2026 09:28" in text_of(page.text)


def test_recovery_is_refused_on_air_and_says_when_nothing_is_left(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk, centre: StaffCentre
) -> None:
    db.run_sync(on_air, centre, "eva", "101", now_of(clock))
    eva.get("/desktop/call")
    refused = eva.post("/call-form/recover", accept=FETCH)
    assert refused.status == 409 and core.RECOVERY_ONLY_OFF_AIR in refused.text
    eva.post("/desktop/state", {"action": "pause", "pause_type_id": centre.pauses["personal"]})
    none = eva.post("/call-form/recover", accept=FETCH)
    assert none.status == 200
    assert "There is no unprocessed call in your queues." in none.text


# --------------------------------------------------------------------------- security


def test_state_changes_need_the_csrf_token(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk
) -> None:
    call_id = a_call(db, clock, desk, "777123456")
    attempts: list[tuple[str, dict[str, object]]] = [
        (f"/call-form/{call_id}/save", {"reason_0": desk.reasons["Other"]}),
        (f"/call-form/{call_id}/customer", {"customer_id": desk.customers["alice"]}),
        (f"/call-form/{call_id}/processes", {"title": "x"}),
        ("/call-form/recover", {}),
    ]
    for path, data in attempts:
        assert eva.post(path, data, csrf=False, accept=FETCH).status == 403
        assert eva.post(path, data, csrf="forged", accept=FETCH).status == 403
    assert call_of(db, call_id).processing_state.value == "pending"


def test_another_agents_live_call_is_forbidden_and_a_call_of_a_queue_without_right_unknown(
    eva: Browser, jan: Browser, db: InlineDBRunner, clock: Clock, desk: Desk
) -> None:
    """A colleague's call in one's own queue is refused (403); a call of a queue one has no
    right to answers as an id that does not exist (404): whether it exists is not told
    (issue 11, item 6)."""
    live = a_call(db, clock, desk, "777123456", hang_up=False)
    assert jan.get(f"/call-form/{live}/form", accept=FETCH).status == 403
    assert jan.post(f"/call-form/{live}/save", {}, accept=FETCH).status == 403
    assert call_of(db, live).customer_id is None  # not even matched for a stranger

    billing = a_call(db, clock, desk, "605777888", login="jan", seat="102", queue="billing")
    unknown = eva.get("/call-form/999999/form", accept=FETCH)
    assert unknown.status == 404
    hidden = eva.get(f"/call-form/{billing}/form", accept=FETCH)
    assert (hidden.status, hidden.text) == (unknown.status, unknown.text)
    assert eva.post(f"/call-form/{billing}/save", {}, accept=FETCH).status == 404


def test_someone_without_a_queue_right_has_no_call_form(browser: Browser, desk: Desk) -> None:
    browser.signed_in("bob")
    assert browser.get("/desktop/call").status == 403
    assert browser.post("/call-form/recover", accept=FETCH).status == 403


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("save", {"reason_0": "abc"}),
        ("save", {"customer_unknown": "yes"}),
        ("save", {"operator_location_id": "0"}),
        ("customer", {}),
        ("customer", {"customer_id": "1", "contact_id": "x"}),
        ("reactivate", {"customer_id": "-3"}),
    ],
)
def test_wrong_fields_are_bad_requests(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk, path: str, data: dict[str, str]
) -> None:
    call_id = a_call(db, clock, desk, "777123456")
    answer = eva.post(f"/call-form/{call_id}/{path}", data, accept=FETCH)
    assert answer.status == 400
    assert "error" in answer.text


def test_a_reason_path_that_is_not_a_number_is_a_bad_request(
    eva: Browser, db: InlineDBRunner, clock: Clock, desk: Desk
) -> None:
    call_id = a_call(db, clock, desk, "777123456")
    assert eva.get(f"/call-form/{call_id}/reasons?reason_0=x", accept=FETCH).status == 400


# --------------------------------------------------------------------------- Czech


def test_a_czech_agent_gets_the_form_and_its_refusals_in_czech(
    jan: Browser, db: InlineDBRunner, clock: Clock, desk: Desk
) -> None:
    call_id = a_call(db, clock, desk, "731000999", login="jan", seat="102", overflowed=True)
    part = jan.get(f"/call-form/{call_id}/form", accept=FETCH).text
    assert "Aktivní volání" in part and "Technical support (přepadlý hovor)" in part
    refused = save(jan, call_id, reason_0=desk.reasons["Other"], rt_number="A1")
    assert "Číslo RT nemá formát čísla" in refused.text
    assert "Nejdříve vyhledejte zákazníka" in refused.text


def test_the_catalogue_holds_every_agent_facing_text_of_the_core() -> None:
    texts = {
        value for name, value in vars(core).items() if name.isupper() and isinstance(value, str)
    }
    not_messages = {core.UNKNOWN_NAME, core.OVERFLOWED_SUFFIX, core.UNPROCESSED_NOTICE}
    many = core.Candidate(1, "A", False, 1, core.MatchedVia.MAIN)
    texts = texts - not_messages | {core.inactive_notice((many, many))}
    assert texts <= extracted_messages()
