"""A later answered call resolves the customer's open callback requests (R-3.6).

Runs on SQLite and, with HOTLINE_TEST_DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from callbacks import store as callbacks_store
from db.events import events_after
from db.models import Call, VoicemailItem, VoicemailItemHistory
from dialplan.store import calls
from domain.enums import CallState, Direction
from domain.refusals import CallNotFoundError
from tests.support.back_office import Office, answer, build_office, inbound_call, leave
from tests.support.time import t
from voicemail.claims import ItemActionError
from voicemail.store import queue as bq


@pytest.fixture
def office(engine: Engine) -> Office:
    with Session(engine) as s, s.begin():
        return build_office(s)


def request(s: Session, office: Office, number: str, at: datetime) -> int:
    call = inbound_call(s, office, number, at, end=CallState.CALLBACK, ended_at=at)
    return leave(s, office.callbacks, "callback", number, at, call_id=call)


def state(s: Session, item_id: int) -> tuple[str, int | None]:
    item = s.get(VoicemailItem, item_id)
    assert item is not None
    return item.state.value, item.resolved_by_call_id


def outbound(s: Session, number: str, at: datetime, agent_id: int, answered: bool) -> int:
    view = calls.open_call(
        s, uniqueid=uuid.uuid4().hex, direction=Direction.OUTBOUND, now=at, callee_number=number
    )
    call = s.get(Call, view.id)
    assert call is not None
    call.agent_id = agent_id
    if answered:
        call.answered_at = at + timedelta(seconds=8)
        call.state = CallState.TALKING
    return view.id


def resolved_by(s: Session, call_id: int) -> list[int]:
    """The items a call resolved (R-3.6)."""
    return list(
        s.scalars(
            select(VoicemailItem.id)
            .where(VoicemailItem.resolved_by_call_id == call_id)
            .order_by(VoicemailItem.id)
        )
    )


def test_an_answered_call_from_another_number_of_the_customer_resolves_his_requests(
    engine: Engine, office: Office
) -> None:
    with Session(engine) as s, s.begin():
        novak = request(s, office, "777123456", t(0))
        novak_message = leave(s, office.messages, "message", "777123456", t(5))
        svobodova = request(s, office, "731000111", t(10))
        call = inbound_call(s, office, "+420602111222", t(100))  # his second number
        answer(s, call, t(110))  # answering resolves at once, in the same transaction
        resolved = resolved_by(s, call)
        again = callbacks_store.resolve_by_contact(s, call, t(111))
        assert resolved == [novak] and again == []
        assert state(s, novak) == ("resolved_by_contact", call)
        assert state(s, novak_message) == ("open", None)  # a message is not a request
        assert state(s, svobodova) == ("open", None)
        history = s.scalars(
            select(VoicemailItemHistory).where(VoicemailItemHistory.item_id == novak)
        ).all()
        assert [(h.action, h.call_id, h.at) for h in history][-1] == (
            "resolved_by_contact",
            call,
            t(110),
        )
        events = [e for e in events_after(s, 0) if e.kind == "backoffice.resolved"]
        assert [e.payload["item_id"] for e in events] == [novak]
        # shown, not deleted
        page = bq.list_items(s, office.agents["eva"], states=["resolved_by_contact"], now=t(120))
        assert [(r.id, r.resolved_by_call_id) for r in page.rows] == [(novak, call)]
        with pytest.raises(ItemActionError, match="resolved by a later call"):
            bq.claim(s, novak, office.agents["eva"], t(130))


def test_a_call_linked_to_the_customer_resolves_even_with_a_hidden_number(
    engine: Engine, office: Office
) -> None:
    with Session(engine) as s, s.begin():
        novak = request(s, office, "602111222", t(0))
        call = inbound_call(s, office, "", t(100), customer_id=office.novak)
        answer(s, call, t(105))
        assert resolved_by(s, call) == [novak]


def test_an_unknown_callers_bare_number_resolves_their_request(
    engine: Engine, office: Office
) -> None:
    with Session(engine) as s, s.begin():
        stranger = request(s, office, "+421905000000", t(0))
        other = request(s, office, "+421905000001", t(1))
        hidden = request(s, office, "", t(2))
        call = inbound_call(s, office, "00421905000000", t(100))
        answer(s, call, t(104))
        assert resolved_by(s, call) == [stranger]
        assert state(s, other) == ("open", None) and state(s, hidden) == ("open", None)
        anonymous = inbound_call(s, office, "", t(200))
        answer(s, anonymous, t(201))
        assert resolved_by(s, anonymous) == []  # nothing to match on


def test_only_an_answered_call_resolves_and_only_earlier_requests(
    engine: Engine, office: Office
) -> None:
    with Session(engine) as s, s.begin():
        earlier = request(s, office, "777123456", t(0))
        abandoned = inbound_call(s, office, "777123456", t(50), end=CallState.ABANDONED_QUEUE)
        assert callbacks_store.resolve_by_contact(s, abandoned, t(60)) == []
        call = inbound_call(s, office, "777123456", t(100))
        answer(s, call, t(110))
        later = request(s, office, "777123456", t(120))  # after the answer: still wanted
        assert resolved_by(s, call) == [earlier]
        assert callbacks_store.resolve_by_contact(s, call, t(130)) == []
        assert state(s, later) == ("open", None)
        with pytest.raises(CallNotFoundError):
            callbacks_store.resolve_by_contact(s, 999_999, t(140))


def test_an_outbound_call_back_resolves_the_other_requests_and_leaves_its_own_to_the_caller(
    engine: Engine, office: Office
) -> None:
    eva = office.agents["eva"]
    with Session(engine) as s, s.begin():
        working = request(s, office, "777123456", t(0))
        duplicate = request(s, office, "602111222", t(30))
        bq.claim(s, working, eva, t(100))
        call = outbound(s, "+420777123456", t(110), eva, answered=True)
        assert callbacks_store.resolve_by_contact(s, call, t(118)) == [duplicate]
        assert state(s, working) == ("open", None)
        callbacks_store.record_callback_attempt(s, working, eva, call, True, t(200))
        assert bq.mark_done(s, working, eva, t(210)).state == "done"
        unanswered = outbound(s, "+420731000111", t(300), eva, answered=False)
        assert callbacks_store.resolve_by_contact(s, unanswered, t(330)) == []


def test_a_request_held_by_someone_else_is_resolved_and_they_are_told(
    engine: Engine, office: Office
) -> None:
    eva = office.agents["eva"]
    with Session(engine) as s, s.begin():
        item = request(s, office, "777123456", t(0))
        bq.claim(s, item, eva, t(10))
        call = inbound_call(s, office, "777123456", t(20))
        answer(s, call, t(25), agent_id=None)
        assert resolved_by(s, call) == [item]
        row = s.get(VoicemailItem, item)
        assert row is not None and (row.claimed_by_id, row.claim_expires_at) == (None, None)
        with pytest.raises(ItemActionError, match="resolved by a later call"):
            bq.mark_done(s, item, eva, t(30))
        # the call back she made still goes on record
        assert callbacks_store.record_callback_attempt(s, item, eva, call, True, t(40)).state == (
            "resolved_by_contact"
        )
        assert bq.cancel(s, item, eva, t(41)).state == "resolved_by_contact"
