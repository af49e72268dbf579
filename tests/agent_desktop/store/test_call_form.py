"""The Active call form against the database, on SQLite and PostgreSQL (R-2.6 .. R-2.13).

Every action runs in its own transaction, as ``DBRunner.run`` runs it: a refusal rolls its
transaction back, and the next transaction shows what was really stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from agent_desktop import call_form as core
from agent_desktop.agent_state import Activity as CoreActivity
from agent_desktop.agent_state import Pause, StartWork
from agent_desktop.store import agent_sessions
from agent_desktop.store import call_form as cp
from agent_desktop.store.call_form import CallFormError
from db.events import events_after
from db.models import (
    RETIRED_POSITION,
    Agent,
    AuditLog,
    Call,
    ContactPerson,
    Customer,
    CustomerPhone,
    Location,
    QueueRight,
    ReasonNode,
)
from dialplan.store import calls
from domain.enums import CallState, Direction, ReasonDirection
from tests.support.call_form import CallFormWorld, add_reasons, answered_call, build_call_form_world
from tests.support.centre import log_in_on_air
from tests.support.customers import add_customer
from tests.support.time import T0, t


@contextmanager
def tx(engine: Engine) -> Iterator[Session]:
    with sessionmaker(engine, expire_on_commit=False).begin() as session:
        yield session


@pytest.fixture
def world(engine: Engine) -> CallFormWorld:
    with tx(engine) as s:
        return build_call_form_world(s)


def agent(world: CallFormWorld, login: str) -> int:
    return world.centre.agents[login]


def activity(engine: Engine, agent_id: int) -> tuple[str, str]:
    with tx(engine) as s:
        row = agent_sessions.open_session_row(s, agent_id, lock=False)
        assert row is not None
        return row.state.value, row.activity.value


def phones_of(engine: Engine, customer_id: int) -> list[tuple[int, str]]:
    with tx(engine) as s:
        rows = s.scalars(
            select(CustomerPhone)
            .where(CustomerPhone.customer_id == customer_id)
            .order_by(CustomerPhone.position)
        ).all()
        return [(p.position, p.digits) for p in rows]


# --------------------------------------------------------------------------- matching


def test_match_through_the_main_number_in_any_written_form(
    engine: Engine, world: CallFormWorld
) -> None:
    with tx(engine) as s:
        alpha = add_customer(s, "Alpha s.r.o.", world.north, ("+420 777 111 111",))
        call_id = answered_call(s, world, "eva", "777111111", uniqueid="1.1")
    with tx(engine) as s:
        result = cp.match_caller(s, call_id, agent(world, "eva"))
    assert result.kind is core.MatchKind.MATCHED
    assert result.customer is not None and result.customer.customer_id == alpha
    assert result.customer.via is core.MatchedVia.MAIN
    assert (result.display_name, result.queue_name) == ("Alpha s.r.o.", "Technical support")
    with tx(engine) as s:  # the form opens with the customer, also after a reload
        form = cp.load_call_form(s, call_id)
    assert (form.customer_id, form.customer_name) == (alpha, "Alpha s.r.o.")


def test_match_through_another_number(engine: Engine, world: CallFormWorld) -> None:
    with tx(engine) as s:
        add_customer(s, "Beta", world.south, ("601000001", "00420 606 222 333"))
        call_id = answered_call(s, world, "eva", "+420606222333", uniqueid="1.1")
    with tx(engine) as s:
        result = cp.match_caller(s, call_id, agent(world, "eva"))
    assert result.kind is core.MatchKind.MATCHED and result.display_name == "Beta"
    assert result.customer is not None and result.customer.via is core.MatchedVia.OTHER


def test_match_through_a_contact_person(engine: Engine, world: CallFormWorld) -> None:
    with tx(engine) as s:
        acme = add_customer(
            s,
            "Acme a.s.",
            world.north,
            ("222000111",),
            contacts=(("Jana Nováková", "777 555 444"),),
        )
        call_id = answered_call(s, world, "eva", "777555444", uniqueid="1.1")
    with tx(engine) as s:
        result = cp.match_caller(s, call_id, agent(world, "eva"))
    assert result.display_name == "Acme a.s. (Jana Nováková)"
    with tx(engine) as s:
        form = cp.load_call_form(s, call_id)
        assert form.customer_id == acme and form.contact_person_id is not None
        assert form.customer_name == "Acme a.s. (Jana Nováková)"


def test_only_the_queues_locations_are_searched(engine: Engine, world: CallFormWorld) -> None:
    with tx(engine) as s:
        add_customer(s, "Far away", world.east, ("777111111",))
        call_id = answered_call(s, world, "eva", "777111111", uniqueid="1.1")
    with tx(engine) as s:
        result = cp.match_caller(s, call_id, agent(world, "eva"))
        assert result.kind is core.MatchKind.UNKNOWN
        assert (result.display_name, result.queue_name) == ("?????", "Technical support")
        assert cp.load_call_form(s, call_id).customer_id is None


def test_an_inactive_only_match_is_offered_and_reactivation_works(
    engine: Engine, world: CallFormWorld
) -> None:
    with tx(engine) as s:
        dormant = add_customer(s, "Dormant", world.north, ("777111111",), active=False)
        call_id = answered_call(s, world, "eva", "777111111", uniqueid="1.1")
    with tx(engine) as s:
        result = cp.match_caller(s, call_id, agent(world, "eva"))
        assert result.kind is core.MatchKind.INACTIVE_ONLY
        assert result.customer is not None and result.customer.customer_id == dormant
        assert cp.load_call_form(s, call_id).customer_id is None  # not required to go on
    with tx(engine) as s:
        card = cp.reactivate_customer(s, dormant, agent(world, "eva"), t(100))
        assert card.active
    with tx(engine) as s:
        assert cp.match_caller(s, call_id, agent(world, "eva")).kind is core.MatchKind.MATCHED
        audit = s.scalars(select(AuditLog)).one()
        assert (audit.action, audit.actor_id) == ("customer.reactivate", agent(world, "eva"))
        assert "customer.reactivated" in [e.kind for e in events_after(s, 0)]


def test_several_active_the_selected_location_then_a_pick_list(
    engine: Engine, world: CallFormWorld
) -> None:
    with tx(engine) as s:
        add_customer(s, "North family", world.north, ("777111111",))
        south = add_customer(s, "South family", world.south, ("777111111",))
        call_id = answered_call(s, world, "eva", "777111111", uniqueid="1.1")
    with tx(engine) as s:
        result = cp.match_caller(s, call_id, agent(world, "eva"))
        assert result.kind is core.MatchKind.PICK_LIST
        assert [c.name for c in result.choices] == ["North family", "South family"]
        assert result.notice == core.PICK_LIST_NOTICE
        assert cp.load_call_form(s, call_id).customer_id is None
    with tx(engine) as s:
        s.get(Agent, agent(world, "eva")).selected_location_id = world.south  # type: ignore[union-attr]
    with tx(engine) as s:
        result = cp.match_caller(s, call_id, agent(world, "eva"))
        assert result.kind is core.MatchKind.MATCHED and result.customer.customer_id == south  # type: ignore[union-attr]


@pytest.mark.parametrize("number", ["", "anonymous"])
def test_a_hidden_number_is_an_unknown_caller(
    engine: Engine, world: CallFormWorld, number: str
) -> None:
    with tx(engine) as s:
        add_customer(s, "Alpha", world.north, ("777111111",))
        call_id = answered_call(s, world, "eva", number, uniqueid="1.1")
    with tx(engine) as s:
        result = cp.match_caller(s, call_id, agent(world, "eva"))
    assert result.kind is core.MatchKind.UNKNOWN and result.number_hidden
    assert (result.display_name, result.queue_name) == ("?????", "Technical support")


def test_a_picked_customer_is_not_replaced_by_matching_again(
    engine: Engine, world: CallFormWorld
) -> None:
    with tx(engine) as s:
        add_customer(s, "Alpha", world.north, ("777111111",))
        other = add_customer(s, "Grandson", world.north, ("601999999",))
        call_id = answered_call(s, world, "eva", "777111111", uniqueid="1.1")
        cp.pick_customer(s, call_id, other)
    with tx(engine) as s:
        cp.match_caller(s, call_id, agent(world, "eva"))
        assert cp.load_call_form(s, call_id).customer_id == other


# --------------------------------------------------------------------------- search


@pytest.fixture
def directory(engine: Engine, world: CallFormWorld) -> dict[str, int]:
    with tx(engine) as s:
        return {
            "cerny": add_customer(
                s,
                "Petr Černý",
                world.north,
                ("777 123 456", "222 333 444"),
                address="Dlouhá 5, Brno",
                contract="SML-2024-001",
            ),
            "acme": add_customer(
                s,
                "ACME 100% s.r.o.",
                world.south,
                ("602000000",),
                address="Náměstí 1, Praha",
                contract="SML-2024-002",
                contacts=(("Jana Nováková", "+420 731 000 111"),),
            ),
            "old": add_customer(
                s, "Petr Starý", world.north, ("603000000",), active=False, contract="X-9"
            ),
            "east": add_customer(
                s, "Petr Východní", world.east, ("604000000",), address="Dlouhá 9"
            ),
        }


def search(engine: Engine, text: str, locations: list[int] | None, limit: int = 50) -> list[str]:
    with tx(engine) as s:
        return [h.name for h in cp.search_customers(s, text, locations, limit)]


def test_search_by_name_ignoring_case_also_beyond_ascii(
    engine: Engine, world: CallFormWorld, directory: dict[str, int]
) -> None:
    both = [world.north, world.south]
    assert search(engine, "černý", both) == ["Petr Černý"]
    assert search(engine, "ČERNÝ", both) == ["Petr Černý"]
    # active first, then by name; east is outside the locations given
    assert search(engine, "petr", both) == ["Petr Černý", "Petr Starý"]
    # every location; the order of names is the database's collation, active ones first
    everywhere = search(engine, "petr", None)
    assert set(everywhere[:2]) == {"Petr Černý", "Petr Východní"}
    assert everywhere[2:] == ["Petr Starý"]
    assert search(engine, "petr", both, limit=1) == ["Petr Černý"]


def test_search_ignores_accents_and_case_on_either_side(
    engine: Engine, world: CallFormWorld, directory: dict[str, int]
) -> None:
    """Issue 16: "kotlarska" finds "Kotlářská", "cerny" finds "Černý", and the other way
    round, on SQLite and PostgreSQL alike (a stored folded text, no database extension)."""
    both = [world.north, world.south]
    with tx(engine) as s:
        add_customer(s, "Jiří Kolář", world.north, address="Kotlářská 12, Brno", contract="K-1")
    assert search(engine, "kotlarska", both) == ["Jiří Kolář"]
    assert search(engine, "KOTLÁŘSKÁ 12", both) == ["Jiří Kolář"]
    assert search(engine, "jiri kolar", both) == ["Jiří Kolář"]
    assert search(engine, "cerny", both) == ["Petr Černý"]
    assert search(engine, "čérný", both) == ["Petr Černý"]  # accents typed where none are
    assert search(engine, "k-1", both) == ["Jiří Kolář"]


def test_a_renamed_customer_is_found_by_the_new_name_only(
    engine: Engine, world: CallFormWorld, directory: dict[str, int]
) -> None:
    with tx(engine) as s:
        s.get(Customer, directory["cerny"]).name = "Pavla Šťastná"  # type: ignore[union-attr]
    assert search(engine, "stastna", None) == ["Pavla Šťastná"]
    assert search(engine, "cerny", None) == []


def test_search_by_address_contract_and_several_words(
    engine: Engine, world: CallFormWorld, directory: dict[str, int]
) -> None:
    both = [world.north, world.south]
    assert search(engine, "dlouhá", both) == ["Petr Černý"]
    assert search(engine, "sml-2024", both) == ["ACME 100% s.r.o.", "Petr Černý"]
    assert search(engine, "petr brno", both) == ["Petr Černý"]  # every word must match
    assert search(engine, "petr praha", both) == []


def test_search_by_phone_in_any_written_form(
    engine: Engine, world: CallFormWorld, directory: dict[str, int]
) -> None:
    both = [world.north, world.south]
    for text in ["777 123 456", "+420777123456", "00420 777 123 456", "222-333-444"]:
        assert search(engine, text, both) == ["Petr Černý"], text
    assert search(engine, "731 000 111", both) == ["ACME 100% s.r.o."]  # a contact's phone
    hit = cp_hits(engine, "777123456", both)[0]
    assert (hit.main_number, hit.location_name, hit.active) == ("777 123 456", "North", True)


def cp_hits(engine: Engine, text: str, locations: list[int]) -> list[cp.CustomerHit]:
    with tx(engine) as s:
        return cp.search_customers(s, text, locations, 10)


def test_search_wildcards_are_plain_text(
    engine: Engine, world: CallFormWorld, directory: dict[str, int]
) -> None:
    both = [world.north, world.south]
    assert search(engine, "100%", both) == ["ACME 100% s.r.o."]
    assert search(engine, "%", both) == ["ACME 100% s.r.o."]  # the one with a "%", not all
    assert search(engine, "_", both) == []
    assert search(engine, "   ", both) == []
    assert search(engine, "petr", []) == []


# --------------------------------------------------------------------------- picking


def test_pick_a_customer_and_a_contact(engine: Engine, world: CallFormWorld) -> None:
    with tx(engine) as s:
        acme = add_customer(s, "Acme", world.south, contacts=(("Jana", ""),))
        call_id = answered_call(s, world, "eva", "", uniqueid="1.1")
        contact_id = cp_contact(s, acme)
    with tx(engine) as s:
        picked = cp.pick_customer(s, call_id, acme, contact_id)
    assert picked.display_name == "Acme (Jana)"
    with tx(engine) as s:
        form = cp.load_call_form(s, call_id)
        assert (form.customer_id, form.contact_person_id) == (acme, contact_id)


def cp_contact(session: Session, customer_id: int) -> int:
    return session.scalars(
        select(ContactPerson.id).where(ContactPerson.customer_id == customer_id)
    ).one()


def test_pick_refuses_inactive_foreign_and_mismatched(engine: Engine, world: CallFormWorld) -> None:
    with tx(engine) as s:
        dormant = add_customer(s, "Dormant", world.north, active=False)
        far = add_customer(s, "Far", world.east)
        acme = add_customer(s, "Acme", world.north)
        other = add_customer(s, "Other", world.north, contacts=(("Karel", ""),))
        karel = cp_contact(s, other)
        call_id = answered_call(s, world, "eva", "", uniqueid="1.1")
    cases = [
        (dormant, None, core.CUSTOMER_INACTIVE),
        (far, None, core.CUSTOMER_OUTSIDE_QUEUE),
        (acme, karel, core.CONTACT_NOT_OF_CUSTOMER),
        (999_999, None, core.NO_SUCH_CUSTOMER),
    ]
    for customer_id, contact_id, message in cases:
        with pytest.raises(CallFormError) as refused, tx(engine) as s:
            cp.pick_customer(s, call_id, customer_id, contact_id)
        assert str(refused.value) == message


# ---------------------------------------------------------------------------


def test_replace_number_puts_a_new_number_first(engine: Engine, world: CallFormWorld) -> None:
    with tx(engine) as s:
        cid = add_customer(s, "Alpha", world.north, ("777111111", "777222222"))
    with tx(engine) as s:
        phones = cp.replace_main_number(s, cid, "601 555 666")
    assert [(p.position, p.digits) for p in phones] == [
        (1, "420601555666"),
        (2, "420777111111"),
        (3, "420777222222"),
    ]
    assert phones_of(engine, cid) == [(p.position, p.digits) for p in phones]


def test_replace_number_moves_a_known_number_up_without_a_duplicate(
    engine: Engine, world: CallFormWorld
) -> None:
    with tx(engine) as s:
        cid = add_customer(s, "Alpha", world.north, ("777111111", "777222222", "777333333"))
    with tx(engine) as s:
        cp.replace_main_number(s, cid, "+420 777 333 333")
    assert phones_of(engine, cid) == [
        (1, "420777333333"),
        (2, "420777111111"),
        (3, "420777222222"),
    ]
    with tx(engine) as s:  # already the main number: nothing moves
        cp.replace_main_number(s, cid, "777333333")
    assert [d for _, d in phones_of(engine, cid)] == [
        "420777333333",
        "420777111111",
        "420777222222",
    ]


def test_replace_number_refuses_a_hidden_number(engine: Engine, world: CallFormWorld) -> None:
    with tx(engine) as s:
        cid = add_customer(s, "Alpha", world.north, ("777111111",))
    with pytest.raises(CallFormError, match=core.NO_NUMBER_TO_SAVE), tx(engine) as s:
        cp.replace_main_number(s, cid, "anonymous")
    assert phones_of(engine, cid) == [(1, "420777111111")]


# --------------------------------------------------------------------------- reasons


def test_reason_options_per_queue_and_direction(engine: Engine, world: CallFormWorld) -> None:
    with tx(engine) as s:
        ids = add_reasons(s, world.centre.support, ReasonDirection.INBOUND)
    with tx(engine) as s:
        top = cp.reason_options(s, world.centre.support, "in", [])
        assert [o.label for o in top.levels[0].options] == ["Hardware", "Other"]
        deeper = cp.reason_options(s, world.centre.support, "in", [ids["Hardware"], ids["Router"]])
        assert [o.code for o in deeper.levels[-1].options] == ["RT-1", "RT-2"]
        assert deeper.levels[-1].is_code_level
        assert not cp.reason_options(s, world.centre.support, "out", []).has_tree
        assert not cp.reason_options(s, world.centre.billing, "in", []).has_tree


def test_a_retired_reason_is_offered_no_more(engine: Engine, world: CallFormWorld) -> None:
    with tx(engine) as s:
        ids = add_reasons(s, world.centre.support, ReasonDirection.INBOUND)
        s.get(ReasonNode, ids["Slow"]).position = RETIRED_POSITION  # type: ignore[union-attr]
        s.get(ReasonNode, ids["Other"]).position = RETIRED_POSITION  # type: ignore[union-attr]
    with tx(engine) as s:
        top = cp.reason_options(s, world.centre.support, "in", [])
        assert [o.label for o in top.levels[0].options] == ["Hardware"]
        deeper = cp.reason_options(s, world.centre.support, "in", [ids["Hardware"], ids["Router"]])
        assert [o.code for o in deeper.levels[-1].options] == ["RT-1"]


# --------------------------------------------------------------------------- Save


def save(engine: Engine, call_id: int, agent_id: int, form: core.CallForm, at_s: float = 200):
    with tx(engine) as s:
        return cp.save_call_form(s, call_id, agent_id, form, t(at_s))


def refusal(engine: Engine, call_id: int, agent_id: int, form: core.CallForm) -> str:
    with pytest.raises(CallFormError) as refused:
        save(engine, call_id, agent_id, form)
    return str(refused.value)


def test_save_refusals_leave_the_call_pending_and_the_agent_processing(
    engine: Engine, world: CallFormWorld
) -> None:
    with tx(engine) as s:
        ids = add_reasons(s, world.centre.support, ReasonDirection.INBOUND)
        alpha = add_customer(s, "Alpha", world.north, ("777111111",))
        call_id = answered_call(s, world, "eva", "601000000", uniqueid="1.1")
    eva = agent(world, "eva")
    leaf = (ids["Hardware"], ids["Router"], ids["Slow"])
    assert refusal(engine, call_id, eva, core.CallForm(reason_path=leaf)) == (
        "First search for the customer"
    )
    assert refusal(engine, call_id, eva, core.CallForm(customer_id=alpha)) == core.REASON_REQUIRED
    partial = core.CallForm(customer_id=alpha, reason_path=leaf[:2])
    assert refusal(engine, call_id, eva, partial) == core.REASON_REQUIRED
    for rt in ["12a", "12345678901"]:
        form = core.CallForm(customer_id=alpha, reason_path=leaf, rt_number=rt)
        assert refusal(engine, call_id, eva, form) == "The RT number is not a number"
    with tx(engine) as s:
        stored = s.get(Call, call_id)
        assert stored is not None and stored.processing_state.value == "pending"
        assert stored.customer_id is None and stored.rt_number is None
    assert activity(engine, eva) == ("off_air", "processing")


def test_save_stores_the_form_and_puts_the_agent_back_on_air(
    engine: Engine, world: CallFormWorld
) -> None:
    with tx(engine) as s:
        ids = add_reasons(s, world.centre.support, ReasonDirection.INBOUND)
        alpha = add_customer(s, "Alpha", world.north, ("777111111",))
        call_id = answered_call(s, world, "eva", "777111111", uniqueid="1.1")
        cp.match_caller(s, call_id, agent(world, "eva"))
    eva = agent(world, "eva")
    form = core.CallForm(
        reason_path=(ids["Hardware"], ids["Router"], ids["No signal"]),
        note="Router reset.\r\nCall back tomorrow.",
        rt_number="0012345678",
    )
    saved = save(engine, call_id, eva, form, at_s=300)
    assert saved.agent_on_air and saved.customer_id == alpha
    with tx(engine) as s:
        stored = s.get(Call, call_id)
        assert stored is not None
        assert (stored.reason_node_id, stored.reason_code) == (ids["No signal"], "RT-1")
        assert (stored.note, stored.rt_number) == (
            "Router reset.\nCall back tomorrow.",
            "0012345678",
        )
        assert (stored.processed_by_id, stored.processed_at) == (eva, t(300))
        assert stored.processing_state.value == "done" and not stored.customer_unknown
        processed = [e for e in events_after(s, 0) if e.kind == "call.processed"]
        assert len(processed) == 1 and processed[0].payload["reason_code"] == "RT-1"
        view = cp.load_call_form(s, call_id)
        assert view.reason.path == form.reason_path and view.reason.complete
    assert activity(engine, eva) == ("on_air", "idle")
    assert refusal(engine, call_id, eva, form) == core.ALREADY_PROCESSED


def test_save_as_unknown_customer_clears_a_wrong_match(
    engine: Engine, world: CallFormWorld
) -> None:
    with tx(engine) as s:
        add_customer(s, "Alpha", world.north, ("777111111",))
        call_id = answered_call(s, world, "eva", "777111111", uniqueid="1.1")
        cp.match_caller(s, call_id, agent(world, "eva"))
    saved = save(engine, call_id, agent(world, "eva"), core.CallForm(customer_unknown=True))
    assert saved.customer_unknown and saved.customer_id is None


def test_save_assigned_to_the_locations_operator(engine: Engine, world: CallFormWorld) -> None:
    with tx(engine) as s:
        north_op = add_customer(s, "North Networks (operator)", world.north)
        south_op = add_customer(s, "South Cable (operator)", world.south)
        s.get(Location, world.north).operator_customer_id = north_op  # type: ignore[union-attr]
        call_id = answered_call(s, world, "eva", "601000000", uniqueid="1.1")
        call_2 = answered_call(s, world, "jan", "601000001", uniqueid="1.2")
    with tx(engine) as s:
        choices = cp.location_operators(s, call_id)
        assert [(c.location_id, c.operator_customer_id) for c in choices] == [
            (world.north, north_op)
        ]
    # the only location with an operator is the one the call goes to
    saved = save(
        engine, call_id, agent(world, "eva"), core.CallForm(assign_to_location_operator=True)
    )
    assert saved.assigned_to_location_operator and saved.customer_id == north_op
    # south has no operator
    form = core.CallForm(assign_to_location_operator=True, operator_location_id=world.south)
    assert refusal(engine, call_2, agent(world, "jan"), form) == core.NO_LOCATION_OPERATOR
    with tx(engine) as s:
        s.get(Location, world.south).operator_customer_id = south_op  # type: ignore[union-attr]
    # two locations with operators: the agent must say which, or have one selected
    form = core.CallForm(assign_to_location_operator=True)
    assert refusal(engine, call_2, agent(world, "jan"), form) == core.CHOOSE_OPERATOR_LOCATION
    with tx(engine) as s:
        s.get(Agent, agent(world, "jan")).selected_location_id = world.south  # type: ignore[union-attr]
    assert save(engine, call_2, agent(world, "jan"), form).customer_id == south_op


def test_save_with_replace_number(engine: Engine, world: CallFormWorld) -> None:
    with tx(engine) as s:
        alpha = add_customer(s, "Alpha", world.north, ("777111111",))
        call_id = answered_call(s, world, "eva", "601 000 000", uniqueid="1.1")
        cp.pick_customer(s, call_id, alpha)
    save(engine, call_id, agent(world, "eva"), core.CallForm(replace_number=True))
    assert phones_of(engine, alpha) == [(1, "420601000000"), (2, "420777111111")]


def test_save_is_refused_while_connected_and_to_strangers(
    engine: Engine, world: CallFormWorld
) -> None:
    with tx(engine) as s:
        call_id = answered_call(s, world, "eva", "601000000", uniqueid="1.1", hang_up=False)
        s.add(Agent(login="zoe", name="Zoe", password_hash="x"))
    with tx(engine) as s:
        zoe = s.scalars(select(Agent.id).where(Agent.login == "zoe")).one()
    form = core.CallForm(customer_unknown=True)
    assert refusal(engine, call_id, agent(world, "eva"), form) == core.CALL_STILL_CONNECTED
    assert refusal(engine, call_id, zoe, form) == core.NOT_YOUR_CALL
    assert activity(engine, agent(world, "eva")) == ("off_air", "in_call")


# --------------------------------------------------------------------------- processes


def test_processes_list_their_calls(engine: Engine, world: CallFormWorld) -> None:
    with tx(engine) as s:
        alpha = add_customer(s, "Alpha", world.north, ("777111111",))
        first = answered_call(s, world, "eva", "777111111", uniqueid="1.1", talk_s=95)
        cp.match_caller(s, first, agent(world, "eva"))
        # a later call about the same matter that never connected
        missed = calls.open_call(
            s, uniqueid="1.2", direction=Direction.INBOUND, now=t(3600), caller_number="777111111"
        )
        calls.close_call(s, missed.id, CallState.ABANDONED_QUEUE, t(3630))
    with tx(engine) as s:
        repair = cp.create_process(s, first, "  Send a\ntechnician ", agent(world, "eva"), t(200))
        cp.create_process(s, first, "Credit note", agent(world, "eva"), t(201))
        cp.link_call(s, repair.id, missed.id)
        cp.link_call(s, repair.id, missed.id)  # twice is once
    assert (repair.title, repair.customer_id) == ("Send a technician", alpha)
    with tx(engine) as s:
        rows = cp.process_calls(s, repair.id)
        assert [(r.call_id, r.at, r.caller, r.callee, r.duration_s) for r in rows] == [
            (first, T0, "777111111", "2200", 95),
            (missed.id, t(3600), "777111111", "", None),
        ]
        assert [p.title for p in cp.processes_of_call(s, first)] == [
            "Send a technician",
            "Credit note",
        ]
    with pytest.raises(CallFormError, match=core.PROCESS_TITLE_REQUIRED), tx(engine) as s:
        cp.create_process(s, first, " ", agent(world, "eva"), t(300))
    with pytest.raises(CallFormError, match=core.NO_SUCH_PROCESS), tx(engine) as s:
        cp.process_calls(s, 999_999)


# --------------------------------------------------------------------------- recovery


def test_an_off_air_agent_with_the_right_loads_the_last_unprocessed_call(
    engine: Engine, world: CallFormWorld
) -> None:
    with tx(engine) as s:
        older = answered_call(s, world, "eva", "601000001", uniqueid="1.1", at=T0)
        latest = answered_call(
            s, world, "jan", "601000002", uniqueid="1.2", at=T0 + timedelta(minutes=7)
        )
        log_in_on_air(s, world.centre, "petr", T0)
        agent_sessions.apply_event(s, agent(world, "petr"), Pause(world.centre.missed_pause), t(1))
    petr = agent(world, "petr")
    with tx(engine) as s:
        found = cp.last_unprocessed_call(s, petr, t(1000))
    assert found is not None and found.call_id == latest
    assert found.agent_id == agent(world, "jan") and found.queue_name == "Technical support"
    assert found.notice == "Showing unprocessed call from 23.11.2026 10:07"
    # petr finishes jan's call; petr stays paused, the call is done
    saved = save(engine, latest, petr, core.CallForm(customer_unknown=True))
    assert not saved.agent_on_air and saved.processed_by_id == petr
    assert activity(engine, petr) == ("off_air", "paused")
    with tx(engine) as s:
        assert cp.last_unprocessed_call(s, petr, t(1001)).call_id == older  # type: ignore[union-attr]
    # jan, who closed the browser, is still processing; his Save releases him
    assert activity(engine, agent(world, "jan")) == ("off_air", "processing")
    again = save(engine, latest, agent(world, "jan"), core.CallForm())
    assert again.agent_on_air and again.processed_by_id == petr
    assert activity(engine, agent(world, "jan")) == ("on_air", "idle")


def test_recovery_needs_an_off_air_agent_and_a_right_to_the_queue(
    engine: Engine, world: CallFormWorld
) -> None:
    with tx(engine) as s:
        answered_call(s, world, "eva", "601000001", uniqueid="1.1")
        live = answered_call(s, world, "jan", "601000002", uniqueid="1.2", at=t(600), hang_up=False)
        log_in_on_air(s, world.centre, "petr", T0)
    petr = agent(world, "petr")
    with pytest.raises(CallFormError, match=core.RECOVERY_ONLY_OFF_AIR), tx(engine) as s:
        cp.last_unprocessed_call(s, petr, t(1000))  # on-air
    with tx(engine) as s:
        agent_sessions.apply_event(s, petr, StartWork(CoreActivity.BACKOFFICE), t(1))
    with tx(engine) as s:
        found = cp.last_unprocessed_call(s, petr, t(1000))
        assert found is not None and found.call_id != live  # the connected call is jan's
    with tx(engine) as s:
        s.delete(s.get(QueueRight, (petr, world.centre.support)))
    with tx(engine) as s:
        assert cp.last_unprocessed_call(s, petr, t(1000)) is None
    with pytest.raises(CallFormError, match=core.RECOVERY_ONLY_OFF_AIR), tx(engine) as s:
        cp.last_unprocessed_call(s, agent(world, "jan"), t(1000))  # in a call
