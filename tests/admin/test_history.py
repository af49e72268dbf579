"""The pause-history and login-history viewer (R-2.4, R-2.1, R-4.6): per period, who paused
with which type, how long, paid; who logged in at which seat; a supervisor sees the agents
of his departments, an admin everyone, an agent nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from db.models import Agent, AgentSession, Department, PauseRecord, SupervisorDepartment
from tests.support.centre import StaffCentre
from tests.support.db import InlineDBRunner
from tests.support.web import Browser
from tests.support.web_fixtures import START


def _history(db: InlineDBRunner, centre: StaffCentre) -> None:
    """eva (Support) paused 10 min paid and 3 min unpaid; jan (Sales) 5 min; both logged in;
    sue supervises Support."""

    def make(session: Session) -> None:
        support, sales = Department(name="Support"), Department(name="Sales")
        session.add_all([support, sales])
        session.flush()
        for login, department in (("eva", support), ("jan", sales)):
            agent = session.get(Agent, centre.agents[login])
            assert agent is not None
            agent.department_id = department.id
        session.add(SupervisorDepartment(agent_id=centre.agents["sue"], department_id=support.id))
        at = START - timedelta(hours=1)
        for login, seat in (("eva", "101"), ("jan", "102")):
            session.add(
                AgentSession(
                    agent_id=centre.agents[login],
                    seat_id=centre.seats[seat],
                    logged_in_at=at,
                    logged_out_at=at + timedelta(minutes=50),
                    state_since=at,
                    idle_since=at,
                )
            )
        pauses = [
            ("eva", "personal", True, 10 * 60),
            ("eva", "meeting", False, 3 * 60),
            ("jan", "meeting", False, 5 * 60),
        ]
        for n, (login, kind, paid, length_s) in enumerate(pauses):
            begun = at + timedelta(minutes=10 * n)
            session.add(
                PauseRecord(
                    agent_id=centre.agents[login],
                    pause_type_id=centre.pauses[kind],
                    paid=paid,
                    started_at=begun,
                    ended_at=begun + timedelta(seconds=length_s),
                )
            )

    db.run_sync(make)


def test_a_supervisor_sees_his_departments_pauses_and_logins(
    browser: Browser, db: InlineDBRunner, centre: StaffCentre
) -> None:
    _history(db, centre)
    browser.signed_in("sue")
    page = browser.get("/admin/history?kind=pauses&since=2026-03-02&until=2026-03-02")
    assert page.status == 200
    assert page.text.count("<tr><td>Eva Dvořák</td>") == 2 and "Jan Novák" not in page.text
    assert "<td>Personal</td>" in page.text and "<td>0:10:00</td><td>yes</td>" in page.text
    assert "<td>0:03:00</td><td>no</td>" in page.text
    logins = browser.get("/admin/history?kind=logins&since=2026-03-02&until=2026-03-02").text
    assert "<td>Eva Dvořák</td><td>Support</td><td>101</td>" in logins
    assert "<td>0:50:00</td>" in logins and "Jan Novák" not in logins
    # Another period: nothing.
    empty = browser.get("/admin/history?kind=pauses&since=2026-02-01&until=2026-02-02").text
    assert 'id="admin-history-empty"' in empty


def test_an_admin_sees_everyone_and_an_agent_nothing(
    browser: Browser, other_browser: Browser, db: InlineDBRunner, centre: StaffCentre, admin: int
) -> None:
    _history(db, centre)
    browser.signed_in("ada")
    page = browser.get("/admin/history?since=2026-03-02&until=2026-03-02").text
    assert "Eva Dvořák" in page and "<td>Jan Novák</td><td>Sales</td>" in page
    other_browser.signed_in("eva")
    assert other_browser.get("/admin/history").status == 403
