"""The claiming state machine of a back-office item, pure (R-3.3, R-3.6)."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.enums import ItemKind, ItemState
from tests.support.time import T0, t
from voicemail import claims
from voicemail.claims import (
    Announce,
    CallbackAttempt,
    Cancel,
    Claim,
    ItemActionError,
    ItemClaimedError,
    ItemStatus,
    MarkDone,
    RecordHistory,
    Release,
    ResolvedByContact,
    transition,
)

EVA, JAN = 1, 2


def fresh(kind: ItemKind = ItemKind.MESSAGE) -> ItemStatus:
    return ItemStatus(ItemState.OPEN, kind)


def history(effects: list[claims.Effect]) -> list[str]:
    return [e.action for e in effects if isinstance(e, RecordHistory)]


def test_claim_holds_the_item_for_the_ttl_and_names_the_holder_to_others() -> None:
    held, effects = transition(fresh(), Claim(EVA, "Eva", ttl_s=600), t(0))
    assert (held.holder_id, held.claim_expires_at) == (EVA, t(600))
    assert history(effects) == ["claimed"] and Announce("claimed", EVA) in effects
    with pytest.raises(ItemClaimedError, match="Eva is working on this item") as refused:
        transition(held, Claim(JAN, "Jan"), t(60))
    assert refused.value.holder_id == EVA and "9 min" in str(refused.value)
    for event in (MarkDone(JAN), Cancel(JAN), Release(JAN)):
        with pytest.raises(ItemClaimedError):
            transition(held, event, t(599))


def test_an_expired_claim_frees_the_item_and_history_says_whose_lapsed() -> None:
    held, _ = transition(fresh(), Claim(EVA, "Eva", ttl_s=600), t(0))
    assert held.holder_at(t(599)) == EVA and held.holder_at(t(600)) is None
    taken, effects = transition(held, Claim(JAN, "Jan"), t(600))
    assert taken.holder_id == JAN and taken.claim_expires_at == t(1200)
    assert effects[0] == RecordHistory("claimed", JAN, params={"previous_holder": "Eva"})


def test_activity_by_the_holder_renews_the_claim_quietly() -> None:
    held, _ = transition(fresh(), Claim(EVA, "Eva", ttl_s=600), t(0))
    renewed, effects = transition(held, Claim(EVA, "Eva", ttl_s=600), t(500))
    assert renewed.claim_expires_at == t(1100) and effects == []
    again, effects = transition(renewed, CallbackAttempt(EVA, 7, False, "Eva"), t(1000))
    assert again.claim_expires_at == t(1600)
    assert history(effects) == ["callback_not_connected"]


def test_cancel_puts_the_item_back_in_the_queue() -> None:
    held, _ = transition(fresh(), Claim(EVA, "Eva"), t(0))
    back, effects = transition(held, Cancel(EVA), t(10))
    assert back.phase is ItemState.OPEN and back.holder_id is None and back.holder_at(t(10)) is None
    assert history(effects) == ["cancelled"]
    taken, _ = transition(back, Claim(JAN, "Jan"), t(11))
    assert taken.holder_id == JAN


def test_release_of_a_free_item_is_harmless() -> None:
    status, effects = transition(fresh(), Release(EVA), t(0))
    assert status == fresh() and effects == []


def test_a_message_may_be_done_after_listening() -> None:
    held, _ = transition(fresh(ItemKind.MESSAGE), Claim(EVA, "Eva"), t(0))
    done, effects = transition(held, MarkDone(EVA), t(30))
    assert (done.phase, done.closed_by_id, done.closed_at, done.holder_id) == (
        ItemState.DONE,
        EVA,
        t(30),
        None,
    )
    assert history(effects) == ["done"]
    with pytest.raises(ItemActionError, match="already done"):
        transition(done, Claim(JAN, "Jan"), t(31))


def test_a_callback_request_is_done_only_after_a_call_back_connected() -> None:
    held, _ = transition(fresh(ItemKind.CALLBACK), Claim(EVA, "Eva"), t(0))
    with pytest.raises(ItemActionError, match="use “Could not finish”"):
        transition(held, MarkDone(EVA), t(5))
    missed, _ = transition(held, CallbackAttempt(EVA, 7, connected=False), t(40))
    assert missed.phase is ItemState.OPEN and missed.holder_id == EVA  # stays claimed
    with pytest.raises(ItemActionError):
        transition(missed, MarkDone(EVA), t(41))
    reached, effects = transition(missed, CallbackAttempt(EVA, 8, connected=True), t(90))
    assert reached.customer_reached and history(effects) == ["callback_connected"]
    assert effects[0] == RecordHistory("callback_connected", EVA, call_id=8)
    done, _ = transition(reached, MarkDone(EVA), t(200))
    assert done.phase is ItemState.DONE


def test_a_call_back_is_recorded_even_when_someone_else_holds_the_item() -> None:
    held, _ = transition(fresh(ItemKind.CALLBACK), Claim(JAN, "Jan"), t(0))
    after, effects = transition(held, CallbackAttempt(EVA, 9, connected=True), t(5))
    assert after.holder_id == JAN and after.claim_expires_at == held.claim_expires_at
    assert history(effects) == ["callback_connected"]


def test_resolution_by_contact_closes_an_open_callback_request_even_if_claimed() -> None:
    held, _ = transition(fresh(ItemKind.CALLBACK), Claim(EVA, "Eva"), t(0))
    resolved, effects = transition(held, ResolvedByContact(55), t(10))
    assert resolved.phase is ItemState.RESOLVED_BY_CONTACT
    assert (resolved.resolved_by_call_id, resolved.closed_at, resolved.holder_id) == (
        55,
        t(10),
        None,
    )
    assert history(effects) == ["resolved_by_contact"]
    with pytest.raises(ItemActionError, match="resolved by a later call"):
        transition(resolved, MarkDone(EVA), t(11))
    # a message is not a callback request; a closed item stays as it is
    assert transition(fresh(ItemKind.MESSAGE), ResolvedByContact(55), t(10)) == (fresh(), [])
    assert transition(resolved, ResolvedByContact(56), t(12)) == (resolved, [])


def test_a_claim_needs_a_positive_time() -> None:
    with pytest.raises(ValueError):
        transition(fresh(), Claim(EVA, "Eva", ttl_s=0), t(0))


AGENTS = st.sampled_from([EVA, JAN, 3])
EVENTS = st.one_of(
    st.builds(Claim, AGENTS, st.just(""), st.integers(1, 900)),
    st.builds(Release, AGENTS),
    st.builds(Cancel, AGENTS),
    st.builds(MarkDone, AGENTS),
    st.builds(CallbackAttempt, AGENTS, st.integers(1, 99), st.booleans()),
    st.builds(ResolvedByContact, st.integers(1, 99)),
)


@settings(max_examples=300)
@given(
    kind=st.sampled_from(list(ItemKind)),
    steps=st.lists(st.tuples(st.integers(0, 400), EVENTS), max_size=30),
)
def test_no_one_ever_acts_on_an_item_someone_else_holds(
    kind: ItemKind, steps: list[tuple[int, claims.Event]]
) -> None:
    status, now = fresh(kind), T0
    for gap_s, event in steps:
        now += timedelta(seconds=gap_s)
        before = status
        try:
            status, _effects = transition(status, event, now)
        except ItemActionError:
            assert status == before
            continue
        holder = before.holder_at(now)
        actor = getattr(event, "agent_id", None)
        changed = (status.phase, status.holder_id, status.claim_expires_at) != (
            before.phase,
            before.holder_id,
            before.claim_expires_at,
        )
        if changed and actor is not None:
            # only the holder, or anyone once the claim lapsed, changes the item
            assert holder in (None, actor)
        if before.phase is not ItemState.OPEN:
            assert status.phase is before.phase  # done and resolved are final
        if status.phase is not ItemState.OPEN:
            assert status.holder_id is None and status.claim_expires_at is None
        if (
            status.phase is ItemState.DONE
            and before.phase is ItemState.OPEN
            and kind is ItemKind.CALLBACK
        ):
            assert before.customer_reached
        # the database's CHECK: a holder and an expiry, both or neither
        assert (status.holder_id is None) == (status.claim_expires_at is None)
        if changed and status.holder_id is not None:
            assert status.claim_expires_at is not None and status.claim_expires_at > now


def test_claims_is_a_pure_core() -> None:
    path = Path(claims.__file__)
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    assert not roots & {"twisted", "sqlalchemy", "klein", "jinja2", "db"}, roots
