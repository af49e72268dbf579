"""The Active call form's pure rules: matching, reasons, Save's checks, notices (R-2.6..R-2.13)."""

from __future__ import annotations

import ast
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_desktop import call_form as core
from agent_desktop.call_form import (
    CallForm,
    Candidate,
    MatchedVia,
    MatchKind,
    ReasonOption,
    ReasonTree,
    check_form,
    choose_reason,
    match_customer,
    reason_cascade,
)

NORTH, SOUTH, EAST = 1, 2, 3  # the queue serves NORTH and SOUTH only
QUEUE_LOCATIONS = frozenset({NORTH, SOUTH})


def cand(
    cid: int,
    name: str,
    location: int = NORTH,
    *,
    active: bool = True,
    via: MatchedVia = MatchedVia.MAIN,
    contact: tuple[int, str] | None = None,
) -> Candidate:
    if contact is not None:
        return Candidate(cid, name, active, location, MatchedVia.CONTACT, *contact)
    return Candidate(cid, name, active, location, via)


def match(*candidates: Candidate, selected: int | None = None, hidden: bool = False):
    return match_customer(
        candidates,
        queue_location_ids=QUEUE_LOCATIONS,
        selected_location_id=selected,
        queue_name="Technical support",
        number_hidden=hidden,
    )


# --------------------------------------------------------------------------- the pure-core rule


def test_the_core_imports_no_framework() -> None:
    # ARCHITECTURE.md: a pure core imports no Twisted, SQLAlchemy, Klein or Jinja2.
    path = Path(core.__file__)
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    forbidden = {"twisted", "sqlalchemy", "klein", "jinja2", "treq", "alembic", "psycopg2", "db"}
    assert roots, "the import scan found nothing; the test would pass vacuously"
    assert not roots & forbidden


# --------------------------------------------------------------------------- matching


def test_one_active_customer_by_number_is_matched() -> None:
    result = match(cand(10, "Alpha s.r.o."))
    assert result.kind is MatchKind.MATCHED
    assert result.customer is not None and result.customer.customer_id == 10
    assert result.display_name == "Alpha s.r.o."
    assert result.notice == ""


def test_only_customers_of_the_queues_locations_count() -> None:
    result = match(cand(10, "Elsewhere", EAST))
    assert result.kind is MatchKind.UNKNOWN
    assert result.display_name == "?????"
    # ...and one outside never beats, nor joins, one inside
    result = match(cand(10, "Elsewhere", EAST), cand(11, "Here", SOUTH))
    assert result.kind is MatchKind.MATCHED and result.customer.customer_id == 11  # type: ignore[union-attr]


def test_active_comes_before_inactive() -> None:
    result = match(cand(10, "Old tenant", active=False), cand(11, "New tenant"))
    assert result.kind is MatchKind.MATCHED
    assert result.customer.customer_id == 11  # type: ignore[union-attr]


def test_several_active_the_agents_selected_location_decides() -> None:
    both = (cand(10, "North family", NORTH), cand(11, "South family", SOUTH))
    assert match(*both, selected=SOUTH).customer.customer_id == 11  # type: ignore[union-attr]
    assert match(*both, selected=NORTH).customer.customer_id == 10  # type: ignore[union-attr]


def test_still_several_gives_a_pick_list_with_a_notice() -> None:
    # none at the agent's location: all active ones are listed
    result = match(cand(11, "Beta", SOUTH), cand(10, "Alpha", NORTH), selected=EAST)
    assert result.kind is MatchKind.PICK_LIST
    assert [c.customer_id for c in result.choices] == [10, 11]  # by name
    assert result.notice == core.PICK_LIST_NOTICE
    assert result.customer is None and result.display_name == "?????"
    # several at the agent's location: those are listed, the others are not
    result = match(
        cand(10, "Alpha", NORTH), cand(11, "Beta", NORTH), cand(12, "Gamma", SOUTH), selected=NORTH
    )
    assert result.kind is MatchKind.PICK_LIST
    assert {c.customer_id for c in result.choices} == {10, 11}


def test_an_inactive_customer_alone_is_offered_for_reactivation() -> None:
    result = match(cand(10, "Dormant Ltd", active=False))
    assert result.kind is MatchKind.INACTIVE_ONLY
    assert result.customer is not None and result.customer.customer_id == 10
    assert result.choices == (result.customer,)
    assert "Dormant Ltd" in result.notice and "Re-activate" in result.notice
    # not required to go on: the form shows an unknown caller meanwhile
    assert result.display_name == "?????"


def test_several_inactive_ones_are_offered_without_a_choice_made() -> None:
    result = match(cand(10, "A", active=False), cand(11, "B", SOUTH, active=False))
    assert result.kind is MatchKind.INACTIVE_ONLY
    assert result.customer is None and len(result.choices) == 2
    assert result.notice == core.inactive_notice(result.choices)


