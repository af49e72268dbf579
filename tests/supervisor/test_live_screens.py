"""The supervisor screens' refresh is cheap (R-4.8, issue 13: pushed within a quarter second
while supervisor screens are open): the screens that see the same scope are read once per
change, whatever their number and language; a change of one agent renders one row of the
Agents panel; the timers of rows kept from before still show the time as of each frame;
and the scope is read again at every change, so a supervisor sees only the departments
they supervise now (R-4.6)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session
from twisted.internet.task import Clock

from agent_desktop.agent_state import Pause
from agent_desktop.store import agent_sessions
from db.models import Agent, Department, PauseType, SupervisorDepartment
from domain.enums import Role
from hotline.web import WebRoot
from supervisor.live_screens import live_screens
from supervisor.routes import LABELS
from tests.supervisor.test_live_screen import (
    agent_id,
    field,
    on_air,
    organise,
    screens,
    waiting_call,
)
from tests.support.centre import StaffCentre
from tests.support.db import InlineDBRunner
from tests.support.web import Browser, Stream, tick
from tests.support.web_fixtures import START


@contextmanager
def statements(db: InlineDBRunner) -> Iterator[list[str]]:
    """The SQL statements run on the database meanwhile."""
    seen: list[str] = []

    def note(*args: Any) -> None:
        seen.append(args[2])

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


def second_supervisor_of_support(db: InlineDBRunner, centre: StaffCentre) -> None:
    """sam supervises Support, as sue does, and reads Czech."""

    def make(session: Session) -> None:
        sue = session.get(Agent, centre.agents["sue"])
        assert sue is not None
        sam = Agent(login="sam", name="Sam Visor", password_hash=sue.password_hash)
        sam.role, sam.language = Role.SUPERVISOR, "cs"
        session.add(sam)
        session.flush()
        support = session.query(Department).filter_by(name="Support").one()
        session.add(SupervisorDepartment(agent_id=sam.id, department_id=support.id))

    db.run_sync(make)


def latest_html(stream: Stream) -> str:
    return str(json.loads(screens(stream)[-1]["data"])["html"])


def test_the_screens_of_one_scope_are_read_once_per_change_in_every_language(
    web: WebRoot, browser: Browser, centre: StaffCentre, db: InlineDBRunner, clock: Clock
) -> None:
    organise(db, centre)
    second_supervisor_of_support(db, centre)
    on_air(db, centre, "eva", "101", START)
    browser.signed_in("sue")
    first = browser.open_stream("/supervisor/events")
    tick(browser, clock, 0)
    with statements(db) as alone:
        waiting_call(db, centre.support, START, "c1")
        tick(browser, clock, 0)
    assert field(latest_html(first), "waiting") == "1"

    # Three more screens of the same departments: sue's second tab, and sam's, in Czech.
    again = browser.open_stream("/supervisor/events")
    czech = Browser(web.resource())
    czech.signed_in("sam")
    sams = czech.open_stream("/supervisor/events")
    sams_too = czech.open_stream("/supervisor/events")
    tick(browser, clock, 0)
    czech.stub.flush()
    with statements(db) as together:
        waiting_call(db, centre.support, START, "c2")
        tick(browser, clock, 0)
        czech.stub.flush()
    # The same reads as for one screen: the change's write, the feed's read, one snapshot.
    assert len(together) == len(alone)
    for stream in (first, again, sams, sams_too):
        assert field(latest_html(stream), "waiting") == "2"
    assert ">Pauses<" in latest_html(again) and ">Pauzy<" in latest_html(sams)
    # Every stream of the screen got the same event id: resumable from the same place.
    ids = {screens(s)[-1]["id"] for s in (first, again, sams, sams_too)}
    assert len(ids) == 1


def test_a_change_of_one_agent_renders_that_agent_row_alone_and_timers_stay_true(
    web: WebRoot, browser: Browser, centre: StaffCentre, db: InlineDBRunner, clock: Clock
) -> None:
    organise(db, centre)
    on_air(db, centre, "eva", "101", START)
    on_air(db, centre, "jan", "102", START)
    browser.signed_in("sue")
    stream = browser.open_stream("/supervisor/events")
    tick(browser, clock, 0)
    rows = live_screens(web.services, LABELS).rows
    before = rows.rendered
    clock.advance(65)
    pause = db.run_sync(
        lambda s: s.scalars(select(PauseType.id).order_by(PauseType.position).limit(1)).one()
    )
    db.run_sync(
        lambda s: agent_sessions.apply_event(
            s, agent_id(db, "jan"), Pause(pause), START + timedelta(seconds=65)
        )
    )
    tick(browser, clock, 0)
    assert rows.rendered == before + 1  # jan's row; eva's is as it was
    html = latest_html(stream)
    eva = html.split('id="sv-agent-' + str(agent_id(db, "eva")), 1)[1].split("</tr>", 1)[0]
    jan = html.split('id="sv-agent-' + str(agent_id(db, "jan")), 1)[1].split("</tr>", 1)[0]
    # eva's row was kept from the first frame, her time in state is as of this one.
    assert field(eva, "in_state") == "1:05" and field(jan, "in_state") == "0:00"
    assert 'data-status="paused"' in jan


def test_a_supervisor_who_loses_a_department_stops_seeing_it_at_the_next_change(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner, clock: Clock
) -> None:
    organise(db, centre)
    on_air(db, centre, "eva", "101", START)
    browser.signed_in("sue")
    stream = browser.open_stream("/supervisor/events")
    tick(browser, clock, 0)
    assert f'id="sv-agent-{agent_id(db, "eva")}"' in latest_html(stream)
    sue = centre.agents["sue"]
    db.run_sync(
        lambda s: s.query(SupervisorDepartment).filter_by(agent_id=sue).delete(),
    )
    waiting_call(db, centre.support, START, "c1")
    tick(browser, clock, 0)
    html = latest_html(stream)
    assert 'id="sv-no-queues"' in html and f'id="sv-agent-{agent_id(db, "eva")}"' not in html
