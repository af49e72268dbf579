"""The administration pages' tests use the web tests' fixtures (tests/support/web_fixtures.py)
and an admin, ``ada``, beside the staff centre's people."""

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Agent, Department, SupervisorDepartment
from db.passwords import hash_password
from domain.enums import Role
from tests.support.centre import PASSWORD, StaffCentre
from tests.support.db import InlineDBRunner
from tests.support.web_fixtures import *  # noqa: F403 (pytest finds fixtures in a conftest)


@pytest.fixture
def admin(db: InlineDBRunner, centre: StaffCentre) -> int:
    """The id of ``ada``, an admin (the staff centre has none)."""

    def make(session: Session) -> int:
        hashed = hash_password(PASSWORD, n=2**10)
        ada = Agent(login="ada", name="Ada Admin", role=Role.ADMIN, password_hash=hashed)
        session.add(ada)
        session.flush()
        return ada.id

    return db.run_sync(make)


@pytest.fixture
def departments(db: InlineDBRunner, centre: StaffCentre) -> None:
    """Two departments: Support (eva and jan, members of the queue ``support``; sue
    supervises it) and Office (bob; nobody supervises it)."""

    def make(session: Session) -> None:
        support, office = Department(name="Support"), Department(name="Office")
        session.add_all([support, office])
        session.flush()
        for login, department in (("eva", support), ("jan", support), ("bob", office)):
            agent = session.scalars(select(Agent).where(Agent.login == login)).one()
            agent.department_id = department.id
        session.add(SupervisorDepartment(agent_id=centre.agents["sue"], department_id=support.id))

    db.run_sync(make)