def test_a_match_through_a_contact_person_shows_company_and_contact() -> None:
    result = match(cand(10, "Acme a.s.", contact=(77, "Jana Nováková")))
    assert result.kind is MatchKind.MATCHED
    assert result.display_name == "Acme a.s. (Jana Nováková)"
    assert result.customer.contact_id == 77  # type: ignore[union-attr]


def test_the_customers_own_number_beats_their_contact_persons() -> None:
    result = match(
        cand(10, "Acme a.s.", contact=(77, "Jana")), cand(10, "Acme a.s.", via=MatchedVia.OTHER)
    )
    assert result.kind is MatchKind.MATCHED  # one customer, not a pick list of two
    assert result.display_name == "Acme a.s."


def test_nobody_is_an_unknown_caller_with_the_queue_name() -> None:
    result = match()
    assert (result.kind, result.display_name, result.queue_name) == (
        MatchKind.UNKNOWN,
        "?????",
        "Technical support",
    )
    assert not result.number_hidden


def test_a_hidden_number_is_an_unknown_caller() -> None:
    result = match(cand(10, "Alpha"), hidden=True)
    assert result.kind is MatchKind.UNKNOWN and result.number_hidden
    assert result.display_name == "?????" and result.queue_name == "Technical support"


def test_queue_label_marks_an_overflowed_call() -> None:
    assert core.queue_label("Billing", overflowed=True) == "Billing (overflowed call)"
    assert core.queue_label("Billing", overflowed=False) == "Billing"


@st.composite
def candidates_st(draw: st.DrawFn) -> list[Candidate]:
    """Rows as the database gives them: a customer's facts agree across its rows."""
    customers = {
        cid: (draw(st.sampled_from(["Alpha", "Beta", "delta"])), draw(st.booleans()), loc)
        for cid, loc in draw(
            st.dictionaries(st.integers(1, 8), st.sampled_from([NORTH, SOUTH, EAST]), max_size=5)
        ).items()
    }
    if not customers:
        return []
    rows = []
    for cid in draw(st.lists(st.sampled_from(sorted(customers)), max_size=8)):
        name, active, location = customers[cid]
        via = draw(st.sampled_from(list(MatchedVia)))
        contact = (draw(st.integers(1, 5)), "Jana") if via is MatchedVia.CONTACT else (None, "")
        rows.append(Candidate(cid, name, active, location, via, *contact))
    return rows


@given(candidates_st(), st.sampled_from([None, NORTH, SOUTH, EAST]), st.randoms())
def test_matching_properties(
    candidates: list[Candidate], selected: int | None, rnd: random.Random
) -> None:
    result = match(*candidates, selected=selected)
    inside = [c for c in candidates if c.location_id in QUEUE_LOCATIONS]
    offered = [*result.choices, *([result.customer] if result.customer else [])]
    assert all(c.location_id in QUEUE_LOCATIONS for c in offered)
    if any(c.active for c in inside):
        assert result.kind in (MatchKind.MATCHED, MatchKind.PICK_LIST)
        assert all(c.active for c in offered)
    elif inside:
        assert result.kind is MatchKind.INACTIVE_ONLY
    else:
        assert result.kind is MatchKind.UNKNOWN
    if result.kind is MatchKind.PICK_LIST:
        assert len({c.customer_id for c in result.choices}) == len(result.choices) >= 2
    # the order the database hands candidates over in changes nothing
    shuffled = list(candidates)
    rnd.shuffle(shuffled)
    assert match(*shuffled, selected=selected) == result


# --------------------------------------------------------------------------- reasons

#   Hardware (1)            Software (2)        Other (9, code OTH)
#     Router (3)              Billing app (6, code SW-B)
#       No signal (4, RT-1)
#       Slow (5, RT-2)
TREE = ReasonTree(
    [
        ReasonOption(2, None, "Software", position=2),
        ReasonOption(1, None, "Hardware", position=1),
        ReasonOption(9, None, "Other", "OTH", position=3),
        ReasonOption(3, 1, "Router"),
        ReasonOption(4, 3, "No signal", "RT-1", position=1),
        ReasonOption(5, 3, "Slow", "RT-2", position=2),
        ReasonOption(6, 2, "Billing app", "SW-B"),
        ReasonOption(50, 999, "Orphan", "X"),  # its parent is another queue's node
    ]
)


def test_the_first_level_is_offered_in_position_order() -> None:
    cascade = reason_cascade(TREE, ())
    assert cascade.has_tree and not cascade.complete
    assert [o.label for o in cascade.levels[0].options] == ["Hardware", "Software", "Other"]
    assert cascade.levels[0].selected_id is None and len(cascade.levels) == 1


