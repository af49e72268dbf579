"""The reports in a real browser (headless Chromium), over real sockets (R-5.3).

``hotline serve`` runs in a subprocess against the test database; ``hotline simulate``
plays Asterisk: a caller dials the support line over real FastAGI, waits, presses ``#``
and leaves a message. The supervisor's browser opens Reports at once and finds that call
in the queue report with its server-drawn SVG chart, then downloads the CSV and the PDF
through the page's links with the browser's own session. Screenshots go to
``HOTLINE_TEST_ARTIFACTS``. No sleeping: WebDriverWait polls.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.catalog import load_catalog
from tests.support.browser import (
    artifacts_dir,
    browser_tests,
    chromium,
    csp_violations,
    sign_in,
    waiting,
)
from tests.support.processes import (
    ALL_WEEK_HOURS,
    ami_url,
    free_port,
    hotline_env,
    serving,
    simulate,
    stop,
    switch_args,
)

pytestmark = browser_tests()  # skipped without Chromium; fails in CI (tests/support/browser.py)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402

WAIT_S = 30
PASSWORD = "see the figures"

CENTRE = f"""
settings: {{time_zone: Europe/Prague, country_prefix: '420'}}
locations:
  - {{code: BRNO, name: Brno}}
voicemail_boxes:
  - {{code: VM, name: Support voicemail, kind: voicemail, max_message_s: 30, silence_s: 1}}
phone_seats:
  - {{name: '101', dial_string: PJSIP/101}}
agents:
  - {{login: sue, name: Sue Visor, password: '{PASSWORD}', role: supervisor}}
queues:
  - code: SUPPORT
    name: Technical support
    callback_offer_after_s: null
    voicemail_box: VM
    closed_on_weekends: false
    locations: [BRNO]
    agents: [sue]
    hours:
{ALL_WEEK_HOURS}  - code: SALES
    name: Hidden sales
    closed_on_weekends: false
    locations: [BRNO]
dids:
  - {{number: '222111001', name: Support direct, queue: SUPPORT}}
"""

PHONES = """
phones:
  default: {answer_after_s: 1, talk_s: 4}
"""

CALLER = """
duration_s: 60
callers:
  - did: '222111001'
    caller_id_num: '777123456'
    caller_id_name: Jan Novak
    start_at_s: 0
    keys: [[3, '#']]
    speech_s: 3
"""

FETCH = """
const done = arguments[arguments.length - 1];
fetch(arguments[0], {credentials: 'same-origin'}).then(async r => {
  const bytes = new Uint8Array(await r.arrayBuffer());
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  done([r.status, r.headers.get('content-type'), btoa(text)]);
}).catch(e => done([0, String(e), '']));
"""


@pytest.fixture
def web(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[str]:
    with Session(engine) as session, session.begin():
        load_catalog(session, CENTRE, source="reports-browser.yaml")
    web_port, agi_port, ami_port = free_port(), free_port(), free_port()
    env = hotline_env(
        HOTLINE_DATABASE_URL=db_url,
        HOTLINE_WEB_LISTEN=f"tcp:{web_port}:interface=127.0.0.1",
        HOTLINE_AGI_LISTEN=f"tcp:{agi_port}:interface=127.0.0.1",
        HOTLINE_AMI_URL=ami_url(ami_port),
    )
    phones = tmp_path / "phones.yaml"
    phones.write_text("duration_s: 600\n" + PHONES, encoding="utf-8")
    switch = simulate(
        [str(phones), *switch_args(agi_port, tmp_path / "sim-switch", ami_port)],
        tmp_path,
        tmp_path / "switch.log",
        env,
    )
    try:
        with serving(env, tmp_path):
            scenario = tmp_path / "caller.yaml"
            scenario.write_text(CALLER + PHONES, encoding="utf-8")
            caller = simulate(
                [str(scenario), *switch_args(agi_port, tmp_path / "sim-caller")],
                tmp_path,
                tmp_path / "caller.log",
                hotline_env(),
            )
            try:
                yield f"http://127.0.0.1:{web_port}"
            finally:
                stop(caller)
    finally:
        stop(switch)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    with chromium(tmp_path) as driver:
        yield driver


def fetched(browser: webdriver.Chrome, href: str) -> tuple[int, str, bytes]:
    status, content_type, body = browser.execute_async_script(FETCH, href)
    return int(status), str(content_type), base64.b64decode(body)


def test_a_supervisor_opens_a_report_with_its_chart_and_downloads_it(
    web: str, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    wait = waiting(browser, WAIT_S)
    sign_in(browser, web, "sue", PASSWORD, page="/reports")
    assert browser.current_url.endswith("/reports")

    def voicemail_counted(d: Any) -> bool:
        d.get(web + "/reports?report=queues")
        cells = d.find_elements(By.CSS_SELECTOR, "#report-table td[data-key=voicemail]")
        return bool(cells) and cells[0].text == "1"

    # The simulated call is in the report as soon as it has ended: no batch, no cache.
    waiting(browser, 90).until(voicemail_counted)
    table = browser.find_element(By.ID, "report-table").text
    assert "Technical support" in table and "Hidden sales" not in table
    chart = browser.find_element(By.CSS_SELECTOR, "#report-chart svg")
    assert chart.size["width"] > 300 and chart.size["height"] > 100
    legend = browser.find_element(By.ID, "report-chart").text
    assert "Voicemail" in legend and "Answered" in legend
    assert csp_violations(browser) == []
    browser.save_screenshot(str(artifacts_dir(tmp_path) / "reports-queues.png"))

    href = browser.find_element(By.ID, "export-csv").get_attribute("href")
    status, content_type, body = fetched(browser, href)
    assert status == 200 and content_type.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert [(r["Queue"], r["Voicemail"], r["Calls"]) for r in rows] == [
        ("Technical support", "1", "1")
    ]
    href = browser.find_element(By.ID, "export-pdf").get_attribute("href")
    status, content_type, body = fetched(browser, href)
    assert status == 200 and content_type == "application/pdf" and body.startswith(b"%PDF")

    browser.find_element(By.ID, "tab-hours").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#report-hours svg")))
    browser.save_screenshot(str(artifacts_dir(tmp_path) / "reports-hours.png"))
