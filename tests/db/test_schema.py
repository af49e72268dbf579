"""The schema holds the contact centre's invariants itself, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from db.engine import is_sqlite, make_engine
from db.migrate import current_revision, downgrade, schema_drift, upgrade
from db.models import (
    Agent,
    AgentSession,
    BusinessHours,
    Call,
    Customer,
    IvrMenu,
    IvrOption,
    Location,
    PauseType,
    PhoneSeat,
    Queue,
    RingAttempt,
    VoicemailBox,
    VoicemailItem,
    VoicemailItemHistory,
)
from db.types import UTCDateTime
from domain.enums import CallState, Direction, ItemKind, RingOutcome
from tests.conftest import (
    POSTGRES_URL,
    create_postgres_schema,
    drop_postgres_schema,
    postgres_schema_url,
)

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def _agent(session: Session, login: str) -> Agent:
    agent = Agent(login=login, name=login.title(), password_hash="x")
    session.add(agent)
    session.flush()
    return agent


def _call(session: Session, uniqueid: str) -> Call:
    call = Call(
        uniqueid=uniqueid, direction=Direction.INBOUND, state=CallState.WAITING, started_at=NOW
    )
    session.add(call)
    session.flush()
    return call


def _ring(session: Session, call: Call, agent: Agent, outcome: RingOutcome) -> None:
    session.add(
        RingAttempt(
            call_id=call.id,
            agent_id=agent.id,
            dial_string="PJSIP/101",
            started_at=NOW,
            outcome=outcome,
        )
    )
    session.flush()


def test_an_agent_cannot_ring_with_two_calls_at_once(engine: Engine) -> None:
    with Session(engine) as session:
        agent = _agent(session, "eva")
        first, second = _call(session, "1.1"), _call(session, "1.2")
        _ring(session, first, agent, RingOutcome.RINGING)
        with pytest.raises(IntegrityError):
            _ring(session, second, agent, RingOutcome.RINGING)


def test_a_finished_offer_frees_the_agent_for_the_next(engine: Engine) -> None:
    with Session(engine) as session:
        agent = _agent(session, "eva")
        first, second = _call(session, "1.1"), _call(session, "1.2")
        _ring(session, first, agent, RingOutcome.NO_ANSWER)
        _ring(session, first, agent, RingOutcome.ANSWERED)
        _ring(session, second, agent, RingOutcome.RINGING)
        session.commit()
        assert (
            session.scalar(select(RingAttempt.outcome).where(RingAttempt.call_id == second.id))
            is RingOutcome.RINGING
        )


def test_one_call_rings_one_agent_at_a_time(engine: Engine) -> None:
    with Session(engine) as session:
        eva, jan = _agent(session, "eva"), _agent(session, "jan")
        call = _call(session, "1.1")
        _ring(session, call, eva, RingOutcome.RINGING)
        with pytest.raises(IntegrityError):
            _ring(session, call, jan, RingOutcome.RINGING)


def _seat(session: Session, name: str) -> PhoneSeat:
    seat = PhoneSeat(name=name, dial_string=f"PJSIP/{name}")
    session.add(seat)
    session.flush()
    return seat


def _login(session: Session, agent: Agent, seat: PhoneSeat) -> AgentSession:
    s = AgentSession(
        agent_id=agent.id, seat_id=seat.id, logged_in_at=NOW, state_since=NOW, idle_since=NOW
    )
    session.add(s)
    session.flush()
    return s


def test_an_agent_cannot_be_logged_in_at_two_seats(engine: Engine) -> None:
    with Session(engine) as session:
        agent = _agent(session, "eva")
        _login(session, agent, _seat(session, "101"))
        with pytest.raises(IntegrityError):
            _login(session, agent, _seat(session, "102"))


def test_a_seat_holds_one_agent_and_is_free_again_after_logout(engine: Engine) -> None:
    with Session(engine) as session:
        seat = _seat(session, "101")
        first = _login(session, _agent(session, "eva"), seat)
        jan = _agent(session, "jan")
        with session.begin_nested(), pytest.raises(IntegrityError):
            _login(session, jan, seat)
        first.logged_out_at = NOW + timedelta(hours=8)
        session.flush()
        _login(session, jan, seat)
        session.commit()


def test_there_are_at_most_nine_pause_types(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(PauseType(position=9, name="Fault", paid=False))
        session.flush()
        session.add(PauseType(position=10, name="Tenth", paid=False))
        with pytest.raises(IntegrityError):
            session.flush()


def test_rt_number_longer_than_ten_digits_is_refused_by_the_schema(engine: Engine) -> None:
    with Session(engine) as session:
        call = _call(session, "1.1")
        call.rt_number = "1234567890"
        session.flush()
        call.rt_number = "12345678901"
        with pytest.raises((IntegrityError, StatementError)):
            session.flush()


def test_an_ivr_option_leads_to_a_queue_or_a_menu_not_both(engine: Engine) -> None:
    with Session(engine) as session:
        queue = Queue(code="sales", name="Sales")
        menu = IvrMenu(code="main", name="Main", prompt="hotline/main")
        session.add_all([queue, menu])
        session.flush()
        session.add(IvrOption(menu_id=menu.id, digit="1", queue_id=queue.id, submenu_id=menu.id))
        with pytest.raises(IntegrityError):
            session.flush()


def test_business_hours_must_open_before_they_close(engine: Engine) -> None:
    with Session(engine) as session:
        queue = Queue(code="sales", name="Sales")
        session.add(queue)
        session.flush()
        session.add(BusinessHours(queue_id=queue.id, weekday=0, opens=time(17), closes=time(8)))
        with pytest.raises(IntegrityError):
            session.flush()


def test_a_claim_has_both_a_holder_and_an_expiry(engine: Engine) -> None:
    with Session(engine) as session:
        box = VoicemailBox(code="vm", name="Support voicemail")
        agent = _agent(session, "back")
        session.add(box)
        session.flush()
        session.add(
            VoicemailItem(
                box_id=box.id, kind=ItemKind.MESSAGE, created_at=NOW, claimed_by_id=agent.id
            )
        )
        with pytest.raises(IntegrityError):
            session.flush()


def test_a_spooled_item_is_imported_once(engine: Engine) -> None:
    with Session(engine) as session:
        box = VoicemailBox(code="vm", name="Support voicemail")
        session.add(box)
        session.flush()
        for _ in range(2):
            session.add(
                VoicemailItem(
                    box_id=box.id, kind=ItemKind.CALLBACK, created_at=NOW, spool_key="spool-0001"
                )
            )
        with pytest.raises(IntegrityError):
            session.flush()


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(Customer(location_id=999, name="Nobody's customer"))
        with pytest.raises(IntegrityError):
            session.flush()


def test_timestamps_come_back_as_the_same_utc_instant(engine: Engine) -> None:
    prague = datetime(2026, 7, 1, 12, 0, tzinfo=UTC).astimezone()
    with Session(engine) as session:
        session.add(Location(code="brno", name="Brno"))
        call = _call(session, "1.1")
        call.answered_at = prague
        session.commit()
        call_id = call.id
    with Session(engine) as session:
        stored = session.get(Call, call_id)
        assert stored is not None and stored.answered_at == prague
        assert stored.answered_at.tzinfo is not None


def test_naive_timestamps_are_refused(engine: Engine) -> None:
    with Session(engine) as session:
        call = _call(session, "1.1")
        call.ended_at = datetime(2026, 1, 1, 12, 0)
        with pytest.raises(StatementError):
            session.flush()


def test_the_embedded_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:
    # Always on a SQLite file: the embedded default must be set up right whatever this
    # suite run's main database is.
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    assert is_sqlite(url)
    sqlite = make_engine(url)
    try:
        with sqlite.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        sqlite.dispose()


@pytest.fixture
def empty_url(tmp_path):
    if POSTGRES_URL:
        schema = f"hl_parity_{uuid.uuid4().hex[:8]}"
        create_postgres_schema(POSTGRES_URL, schema)
        yield postgres_schema_url(POSTGRES_URL, schema)
        drop_postgres_schema(POSTGRES_URL, schema)
    else:
        yield f"sqlite:///{tmp_path / 'empty.db'}"


def test_migrations_build_exactly_the_models(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        assert current_revision(engine) is None
        upgrade(empty_url)
        assert current_revision(engine) == "0012"
        assert schema_drift(engine) == []
        upgrade(empty_url)  # upgrading an up-to-date database changes nothing
        assert schema_drift(engine) == []
    finally:
        engine.dispose()


def insert(conn: Connection, table: str, **values: object) -> None:
    """A row as an older revision of the schema has it (the models are at the newest)."""
    columns = [
        sa.column(name, UTCDateTime() if isinstance(value, datetime) else None)
        for name, value in values.items()
    ]
    conn.execute(sa.table(table, *columns).insert().values(**values))


def insert_call(conn: Connection, call_id: int, state: str, at: datetime, **values: object) -> None:
    """A call row with every column an older revision requires."""
    row: dict[str, object] = dict(
        id=call_id,
        uniqueid=f"u{call_id}",
        linkedid=f"u{call_id}",
        channel="",
        direction="in",
        did="",
        caller_number="",
        caller_name="",
        callee_number="",
        state=state,
        hangup_cause="",
        started_at=at,
        overflowed=False,
        reached=state not in ("ivr", "waiting", "in_box"),
        within_service_level=False,
        flow_step="",
        driven_by="",
        processing_state="none",
        reason_code="",
        note="",
        customer_unknown=False,
        assigned_to_location_operator=False,
    )
    row.update(values)
    insert(conn, "calls", **row)


def test_history_written_as_english_text_becomes_a_code_a_call_and_parameters(
    empty_url: str,
) -> None:
    """Revision 0003: rows an earlier Hotline wrote ("call 7", "after the claim of Eva
    expired", an e-mail row's addresses) keep their meaning, and a downgrade gives the text
    back."""
    upgrade(empty_url, "0002")
    engine = make_engine(empty_url)
    at = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            insert(
                conn,
                "voicemail_boxes",
                id=1,
                code="box",
                name="Box",
                kind="callback",
                greeting_prompt="",
                max_message_s=120,
                silence_s=5,
                email_to="",
            )
            insert_call(conn, 7, "answered", at, direction="out", callee_number="777")
            insert(
                conn,
                "voicemail_items",
                id=1,
                box_id=1,
                kind="callback",
                caller_number="777",
                created_at=at,
                recording_path="",
                state="open",
            )
            for action, detail in (
                ("created", ""),
                ("claimed", "after the claim of Eva Nováková expired"),
                ("callback_connected", "call 7"),
                ("played", "call 99"),  # a call deleted meanwhile
                ("email_failed", "a@example.test, b@example.test"),
            ):
                insert(
                    conn, "voicemail_item_history", item_id=1, at=at, action=action, detail=detail
                )
        upgrade(empty_url)
        with Session(engine) as s:
            rows = s.execute(
                select(
                    VoicemailItemHistory.action,
                    VoicemailItemHistory.call_id,
                    VoicemailItemHistory.params,
                ).order_by(VoicemailItemHistory.id)
            ).all()
        assert [(action, call, json.loads(params)) for action, call, params in rows] == [
            ("created", None, {}),
            ("claimed", None, {"previous_holder": "Eva Nováková"}),
            ("callback_connected", 7, {}),
            ("played", None, {}),
            ("email_failed", None, {"to": ["a@example.test", "b@example.test"]}),
        ]
        assert schema_drift(engine) == []
        downgrade(empty_url, "0002")
        with engine.connect() as conn:
            details = (
                conn.execute(text("SELECT detail FROM voicemail_item_history ORDER BY id"))
                .scalars()
                .all()
            )
        assert details == [
            "",
            "after the claim of Eva Nováková expired",
            "call 7",
            "",
            "a@example.test, b@example.test",
        ]
    finally:
        engine.dispose()


def test_a_call_can_be_in_a_box_from_revision_0004_and_a_downgrade_puts_it_back_waiting(
    empty_url: str,
) -> None:
    """Revision 0004 lets the state's CHECK constraint take "in_box" (defect 1 of issue
    10); before it the database refuses the value, and a downgrade turns such a call back
    into a waiting one."""
    at = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    upgrade(empty_url, "0003")
    engine = make_engine(empty_url)
    try:
        with pytest.raises(IntegrityError), engine.begin() as conn:
            insert_call(conn, 1, "in_box", at)
        with engine.begin() as conn:
            insert_call(conn, 2, "answered", at)
            insert(conn, "recordings", call_id=2, path="calls/2.wav", started_at=at)
        upgrade(empty_url)
        with engine.begin() as conn:
            insert_call(conn, 1, "in_box", at)
            # SQLite rebuilt the table: the rows that refer to it are all still there.
            paths = conn.execute(text("SELECT path FROM recordings")).scalars().all()
            assert paths == ["calls/2.wav"]
        with pytest.raises(IntegrityError), engine.begin() as conn:
            insert_call(conn, 3, "nowhere", at)
        assert schema_drift(engine) == []
        downgrade(empty_url, "0003")
        with engine.connect() as conn:
            states = conn.execute(text("SELECT state FROM calls ORDER BY id")).scalars().all()
        assert states == ["waiting", "answered"]
    finally:
        engine.dispose()


def test_revision_0005_adds_prompt_texts_and_a_did_language_and_goes_back(
    empty_url: str,
) -> None:
    """R-6.4: the catalog's prompt words get a table and a DID its language (null: the
    centre's); a downgrade drops both and keeps the DIDs."""
    upgrade(empty_url, "0004")
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            insert(
                conn,
                "queues",
                id=1,
                code="Q",
                name="Q",
                active=True,
                ring_timeout_s=20,
                overflow_enabled=True,
                overflow_after_s=120,
                callback_offer_repeat_s=60,
                country_prefix="420",
                caller_id_number="",
                closed_on_weekends=True,
                closed_action="announce",
                hours_prompt="hotline/opening-hours",
                moh_class="default",
                recording_enabled=True,
                support_turns_enabled=False,
            )
            insert(conn, "dids", id=1, number="100", name="D", queue_id=1)
        upgrade(empty_url)
        with engine.begin() as conn:
            assert conn.execute(text("SELECT language FROM dids")).scalars().all() == [None]
            insert(conn, "prompt_texts", name="centre/welcome", language="cs", text="Vítejte.")
        with pytest.raises(IntegrityError), engine.begin() as conn:
            insert(conn, "prompt_texts", name="centre/welcome", language="cs", text="Znovu.")
        downgrade(empty_url, "0004")
        assert "prompt_texts" not in sa.inspect(engine).get_table_names()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT number FROM dids")).scalars().all() == ["100"]
    finally:
        engine.dispose()


