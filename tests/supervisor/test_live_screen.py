"""The supervisor's live screen over the real routes (R-4.4, R-4.5, R-4.6, R-4.8): the
Queues and Today panels counted from the rows, only within the supervised departments,
filters, the wall-board, the live stream and its resume, and refusals for agents."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

from sqlalchemy.orm import Session
from twisted.internet.task import Clock

from agent_desktop.agent_state import GoOnAir, Pause
from agent_desktop.store import agent_sessions
from db.events import emit
from db.models import Agent, Call, Department, QueueRight, SupervisorDepartment
from domain.enums import CallState, Direction, Role
from tests.support.centre import StaffCentre
from tests.support.db import InlineDBRunner
from tests.support.web import Browser, Stream, tick
from tests.support.web_fixtures import START


def organise(db: InlineDBRunner, centre: StaffCentre) -> None:
    """eva and jan work in Support (the support queue), olga in Sales (billing); sue
    supervises Support only; ada is an admin."""

    def make(session: Session) -> None:
        support, sales = Department(name="Support"), Department(name="Sales")
        session.add_all([support, sales])
        session.flush()
        for login in ("eva", "jan"):
            agent = session.get(Agent, centre.agents[login])
            assert agent is not None
            agent.department_id = support.id
        sue = session.get(Agent, centre.agents["sue"])
        assert sue is not None
        olga = Agent(login="olga", name="Olga Sales", password_hash=sue.password_hash)
        olga.department_id = sales.id
        ada = Agent(login="ada", name="Ada Admin", password_hash=sue.password_hash)
        ada.role = Role.ADMIN
        session.add_all([olga, ada])
        session.flush()
        session.add(QueueRight(agent_id=olga.id, queue_id=centre.billing))
        session.add(SupervisorDepartment(agent_id=sue.id, department_id=support.id))

    db.run_sync(make)


def agent_id(db: InlineDBRunner, login: str) -> int:
    return db.run_sync(lambda s: s.query(Agent).filter_by(login=login).one().id)


def on_air(db: InlineDBRunner, centre: StaffCentre, login: str, seat: str, now: datetime) -> None:
    who = agent_id(db, login)

    def go(session: Session) -> None:
        agent_sessions.log_in(session, who, centre.seats[seat], now)
        agent_sessions.apply_event(session, who, GoOnAir(), now)

    db.run_sync(go)


def waiting_call(db: InlineDBRunner, queue_id: int, since: datetime, uniqueid: str) -> int:
    def put(session: Session) -> int:
        call = Call(
            uniqueid=uniqueid,
            direction=Direction.INBOUND,
            did="222111001",
            caller_number="777123456",
            queue_id=queue_id,
            state=CallState.WAITING,
            started_at=since,
            queue_entered_at=since,
        )
        session.add(call)
        session.flush()
        emit(session, "call.new", since, call_id=call.id, queue_id=queue_id)
        return call.id

    return db.run_sync(put)


def row(text: str, queue_id: int) -> str:
    found = re.search(rf'<tr id="sv-queue-{queue_id}".*?</tr>', text, re.S)
    assert found, f"no row for queue {queue_id}"
    return found.group(0)


def field(html: str, name: str) -> str:
    found = re.search(rf'data-field="{name}">(.*?)</(?:td|dd)>', html, re.S)
    assert found, name
    return re.sub(r"<[^>]+>", "", found.group(1)).split()[0]


def screens(stream: Stream) -> list[dict[str, str]]:
    return [m for m in stream.messages() if m.get("event") == "screen"]


def test_a_supervisor_sees_the_queues_of_their_departments_counted_from_the_rows(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    organise(db, centre)
    on_air(db, centre, "eva", "101", START)
    on_air(db, centre, "jan", "102", START)
    on_air(db, centre, "olga", "103", START)
    db.run_sync(
        lambda s: agent_sessions.apply_event(
            s, centre.agents["jan"], Pause(centre.pauses["meeting"]), START
        )
    )
    waiting_call(db, centre.support, START - timedelta(seconds=12), "c1")
    waiting_call(db, centre.billing, START - timedelta(seconds=5), "c2")
    browser.signed_in("sue")
    page = browser.get("/supervisor")
    assert page.status == 200
    support = row(page.text, centre.support)
    assert [field(support, f) for f in ("logged_in", "available", "paused", "waiting")] == [
        "2",
        "1",
        "1",
        "1",
    ]
    assert field(support, "longest_wait") == "0:12"
    assert f"sv-queue-{centre.billing}" not in page.text  # Sales is not sue's
    assert "Olga" not in page.text
    assert field(page.text.split('id="sv-today"')[1], "waiting") == "1"  # only her queue's
    assert 'data-field="in_ivr"' not in page.text  # IVR calls are nobody's department


def test_an_admin_sees_every_queue_and_the_filters_narrow_it(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    organise(db, centre)
    on_air(db, centre, "olga", "103", START)
    waiting_call(db, centre.billing, START - timedelta(seconds=30), "c2")
    browser.signed_in("ada")
    page = browser.get("/supervisor")
    billing = row(page.text, centre.billing)
    assert field(billing, "logged_in") == "1" and field(billing, "waiting") == "1"
    assert 'class="sv-over"' in billing  # 30 s waited, past the 20 s threshold
    assert f"sv-queue-{centre.support}" in page.text
    only = browser.get(f"/supervisor?queue={centre.support}")
    assert f"sv-queue-{centre.billing}" not in only.text
    support_dept = db.run_sync(lambda s: s.query(Department).filter_by(name="Support").one().id)
    narrowed = browser.get(f"/supervisor?department={support_dept}")
    assert field(row(narrowed.text, centre.billing), "logged_in") == "0"  # olga is Sales


def test_a_supervisor_cannot_see_another_department_by_asking_for_it(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    organise(db, centre)
    on_air(db, centre, "olga", "103", START)
    sales = db.run_sync(lambda s: s.query(Department).filter_by(name="Sales").one().id)
    browser.signed_in("sue")
    page = browser.get(f"/supervisor?department={sales}&queue={centre.billing}")
    assert page.status == 200
    assert f"sv-queue-{centre.billing}" not in page.text and "Olga" not in page.text
    assert field(page.text.split('id="sv-today"')[1], "agents_free") == "0"
    bad = browser.get("/supervisor?queue=abc")
    assert bad.status == 400


def test_agents_are_refused_the_screen_and_its_stream(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    browser.signed_in("eva")
    assert browser.get("/supervisor").status == 403
    assert browser.get("/supervisor/wallboard").status == 403
    assert browser.open_stream("/supervisor/events").status == 403


def test_the_screen_follows_changes_live_and_a_resume_gets_the_whole_picture(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner, clock: Clock
) -> None:
    organise(db, centre)
    on_air(db, centre, "eva", "101", START)
    browser.signed_in("sue")
    page = browser.get("/supervisor")
    last = page.text.split('data-last-id="', 1)[1].split('"', 1)[0]
    stream = browser.open_stream(f"/supervisor/events?last_id={last}")
    assert stream.status == 200
    tick(browser, clock, 0)
    first = screens(stream)
    assert len(first) == 1 and field(json.loads(first[0]["data"])["html"], "waiting") == "0"
    waiting_call(db, centre.support, START, "c1")
    tick(browser, clock, 0)  # pushed at once: no poll interval to wait for
    frames = screens(stream)
    assert len(frames) == 2
    latest = json.loads(frames[-1]["data"])
    assert field(latest["html"], "waiting") == "1"
    assert int(frames[-1]["id"]) > int(frames[0]["id"])
    assert latest["server_now"] == clock.seconds()  # the browser's timers start from it
    # A reconnect after the last id seen: the current picture at once, nothing replayed.
    again = browser.open_stream("/supervisor/events", headers={"Last-Event-ID": frames[-1]["id"]})
    tick(browser, clock, 0)
    resumed = screens(again)
    assert len(resumed) == 1 and resumed[0]["id"] == frames[-1]["id"]
    assert field(json.loads(resumed[0]["data"])["html"], "waiting") == "1"


def test_the_wallboard_has_the_panels_in_large_type_and_no_controls(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    organise(db, centre)
    browser.signed_in("sue")
    page = browser.get("/supervisor/wallboard")
    assert page.status == 200
    assert 'id="sv-wallboard"' in page.text and "sv-queues" in page.text
    main = page.text.split("<main", 1)[1].split("</main>", 1)[0]
    assert 'id="sv-filters"' not in main and "<button" not in main and "<select" not in main


def test_the_screen_speaks_czech(browser: Browser, centre: StaffCentre, db: InlineDBRunner) -> None:
    organise(db, centre)
    db.run_sync(lambda s: setattr(s.get(Agent, centre.agents["sue"]), "language", "cs"))
    browser.signed_in("sue")
    page = browser.get("/supervisor")
    assert "Fronty" in page.text and "Dnes" in page.text and "Živý přehled" in page.text
