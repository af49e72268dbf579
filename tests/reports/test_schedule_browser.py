"""The scheduled reports' page in a real browser (headless Chromium, 1366x768) against a
running ``hotline serve`` with SMTP configured (R-5.5): a supervisor goes from Reports to
the schedules, makes one with a wrong address first (said next to the field), then a right
one; the list shows the schedule and, once the log has them, its last sendings with a
failure. Screenshots go to HOTLINE_TEST_ARTIFACTS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from db.catalog import load_catalog
from db.models import ReportSchedule, ReportSending
from tests.support.browser import (
    artifacts_dir,
    browser_tests,
    chromium,
    click,
    csp_violations,
    sign_in,
    waiting,
)
from tests.support.processes import serve_env, serving
from tests.support.smtp_server import loopback_smtp

pytestmark = browser_tests()  # skipped without Chromium; fails in CI (tests/support/browser.py)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

WAIT_S = 30
PASSWORD = "schedule it"
CENTRE = f"""
settings: {{time_zone: Europe/Prague}}
agents:
  - {{login: sue, name: Sue Visor, password: '{PASSWORD}', role: supervisor}}
queues:
  - {{code: SUPPORT, name: Technical support, agents: [sue]}}
  - {{code: SALES, name: Hidden sales}}
"""


@pytest.fixture
def web(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[str]:
    with Session(engine) as session, session.begin():
        load_catalog(session, CENTRE, source="schedules-browser.yaml")
    with loopback_smtp() as smtp:
        env = serve_env(tmp_path, HOTLINE_DATABASE_URL=db_url, HOTLINE_SMTP_URL=smtp.url)
        port = env["HOTLINE_WEB_LISTEN"].split(":")[1]
        with serving(env, tmp_path):
            yield f"http://127.0.0.1:{port}"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    with chromium(tmp_path) as driver:
        yield driver


def test_a_supervisor_schedules_a_report_and_sees_its_sendings(
    web: str, browser: webdriver.Chrome, engine: Engine, tmp_path: Path
) -> None:
    shots = artifacts_dir(tmp_path)
    wait = waiting(browser, WAIT_S)
    sign_in(browser, web, "sue", PASSWORD, page="/reports")
    click(browser, (By.ID, "reports-schedules"))
    wait.until(EC.presence_of_element_located((By.ID, "schedules-empty")))
    click(browser, (By.ID, "schedule-new"))
    wait.until(EC.presence_of_element_located((By.ID, "schedule-form")))
    queues = [o.text for o in Select(browser.find_element(By.ID, "s-queue")).options]
    assert "Technical support" in queues and "Hidden sales" not in queues
    Select(browser.find_element(By.ID, "s-report")).select_by_value("agents")
    Select(browser.find_element(By.ID, "s-queue")).select_by_visible_text("Technical support")
    Select(browser.find_element(By.ID, "s-period")).select_by_value("weekly")
    Select(browser.find_element(By.ID, "s-format")).select_by_value("xlsx")
    send_at = browser.find_element(By.ID, "s-send-at")
    send_at.clear()
    send_at.send_keys("07:15")
    browser.find_element(By.ID, "s-recipients").send_keys("boss@example.test\nnot an address")
    click(browser, (By.ID, "schedule-save"))
    problem = wait.until(EC.presence_of_element_located((By.ID, "error-recipients")))
    assert "“Recipients”: “not an address” is not an e-mail address." in problem.text
    recipients = browser.find_element(By.ID, "s-recipients")
    assert recipients.get_attribute("aria-invalid") == "true"
    assert browser.find_element(By.ID, "s-send-at").get_attribute("value") == "07:15"
    browser.save_screenshot(str(shots / "schedule-refused.png"))
    recipients.clear()
    recipients.send_keys("boss@example.test\ndeputy@example.test")
    click(browser, (By.ID, "schedule-save"))
    wait.until(EC.presence_of_element_located((By.ID, "schedules-notice")))
    with Session(engine) as s:
        sid = s.scalar(select(ReportSchedule.id))
        assert sid is not None
    with Session(engine) as s, s.begin():
        claimed = datetime(2026, 3, 2, 6, 15, tzinfo=UTC)
        s.add(
            ReportSending(
                schedule_id=sid,
                first_day=date(2026, 2, 23),
                last_day=date(2026, 3, 1),
                claimed_at=claimed,
                claimed_by="node",
                attempts=5,
                error="451 Mailbox busy, try again later",
            )
        )
        s.add(
            ReportSending(
                schedule_id=sid,
                first_day=date(2026, 2, 16),
                last_day=date(2026, 2, 22),
                claimed_at=claimed,
                claimed_by="node",
                attempts=1,
                sent_at=datetime(2026, 2, 23, 6, 15, tzinfo=UTC),
            )
        )
    browser.refresh()
    row = wait.until(EC.presence_of_element_located((By.ID, f"schedule-{sid}")))
    text = row.text
    assert "Agents" in text and "Technical support" in text and "07:15" in text
    assert "deputy@example.test" in text and "XLSX" in text
    assert "failed after 5 attempts: 451 Mailbox busy" in text
    assert "2026-02-16 – 2026-02-22" in text
    browser.save_screenshot(str(shots / "schedules.png"))
    assert csp_violations(browser) == []