def test_revision_0010_folds_stored_customers_and_lets_a_language_be_unset(
    empty_url: str,
) -> None:
    """Issue 16: customers stored before the revision are found without accents at once
    (their search text is filled); a person's language may be null (the browser's), stored
    choices stay; a downgrade puts English where none was chosen."""
    upgrade(empty_url, "0005")
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            insert(conn, "locations", id=1, code="BRNO", name="Brno")
            insert(
                conn,
                "customers",
                id=1,
                location_id=1,
                name="Jiří Kolář",
                address="Kotlářská 12",
                contract_number="K-1",
                active=True,
                note="",
                is_pseudo=False,
            )
            insert(
                conn,
                "agents",
                id=1,
                login="jan",
                name="Jan",
                password_hash="x",
                role="agent",
                language="cs",
                active=True,
            )
        upgrade(empty_url)
        with engine.begin() as conn:
            stored = conn.execute(text("SELECT search_text FROM customers")).scalar_one()
            assert stored == "jiri kolar\nkotlarska 12\nk-1"
            assert conn.execute(text("SELECT language FROM agents")).scalar_one() == "cs"
            insert(conn, "agents", id=2, login="eva", name="Eva", password_hash="x", role="agent",
                   active=True)  # fmt: skip
        downgrade(empty_url, "0005")
        assert "search_text" not in {c["name"] for c in sa.inspect(engine).get_columns("customers")}
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT login, language FROM agents ORDER BY id")).all()
            assert [tuple(r) for r in rows] == [("jan", "cs"), ("eva", "en")]
    finally:
        engine.dispose()