def test_choosing_a_level_loads_the_next_down_to_the_code() -> None:
    cascade = reason_cascade(TREE, (1, 3))
    assert [lvl.selected_id for lvl in cascade.levels] == [1, 3, None]
    assert [o.code for o in cascade.levels[2].options] == ["RT-1", "RT-2"]
    assert cascade.levels[2].is_code_level and not cascade.levels[1].is_code_level
    done = reason_cascade(TREE, (1, 3, 5))
    assert done.complete and done.code == "RT-2" and done.leaf_id == 5
    assert len(done.levels) == 3  # nothing below a leaf


def test_changing_a_level_clears_all_below() -> None:
    assert choose_reason(TREE, (1, 3, 4), 0, 2) == (2,)
    assert choose_reason(TREE, (1, 3, 4), 2, 5) == (1, 3, 5)
    assert choose_reason(TREE, (2,), 1, 6) == (2, 6)


def test_a_choice_that_is_not_an_option_of_its_level_is_dropped() -> None:
    assert choose_reason(TREE, (1, 3), 2, 6) == (1, 3)  # 6 is under Software
    assert choose_reason(TREE, (1,), 3, 4) == (1,)  # level 1 was never chosen
    assert reason_cascade(TREE, (1, 6, 4)).path == (1,)
    assert reason_cascade(TREE, (50,)).path == ()  # unreachable node


def test_no_tree_hides_the_field_and_needs_nothing() -> None:
    empty = reason_cascade(ReasonTree([]), (1, 2))
    assert not empty.has_tree and empty.levels == () and empty.path == ()
    assert check_form(CallForm(customer_unknown=True), ReasonTree([]), customer_chosen=False).ok


@st.composite
def trees(draw: st.DrawFn) -> ReasonTree:
    count = draw(st.integers(0, 14))
    nodes = []
    for node_id in range(1, count + 1):
        parent = draw(st.none() | st.integers(1, node_id - 1)) if node_id > 1 else None
        nodes.append(ReasonOption(node_id, parent, f"n{node_id}", draw(st.sampled_from(["", "C"]))))
    return ReasonTree(nodes)


@given(trees(), st.lists(st.integers(0, 15), max_size=6), st.integers(0, 5), st.integers(0, 15))
def test_choosing_keeps_the_levels_above_and_clears_the_ones_below(
    tree: ReasonTree, path: list[int], level: int, node_id: int
) -> None:
    before = reason_cascade(tree, path).path
    after = choose_reason(tree, path, level, node_id)
    assert after[:level] == before[:level]
    assert len(after) <= level + 1
    assert reason_cascade(tree, after).path == after  # always a valid path
    if len(after) == level + 1:
        assert after[-1] == node_id


@given(trees(), st.lists(st.integers(0, 15), max_size=6))
def test_the_cascade_shows_each_chosen_level_and_the_next(
    tree: ReasonTree, path: list[int]
) -> None:
    cascade = reason_cascade(tree, path)
    for level, chosen in zip(cascade.levels, cascade.path, strict=False):
        assert chosen in {o.id for o in level.options}
    if cascade.leaf_id is None and bool(tree):
        assert len(cascade.levels) == len(cascade.path) + 1
        assert cascade.levels[-1].selected_id is None
    assert cascade.complete == (cascade.leaf_id is not None and cascade.code == "C")
    form = CallForm(customer_unknown=True, reason_path=tuple(path))
    problems = check_form(form, tree, customer_chosen=False).problems
    assert (core.REASON_REQUIRED in [p.message for p in problems]) == (
        bool(tree) and not cascade.complete
    )


# --------------------------------------------------------------------------- Save's checks


def test_save_without_a_customer_says_first_search() -> None:
    check = check_form(CallForm(), ReasonTree([]), customer_chosen=False)
    assert [(p.field, p.message) for p in check.problems] == [
        ("customer", "First search for the customer")
    ]


@pytest.mark.parametrize(
    "form",
    [CallForm(customer_unknown=True), CallForm(assign_to_location_operator=True)],
    ids=["customer unknown", "location operator"],
)
def test_unknown_or_operator_saves_without_a_customer(form: CallForm) -> None:
    assert check_form(form, ReasonTree([]), customer_chosen=False).ok


def test_unknown_and_operator_together_are_refused() -> None:
    form = CallForm(customer_unknown=True, assign_to_location_operator=True)
    check = check_form(form, ReasonTree([]), customer_chosen=False)
    assert [p.message for p in check.problems] == [core.UNKNOWN_AND_OPERATOR]


