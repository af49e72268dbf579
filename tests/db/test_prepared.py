"""``db.prepared`` (issue 12): a prepared read gives the very values SQLAlchemy's own
execution gives (aware UTC timestamps, enums, booleans, NULLs, literals, limits, unions), and
the driver's errors come as SQLAlchemy's, a lost connection invalidated, as they do there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, bindparam, column, select, table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from agent_desktop.agent_state import GoOnAir, Pause
from agent_desktop.store import agent_sessions, desk
from db.models import Agent, Location, Notification, QueueLocation
from db.prepared import Prepared
from domain.enums import Severity
from tests.support.centre import build_staff_centre
from web import sessions

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def _centre(engine: Engine) -> dict[str, Any]:
    with Session(engine) as s, s.begin():
        centre = build_staff_centre(s, NOW)
        eva = centre.agents["eva"]
        agent_sessions.log_in(s, eva, centre.seats["101"], NOW)
        agent_sessions.apply_event(s, eva, Pause(centre.pauses["personal"]), NOW)
        agent_sessions.apply_event(s, eva, GoOnAir(), NOW + timedelta(seconds=5))
        brno, praha = Location(code="brno", name="Brno"), Location(code="praha", name="Praha")
        s.add_all([brno, praha])
        s.flush()
        s.add_all(
            QueueLocation(queue_id=centre.support, location_id=place.id) for place in (brno, praha)
        )
        s.get_one(Agent, eva).selected_location_id = praha.id
        found = sessions.credentials(s, "eva")
        assert found is not None
        opened = sessions.open_session(s, found, NOW)
        assert opened is not None
        s.add(
            Notification(
                sender_id=centre.agents["sue"],
                agent_id=eva,
                severity=Severity.CRITICAL,
                message="Call me",
                created_at=NOW,
                shown_from=NOW - timedelta(minutes=1),
                shown_until=NOW + timedelta(hours=1),
            )
        )
        s.flush()
        seat = agent_sessions.open_session_row(s, eva, lock=False)
        assert seat is not None
        return {
            "hashed": sessions.token_hash(opened.token),
            "agent_id": eva,
            "session_id": seat.id,
            "now": NOW,
        }


def test_a_prepared_read_gives_what_sqlalchemy_gives(engine: Engine) -> None:
    found = _centre(engine)
    agent = {"agent_id": found["agent_id"]}
    nobody = select(Agent.id, Agent.language, Agent.active).where(Agent.login == bindparam("login"))
    reads: list[tuple[Prepared, dict[str, Any]]] = [
        (sessions._USER, {"hashed": found["hashed"]}),
        (sessions._RIGHTS, agent),
        (desk._PAUSE_TYPES, {}),
        (desk._PAUSES_TAKEN, {"session_id": found["session_id"]}),
        (desk._NOTIFICATIONS, {**agent, "now": NOW}),
        (desk._LOCATIONS, agent),
        (Prepared(nobody), {"login": "eva"}),
    ]
    with engine.connect() as conn:
        for read, params in reads:
            expected = [tuple(row) for row in conn.execute(read.statement, params)]
            assert expected, str(read.statement)
            assert read.all(conn, params) == expected, read.statement
        user = sessions._USER.first(conn, {"hashed": found["hashed"]})
        assert user[2].tzinfo is UTC and user[13].value == "on_air" and user[9] is True
        pauses = desk._PAUSES_TAKEN.all(conn, {"session_id": found["session_id"]})
        assert pauses[0][3] == NOW + timedelta(seconds=5) and pauses[0][1] is True
        assert [chosen for _, _, chosen in desk._LOCATIONS.all(conn, agent)] == [False, True]
        assert sessions._USER.first(conn, {"hashed": "unknown"}) is None


def test_a_prepared_read_needs_its_parameters_and_takes_no_lists(engine: Engine) -> None:
    with engine.connect() as conn:
        with pytest.raises(KeyError):
            sessions._USER.all(conn, {})
        with pytest.raises(ValueError):
            Prepared(select(Agent.id).where(Agent.id.in_([1, 2]))).all(conn)


def test_the_drivers_errors_come_as_sqlalchemys_and_a_lost_connection_is_dropped(
    engine: Engine,
) -> None:
    read = Prepared(select(column("x")).select_from(table("no_such_table", column("x"))))
    with engine.connect() as conn:
        with pytest.raises(DBAPIError) as through_sqlalchemy:
            conn.execute(read.statement)
        conn.rollback()
        with pytest.raises(DBAPIError) as missing:
            read.all(conn)
        assert type(missing.value) is type(through_sqlalchemy.value)
        assert not missing.value.connection_invalidated
    with engine.connect() as conn:
        conn.connection.dbapi_connection.close()  # type: ignore[union-attr]
        with pytest.raises(DBAPIError) as lost:
            Prepared(select(Agent.id)).all(conn)
        assert lost.value.connection_invalidated and conn.invalidated
    with engine.connect() as conn:  # the pool opens a new connection in its place
        assert Prepared(select(Agent.id)).all(conn) == []
