"""The administration pages issue 15 added pass axe-core with no serious or critical finding
(R-6.2, as issue 16 asks of every main page): an agent's form with its check-box pickers,
lists of allowed values and sign-in state, a queue's form with its tables of rows, the
reason-tree editor and the prompts page, each with its forms open. Headless Chromium
against ``hotline serve``; screenshots go to HOTLINE_TEST_ARTIFACTS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.catalog import load_catalog
from tests.support.browser import artifacts_dir, browser_tests, chromium, click, sign_in
from tests.support.processes import ALL_WEEK_HOURS, free_port, serve_env, serving
from tests.web.test_accessibility_browser import check

pytestmark = browser_tests()  # skipped without Chromium; fails in CI (tests/support/browser.py)

from selenium.webdriver.common.by import By  # noqa: E402

PASSWORD = "admin pass"
CENTRE = f"""
departments: [{{name: Support}}]
locations: [{{code: BRNO, name: Brno}}]
voicemail_boxes: [{{code: VM, name: Voicemail, kind: voicemail}}]
phone_seats: [{{name: '101', dial_string: PJSIP/101}}]
agents:
  - {{login: root, name: Ada Admin, password: '{PASSWORD}', role: admin}}
  - {{login: eva, name: Eva Agent, password: '{PASSWORD}', department: Support, seats: ['101']}}
queues:
  - code: SUPPORT
    name: Technical support
    voicemail_box: VM
    locations: [BRNO]
    agents: [eva]
    hours:
{ALL_WEEK_HOURS}    reasons:
      in:
        - label: Internet
          children:
            - {{label: No connection, code: I-1}}
        - {{label: Other, code: O-1}}
ivr_menus:
  - {{code: MAIN, name: Main, prompt: custom/main, options: [{{digit: '1', queue: SUPPORT}}]}}
"""


@pytest.fixture
def server(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[str]:
    with Session(engine) as session, session.begin():
        load_catalog(session, CENTRE, source="admin-axe.yaml")
    port = free_port()
    env = serve_env(
        tmp_path, web_port=port, HOTLINE_DATABASE_URL=db_url, HOTLINE_SOUNDS_DIR=str(tmp_path)
    )
    with serving(env, tmp_path):
        yield f"http://127.0.0.1:{port}"


def test_the_new_admin_pages_have_no_serious_accessibility_finding(
    server: str, tmp_path: Path
) -> None:
    shots = artifacts_dir(tmp_path)
    report: dict[str, list[dict[str, Any]]] = {}
    with chromium(tmp_path) as driver:
        sign_in(driver, server, "root", PASSWORD, page="/admin")
        driver.get(server + "/admin/s/agents/edit?key=eva")
        check(driver, "/admin/s/agents/edit", report)
        driver.save_screenshot(str(shots / "admin-agent-form.png"))
        driver.get(server + "/admin/s/queues/edit?key=SUPPORT")
        check(driver, "/admin/s/queues/edit", report)
        driver.execute_script("document.getElementById('f-hours').scrollIntoView();")
        driver.save_screenshot(str(shots / "admin-queue-hours.png"))
        driver.get(server + "/admin/reasons?queue=SUPPORT")
        internet = driver.find_element(By.CSS_SELECTOR, "li[data-label=Internet]")
        click(driver, (By.ID, f"edit-{internet.get_attribute('id').removeprefix('node-')}"))
        check(driver, "/admin/reasons (a node's forms open)", report)
        driver.save_screenshot(str(shots / "admin-reasons.png"))
        driver.get(server + "/admin/reasons")
        check(driver, "/admin/reasons (the queues)", report)
        driver.get(server + "/admin/s/queues/edit?key=SUPPORT&find.agent=nobody")
        check(driver, "/admin/s/queues/edit (an agent searched in vain)", report)
        driver.execute_script("document.getElementById('f-support_turns').scrollIntoView();")
        driver.save_screenshot(str(shots / "admin-queue-support-turns.png"))
        driver.get(server + "/admin/prompts")
        check(driver, "/admin/prompts", report)
        driver.save_screenshot(str(shots / "admin-prompts.png"))
    failing = {page: found for page, found in report.items() if found}
    assert failing == {}, json.dumps(failing, indent=1, ensure_ascii=False)
