"""The catalog YAML (R-6.2): round trip, upsert rules, refusals with their line, numbers.

Every DB test runs on SQLite and, with HOTLINE_TEST_DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from db.catalog import CatalogError, LoadSummary, export_catalog, load_catalog
from db.models import (
    Agent,
    Base,
    BusinessHours,
    Call,
    ContactPerson,
    Customer,
    CustomerPhone,
    Location,
    PauseType,
    Queue,
    QueueRight,
    ReasonNode,
    SupportTurnMember,
)
from db.passwords import hash_password, verify_password
from domain.enums import CallState, Direction, ReasonDirection

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)

# Every section and every key of the format at least once.
FULL = textwrap.dedent(
    """\
    settings:
      country_prefix: 420
      time_zone: Europe/Prague
      missed_call_pause_type: '7'
    departments:
      - name: Support Brno
      - name: Management
    locations:
      - {code: BRNO, name: Brno, operator: OP-BRNO}
      - {code: OSTRAVA, name: Ostrava, operator: null}
    pause_types:
      - {position: 1, name: Personal, paid: false}
      - {position: 7, name: Missed call, paid: true, active: true}
    voicemail_boxes:
      - code: TECH-VM
        name: Tech after hours
        kind: voicemail
        greeting_prompt: hotline/tech-vm
        max_message_s: 180
        silence_s: 4
        email_to: night@netmorava.example, boss@netmorava.example
      - {code: TECH-CB, name: Tech callbacks, kind: callback}
      - {code: BILL, name: Billing, kind: combined}
    phone_seats:
      - {name: Desk 101, dial_string: PJSIP/101}
      - {name: Desk 102, dial_string: PJSIP/102, restricted: true}
    agents:
      - login: eva
        name: Eva Nováková
        role: agent
        department: Support Brno
        language: cs
        active: true
        selected_location: BRNO
        password: secret-eva
        seats: [Desk 102, Desk 101]
        boxes: []
      - login: pavel
        name: Pavel Černý
        role: supervisor
        department: Management
        password: secret-pavel
        supervises: [Support Brno]
      - login: marie
        name: Marie Benešová
        role: backoffice
        password: secret-marie
        boxes: [TECH-VM, BILL]
    queues:
      - code: TECH
        name: Technical support
        active: true
        ring_timeout_s: 20
        overflow_enabled: true
        overflow_after_s: 90
        callback_offer_after_s: null
        callback_offer_repeat_s: 60
        voicemail_box: TECH-VM
        callback_box: TECH-CB
        country_prefix: '421'
        caller_id_number: '542100200'
        closed_on_weekends: false
        closed_action: voicemail
        hours_prompt: hotline/tech-hours
        moh_class: calm
        recording_enabled: false
        missed_call_pause_type: 7
        support_turns_enabled: true
        locations: [OSTRAVA, BRNO]
        agents: [eva]
        hours:
          - {weekday: mon, opens: '8:00', closes: '12:00'}
          - {weekday: monday, opens: '13:00', closes: '17:00'}
          - {weekday: 5, opens: '09:00', closes: '12:00:30'}
        closed_rules:
          - {starts: '20:00', ends: '06:00', action: voicemail}
          - {weekday: fri, starts: '15:00', ends: '17:00', action: announce}
        holidays:
          - {day: 2026-12-31, name: Stocktaking}
        reasons:
          in:
            - label: Internet
              children:
                - label: No connection
                  children:
                    - {label: Outage, code: T-101}
                    - {label: Router, code: T-102}
                - {label: Slow, code: T-111}
            - {label: Other, code: T-999}
          out:
            - {label: Follow-up, code: TO-1}
        support_turns:
          - weekday: mon
            opens: '07:00'
            closes: '19:00'
            members:
              - {agent: eva, priority: 2}
              - {number: +420 603 555 010, priority: 1}
              - {number: '603555011', priority: 0}
      - code: BILLING
        name: Billing
        voicemail_box: BILL
        callback_box: BILL
        locations: [BRNO]
        agents: [eva]
    holidays:
      - {day: 2026-12-24, name: Štědrý den}
      - {day: 2026-12-25, name: 1. svátek vánoční}
    ivr_menus:
      - code: MAIN
        name: Main menu
        prompt: hotline/main
        invalid_prompt: hotline/oops
        timeout_s: 6
        max_retries: 3
        default_queue: TECH
        options:
          - {digit: 1, queue: TECH}
          - {digit: '2', queue: BILLING}
          - {digit: '3', menu: SUB}
      - code: SUB
        name: Sub menu
        prompt: hotline/sub
        default_menu: MAIN
        options:
          - {digit: '#', menu: MAIN}
          - {digit: '*', queue: BILLING}
    dids:
      - {number: '542100100', name: Main line, menu: MAIN}
      - {number: '542100200', name: Tech direct, queue: TECH}
    report_schedules:
      - {report: queues, period: daily, format: csv, email_to: boss@netmorava.example}
    customers:
      - contract_number: OP-BRNO
        name: NetMorava Brno s.r.o.
        location: BRNO
      - contract_number: BR-1
        name: Jan Novák
        location: BRNO
        address: Masarykova 1, 602 00 Brno
        active: true
        pseudo: false
        note: |
          Two lines
          of note.
        phones: ['777 123 456', '+420 608 111 222', '00421 903 123 456', '420731000111']
        contacts:
          - {name: Jana Nováková, phone: '731 000 222', email: jana@example.com}
          - name: Petr Novák
      - contract_number: OUT
        name: OUTBOUND CALL
        location: OSTRAVA
        pseudo: true
    """
)


def _load(engine: Engine, text: str, source: str = "test.yaml") -> LoadSummary:
    with Session(engine) as session, session.begin():
        return load_catalog(session, text, source)


def _export(engine: Engine) -> str:
    with Session(engine) as session:
        return export_catalog(session)


def _wipe(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        session.execute(update(Location).values(operator_customer_id=None))
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())


def _row_counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return {
            t.name: session.scalar(select(func.count()).select_from(t)) or 0
            for t in Base.metadata.sorted_tables
        }


def _refusal(engine: Engine, text: str, source: str = "test.yaml") -> CatalogError:
    with pytest.raises(CatalogError) as info:
        _load(engine, text, source)
    return info.value


# --------------------------------------------------------------------------- round trip


def test_export_load_export_gives_the_identical_text(engine: Engine) -> None:
    _load(engine, FULL)
    first = _export(engine)
    _wipe(engine)
    assert sum(_row_counts(engine).values()) == 0
    summary = _load(engine, first, "export.yaml")
    assert summary.created["customers"] == 3
    assert _export(engine) == first


def test_the_export_names_things_by_natural_keys_in_a_stable_order(engine: Engine) -> None:
    _load(engine, FULL)
    text = _export(engine)
    queues = text.index("\nqueues:")
    # Sorted by code, not by file order or id; lists of keys sorted too.
    assert text.index("- code: BILLING", queues) < text.index("- code: TECH", queues)
    assert "locations: [BRNO, OSTRAVA]" in text
    assert "seats: [Desk 101, Desk 102]" in text
    assert "{weekday: sat, opens: '09:00', closes: '12:00:30'}" in text
    assert "{number: +420 603 555 010, priority: 1}" in text
    assert "{digit: '3', menu: SUB}" in text
    assert "operator: OP-BRNO" in text
    # Every agent has a hash and no plain password is exported.
    assert text.count("password_hash: scrypt$") == 3
    assert "password:" not in text and "secret-" not in text


def test_loading_the_same_file_again_changes_nothing(engine: Engine) -> None:
    first = _load(engine, FULL)
    assert first.created["queues"] == 2 and first.created["reason_nodes"] == 7
    before = _export(engine)
    again = _load(engine, FULL)
    assert sum(again.created.values()) == 0
    assert sum(again.updated.values()) == 0
    assert _export(engine) == before  # plain passwords that still match keep their hash


def test_phone_numbers_are_kept_as_written_with_international_digits(engine: Engine) -> None:
    _load(engine, FULL)
    with Session(engine) as session:
        phones = session.execute(
            select(CustomerPhone.position, CustomerPhone.number, CustomerPhone.digits)
            .join(Customer)
            .where(Customer.contract_number == "BR-1")
            .order_by(CustomerPhone.position)
        ).all()
        contact = session.scalars(
            select(ContactPerson).where(ContactPerson.name == "Jana Nováková")
        ).one()
    assert [tuple(p) for p in phones] == [
        (1, "777 123 456", "420777123456"),
        (2, "+420 608 111 222", "420608111222"),
        (3, "00421 903 123 456", "421903123456"),
        (4, "420731000111", "420731000111"),
    ]
    assert (contact.phone, contact.phone_digits) == ("731 000 222", "420731000222")


def test_the_centre_country_prefix_setting_applies_to_national_numbers(engine: Engine) -> None:
    _load(engine, "settings: {country_prefix: '421'}\nlocations: [{code: BA, name: Bratislava}]")
    _load(
        engine,
        "customers: [{contract_number: SK-1, name: Ján, location: BA, phones: ['903 123 456']}]",
    )
    with Session(engine) as session:
        assert session.scalar(select(CustomerPhone.digits)) == "421903123456"


# --------------------------------------------------------------------------- upsert rules


def test_absent_records_and_keys_are_left_alone_given_lists_replace(engine: Engine) -> None:
    _load(engine, FULL)
    summary = _load(
        engine,
        textwrap.dedent(
            """\
            queues:
              - code: TECH
                name: Tech support (renamed)
                agents: []
            customers:
              - contract_number: BR-1
                name: Jan Novák
                location: BRNO
                phones: ['777 123 456']
            """
        ),
    )
    assert summary.updated["queues"] == 1 and summary.updated["customers"] == 1
    assert summary.created["queues"] == 0
    with Session(engine) as session:
        tech = session.scalars(select(Queue).where(Queue.code == "TECH")).one()
        assert tech.name == "Tech support (renamed)"
        assert tech.ring_timeout_s == 20 and tech.moh_class == "calm"  # keys not given
        assert session.scalar(select(func.count()).select_from(BusinessHours)) == 3
        assert (
            session.scalar(
                select(func.count()).select_from(QueueRight).where(QueueRight.queue_id == tech.id)
            )
            == 0
        )  # the given (empty) list replaced the rights
        assert session.scalars(select(Queue.code).order_by(Queue.code)).all() == [
            "BILLING",
            "TECH",
        ]
        numbers = session.scalars(select(CustomerPhone.number)).all()
        assert numbers == ["777 123 456"]
        # contacts were not given: both stay
        assert session.scalar(select(func.count()).select_from(ContactPerson)) == 2


def test_a_file_may_refer_to_what_only_the_database_holds(engine: Engine) -> None:
    _load(engine, FULL)
    text = "customers: [{contract_number: BR-2, name: Eva Malá, location: BRNO}]"
    summary = _load(engine, text)
    assert summary.created["customers"] == 1


def test_two_pause_types_can_swap_names_in_one_load(engine: Engine) -> None:
    _load(engine, FULL)
    summary = _load(
        engine,
        "pause_types:\n"
        "  - {position: 1, name: Missed call, paid: false}\n"
        "  - {position: 7, name: Personal, paid: true}\n",
    )
    assert summary.updated["pause_types"] == 2
    with Session(engine) as session:
        names = session.execute(select(PauseType.position, PauseType.name)).all()
    assert sorted(tuple(n) for n in names) == [(1, "Missed call"), (7, "Personal")]


def test_support_turn_members_by_login_or_number_with_priority(engine: Engine) -> None:
    _load(engine, FULL)
    with Session(engine) as session:
        members = session.execute(
            select(Agent.login, SupportTurnMember.external_number, SupportTurnMember.priority)
            .outerjoin(Agent, Agent.id == SupportTurnMember.agent_id)
            .order_by(SupportTurnMember.priority.desc())
        ).all()
    assert [tuple(m) for m in members] == [
        ("eva", "", 2),
        (None, "+420 603 555 010", 1),
        (None, "603555011", 0),
    ]


# --------------------------------------------------------------------------- passwords


def test_a_plain_password_is_hashed_and_a_given_hash_is_kept(engine: Engine) -> None:
    kept = hash_password("from-elsewhere", n=2**10)
    _load(engine, FULL)
    _load(engine, f"agents:\n  - {{login: ext, name: External, password_hash: '{kept}'}}\n")
    with Session(engine) as session:
        hashes = dict(session.execute(select(Agent.login, Agent.password_hash)).all())
    assert hashes["eva"] != "secret-eva"
    assert verify_password("secret-eva", hashes["eva"])
    assert not verify_password("secret-pavel", hashes["eva"])
    assert hashes["ext"] == kept
    assert verify_password("from-elsewhere", hashes["ext"])


def test_a_new_plain_password_replaces_the_hash(engine: Engine) -> None:
    _load(engine, FULL)
    summary = _load(engine, "agents: [{login: eva, name: Eva Nováková, password: changed}]")
    assert summary.updated["agents"] == 1
    with Session(engine) as session:
        stored = session.scalars(select(Agent.password_hash).where(Agent.login == "eva")).one()
    assert verify_password("changed", stored) and not verify_password("secret-eva", stored)


# --------------------------------------------------------------------------- reason trees


def _node_ids(engine: Engine) -> dict[tuple[str, str], int]:
    with Session(engine) as session:
        rows = session.execute(select(ReasonNode.label, ReasonNode.direction, ReasonNode.id)).all()
        return {(label, direction.value): node_id for label, direction, node_id in rows}


def _call_choosing(engine: Engine, node_id: int, uniqueid: str) -> None:
    with Session(engine) as session, session.begin():
        session.add(
            Call(
                uniqueid=uniqueid,
                direction=Direction.INBOUND,
                state=CallState.ANSWERED,
                started_at=NOW,
                reason_node_id=node_id,
            )
        )


def test_reason_nodes_keep_their_ids_and_referenced_ones_survive_removal(engine: Engine) -> None:
    _load(engine, FULL)
    ids = _node_ids(engine)
    _call_choosing(engine, ids[("Router", "in")], "1.1")
    _call_choosing(engine, ids[("Slow", "in")], "1.2")
    # Drop Outage (unreferenced) and Slow (referenced); recode Router, which moves up to
    # position 0; add Power cut after it.
    lines = []
    for line in FULL.splitlines(keepends=True):
        if "{label: Outage," in line or "{label: Slow," in line:
            continue
        if "{label: Router," in line:
            indent = line[: line.index("-")]
            line = f"{indent}- {{label: Router, code: T-102b}}\n"
            line += f"{indent}- {{label: Power cut, code: T-103}}\n"
        lines.append(line)
    changed = "".join(lines)
    assert changed != FULL
    summary = _load(engine, changed)
    assert summary.created["reason_nodes"] == 1
    assert summary.removed["reason_nodes"] == 1  # Outage; Slow is kept for its call
    after = _node_ids(engine)
    assert after[("Router", "in")] == ids[("Router", "in")]
    assert after[("No connection", "in")] == ids[("No connection", "in")]
    assert after[("Slow", "in")] == ids[("Slow", "in")]
    assert ("Outage", "in") not in after
    with Session(engine) as session:
        router = session.get(ReasonNode, ids[("Router", "in")])
        assert router is not None and (router.code, router.position) == ("T-102b", 0)
        slow = session.get(ReasonNode, ids[("Slow", "in")])
        assert slow is not None and slow.retired  # kept, but out of the tree
        assert (
            session.scalar(select(Call.reason_node_id).where(Call.uniqueid == "1.1"))
            == ids[("Router", "in")]
        )


def test_a_retired_reason_leaves_the_export_and_comes_back_when_named_again(
    engine: Engine,
) -> None:
    _load(engine, FULL)
    ids = _node_ids(engine)
    _call_choosing(engine, ids[("Slow", "in")], "1.2")
    without_slow = "".join(
        line for line in FULL.splitlines(keepends=True) if "{label: Slow," not in line
    )
    _load(engine, without_slow)
    assert "Slow" not in _export(engine)
    again = _load(engine, _export(engine))  # export -> load: nothing changes
    assert not any(again.updated.values()) and not any(again.removed.values())
    summary = _load(engine, FULL)
    assert summary.created["reason_nodes"] == 0  # the same node, live again
    with Session(engine) as session:
        slow = session.get(ReasonNode, ids[("Slow", "in")])
        assert slow is not None and not slow.retired
    assert "{label: Slow, code: T-111}" in _export(engine)


def test_a_tree_absent_from_the_queue_is_left_alone(engine: Engine) -> None:
    _load(engine, FULL)
    before = _node_ids(engine)
    summary = _load(
        engine,
        "queues:\n  - code: TECH\n    name: Technical support\n    reasons:\n      out: []\n",
    )
    after = _node_ids(engine)
    assert summary.removed["reason_nodes"] == 1
    assert {k: v for k, v in before.items() if k[1] == "in"} == after
    assert all(direction == ReasonDirection.INBOUND.value for _, direction in after)


def test_a_contact_person_a_call_refers_to_is_kept(engine: Engine) -> None:
    _load(engine, FULL)
    with Session(engine) as session, session.begin():
        petr = session.scalars(
            select(ContactPerson).where(ContactPerson.name == "Petr Novák")
        ).one()
        session.add(
            Call(
                uniqueid="2.1",
                direction=Direction.INBOUND,
                state=CallState.ANSWERED,
                started_at=NOW,
                contact_person_id=petr.id,
            )
        )
        petr_id = petr.id
    _load(
        engine,
        "customers:\n  - contract_number: BR-1\n    name: Jan Novák\n    location: BRNO\n"
        "    contacts: [{name: Jana Nováková, phone: '731 000 333'}]\n",
    )
    with Session(engine) as session:
        contacts = dict(session.execute(select(ContactPerson.name, ContactPerson.id)).all())
    assert contacts["Petr Novák"] == petr_id
    assert set(contacts) == {"Jana Nováková", "Petr Novák"}


# --------------------------------------------------------------------------- refusals

BASE = textwrap.dedent(
    """\
    locations:
      - {code: BRNO, name: Brno}
    voicemail_boxes:
      - {code: VM, name: Messages, kind: voicemail}
      - {code: CB, name: Callbacks, kind: callback}
    departments:
      - name: Support
    agents:
      - {login: eva, name: Eva, password: x}
    """
)

# A file loaded over BASE, with "# <-" on the line the error must name, and the reason's start.
REFUSALS: dict[str, tuple[str, str]] = {
    "yaml syntax": (
        "queues:\n  - {code: Q, name: [unclosed\n  - code: R  # <-\n",
        "YAML syntax error:",
    ),
    "yaml bad indentation": (
        "queues:\n  - code: Q\n   name: Q  # <-\n",
        "YAML syntax error:",
    ),
    "unknown section": (
        "queue:  # <-\n  - {code: Q, name: Q}\n",
        "unknown key 'queue' in the catalog; allowed keys: settings, departments,",
    ),
    "unknown key": (
        "queues:\n  - code: Q\n    name: Q\n    colour: red  # <-\n",
        "unknown key 'colour' in a queue; allowed keys: code, name, active, ring_timeout_s,",
    ),
    "unknown key in a child": (
        "queues:\n  - code: Q\n    name: Q\n    hours:\n"
        "      - {weekday: mon, opens: '08:00', closes: '17:00', lunch: '12:00'}  # <-\n",
        "unknown key 'lunch' in an opening window; allowed keys: weekday, opens, closes",
    ),
    "duplicate key": (
        "queues:\n  - code: Q\n    name: Q\n    name: R  # <-\n",
        "duplicate key 'name' in a queue (first at line",
    ),
    "duplicate record": (
        "queues:\n  - {code: Q, name: Q}\n  - {code: Q, name: R}  # <-\n",
        "duplicate queue code 'Q' (first at line",
    ),
    "wrong type int": (
        "queues:\n  - code: Q\n    name: Q\n    ring_timeout_s: soon  # <-\n",
        "ring_timeout_s: expected an integer, got the text 'soon'",
    ),
    "wrong type bool": (
        "queues:\n  - code: Q\n    name: Q\n    active: yes  # <-\n",
        "active: expected true or false, got the text 'yes'",
    ),
    "wrong type list": (
        "queues:\n  - code: Q\n    name: Q\n    agents: eva  # <-\n",
        "expected agents as a list, got the text 'eva'",
    ),
    "unquoted phone number": (
        "customers:\n  - contract_number: C1\n    name: C\n    location: BRNO\n"
        "    phones: ['777 123 456', +420777123456]  # <-\n",
        "expected a quoted phone number, got +420777123456 which YAML reads as a number",
    ),
    "missing required key": (
        "queues:\n  - code: Q  # <-\n    ring_timeout_s: 20\n",
        "a queue needs 'name'",
    ),
    "unknown queue reference": (
        "dids:\n  - {number: '100', name: D, queue: NOPE}  # <-\n",
        "unknown queue code 'NOPE' (neither in this file nor in the database)",
    ),
    "unknown agent in a list": (
        "queues:\n  - code: Q\n    name: Q\n    agents:\n      - eva\n      - nobody  # <-\n",
        "unknown agent login 'nobody'",
    ),
    "unknown location of a customer": (
        "customers:\n  - {contract_number: C1, name: C, location: PRAHA}  # <-\n",
        "unknown location code 'PRAHA'",
    ),
    "ten pause types": (
        "pause_types:\n"
        + "".join(f"  - {{position: {i}, name: P{i}}}\n" for i in range(1, 10))
        + "  - {position: 9, name: P10}  # <-\n",
        "more than 9 pause types (R-2.4)",
    ),
    "pause position out of range": (
        "pause_types:\n  - {position: 10, name: Ten}  # <-\n",
        "position: 10 is out of range (must be 1..9)",
    ),
    "ring timeout zero": (
        "queues:\n  - code: Q\n    name: Q\n    ring_timeout_s: 0  # <-\n",
        "ring_timeout_s: 0 is out of range (must be at least 1)",
    ),
    "ring timeout negative": (
        "queues:\n  - code: Q\n    name: Q\n    ring_timeout_s: -5  # <-\n",
        "ring_timeout_s: -5 is out of range",
    ),
    "opens after closes": (
        "queues:\n  - code: Q\n    name: Q\n    hours:\n"
        "      - {weekday: mon, opens: '08:00', closes: '17:00'}\n"
        "      - {weekday: tue, opens: '17:00', closes: '08:00'}  # <-\n",
        "opens 17:00 is not before closes 08:00",
    ),
    "opens equals closes on a support-turn day": (
        "queues:\n  - code: Q\n    name: Q\n    support_turns:\n"
        "      - weekday: mon  # <-\n        opens: '08:00'\n        closes: '08:00'\n",
        "opens 08:00 is not before closes 08:00",
    ),
    "weekday seven": (
        "queues:\n  - code: Q\n    name: Q\n    hours:\n"
        "      - {weekday: 7, opens: '08:00', closes: '17:00'}  # <-\n",
        "weekday: must be 0-6 (Monday = 0) or mon..sun, got the integer 7",
    ),
    "weekday name": (
        "queues:\n  - code: Q\n    name: Q\n    closed_rules:\n"
        "      - {weekday: someday, starts: '08:00', ends: '09:00', action: announce}  # <-\n",
        "weekday: must be 0-6 (Monday = 0) or mon..sun, got the text 'someday'",
    ),
    "time out of range": (
        "queues:\n  - code: Q\n    name: Q\n    hours:\n"
        "      - {weekday: mon, opens: '08:00', closes: '24:00'}  # <-\n",
        "closes: expected a time HH:MM (00:00..23:59), got the text '24:00'",
    ),
    "overlapping windows": (
        "queues:\n  - code: Q\n    name: Q\n    hours:\n"
        "      - {weekday: mon, opens: '08:00', closes: '12:00'}\n"
        "      - {weekday: mon, opens: '11:00', closes: '17:00'}  # <-\n",
        "opening windows overlap on mon",
    ),
    "unknown enum value": (
        "queues:\n  - code: Q\n    name: Q\n    closed_action: hang_up  # <-\n",
        "closed_action: the text 'hang_up' is not one of announce, voicemail",
    ),
    "callback box as voicemail box": (
        "queues:\n  - code: Q\n    name: Q\n    voicemail_box: CB  # <-\n",
        "box 'CB' is a callback box; a queue's voicemail box must be of kind voicemail or combined",
    ),
    "an agent supervising": (
        "agents:\n  - login: tom\n    name: Tom\n    password: x\n"
        "    supervises: [Support]  # <-\n",
        "only a supervisor or an admin supervises departments; 'tom' is 'agent'",
    ),
    "reason leaf without a code": (
        "queues:\n  - code: Q\n    name: Q\n    reasons:\n      in:\n"
        "        - label: Internet\n          children:\n"
        "            - {label: Slow}  # <-\n",
        "reason 'Slow' has no children, so it needs a code",
    ),
    "two reasons with one label": (
        "queues:\n  - code: Q\n    name: Q\n    reasons:\n      in:\n"
        "        - {label: A, code: '1'}\n        - {label: A, code: '2'}  # <-\n",
        "duplicate reason label at this level 'A'",
    ),
    "phone without digits": (
        "customers:\n  - contract_number: C1\n    name: C\n    location: BRNO\n"
        "    phones: ['777 123 456', 'ask reception']  # <-\n",
        "phone number 'ask reception' has no digits",
    ),
    "contact phone without digits": (
        "customers:\n  - contract_number: C1\n    name: C\n    location: BRNO\n"
        "    contacts:\n      - name: Jana\n        phone: n/a  # <-\n",
        "phone: phone number 'n/a' has no digits",
    ),
    "support-turn number without digits": (
        "queues:\n  - code: Q\n    name: Q\n    support_turns:\n"
        "      - weekday: mon\n        opens: '08:00'\n        closes: '16:00'\n"
        "        members:\n          - {number: on-call, priority: 1}  # <-\n",
        "number: phone number 'on-call' has no digits",
    ),
    "ivr option with both targets": (
        "queues:\n  - {code: Q, name: Q}\nivr_menus:\n  - code: M\n    name: M\n    prompt: p\n"
        "    options:\n      - {digit: '1', queue: Q, menu: M}  # <-\n",
        "an IVR option leads to exactly one of menu or queue",
    ),
    "ivr option with no target": (
        "ivr_menus:\n  - code: M\n    name: M\n    prompt: p\n"
        "    options:\n      - {digit: '1'}  # <-\n",
        "an IVR option leads to exactly one of menu or queue",
    ),
    "ivr option key": (
        "ivr_menus:\n  - code: M\n    name: M\n    prompt: p\n"
        "    options:\n      - {digit: 10, menu: M}  # <-\n",
        "digit: a menu option is one key 0-9, * or #, got the integer 10",
    ),
    "did with both targets": (
        "queues:\n  - {code: Q, name: Q}\nivr_menus:\n  - {code: M, name: M, prompt: p}\n"
        "dids:\n  - {number: '100', name: D, queue: Q, menu: M}  # <-\n",
        "a DID leads to exactly one of menu or queue",
    ),
    "did with no target": (
        "dids:\n  - {number: '100', name: D}  # <-\n",
        "a DID leads to exactly one of menu or queue",
    ),
    "password and hash": (
        "agents:\n  - login: tom\n    name: Tom\n    password: x\n"
        "    password_hash: scrypt$1$2$3$a$b  # <-\n",
        "give password or password_hash, not both",
    ),
    "not a hash": (
        "agents:\n  - login: tom\n    name: Tom\n    password_hash: hunter2  # <-\n",
        "password_hash is not a Hotline scrypt hash",
    ),
    "new agent without password": (
        "agents:\n  - {login: tom, name: Tom}  # <-\n",
        "a new agent needs password or password_hash",
    ),
    "operator of another location": (
        "locations:\n  - {code: OVA, name: Ostrava, operator: OP}  # <-\n"
        "customers:\n  - {contract_number: OP, name: Operator, location: BRNO}\n",
        "operator 'OP' is a customer of location 'BRNO', not of 'OVA'",
    ),
    "bad e-mail": (
        "voicemail_boxes:\n  - {code: X, name: X, email_to: 'night shift'}  # <-\n",
        "email_to: 'night shift' is not an e-mail address",
    ),
    "bad dial string": (
        "phone_seats:\n  - {name: Desk, dial_string: '101'}  # <-\n",
        "dial_string: '101' is not a dial string like PJSIP/101",
    ),
    "too long for its column": (
        "queues:\n  - code: Q\n    name: " + "x" * 201 + "  # <-\n",
        "name: longer than 200 characters",
    ),
    "unknown time zone": (
        "settings:\n  time_zone: Europe/Brno  # <-\n",
        "unknown time zone 'Europe/Brno'",
    ),
    "bad country prefix": (
        "settings:\n  country_prefix: '+420'  # <-\n",
        "a country prefix is a calling code in use like 420",
    ),
}


def _expected_line(text: str) -> int:
    marked = [i for i, line in enumerate(text.splitlines(), start=1) if "# <-" in line]
    assert len(marked) == 1, "mark exactly one line with '# <-'"
    return marked[0]


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_bad_file_is_refused_naming_the_line(engine: Engine, case: str) -> None:
    text, reason = REFUSALS[case]
    _load(engine, BASE)
    before = _row_counts(engine)
    error = _refusal(engine, text, "centre.yaml")
    line = _expected_line(text)
    assert str(error).startswith(f"centre.yaml:{line}: {reason}"), str(error)
    assert (error.source, error.line) == ("centre.yaml", line)
    assert _row_counts(engine) == before


def test_every_problem_is_reported_first_by_line(engine: Engine) -> None:
    text = (
        "queues:\n"
        "  - {code: Q, name: Q, ring_timeout_s: 0}\n"
        "  - {code: R, name: R, agents: [ghost]}\n"
        "dids:\n"
        "  - {number: '1', name: D}\n"
    )
    error = _refusal(engine, text)
    assert error.problems == (
        (2, "ring_timeout_s: 0 is out of range (must be at least 1)"),
        (5, "a DID leads to exactly one of menu or queue"),
    )
    assert error.line == 2
    # references are checked once the file reads cleanly: no noise from broken records
    text = text.replace("ring_timeout_s: 0", "ring_timeout_s: 5")
    error = _refusal(engine, text.replace("name: D}", "name: D, queue: Q}"))
    assert str(error) == (
        "test.yaml:3: unknown agent login 'ghost' (neither in this file nor in the database)"
    )


def test_a_contract_number_shared_in_the_database_cannot_be_updated(engine: Engine) -> None:
    _load(engine, BASE)
    with Session(engine) as session, session.begin():
        brno = session.scalars(select(Location.id)).one()
        session.add_all([Customer(location_id=brno, name=n, contract_number="DUP") for n in "AB"])
    error = _refusal(engine, "customers:\n  - {contract_number: DUP, name: A, location: BRNO}\n")
    assert str(error) == (
        "test.yaml:2: contract number 'DUP' matches 2 customers in the database; "
        "it cannot be updated by contract number"
    )
    with pytest.raises(CatalogError, match="share the contract number 'DUP'"):
        _export(engine)


def test_an_empty_or_blank_file_loads_nothing(engine: Engine) -> None:
    for text in ("", "# nothing yet\n", "queues: []\n", "settings:\n"):
        summary = _load(engine, text)
        assert sum(summary.created.values()) == 0
    assert str(_load(engine, "")) == "created: nothing; updated: nothing"


def test_a_file_that_is_not_a_mapping_is_refused(engine: Engine) -> None:
    error = _refusal(engine, "- just\n- a list\n")
    assert str(error) == "test.yaml:1: expected the catalog as a mapping (key: value), got a list"


# --------------------------------------------------------------------------- all or nothing


def test_a_bad_last_entry_leaves_nothing_half_loaded(engine: Engine) -> None:
    _load(engine, BASE)
    before = _row_counts(engine)
    customers = "".join(
        f"  - {{contract_number: C{i}, name: Customer {i}, location: BRNO, "
        f"phones: ['777 000 {i:03d}']}}\n"
        for i in range(50)
    )
    text = FULL + customers + "  - {contract_number: LAST, name: Last, location: NOWHERE}\n"
    error = _refusal(engine, text, "big.yaml")
    assert error.line == len(text.splitlines())
    assert "unknown location code 'NOWHERE'" in str(error)
    assert _row_counts(engine) == before


def test_a_failure_in_the_callers_transaction_rolls_the_load_back(engine: Engine) -> None:
    before = _row_counts(engine)
    with pytest.raises(RuntimeError), Session(engine) as session, session.begin():
        load_catalog(session, FULL)
        assert session.scalar(select(func.count()).select_from(Customer)) == 3
        raise RuntimeError("the caller fails after the load")
    assert _row_counts(engine) == before
