"""The back office's queue in the database: list, detail, claims, actions (R-3.1 .. R-3.3).

Runs on SQLite and, with HOTLINE_TEST_DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import datetime

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from callbacks import store as callbacks_store
from db.events import events_after
from db.models import Recording, VoicemailItem, VoicemailItemHistory
from domain.enums import CallState
from tests.support.back_office import Office, build_office, inbound_call, leave
from tests.support.time import t
from voicemail.claims import ItemActionError, ItemClaimedError
from voicemail.store import queue as bq


def actions(session: Session, item_id: int) -> list[tuple[str, int | None]]:
    rows = session.scalars(
        select(VoicemailItemHistory)
        .where(VoicemailItemHistory.item_id == item_id)
        .order_by(VoicemailItemHistory.id)
    )
    return [(h.action, h.agent_id) for h in rows]


@pytest.fixture
def office(engine: Engine) -> Office:
    with Session(engine) as s, s.begin():
        return build_office(s)


def message_from(s: Session, office: Office, number: str, at: datetime, **kw: object) -> int:
    call = inbound_call(s, office, number, at, end=CallState.VOICEMAIL, ended_at=at)
    return leave(s, office.messages, "message", number, at, call_id=call, **kw)  # type: ignore[arg-type]


def callback_from(s: Session, office: Office, number: str, at: datetime, box: int = 0) -> int:
    call = inbound_call(s, office, number, at, end=CallState.CALLBACK, ended_at=at)
    return leave(s, box or office.callbacks, "callback", number, at, call_id=call)


# --------------------------------------------------------------------------- list


def test_the_list_shows_box_customer_count_over_all_numbers_and_last_time(
    engine: Engine, office: Office
) -> None:
    with Session(engine) as s, s.begin():
        # Novák calls from both his numbers, once from a number the flow linked by customer
        inbound_call(s, office, "602111222", t(0), end=CallState.ABANDONED_QUEUE)
        inbound_call(s, office, "+420777123456", t(100), end=CallState.ANSWERED)
        inbound_call(s, office, "", t(150), customer_id=office.novak, end=CallState.ANSWERED)
        message = message_from(s, office, "777123456", t(200), recording_path="vm/a.wav")
        # somebody else, unknown, twice
        inbound_call(s, office, "+421905000000", t(300), end=CallState.ABANDONED_QUEUE)
        request = callback_from(s, office, "00421905000000", t(400))
        page = bq.list_items(s, office.agents["eva"], now=t(500))
    assert page.total == 2 and [r.id for r in page.rows] == [message, request]
    novak, stranger = page.rows
    assert (novak.box_name, novak.kind, novak.shown_as) == (
        "Support voicemail",
        "message",
        "Jan Novák",
    )
    assert novak.call_count == 4 and novak.last_call_at == t(200)
    assert novak.has_recording and novak.duration_s is None and novak.state == "open"
    assert (stranger.box_name, stranger.shown_as, stranger.customer_id) == (
        "Support callbacks",
        "00421905000000",
        None,
    )
    assert stranger.call_count == 2 and stranger.last_call_at == t(400)
    assert not stranger.has_recording


def test_the_list_shows_only_boxes_one_has_a_right_to(engine: Engine, office: Office) -> None:
    with Session(engine) as s, s.begin():
        message = message_from(s, office, "777123456", t(0))
        request = callback_from(s, office, "731000111", t(10))
        night = callback_from(s, office, "731000111", t(20), box=office.night)

        def ids(login: str, **kw: object) -> list[int]:
            page = bq.list_items(s, office.agents[login], now=t(60), **kw)  # type: ignore[arg-type]
            return [r.id for r in page.rows]

        assert ids("eva") == [message, request, night]
        assert ids("jan") == [request]
        assert ids("sue") == [message, request, night]  # a supervisor sees every box
        assert ids("ann") == []
        assert ids("eva", box_ids=[office.callbacks, office.night]) == [request, night]
        assert ids("jan", box_ids=[office.messages]) == []  # asking is not a right
        assert bq.list_items(s, office.agents["jan"], now=t(60)).total == 1


def test_filters_by_state_and_pages_with_a_total(engine: Engine, office: Office) -> None:
    eva = office.agents["eva"]
    with Session(engine) as s, s.begin():
        items = [message_from(s, office, f"60000000{i}", t(i)) for i in range(7)]
        bq.claim(s, items[1], eva, t(100))
        bq.mark_done(s, items[1], eva, t(101))
        first = bq.list_items(s, eva, page=1, page_size=4, now=t(200))
        second = bq.list_items(s, eva, page=2, page_size=4, now=t(200))
        done = bq.list_items(s, eva, states=["done"], now=t(200))
        both = bq.list_items(s, eva, states=["open", "done"], page_size=50, now=t(200))
        newest = bq.list_items(s, eva, page_size=2, now=t(200), newest_first=True)
        with pytest.raises(bq.ListFilterError) as unknown_state:
            bq.list_items(s, eva, states=["claimed"], now=t(200))
        assert unknown_state.value.params == {"state": "claimed"}
        with pytest.raises(bq.ListFilterError):
            bq.list_items(s, eva, page=0, now=t(200))
    open_ids = [i for i in items if i != items[1]]
    assert (first.total, first.pages, [r.id for r in first.rows]) == (6, 2, open_ids[:4])
    assert [r.id for r in second.rows] == open_ids[4:]
    assert [r.id for r in done.rows] == [items[1]] and done.rows[0].state == "done"
    assert both.total == 7
    assert [r.id for r in newest.rows] == [items[6], items[5]]


def test_the_list_names_the_holder_only_while_the_claim_runs(
    engine: Engine, office: Office
) -> None:
    eva = office.agents["eva"]
    with Session(engine) as s, s.begin():
        item = message_from(s, office, "777123456", t(0))
        bq.claim(s, item, eva, t(10), ttl_s=600)
        [held] = bq.list_items(s, eva, now=t(609)).rows
        [lapsed] = bq.list_items(s, eva, now=t(610)).rows
    assert (held.claimed_by_id, held.claimed_by_name, held.claim_expires_at) == (eva, "Eva", t(610))
    assert (lapsed.claimed_by_id, lapsed.claimed_by_name) == (None, "")


# --------------------------------------------------------------------------- detail (R-3.2/3.3)


def test_detail_warns_when_the_customer_has_more_than_one_open_item(
    engine: Engine, office: Office
) -> None:
    eva = office.agents["eva"]
    with Session(engine) as s, s.begin():
        first = message_from(s, office, "777123456", t(0), duration_s=31)
        alone = bq.item_detail(s, first, eva, now=t(5))
        # Novák again, from his other number, into another box
        second = callback_from(s, office, "602111222", t(60))
        third = message_from(s, office, "731000111", t(70))  # Svobodová: not Novák's
        detail = bq.item_detail(s, first, eva, now=t(100))
        other = bq.item_detail(s, third, eva, now=t(100))
        bq.claim(s, second, eva, t(110))
        s.add(VoicemailItemHistory(item_id=second, at=t(111), action="noted"))
        callbacks_store.record_callback_attempt(s, second, eva, None, True, t(120))
        bq.mark_done(s, second, eva, t(130))
        after = bq.item_detail(s, first, eva, now=t(140))
    assert (alone.open_items, alone.warning) == (1, "")
    assert (detail.open_items, detail.warning) == (2, "2 calls are being processed")
    assert (other.open_items, other.warning) == (1, "")
    assert (after.open_items, after.warning) == (1, "")
    assert (detail.customer_name, detail.customer_number) == ("Jan Novák", "C-1001")
    assert (detail.caller_number, detail.created_at, detail.duration_s) == ("777123456", t(0), 31)


def test_detail_lists_the_customers_calls_with_what_can_be_played(
    engine: Engine, office: Office
) -> None:
    eva = office.agents["eva"]
    with Session(engine) as s, s.begin():
        talked = inbound_call(s, office, "602111222", t(0), end=CallState.ANSWERED, ended_at=t(60))
        s.add(Recording(call_id=talked, path="calls/talked.wav", started_at=t(5), duration_s=55))
        s.add(Recording(call_id=talked, path="calls/gone.wav", started_at=t(5), deleted_at=t(9)))
        item = message_from(s, office, "777123456", t(100), recording_path="vm/msg.wav")
        inbound_call(s, office, "731000111", t(150), end=CallState.ANSWERED)  # someone else
        detail = bq.item_detail(s, item, eva, now=t(200))
    assert [c.call_id for c in detail.calls][1] == talked
    newest, older = detail.calls
    assert (newest.item_id, newest.item_kind, newest.item_recording_path) == (
        item,
        "message",
        "vm/msg.wav",
    )
    # The deleted one stays in its place, without a file: it says "not available".
    assert older.recording_paths == ("calls/talked.wav", "")
    assert (older.direction, older.number, older.state) == ("in", "602111222", "answered")
    assert [h.action for h in detail.history] == ["created"]


def test_detail_and_recordings_need_the_right_to_the_box(engine: Engine, office: Office) -> None:
    with Session(engine) as s, s.begin():
        message = message_from(s, office, "777123456", t(0), recording_path="vm/2026/a.wav")
        request = callback_from(s, office, "777123456", t(10))
        assert bq.recording_for(s, message, office.agents["eva"]) == "vm/2026/a.wav"
        assert bq.recording_for(s, message, office.agents["sue"]) == "vm/2026/a.wav"
        assert bq.recording_for(s, request, office.agents["jan"]) is None  # nothing recorded
        for login in ("jan", "ann"):  # not found, as if it did not exist (issue 11, item 6)
            with pytest.raises(bq.ItemNotFoundError):
                bq.recording_for(s, message, office.agents[login])
            with pytest.raises(bq.ItemNotFoundError):
                bq.item_detail(s, message, office.agents[login], now=t(20))
            with pytest.raises(bq.ItemNotFoundError):
                bq.claim(s, message, office.agents[login], t(20))
        with pytest.raises(bq.ItemNotFoundError):
            bq.recording_for(s, 999_999, office.agents["eva"])
        with pytest.raises(bq.BoxAccessError):
            bq.list_items(s, 999_999, now=t(20))  # nobody


# --------------------------------------------------------------------------- claims


def test_a_claim_runs_until_it_expires_and_every_action_is_in_the_history(
    engine: Engine, office: Office
) -> None:
    eva, jan = office.agents["eva"], office.agents["jan"]
    with Session(engine) as s, s.begin():
        item = callback_from(s, office, "777123456", t(0))
        view = bq.claim(s, item, eva, t(10), ttl_s=300)
        assert (view.claimed_by_id, view.claim_expires_at) == (eva, t(310))
        with pytest.raises(ItemClaimedError, match="Eva is working on this item") as refused:
            bq.claim(s, item, jan, t(100))
        assert refused.value.holder_id == eva
        assert bq.claim(s, item, eva, t(200), ttl_s=300).claim_expires_at == t(500)  # renewed
        with pytest.raises(ItemClaimedError):
            bq.cancel(s, item, jan, t(499))
        taken = bq.claim(s, item, jan, t(500))  # Eva's claim lapsed
        assert taken.claimed_by_id == jan
        cancelled = bq.cancel(s, item, jan, t(510))
        assert (cancelled.state, cancelled.claimed_by_id) == ("open", None)
        row = s.get(VoicemailItem, item)
        assert row is not None and (row.claimed_by_id, row.claim_expires_at) == (None, None)
        history = actions(s, item)
        detail = s.scalars(
            select(VoicemailItemHistory.params).where(
                VoicemailItemHistory.item_id == item, VoicemailItemHistory.agent_id == jan
            )
        ).first()
        kinds = [e.kind for e in events_after(s, 0)]
    assert history == [("created", None), ("claimed", eva), ("claimed", jan), ("cancelled", jan)]
    assert detail == '{"previous_holder": "Eva"}'
    assert kinds.count("backoffice.claimed") == 2 and "backoffice.cancelled" in kinds


def test_a_callback_that_did_not_connect_leaves_the_request_open(
    engine: Engine, office: Office
) -> None:
    eva = office.agents["eva"]
    with Session(engine) as s, s.begin():
        item = callback_from(s, office, "777123456", t(0))
        outbound = inbound_call(s, office, "", t(20))  # stands in for the outbound leg
        bq.claim(s, item, eva, t(10))
        missed = callbacks_store.record_callback_attempt(s, item, eva, outbound, False, t(50))
        assert (missed.state, missed.claimed_by_id, missed.customer_reached) == ("open", eva, False)
        with pytest.raises(ItemActionError, match="use “Could not finish”"):
            bq.mark_done(s, item, eva, t(55))
        bq.cancel(s, item, eva, t(56))
        [row] = bq.list_items(s, eva, now=t(57)).rows
        assert (row.id, row.state, row.claimed_by_id) == (item, "open", None)
        reached = callbacks_store.record_callback_attempt(s, item, eva, outbound, True, t(300))
        assert reached.customer_reached and reached.claimed_by_id == eva
        done = bq.mark_done(s, item, eva, t(400))
        stored = s.get(VoicemailItem, item)
        assert stored is not None
        assert (stored.state.value, stored.closed_by_id, stored.closed_at) == ("done", eva, t(400))
        history = actions(s, item)
    assert done.state == "done"
    assert [a for a, _ in history] == [
        "created",
        "claimed",
        "callback_not_connected",
        "cancelled",
        "claimed",
        "callback_connected",
        "done",
    ]


def _race(engine: Engine, work: list[Callable[[Session], object]]) -> list[object]:
    """Run each piece of work in its own thread, connection and transaction, all at once."""
    make = sessionmaker(engine)
    barrier = threading.Barrier(len(work))
    results: list[object] = [None] * len(work)

    def run(i: int) -> None:
        barrier.wait()
        try:
            with make.begin() as s:
                results[i] = work[i](s)
        except Exception as exc:  # judged by the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    return results


def _claimer(item_id: int, agent_id: int) -> Callable[[Session], object]:
    return lambda s: bq.claim(s, item_id, agent_id, t(60))


def test_two_staff_claiming_one_item_at_once_only_one_wins(engine: Engine, office: Office) -> None:
    with Session(engine) as s, s.begin():
        items = [message_from(s, office, "777123456", t(i)) for i in range(5)]
    people = [office.agents["eva"], office.agents["sue"]]
    for item in items:
        results = _race(engine, [_claimer(item, a) for a in people])
        winners = [r for r in results if isinstance(r, bq.ClaimView)]
        losers = [r for r in results if isinstance(r, ItemClaimedError)]
        assert len(winners) == 1 and len(losers) == 1, results
        assert losers[0].holder_id == winners[0].claimed_by_id
        with Session(engine) as s:
            row = s.get(VoicemailItem, item)
            assert row is not None and row.claimed_by_id == winners[0].claimed_by_id
            assert [a for a, _ in actions(s, item)] == ["created", "claimed"]


# Only PostgreSQL lets two transactions read the item at once (SQLite's single writer
# serialises them), so this race exists, and is tested, on PostgreSQL runs only.
if os.environ.get("HOTLINE_TEST_DATABASE_URL"):

    def test_without_the_row_lock_the_guarded_update_still_lets_only_one_win(
        engine: Engine, office: Office, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Both read the item as free before either writes: the UPDATE's WHERE decides."""
        with Session(engine) as s, s.begin():
            item = message_from(s, office, "777123456", t(0))
        both_read = threading.Barrier(2)
        plain_load = bq.load_item
        seen: list[int] = []

        def load_without_lock(
            session: Session, item_id: int, *, lock: bool = False
        ) -> VoicemailItem:
            row = plain_load(session, item_id, lock=False)
            seen.append(item_id)
            if len(seen) <= 2:
                both_read.wait(timeout=10)
            return row

        monkeypatch.setattr(bq, "load_item", load_without_lock)
        people = [office.agents["eva"], office.agents["sue"]]
        results = _race(engine, [_claimer(item, a) for a in people])
        winners = [r for r in results if isinstance(r, bq.ClaimView)]
        losers = [r for r in results if isinstance(r, ItemClaimedError)]
        assert len(winners) == 1 and len(losers) == 1, results
        assert len(seen) == 3  # the loser read again after its UPDATE matched nothing
