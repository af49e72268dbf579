"""Outbound calls end to end (R-1.13, R-1.14, R-2.15): Hotline's AMI client originates the
agent's seat on the simulated switch, the agent answers, the ``outbound`` script dials the
customer through the trunk, and the call record, the recording and the agent's state say
how it went."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from db.models import (
    AgentSession,
    BoxRight,
    Call,
    Customer,
    Event,
    Recording,
    VoicemailBox,
    VoicemailItem,
    VoicemailItemHistory,
)
from dialplan.services.outbound_calls import (
    OutboundError,
    cancel_outbound_call,
    start_outbound_call,
)
from domain.enums import ItemKind, ItemState
from simulator.switch import PhoneBehaviour
from tests.support.e2e_world import E2EWorld, make_e2e_world
from voicemail.store import queue as bq

CUSTOMERS = """
customers:
  - contract_number: C-1
    name: Jan Zakaznik
    location: BRNO
    phones: ['777 123 456']
    contacts:
      - {name: Petra Zakaznikova, phone: '+421 905 111 222'}
  - {contract_number: OUT-BRNO, name: OUTBOUND CALL, location: BRNO, pseudo: true}
"""
CUSTOMER_LINE = "PJSIP/420777123456@trunk"
NEVER = PhoneBehaviour(answer_after_s=None)


def answers(after_s: float, talk_s: float | None = None) -> PhoneBehaviour:
    return PhoneBehaviour(answer_after_s=after_s, talk_s=talk_s)


def world_with(db_url: str, tmp_path: Path, phones: dict[str, PhoneBehaviour]) -> E2EWorld:
    world = make_e2e_world(db_url, tmp_path, phones, extra_yaml=CUSTOMERS)
    world.log_in("eva", on_air=False)  # calls go out from off-air
    return world


def customer_id(world: E2EWorld, name: str) -> int:
    with Session(world.engine) as s:
        return int(s.scalar(select(Customer.id).where(Customer.name == name)))


def outcome(d: Deferred[Any]) -> Any:
    results: list[Any] = []
    d.addBoth(results.append)
    assert results, "not finished"
    return results[0]


def place(world: E2EWorld, ami: Any, number: str, **options: Any) -> Deferred[Any]:
    options.setdefault("customer_id", customer_id(world, "Jan Zakaznik"))
    return Deferred.fromCoroutine(
        start_outbound_call(
            ami, world.db, world.clock, agent_id=world.agent_id("eva"), number=number, **options
        )
    )


def the_call(world: E2EWorld) -> dict[str, Any]:
    with Session(world.engine) as s:
        [c] = s.scalars(select(Call)).all()
        return {
            "id": c.id,
            "uniqueid": c.uniqueid,
            "direction": c.direction.value,
            "state": c.state.value,
            "caller": c.caller_number,
            "callee": c.callee_number,
            "customer": c.customer_id,
            "contact": c.contact_person_id,
            "agent": c.agent_id,
            "answered_at": c.answered_at,
            "processing": c.processing_state.value,
            "cause": c.hangup_cause,
            "channel": c.channel,
        }


def current_call_of(world: E2EWorld, login: str) -> int | None:
    with Session(world.engine) as s:
        return s.scalar(
            select(AgentSession.current_call_id).where(
                AgentSession.agent_id == world.agent_id(login),
                AgentSession.logged_out_at.is_(None),
            )
        )


def test_a_connected_outbound_call_is_recorded_and_the_agent_processes_it(
    db_url: str, tmp_path: Path
) -> None:
    world = world_with(db_url, tmp_path, {"PJSIP/101": answers(2), CUSTOMER_LINE: answers(4, 20)})
    ami = world.connect_ami()
    placed = place(world, ami, "777 123 456")
    world.run(1)
    view = outcome(placed)
    assert (view.number, view.dial_number) == ("777 123 456", "420777123456")
    assert world.agent_state("eva") == ("off_air", "outbound", None)
    [originate] = [m for d, m in ami_log(world) if d == ">>" and m.get("Action") == "Originate"]
    assert originate.get("Channel") == "PJSIP/101"
    assert (originate.get("Context"), originate.get("Exten")) == (
        "hotline-outbound",
        "420777123456",
    )
    # The customer sees the support line's number: the DID that leads to the queue.
    assert originate.get("CallerID") == "Technical support <222111001>"
    assert originate.get("Variable") == f"HOTLINE_CALL_ID={view.call_id}"
    world.run(10)
    call = the_call(world)
    assert call["state"] == "talking" and call["answered_at"] is not None
    assert call["channel"].startswith("PJSIP/101-")  # the agent's leg, for Cancel
    world.run(30)
    call = the_call(world)
    assert (call["direction"], call["state"], call["callee"], call["caller"]) == (
        "out",
        "answered",
        "420777123456",
        "222111001",
    )
    assert not call["uniqueid"].startswith("out-")  # the agent channel's uniqueid now
    assert call["customer"] == customer_id(world, "Jan Zakaznik")
    assert (call["agent"], call["processing"]) == (world.agent_id("eva"), "pending")
    assert world.attempts(call["id"]) == [("eva", CUSTOMER_LINE, "answered", False)]
    # After a conversation the agent processes it with the outbound reason tree.
    assert world.agent_state("eva") == ("off_air", "processing", None)
    assert current_call_of(world, "eva") == call["id"]
    with Session(world.engine) as s:
        [recording] = s.scalars(select(Recording)).all()
        kinds = [e.kind for e in s.scalars(select(Event).where(Event.call_id == call["id"]))]
    assert recording.call_id == call["id"]
    assert world.wav_seconds(recording.path) > 20  # connected calls can be played
    # The ringing dialog closes on the agent's own call.answered event.
    assert "call.answered" in kinds and "call.ended" in kinds


def ami_log(world: E2EWorld) -> list[tuple[str, Any]]:
    factory = world.switch.emit.__self__  # type: ignore[union-attr]
    return list(factory.transcript)


@pytest.mark.parametrize(
    ("behaviour", "state", "outcome_"),
    [(NEVER, "no_answer", "no_answer"), (PhoneBehaviour(busy=True), "busy", "busy")],
)
def test_a_customer_who_does_not_answer_or_is_busy_sends_the_agent_back_off_air(
    db_url: str, tmp_path: Path, behaviour: PhoneBehaviour, state: str, outcome_: str
) -> None:
    world = world_with(db_url, tmp_path, {"PJSIP/101": answers(2), CUSTOMER_LINE: behaviour})
    ami = world.connect_ami()
    place(world, ami, "777123456")
    world.run(90)
    call = the_call(world)
    assert call["state"] == state and call["answered_at"] is None
    assert world.attempts(call["id"]) == [("eva", CUSTOMER_LINE, outcome_, False)]
    # Nothing to process: back off-air as agent_state says (EndWork), free of the call.
    assert world.agent_state("eva") == ("off_air", "paused", None)
    assert current_call_of(world, "eva") is None
    assert call["processing"] == "none"


def test_the_agent_not_answering_their_own_phone_ends_the_call(db_url: str, tmp_path: Path) -> None:
    world = world_with(db_url, tmp_path, {"PJSIP/101": NEVER})
    ami = world.connect_ami()
    place(world, ami, "777123456")
    world.run(45)  # the Originate gives up after 30 s
    call = the_call(world)
    assert call["state"] == "failed" and call["cause"] == "agent's phone: no answer"
    assert world.attempts(call["id"]) == []  # the customer was never dialled
    assert world.agent_state("eva") == ("off_air", "paused", None)


@pytest.mark.parametrize(
    ("typed", "dialled"),
    [
        ("777 123 456", "420777123456"),  # without prefix: the queue's country prefix
        ("+421 905 111 222", "421905111222"),
        ("00421905111222", "421905111222"),
        ("421905111222", "421905111222"),  # XXX...: already international
    ],
)
def test_number_formats(db_url: str, tmp_path: Path, typed: str, dialled: str) -> None:
    line = f"PJSIP/{dialled}@trunk"
    world = world_with(db_url, tmp_path, {"PJSIP/101": answers(1), line: answers(2, 5)})
    ami = world.connect_ami()
    place(world, ami, typed)
    world.run(30)
    call = the_call(world)
    assert (call["callee"], call["state"]) == (dialled, "answered")
    assert world.attempts(call["id"]) == [("eva", line, "answered", False)]


def test_a_contact_person_is_called_on_their_own_number(db_url: str, tmp_path: Path) -> None:
    line = "PJSIP/421905111222@trunk"
    world = world_with(db_url, tmp_path, {"PJSIP/101": answers(1), line: answers(2, 5)})
    ami = world.connect_ami()
    with Session(world.engine) as s:
        from db.models import ContactPerson

        contact = int(s.scalar(select(ContactPerson.id)))
    place(world, ami, "", contact_id=contact)
    world.run(30)
    call = the_call(world)
    assert (call["callee"], call["contact"], call["state"]) == ("421905111222", contact, "answered")


def test_someone_who_is_no_customer_is_called_through_the_pseudo_customer(
    db_url: str, tmp_path: Path
) -> None:
    world = world_with(db_url, tmp_path, {"PJSIP/101": answers(1), CUSTOMER_LINE: answers(2, 5)})
    ami = world.connect_ami()
    place(world, ami, "777123456", customer_id=None)
    world.run(30)
    assert the_call(world)["customer"] == customer_id(world, "OUTBOUND CALL")


def test_cancel_while_the_agents_phone_rings(db_url: str, tmp_path: Path) -> None:
    world = world_with(db_url, tmp_path, {"PJSIP/101": NEVER})
    ami = world.connect_ami()
    placed = place(world, ami, "777123456")
    world.run(5)
    view = outcome(placed)
    ringing = the_call(world)["channel"]
    assert ringing.startswith("PJSIP/101-")  # learnt from the VarSet event
    cancelled = Deferred.fromCoroutine(
        cancel_outbound_call(
            ami, world.db, world.clock, agent_id=world.agent_id("eva"), call_id=view.call_id
        )
    )
    world.run(2)
    assert outcome(cancelled).final
    assert ringing not in world.switch.channels_by_name  # AMI Hangup of the agent's channel
    call = the_call(world)
    assert (call["state"], call["cause"]) == ("failed", "cancelled by the agent")
    assert world.agent_state("eva") == ("off_air", "paused", None)
    world.run(60)
    assert the_call(world)["state"] == "failed"


def test_cancel_while_the_customers_phone_rings(db_url: str, tmp_path: Path) -> None:
    world = world_with(db_url, tmp_path, {"PJSIP/101": answers(1), CUSTOMER_LINE: NEVER})
    ami = world.connect_ami()
    placed = place(world, ami, "777123456")
    world.run(10)
    view = outcome(placed)
    Deferred.fromCoroutine(
        cancel_outbound_call(
            ami, world.db, world.clock, agent_id=world.agent_id("eva"), call_id=view.call_id
        )
    )
    world.run(5)
    call = the_call(world)
    assert call["state"] == "no_answer"
    assert world.attempts(call["id"]) == [("eva", CUSTOMER_LINE, "no_answer", False)]
    assert world.agent_state("eva") == ("off_air", "paused", None)
    assert not world.switch.channels_by_name  # both legs are gone


@pytest.mark.parametrize(
    ("setup", "number", "message"),
    [
        ("on_air", "777123456", "Go off air before you place an outbound call."),
        ("off_air", "call me", "This is not a phone number that can be dialled."),
        ("logged_out", "777123456", "You are not logged in at a phone seat."),
    ],
)
def test_refusals_place_nothing(
    db_url: str, tmp_path: Path, setup: str, number: str, message: str
) -> None:
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": answers(1)}, extra_yaml=CUSTOMERS)
    if setup != "logged_out":
        world.log_in("eva", on_air=setup == "on_air")
    ami = world.connect_ami()
    placed = place(world, ami, number)
    world.run(5)
    failure = outcome(placed)
    assert isinstance(failure, Failure) and failure.check(OutboundError)
    assert str(failure.value) == message
    with Session(world.engine) as s:
        assert s.scalars(select(Call)).all() == []
    assert not [m for d, m in ami_log(world) if m.get("Action") == "Originate"]


@pytest.mark.parametrize(
    ("customer", "action"),
    [(answers(2, 5), "callback_connected"), (NEVER, "callback_not_connected")],
    ids=["reached", "not-reached"],
)
def test_a_call_back_from_a_request_is_in_its_history_as_soon_as_it_ends(
    db_url: str, tmp_path: Path, customer: PhoneBehaviour, action: str
) -> None:
    """R-3.3: the back office sees how a call back went without anyone opening the item
    again: the outbound flow writes it when the call ends."""
    world = world_with(db_url, tmp_path, {"PJSIP/101": answers(2), CUSTOMER_LINE: customer})
    eva, jan = world.agent_id("eva"), customer_id(world, "Jan Zakaznik")
    with Session(world.engine) as s, s.begin():
        box = s.scalar(select(VoicemailBox.id).where(VoicemailBox.code == "CB"))
        assert box is not None
        s.add(BoxRight(agent_id=eva, box_id=box))
        item = VoicemailItem(
            box_id=box,
            kind=ItemKind.CALLBACK,
            caller_number="777123456",
            customer_id=jan,
            created_at=world.now() - timedelta(minutes=5),
        )
        s.add(item)
        s.flush()
        item_id = item.id
        bq.claim(s, item_id, eva, world.now())
    place(world, world.connect_ami(), "777123456", item_id=item_id)
    world.run(90)
    call = the_call(world)
    with Session(world.engine) as s:
        history = s.execute(
            select(VoicemailItemHistory.action, VoicemailItemHistory.call_id).where(
                VoicemailItemHistory.item_id == item_id,
                VoicemailItemHistory.action.like("callback_%"),
            )
        ).all()
        state = s.scalar(select(VoicemailItem.state).where(VoicemailItem.id == item_id))
    assert [tuple(row) for row in history] == [(action, call["id"])]
    assert state is ItemState.OPEN  # done only when the person says so