def test_a_tree_needs_the_reason_down_to_its_code() -> None:
    for path in [(), (1,), (1, 3)]:
        check = check_form(CallForm(reason_path=path), TREE, customer_chosen=True)
        assert [p.message for p in check.problems] == [core.REASON_REQUIRED]
    check = check_form(CallForm(reason_path=(1, 3, 4)), TREE, customer_chosen=True)
    assert check.ok and (check.reason_leaf_id, check.reason_code) == (4, "RT-1")
    check = check_form(CallForm(reason_path=(9,)), TREE, customer_chosen=True)
    assert check.ok and check.reason_code == "OTH"  # a one-level branch is its own code


def test_a_leaf_without_a_code_is_not_enough() -> None:
    tree = ReasonTree([ReasonOption(1, None, "Misc")])
    check = check_form(CallForm(reason_path=(1,)), tree, customer_chosen=True)
    assert [p.message for p in check.problems] == [core.REASON_REQUIRED]


def test_every_problem_is_reported_in_form_order() -> None:
    check = check_form(CallForm(rt_number="12a", note="a\x00b"), TREE, customer_chosen=False)
    assert [p.field for p in check.problems] == ["customer", "reason", "note", "rt_number"]


@pytest.mark.parametrize("raw", ["", "   "])
def test_the_rt_number_is_optional(raw: str) -> None:
    check = check_form(CallForm(rt_number=raw), ReasonTree([]), customer_chosen=True)
    assert check.ok and check.rt_number is None


@pytest.mark.parametrize(
    "raw", ["12a", "-1", "1.5", "12 34", "²", "١٢٣", "01234567890", "+420", "0x1F"]
)
def test_an_rt_number_that_is_not_up_to_ten_digits_is_refused(raw: str) -> None:
    check = check_form(CallForm(rt_number=raw), ReasonTree([]), customer_chosen=True)
    assert [(p.field, p.message) for p in check.problems] == [
        ("rt_number", "The RT number is not a number")
    ]


@given(st.text(alphabet="0123456789", min_size=1, max_size=10))
def test_up_to_ten_ascii_digits_are_an_rt_number(digits: str) -> None:
    check = check_form(CallForm(rt_number=f" {digits}\t"), ReasonTree([]), customer_chosen=True)
    assert check.ok and check.rt_number == digits


@given(st.text(min_size=1, max_size=14))
def test_anything_else_is_not_an_rt_number(raw: str) -> None:
    value = raw.strip()
    is_number = 1 <= len(value) <= 10 and all(ch in "0123456789" for ch in value)
    try:
        cleaned = core.clean_rt_number(raw)
    except ValueError as exc:
        assert str(exc) == core.RT_NOT_A_NUMBER
        assert not is_number and value
    else:
        assert cleaned == (value if value else None)
        assert is_number or not value


def test_the_note_keeps_line_breaks_as_lf() -> None:
    check = check_form(
        CallForm(note="first\r\nsecond\rthird\n\tfourth"), ReasonTree([]), customer_chosen=True
    )
    assert check.ok and check.note == "first\nsecond\nthird\n\tfourth"


def test_the_note_is_bounded_and_refuses_control_characters() -> None:
    at_limit = "x" * core.NOTE_MAX_CHARS
    assert core.clean_note(at_limit) == at_limit
    with pytest.raises(ValueError, match=core.NOTE_TOO_LONG):
        core.clean_note(at_limit + "x")
    for bad in ["\x00", "\x1b[31m", "\x7f"]:
        with pytest.raises(ValueError) as refused:
            core.clean_note(f"ok{bad}")
        assert str(refused.value) == core.NOTE_BAD_CHARACTERS


def test_a_process_title_is_one_bounded_line() -> None:
    assert core.clean_process_title("  Replace\r\nthe  router ") == "Replace the router"
    with pytest.raises(ValueError, match=core.PROCESS_TITLE_REQUIRED):
        core.clean_process_title(" \n ")
    with pytest.raises(ValueError, match=core.PROCESS_TITLE_TOO_LONG):
        core.clean_process_title("x" * (core.PROCESS_TITLE_MAX_CHARS + 1))


# --------------------------------------------------------------------------- recovery


def test_the_unprocessed_notice_is_in_the_centres_time_zone() -> None:
    winter = datetime(2026, 11, 23, 9, 5, tzinfo=UTC)  # CET, UTC+1
    assert (
        core.unprocessed_notice(winter, "Europe/Prague")
        == "Showing unprocessed call from 23.11.2026 10:05"
    )
    summer = datetime(2026, 7, 1, 22, 30, tzinfo=UTC)  # CEST, UTC+2: the next day
    assert (
        core.unprocessed_notice(summer, "Europe/Prague")
        == "Showing unprocessed call from 02.07.2026 00:30"
    )
    assert core.unprocessed_notice(summer, "UTC").endswith("01.07.2026 22:30")


def test_the_unprocessed_notice_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        core.unprocessed_notice(datetime(2026, 11, 23, 9, 5), "Europe/Prague")
