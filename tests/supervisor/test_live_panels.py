"""The live screen's Activities, Agents and Pauses panels (R-4.1, R-4.2, R-4.3), the
agent filter (R-4.6) and a supervisor's actions on an agent (R-4.7), over the real routes:
what a supervisor sees of open calls and agents, only within their departments, and
setting an agent's state by the agent's own rules, audited, refused for agents."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session
from twisted.internet.task import Clock

from agent_desktop.agent_state import Answered, CallEnded, Offered, Pause, RingEnded
from agent_desktop.store import agent_sessions
from db.events import emit
from db.models import (
    AgentSession,
    AuditLog,
    Call,
    Customer,
    CustomerPhone,
    Location,
    PauseRecord,
    QueueLocation,
    RingAttempt,
)
from domain.enums import Activity, AgentState, CallState, RingOutcome
from supervisor.store import live
from tests.supervisor.test_live_screen import (
    agent_id,
    on_air,
    organise,
    screens,
    waiting_call,
)
from tests.support.centre import StaffCentre
from tests.support.db import InlineDBRunner
from tests.support.web import Browser, open_desktop_stream, tick
from tests.support.web_fixtures import START

JSON = "application/json"


def ring(db: InlineDBRunner, call_id: int, agent: int, dial: str, at: datetime) -> None:
    """Offer the call to ``agent``: the call rings, the agent is reserved."""

    def go(session: Session) -> None:
        call = session.get(Call, call_id)
        assert call is not None
        call.state = CallState.RINGING
        session.add(
            RingAttempt(
                call_id=call_id,
                agent_id=agent,
                dial_string=dial,
                started_at=at,
                outcome=RingOutcome.RINGING,
            )
        )
        agent_sessions.apply_event(session, agent, Offered(), at)
        emit(session, "call.ringing", at, call_id=call_id)

    db.run_sync(go)


def answer(db: InlineDBRunner, call_id: int, agent: int, at: datetime) -> None:
    def go(session: Session) -> None:
        call = session.get(Call, call_id)
        assert call is not None
        call.state, call.answered_at, call.agent_id = CallState.TALKING, at, agent
        attempt = session.query(RingAttempt).filter_by(call_id=call_id, outcome="ringing").one()
        attempt.outcome, attempt.ended_at = RingOutcome.ANSWERED, at
        agent_sessions.apply_event(session, agent, Answered(), at)
        row = session.query(AgentSession).filter_by(agent_id=agent, logged_out_at=None).one()
        row.current_call_id = call_id
        emit(session, "call.answered", at, call_id=call_id)

    db.run_sync(go)


def hang_up(db: InlineDBRunner, call_id: int, agent: int, at: datetime) -> None:
    def go(session: Session) -> None:
        call = session.get(Call, call_id)
        assert call is not None
        call.state, call.ended_at = CallState.ANSWERED, at
        agent_sessions.apply_event(session, agent, CallEnded(), at)
        emit(session, "call.ended", at, call_id=call_id)

    db.run_sync(go)


def table_row(text: str, row_id: str) -> str:
    found = re.search(rf'<tr id="{row_id}".*?</tr>', text, re.S)
    assert found, f"no row {row_id}"
    return found.group(0)


def cell(html: str, name: str) -> str:
    found = re.search(rf'data-field="{name}">(.*?)</td>', html, re.S)
    assert found, name
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def test_activities_show_each_open_call_with_its_times_agents_and_marks(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    organise(db, centre)
    eva, jan = agent_id(db, "eva"), agent_id(db, "jan")
    on_air(db, centre, "eva", "101", START - timedelta(minutes=30))
    on_air(db, centre, "jan", "102", START - timedelta(minutes=30))
    waiting = waiting_call(db, centre.support, START - timedelta(seconds=40), "c1")
    rung = waiting_call(db, centre.support, START - timedelta(seconds=20), "c2")
    ring(db, rung, eva, "PJSIP/101", START - timedelta(seconds=5))
    talked = waiting_call(db, centre.support, START - timedelta(seconds=200), "c3")

    def mark(session: Session) -> None:
        call = session.get(Call, talked)
        assert call is not None
        location = Location(code="brno", name="Brno")
        session.add(location)
        session.flush()
        customer = Customer(location_id=location.id, name="Acme Water")
        session.add(customer)
        session.flush()
        call.customer_id, call.overflowed = customer.id, True

    db.run_sync(mark)
    ring(db, talked, jan, "PJSIP/102", START - timedelta(seconds=150))
    answer(db, talked, jan, START - timedelta(seconds=140))
    olga_call = waiting_call(db, centre.billing, START - timedelta(seconds=9), "c4")
    browser.signed_in("sue")
    page = browser.get("/supervisor")
    assert page.status == 200
    first = table_row(page.text, f"sv-call-{waiting}")
    assert 'data-phase="waiting"' in first and cell(first, "waiting") == "0:40"
    assert cell(first, "talking") == "–" and "Technical support" in first
    assert "222111001" in first and cell(first, "caller") == "777123456"
    second = table_row(page.text, f"sv-call-{rung}")
    assert 'data-phase="ringing"' in second
    assert cell(second, "agent") == "ringing: Eva Dvořák"  # rung right now
    third = table_row(page.text, f"sv-call-{talked}")
    assert 'data-phase="talking"' in third and "overflow" in third
    assert cell(third, "caller") == "777123456 Acme Water"  # the matched customer
    assert cell(third, "agent") == "Jan Novák"
    assert cell(third, "waiting") == "1:00"  # from the queue to the answer: done
    assert cell(third, "talking") == "2:20"  # still running: ticks in the browser
    assert f'data-since="{(START - timedelta(seconds=140)).timestamp():.3f}"' in third
    assert f'href="/supervisor/messages?agent={jan}"' in third  # notify the agent
    assert f"sv-call-{olga_call}" not in page.text  # Sales is not sue's

    # The call ends; Jan processes it: after-call work, until he saves the form.
    hang_up(db, talked, jan, START + timedelta(seconds=10))
    later = browser.get("/supervisor")
    processing = table_row(later.text, f"sv-call-{talked}")
    assert 'data-phase="processing"' in processing
    assert cell(processing, "talking") == "2:30"


def test_the_detail_view_lists_the_ring_attempts_and_is_scoped(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    organise(db, centre)
    eva, jan = agent_id(db, "eva"), agent_id(db, "jan")
    on_air(db, centre, "eva", "101", START)
    on_air(db, centre, "jan", "102", START)
    call = waiting_call(db, centre.support, START, "c1")
    ring(db, call, eva, "PJSIP/101", START)

    def ring_out(session: Session) -> None:
        attempt = session.query(RingAttempt).filter_by(call_id=call).one()
        attempt.outcome, attempt.ended_at = RingOutcome.NO_ANSWER, START + timedelta(seconds=20)
        missed = RingEnded(missed=True, pause_type_id=centre.pauses["missed"])
        agent_sessions.apply_event(session, eva, missed, START)

    db.run_sync(ring_out)
    ring(db, call, jan, "PJSIP/102", START + timedelta(seconds=21))
    olga_call = waiting_call(db, centre.billing, START, "c2")
    browser.signed_in("sue")
    part = browser.get(f"/supervisor/calls/{call}?part=1")
    assert part.status == 200 and "<html" not in part.text
    rows = re.findall(r'<tr data-outcome="(\w+)">(.*?)</tr>', part.text, re.S)
    assert [(o, "Eva" in r, "0:20" in r) for o, r in rows] == [
        ("no_answer", True, True),
        ("ringing", False, False),
    ]
    assert "No answer" in part.text and "Jan Novák" in rows[1][1]
    whole = browser.get(f"/supervisor/calls/{call}")
    assert whole.status == 200 and "<html" in whole.text and 'id="sv-ring-table"' in whole.text
    assert browser.get(f"/supervisor/calls/{olga_call}").status == 404  # not her department
    assert browser.get("/supervisor/calls/999999").status == 404


def test_agents_and_pauses_panels_and_the_agent_filter(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    organise(db, centre)
    eva, jan = agent_id(db, "eva"), agent_id(db, "jan")
    on_air(db, centre, "eva", "101", START - timedelta(hours=1))
    on_air(db, centre, "jan", "102", START - timedelta(hours=1))
    on_air(db, centre, "olga", "103", START - timedelta(hours=1))
    db.run_sync(
        lambda s: agent_sessions.apply_event(
            s, jan, Pause(centre.pauses["meeting"]), START - timedelta(seconds=75)
        )
    )
    browser.signed_in("sue")
    page = browser.get("/supervisor")
    eva_row = table_row(page.text, f"sv-agent-{eva}")
    assert cell(eva_row, "status") == "Free" and cell(eva_row, "seat") == "101"
    assert cell(eva_row, "extension") == "PJSIP/101"
    assert cell(eva_row, "queues") == "Technical support (1)"
    assert cell(eva_row, "logged_in_at") != "–"
    jan_row = table_row(page.text, f"sv-agent-{jan}")
    assert cell(jan_row, "status") == "Paused: Meeting" and cell(jan_row, "in_state") == "1:15"
    assert "Olga" not in page.text  # Sales: not sue's
    meeting = table_row(page.text, f"sv-pause-{centre.pauses['meeting']}")
    assert cell(meeting, "paid") == "unpaid" and cell(meeting, "count") == "1"
    assert cell(meeting, "who") == "Jan Novák 1:15"
    assert f"sv-pause-{centre.pauses['personal']}" not in page.text  # not in use

    only_eva = browser.get(f"/supervisor?agent={eva}")
    assert f"sv-agent-{eva}" in only_eva.text and f"sv-agent-{jan}" not in only_eva.text
    assert 'id="sv-no-pauses"' in only_eva.text
    olga = agent_id(db, "olga")
    asked = browser.get(f"/supervisor?agent={olga}")  # not hers: nobody, not Olga
    assert asked.status == 200 and "Olga" not in asked.text and 'id="sv-no-agents"' in asked.text
    assert browser.get("/supervisor?agent=x").status == 400


def test_an_agent_logged_out_shows_as_logged_out(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    organise(db, centre)
    browser.signed_in("sue")
    page = browser.get("/supervisor")
    eva_row = table_row(page.text, f"sv-agent-{agent_id(db, 'eva')}")
    assert cell(eva_row, "status") == "Logged out" and "sv-set-state" not in eva_row


def test_a_supervisor_pauses_an_agent_whose_desktop_follows_and_it_is_audited(
    browser: Browser, other_browser: Browser, centre: StaffCentre, db: InlineDBRunner, clock: Clock
) -> None:
    organise(db, centre)
    jan = agent_id(db, "jan")
    on_air(db, centre, "jan", "102", START)
    desktop = open_desktop_stream(other_browser, centre, "jan")
    browser.signed_in("sue")
    browser.get("/supervisor")
    done = browser.post(
        "/supervisor/agent-state",
        {"agent_id": str(jan), "action": "pause", "pause_type_id": str(centre.pauses["personal"])},
        accept=JSON,
    )
    assert done.status == 200 and json.loads(done.text) == {"ok": True}
    row = db.run_sync(lambda s: s.query(AgentSession).filter_by(agent_id=jan).one())
    assert (row.state, row.activity, row.pause_type_id) == (
        AgentState.OFF_AIR,
        Activity.PAUSED,
        centre.pauses["personal"],
    )
    pauses = db.run_sync(lambda s: s.query(PauseRecord).filter_by(agent_id=jan).all())
    assert [(p.pause_type_id, p.paid) for p in pauses] == [(centre.pauses["personal"], True)]
    tick(other_browser, clock, 0)
    badges = [json.loads(m["data"]) for m in desktop.messages() if m.get("event") == "badge"]
    assert badges and badges[-1]["detail"].endswith(": Personal")  # the desktop follows, live
    assert badges[-1]["controls"]["pause_type_id"] == centre.pauses["personal"]
    audit = db.run_sync(lambda s: s.query(AuditLog).all())
    assert [(a.action, a.target, a.actor_id) for a in audit] == [
        ("supervisor.agent_state", "agents:jan", centre.agents["sue"])
    ]
    detail = json.loads(audit[0].detail)
    assert detail["before"]["state"] == "on_air" and detail["after"]["pause"] == "Personal"
    page = browser.get("/supervisor")
    assert cell(table_row(page.text, f"sv-agent-{jan}"), "status") == "Paused: Personal"

    # Off air, on air, out of the seat: each by the agent's rules, each audited.
    for action in ("off_air", "on_air", "log_out"):
        answer_ = browser.post(
            "/supervisor/agent-state", {"agent_id": str(jan), "action": action}, accept=JSON
        )
        assert answer_.status == 200, (action, answer_.text)
    row = db.run_sync(lambda s: s.query(AgentSession).filter_by(agent_id=jan).one())
    assert row.logged_out_at is not None
    assert db.run_sync(lambda s: s.query(AuditLog).count()) == 4
    page = browser.get("/supervisor")
    assert cell(table_row(page.text, f"sv-agent-{jan}"), "status") == "Logged out"


def test_the_agents_rules_refuse_a_change_during_a_call_and_nothing_is_audited(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    organise(db, centre)
    eva = agent_id(db, "eva")
    on_air(db, centre, "eva", "101", START)
    call = waiting_call(db, centre.support, START, "c1")
    ring(db, call, eva, "PJSIP/101", START)
    answer(db, call, eva, START)
    browser.signed_in("sue")
    browser.get("/supervisor")
    for action in ("pause", "off_air", "log_out"):
        refused = browser.post(
            "/supervisor/agent-state",
            {
                "agent_id": str(eva),
                "action": action,
                "pause_type_id": str(centre.pauses["personal"]),
            },
            accept=JSON,
        )
        assert refused.status == 409, action
        assert "The agent" in json.loads(refused.text)["error"]
    assert db.run_sync(lambda s: s.query(AuditLog).count()) == 0
    no_pause = browser.post(
        "/supervisor/agent-state", {"agent_id": str(eva), "action": "pause"}, accept=JSON
    )
    assert no_pause.status == 400


def test_actions_are_refused_for_agents_and_outside_the_departments(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    organise(db, centre)
    on_air(db, centre, "olga", "103", START)
    on_air(db, centre, "jan", "102", START)
    olga, jan = agent_id(db, "olga"), agent_id(db, "jan")
    browser.signed_in("eva")
    browser.get("/desktop")
    as_agent = browser.post(
        "/supervisor/agent-state", {"agent_id": str(jan), "action": "off_air"}, accept=JSON
    )
    assert as_agent.status == 403
    assert browser.get("/supervisor/calls/1").status == 403
    browser.signed_in("sue")
    browser.get("/supervisor")
    foreign = browser.post(
        "/supervisor/agent-state", {"agent_id": str(olga), "action": "off_air"}, accept=JSON
    )
    assert foreign.status == 404
    row = db.run_sync(lambda s: s.query(AgentSession).filter_by(agent_id=olga).one())
    assert row.state is AgentState.ON_AIR  # untouched
    assert db.run_sync(lambda s: s.query(AuditLog).count()) == 0
    forged = browser.post(
        "/supervisor/agent-state", {"agent_id": str(jan), "action": "off_air"}, csrf=False
    )
    assert forged.status == 403


def test_the_new_panels_speak_czech(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    organise(db, centre)
    on_air(db, centre, "eva", "101", START)
    waiting_call(db, centre.support, START, "c1")
    from db.models import Agent

    db.run_sync(lambda s: setattr(s.get(Agent, centre.agents["sue"]), "language", "cs"))
    browser.signed_in("sue")
    page = browser.get("/supervisor")
    for word in ("Aktivity", "Operátoři", "Pauzy", "Volný", "Čeká"):
        assert word in page.text, word


def test_notify_the_agent_opens_the_message_with_that_agent_chosen(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner
) -> None:
    """R-4.1: "Notify the agent" from a row is the R-2.16 message, its recipient chosen."""
    organise(db, centre)
    jan = agent_id(db, "jan")
    browser.signed_in("sue")
    page = browser.get(f"/supervisor/messages?agent={jan}")
    assert page.status == 200
    assert re.search(rf'<option value="{jan}" selected>Jan Novák', page.text)
    assert browser.get("/supervisor/messages?agent=x").status == 400


def test_a_waiting_caller_is_matched_to_a_customer_by_number_once(
    browser: Browser,
    centre: StaffCentre,
    db: InlineDBRunner,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """R-4.1 "caller and matched customer": a caller still waiting, before any agent's form
    has matched them, shows as the customer their number belongs to (the form's matching:
    the queue's locations, R-2.6, R-2.7), looked up once per call, not on every refresh."""
    organise(db, centre)

    def customer(session: Session) -> None:
        location = Location(code="brno", name="Brno")
        session.add(location)
        session.flush()
        session.add(QueueLocation(queue_id=centre.support, location_id=location.id))
        acme = Customer(location_id=location.id, name="Acme Water")
        acme.phones.append(
            CustomerPhone(position=1, number="+420 777 123 456", digits="420777123456")
        )
        session.add(acme)

    db.run_sync(customer)
    lookups: list[int] = []

    def counted(session: Session, call_id: int) -> str:
        lookups.append(call_id)
        return real_match(session, call_id)

    real_match = live.number_match
    monkeypatch.setattr(live, "number_match", counted)
    browser.signed_in("sue")
    page = browser.get("/supervisor")
    last = page.text.split('data-last-id="', 1)[1].split('"', 1)[0]
    stream = browser.open_stream(f"/supervisor/events?last_id={last}")
    tick(browser, clock)
    known = waiting_call(db, centre.support, START - timedelta(seconds=10), "c-known")
    stranger = waiting_call(db, centre.support, START - timedelta(seconds=5), "c-stranger")
    db.run_sync(lambda s: setattr(s.get(Call, stranger), "caller_number", "608000111"))
    tick(browser, clock)
    html = json.loads(screens(stream)[-1]["data"])["html"]
    assert cell(table_row(html, f"sv-call-{known}"), "caller") == "777123456 Acme Water"
    assert cell(table_row(html, f"sv-call-{stranger}"), "caller") == "608000111"
    assert db.run_sync(lambda s: s.get(Call, known).customer_id) is None  # the form's to store
    before = len(lookups)
    for moment in range(3):  # more refreshes: the stream knows its callers already
        db.run_sync(lambda s, m=moment: emit(s, "call.waiting", START, call_id=known, n=m))
        tick(browser, clock)
    assert len(lookups) == before == 2
    html = json.loads(screens(stream)[-1]["data"])["html"]
    assert cell(table_row(html, f"sv-call-{known}"), "caller") == "777123456 Acme Water"
    page = browser.get("/supervisor")  # a page load (and the detail) match by themselves
    assert cell(table_row(page.text, f"sv-call-{known}"), "caller") == "777123456 Acme Water"
    detail = browser.get(f"/supervisor/calls/{known}?part=1")
    assert "Acme Water" in detail.text
