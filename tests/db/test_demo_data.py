"""The demo contact centre (R-6.3): what it holds, that it loads, that it is deterministic."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from db.catalog import export_catalog, load_catalog
from db.demo_data import (
    DEMO_PASSWORD,
    czech_public_holidays,
    demo_catalog,
    demo_yaml,
    easter_sunday,
    load_demo,
)
from db.models import (
    Agent,
    Base,
    ContactPerson,
    Customer,
    CustomerPhone,
    Department,
    Did,
    Holiday,
    IvrMenu,
    IvrOption,
    Location,
    PauseType,
    PhoneSeat,
    Queue,
    QueueRight,
    ReasonNode,
    SeatRight,
    SupervisorDepartment,
    SupportTurnMember,
    VoicemailBox,
)
from db.passwords import verify_password
from domain.enums import BoxKind, ReasonDirection, Role

TODAY = date(2026, 3, 1)


@pytest.fixture
def demo(engine: Engine) -> Engine:
    with Session(engine) as session, session.begin():
        load_demo(session, today=TODAY)
    return engine


def _count(session: Session, model: type, *where: object) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


# --------------------------------------------------------------------------- the issue's counts


def test_the_demo_has_the_centre_the_issue_asks_for(demo: Engine) -> None:
    with Session(demo) as session:
        assert _count(session, Location) == 2
        assert _count(session, Queue) == 3
        assert _count(session, Agent, Agent.role == Role.AGENT) == 8
        assert _count(session, PhoneSeat) == 8
        assert _count(session, Customer) >= 200
        assert 1 <= _count(session, PauseType) <= 9
        for role in (Role.BACKOFFICE, Role.SUPERVISOR, Role.ADMIN):
            assert _count(session, Agent, Agent.role == role) == 1
        dial_strings = session.scalars(select(PhoneSeat.dial_string)).all()
        assert sorted(dial_strings) == [f"PJSIP/{n}" for n in range(101, 109)]
        # every agent has a seat right and at least one queue; some are in two queues
        queues_per_agent = dict(
            session.execute(
                select(Agent.login, func.count(QueueRight.queue_id))
                .join(QueueRight, QueueRight.agent_id == Agent.id)
                .group_by(Agent.login)
            ).all()
        )
        assert len(queues_per_agent) == 8
        assert sum(1 for n in queues_per_agent.values() if n == 2) >= 2
        assert _count(session, SeatRight) >= 8
        supervisor = session.scalars(select(Agent).where(Agent.role == Role.SUPERVISOR)).one()
        assert (
            _count(session, SupervisorDepartment, SupervisorDepartment.agent_id == supervisor.id)
            == 1
        )
        personal = session.scalars(select(PauseType).where(PauseType.name == "Osobní")).one()
        assert personal.paid is False


def test_every_queue_has_a_reason_tree_ending_in_codes(demo: Engine) -> None:
    with Session(demo) as session:
        nodes = session.scalars(select(ReasonNode)).all()
        codes = dict(session.execute(select(Queue.id, Queue.code)).all())
    by_id = {n.id: n for n in nodes}
    parents = {n.parent_id for n in nodes}

    def depth(node: ReasonNode) -> int:
        return 1 if node.parent_id is None else 1 + depth(by_id[node.parent_id])

    trees: dict[tuple[str, ReasonDirection], int] = defaultdict(int)
    for node in nodes:
        if node.id not in parents:  # a leaf
            assert node.code, f"leaf {node.label!r} has no reason code"
            key = (codes[node.queue_id], node.direction)
            trees[key] = max(trees[key], depth(node))
    assert set(trees) == {
        ("TECH", ReasonDirection.INBOUND),
        ("TECH", ReasonDirection.OUTBOUND),
        ("BILLING", ReasonDirection.INBOUND),
        ("SALES", ReasonDirection.INBOUND),
    }
    assert set(trees.values()) <= {2, 3} and 3 in trees.values()


def test_hours_overflow_boxes_ivr_and_rota(demo: Engine) -> None:
    with Session(demo) as session:
        queues = {q.code: q for q in session.scalars(select(Queue))}
        assert sum(q.overflow_enabled for q in queues.values()) == 2
        boxes = {b.code: b for b in session.scalars(select(VoicemailBox))}
        assert any(b.kind == BoxKind.COMBINED for b in boxes.values())
        assert any(b.email_to for b in boxes.values())
        export = export_catalog(session)
        # Mon-Fri 8-17 everywhere, Saturday 9-12 for technical support
        assert export.count("{weekday: mon, opens: '08:00', closes: '17:00'}") == 3
        assert export.count("{weekday: sat, opens: '09:00', closes: '12:00'}") == 1
        main = session.scalars(select(Did).where(Did.number == "542100100")).one()
        assert main.ivr_menu_id is not None
        submenus = session.scalars(
            select(IvrOption.submenu_id).where(
                IvrOption.menu_id == main.ivr_menu_id, IvrOption.submenu_id.is_not(None)
            )
        ).all()
        assert len(submenus) == 1 and session.get(IvrMenu, submenus[0]) is not None
        assert _count(session, Did, Did.queue_id.is_not(None)) >= 1
        members = session.scalars(select(SupportTurnMember)).all()
        assert any(m.priority == 0 for m in members)
        assert any(m.external_number.startswith("+420 603") for m in members)
        assert queues["TECH"].support_turns_enabled


def test_holidays_of_this_and_next_year_include_easter(demo: Engine) -> None:
    with Session(demo) as session:
        days = set(session.scalars(select(Holiday.day).where(Holiday.queue_id.is_(None))))
    assert len(days) == 26
    for year in (2026, 2027):
        easter = easter_sunday(year)
        assert easter - timedelta(days=2) in days  # Good Friday
        assert easter + timedelta(days=1) in days  # Easter Monday
        assert date(year, 12, 24) in days and date(year, 10, 28) in days


def test_customers_exercise_number_matching(demo: Engine) -> None:
    """R-2.6: shared numbers across locations, active/inactive pairs, contact persons."""
    with Session(demo) as session:
        rows = session.execute(
            select(CustomerPhone.digits, Customer.location_id, Customer.active, Customer.id).join(
                Customer
            )
        ).all()
        contact_digits = set(
            session.scalars(
                select(ContactPerson.phone_digits).where(ContactPerson.phone_digits != "")
            )
        )
        assert _count(session, Customer, Customer.active.is_(False)) >= 10
        assert _count(session, Customer, Customer.is_pseudo.is_(True)) == 2
        operators = session.scalars(select(Location.operator_customer_id)).all()
        assert all(op is not None for op in operators)
    holders: dict[str, list[tuple[int, bool, int]]] = defaultdict(list)
    for digits, location_id, active, customer_id in rows:
        holders[digits].append((location_id, active, customer_id))
    shared = [h for h in holders.values() if len({c for *_, c in h}) > 1]
    assert any(len({loc for loc, _, _ in h}) > 1 for h in shared)  # across locations
    assert any({a for _, a, _ in h} == {True, False} for h in shared)  # active + inactive
    assert any(  # two active customers of one location
        len([1 for loc, a, _ in h if a and loc == h[0][0]]) > 1 for h in shared
    )
    assert contact_digits & set(holders)  # a contact person's number is a customer's
    assert all(re.fullmatch(r"42[01]\d{9}", d) for d in holders)


def test_every_demo_login_uses_the_demo_password(demo: Engine) -> None:
    with Session(demo) as session:
        hashes = session.scalars(select(Agent.password_hash)).all()
    assert len(hashes) == 11
    assert all(verify_password(DEMO_PASSWORD, h) for h in hashes)
    assert not verify_password("wrong", hashes[0])


def test_loading_the_demo_twice_changes_nothing(demo: Engine) -> None:
    with Session(demo) as session, session.begin():
        summary = load_demo(session, today=TODAY)
    assert sum(summary.created.values()) == 0 and sum(summary.updated.values()) == 0


# --------------------------------------------------------------------------- determinism


def test_the_demo_is_deterministic_for_a_seed() -> None:
    assert demo_catalog(7, today=TODAY) == demo_catalog(7, today=TODAY)
    assert demo_yaml(7, today=TODAY) == demo_yaml(7, today=TODAY)
    other = demo_catalog(8, today=TODAY)
    assert other["customers"] != demo_catalog(7, today=TODAY)["customers"]
    assert other["queues"] == demo_catalog(7, today=TODAY)["queues"]


def _export_without_hashes(engine: Engine) -> str:
    with Session(engine) as session:
        text = export_catalog(session)
    return re.sub(r"password_hash: \S+", "password_hash: <salted>", text)


def test_the_same_seed_gives_the_same_database(demo: Engine) -> None:
    first = _export_without_hashes(demo)
    with Session(demo) as session, session.begin():
        session.execute(update(Location).values(operator_customer_id=None))
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
    with Session(demo) as session, session.begin():
        load_catalog(session, demo_yaml(7, today=TODAY), source="again")
    assert _export_without_hashes(demo) == first
    assert "OUTBOUND CALL" in first and "Štědrý den" in first


def test_the_demo_holidays_follow_today() -> None:
    catalog = demo_catalog(7, today=date(2030, 6, 1))
    years = {h["day"].year for h in catalog["holidays"]}
    assert years == {2030, 2031}


# --------------------------------------------------------------------------- Easter


@pytest.mark.parametrize(
    "easter",
    [
        date(2000, 4, 23),
        date(2008, 3, 23),
        date(2011, 4, 24),
        date(2019, 4, 21),
        date(2024, 3, 31),
        date(2025, 4, 20),
        date(2026, 4, 5),
        date(2027, 3, 28),
        date(2038, 4, 25),
    ],
)
def test_easter_sunday_on_known_dates(easter: date) -> None:
    assert easter_sunday(easter.year) == easter


@given(st.integers(min_value=1583, max_value=4099))
def test_easter_is_a_sunday_between_march_22_and_april_25(year: int) -> None:
    easter = easter_sunday(year)
    assert easter.weekday() == 6
    assert date(year, 3, 22) <= easter <= date(year, 4, 25)


@given(st.integers(min_value=2000, max_value=2100))
def test_thirteen_czech_public_holidays_a_year(year: int) -> None:
    holidays = czech_public_holidays(year)
    days = [d for d, _ in holidays]
    assert len(set(days)) == 13 and days == sorted(days)
    names = {name: d for d, name in holidays}
    assert names["Velký pátek"].weekday() == 4
    assert names["Velikonoční pondělí"].weekday() == 0
    assert names["Velikonoční pondělí"] - names["Velký pátek"] == timedelta(days=3)


README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_names_every_demo_login_by_role_and_its_language(demo: Engine) -> None:
    """Issue 16: a first user finds every demo login, with its role, in the README; only
    the people whose profile says Czech open in Czech whatever the browser says."""
    with Session(demo) as session:
        people = session.execute(select(Agent.login, Agent.role, Agent.language)).all()
    readme = README.read_text(encoding="utf-8")
    logins = readme.split("**Demo logins.**", 1)[1].split("**Languages.**", 1)[0]
    rows = {line.split("|")[1].strip(): line for line in logins.splitlines() if "|" in line}
    role_rows = {"agent": "agent", "backoffice": "back office", "supervisor": "supervisor"}
    for login, role, _ in people:
        assert f"`{login}`" in rows[role_rows.get(role.value, role.value)], login
    assert [login for login, _, language in people if language] == ["petra.horakova"]
    assert "`petra.horakova` has chosen Czech" in readme


def test_a_czech_centres_own_names_are_czech_and_the_readme_says_so(demo: Engine) -> None:
    """Issue 16: the demo centre is Czech, so what its administrators typed (queues, pause
    types, call reasons, boxes, departments, seats) is Czech, in either page language; the
    README says which languages the demo speaks."""
    with Session(demo) as session:
        queues = {code: name for code, name in session.execute(select(Queue.code, Queue.name))}
        pauses = list(session.scalars(select(PauseType.name).order_by(PauseType.position)))
        reasons = set(session.scalars(select(ReasonNode.label)))
        boxes = set(session.scalars(select(VoicemailBox.name)))
        seats = set(session.scalars(select(PhoneSeat.name)))
        departments = set(session.scalars(select(Department.name)))
    assert queues == {"TECH": "Technická podpora", "BILLING": "Vyúčtování", "SALES": "Obchod"}
    assert pauses == ["Osobní", "Oběd", "Úkol", "Porada", "Školení", "Porucha", "Zmeškaný hovor"]
    assert {"Výpadek v lokalitě", "Faktura", "Nová služba", "Zaslán ceník"} <= reasons
    english = {"No connection", "Invoice", "Payment", "Contract", "New service", "Television"}
    assert not reasons & english
    assert boxes == {
        "Technická podpora – vzkazy",
        "Technická podpora – zpětná volání",
        "Vyúčtování – vzkazy a zpětná volání",
        "Obchod – zpětná volání",
    }
    assert seats == {f"Pracoviště {n}" for n in range(101, 109)}
    assert {"Podpora Brno", "Podpora Ostrava", "Vedení"} <= departments
    languages = README.read_text(encoding="utf-8").split("**Languages.**", 1)[1]
    languages = " ".join(languages.split("\n## ", 1)[0].split())
    assert "The pages are in English or Czech" in languages
    assert "in Czech in either page language" in languages
    for name in ("Technická podpora", "Oběd", "Podpora Brno", "Pracoviště 101"):
        assert name in languages, name
    assert "hear English" in languages


def test_the_docs_point_nowhere_outside_the_repository() -> None:
    """Issue 16: the README and docs stand alone (no ../shared, no machine paths) and say how
    to run the command from the virtualenv."""
    docs = [README, *sorted(README.parent.joinpath("docs").glob("*.md"))]
    for doc in docs:
        text = doc.read_text(encoding="utf-8")
        for outside in ("../shared", "/work/", "SPEC.md", "ARCHITECTURE.md", "beside the clone"):
            assert outside not in text, (doc.name, outside)
    assert ".venv/bin/hotline" in README.read_text(encoding="utf-8")
