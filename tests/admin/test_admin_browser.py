"""R-6.2: an admin manages the centre in a real browser (headless Chromium, 1366x768) against a
running ``hotline serve``: a queue with hours and a reason tree (a refused value first,
shown next to its field), a DID to it, an agent with a seat and the right to the queue;
the audit trail shows each change. Screenshots go to HOTLINE_TEST_ARTIFACTS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from admin.store import find_record
from db.catalog import load_catalog
from tests.support.browser import artifacts_dir, browser_tests, chromium, click, sign_in, waiting
from tests.support.processes import serve_env, serving

pytestmark = browser_tests()  # skipped without Chromium; fails in CI (tests/support/browser.py)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

WAIT_S = 30
PASSWORD = "admin pass"
CENTRE = f"""
phone_seats:
  - {{name: Desk 7, dial_string: PJSIP/107}}
agents:
  - {{login: root, name: Ada Admin, password: '{PASSWORD}', role: admin}}
"""


@pytest.fixture
def web(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[str]:
    with Session(engine) as session, session.begin():
        load_catalog(session, CENTRE, source="admin-browser.yaml")
    env = serve_env(tmp_path, HOTLINE_DATABASE_URL=db_url)
    port = env["HOTLINE_WEB_LISTEN"].split(":")[1]
    with serving(env, tmp_path):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    with chromium(tmp_path) as driver:
        yield driver


def _fill(driver: webdriver.Chrome, values: dict[str, str]) -> None:
    for key, text in values.items():
        field = driver.find_element(By.ID, f"f-{key}")
        if field.tag_name == "select":  # a key with the values the format allows
            Select(field).select_by_value(text)
            continue
        field.clear()
        field.send_keys(text)


def test_an_admin_builds_a_queue_a_did_and_an_agent_in_the_browser(
    web: str, browser: webdriver.Chrome, engine: Engine, tmp_path: Path
) -> None:
    shots = artifacts_dir(tmp_path)
    wait = waiting(browser, WAIT_S)
    sign_in(browser, web, "root", PASSWORD, page="/admin")
    wait.until(EC.presence_of_element_located((By.ID, "admin-sections")))
    browser.save_screenshot(str(shots / "admin-index.png"))
    click(browser, (By.ID, "admin-nav-queues"))
    click(browser, (By.ID, "admin-new"))
    wait.until(EC.presence_of_element_located((By.ID, "f-code")))
    _fill(
        browser,
        {
            "code": "HELP",
            "name": "Help desk",
            "ring_timeout_s": "0",
            "overflow_after_s": "120",
            "callback_offer_repeat_s": "60",
            "country_prefix": "420",
            "closed_action": "announce",
            "hours_prompt": "hotline/opening-hours",
            "moh_class": "default",
        },
    )
    for row, day in enumerate(("mon", "tue")):  # the hours' table, a row a day
        _fill(browser, {f"hours-{row}-weekday": day, f"hours-{row}-opens": "08:00"})
        _fill(browser, {f"hours-{row}-closes": "17:00"})
    click(browser, (By.ID, "admin-save"))
    error = wait.until(EC.presence_of_element_located((By.ID, "f-ring_timeout_s-error")))
    assert error.text == "0 is out of range (must be at least 1)"
    browser.save_screenshot(str(shots / "admin-queue-refused.png"))
    assert find_record_in(engine, "queues", "HELP") is None  # nothing saved
    _fill(browser, {"ring_timeout_s": "20"})
    click(browser, (By.ID, "admin-save"))
    wait.until(EC.text_to_be_present_in_element((By.ID, "admin-notice"), "Saved."))
    browser.save_screenshot(str(shots / "admin-queue-saved.png"))
    click(browser, (By.ID, "admin-reasons"))  # the form links to the tree editor
    wait.until(EC.presence_of_element_located((By.ID, "add-label-in-top")))
    browser.find_element(By.ID, "add-label-in-top").send_keys("Internet")
    browser.find_element(By.ID, "add-code-in-top").send_keys("I-1")
    click(browser, (By.ID, "add-in-top"))
    wait.until(EC.text_to_be_present_in_element((By.ID, "admin-notice"), "Saved."))
    queue = find_record_in(engine, "queues", "HELP")
    assert queue is not None and queue["reasons"]["in"][0]["label"] == "Internet"
    assert queue["hours"][1] == {"weekday": "tue", "opens": "08:00", "closes": "17:00"}

    browser.get(web + "/admin/s/dids/edit")
    wait.until(EC.presence_of_element_located((By.ID, "f-number")))
    _fill(browser, {"number": "5550001", "name": "Help line", "queue": "HELP"})
    click(browser, (By.ID, "admin-save"))
    wait.until(EC.text_to_be_present_in_element((By.ID, "admin-notice"), "Saved."))

    browser.get(web + "/admin/s/agents/edit")
    wait.until(EC.presence_of_element_located((By.ID, "f-login")))
    _fill(
        browser,
        {"login": "nina", "name": "Nina Nová", "role": "agent", "language": "cs"},
    )
    _fill(browser, {"password": "nina pass"})
    click(browser, (By.CSS_SELECTOR, "#f-seats input[value='Desk 7']"))
    browser.execute_script("document.getElementById('f-seats').scrollIntoView();")
    browser.save_screenshot(str(shots / "admin-agent-pickers.png"))
    click(browser, (By.ID, "admin-save"))
    wait.until(EC.text_to_be_present_in_element((By.ID, "admin-notice"), "Saved."))
    browser.get(web + "/admin/s/queues/edit?key=HELP")
    wait.until(EC.presence_of_element_located((By.ID, "f-agents")))
    click(browser, (By.CSS_SELECTOR, "#f-agents input[value=nina]"))  # the member agents' picker
    click(browser, (By.ID, "admin-save"))
    wait.until(EC.text_to_be_present_in_element((By.ID, "admin-notice"), "Saved."))
    assert find_record_in(engine, "queues", "HELP")["agents"] == ["nina"]  # type: ignore[index]

    browser.get(web + "/admin/audit")
    table = wait.until(EC.presence_of_element_located((By.ID, "admin-audit")))
    assert "admin.queues.update" in table.text and "admin.agents.create" in table.text
    assert "admin.dids.create" in table.text
    browser.save_screenshot(str(shots / "admin-audit.png"))


def find_record_in(engine: Engine, section: str, key: str) -> dict[str, object] | None:
    with Session(engine) as session:
        return find_record(session, section, key)
