"""R-6.2, the issue's end-to-end test: a new line built in the browser takes calls with no
restart.

One ``hotline serve`` runs against a centre with nothing but its admin. In a real browser
(headless Chromium), working in Czech, the admin creates a seat, an agent with the right to
it, a queue with opening hours, a reason tree and the agent as member, an IVR menu whose
key 1 leads to the queue, and a DID to the menu (one value refused first, in Czech, next to
its field), adds a second reason with the tree editor and records the menu's prompt. Then
the agent signs in on the same server, in English, takes the seat, goes on air; ``hotline
simulate`` calls the new DID over real FastAGI and presses 1: the agent's phone rings,
answers, and the desktop shows the call connected with the new reason tree. Screenshots go
to HOTLINE_TEST_ARTIFACTS. No sleeping: WebDriverWait polls the page.
"""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from db.catalog import load_catalog
from db.models import Agent, Call
from tests.support.browser import artifacts_dir, browser_tests, chromium, click, sign_in, waiting
from tests.support.processes import (
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
from selenium.webdriver.support.ui import Select  # noqa: E402

WAIT_S = 30
ADMIN_PASSWORD = "admin pass"
AGENT_PASSWORD = "nina pass"

# Only the admin: everything a call needs is made on the pages.
CENTRE = f"""
settings: {{time_zone: Europe/Prague, country_prefix: '420'}}
agents:
  - {{login: root, name: Ada Admin, password: '{ADMIN_PASSWORD}', role: admin}}
"""

# The new seat's phone answers after ringing 2 s; the caller presses 1 in the menu.
CALLER = """
duration_s: 120
phones:
  PJSIP/107: {answer_after_s: 2, talk_s: 30}
  default: {answer_after_s: null}
callers:
  - did: '5550001'
    caller_id_num: '777123456'
    start_at_s: 0
    keys: [[4, '1']]
    talk_s: 30
"""


@pytest.fixture
def web(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[tuple[str, int]]:
    with Session(engine) as session, session.begin():
        load_catalog(session, CENTRE, source="new-line-browser.yaml")
    web_port, agi_port = free_port(), free_port()
    env = hotline_env(
        HOTLINE_DATABASE_URL=db_url,
        HOTLINE_WEB_LISTEN=f"tcp:{web_port}:interface=127.0.0.1",
        HOTLINE_AGI_LISTEN=f"tcp:{agi_port}:interface=127.0.0.1",
        HOTLINE_SOUNDS_DIR=str(tmp_path / "sounds"),
    )
    with serving(env, tmp_path):
        yield f"http://127.0.0.1:{web_port}", agi_port


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    with chromium(tmp_path) as driver:
        yield driver


def _fill(driver: webdriver.Chrome, values: dict[str, str]) -> None:
    for key, text in values.items():
        field = driver.find_element(By.ID, f"f-{key}")
        field.clear()
        field.send_keys(text)


def _tick(driver: webdriver.Chrome, key: str, value: str) -> None:
    """Tick ``value`` in the check boxes of the list key ``key`` (a picker)."""
    click(driver, (By.CSS_SELECTOR, f"#f-{key} input[type=checkbox][value='{value}']"))


def _create(
    driver: webdriver.Chrome,
    base: str,
    section: str,
    values: dict[str, str],
    ticks: dict[str, str] | None = None,
) -> None:
    """A new record of ``section``, typed into its form and saved (the notice in Czech)."""
    driver.get(f"{base}/admin/s/{section}/edit")
    waiting(driver, WAIT_S).until(EC.presence_of_element_located((By.ID, "admin-form")))
    _fill(driver, values)
    for key, value in (ticks or {}).items():
        _tick(driver, key, value)
    click(driver, (By.ID, "admin-save"))
    notice = (By.ID, "admin-notice")
    waiting(driver, WAIT_S).until(EC.text_to_be_present_in_element(notice, "Uloženo."))


def _sign_out(driver: webdriver.Chrome) -> None:
    click(driver, (By.CSS_SELECTOR, "form[action='/sign-out'] button"))
    waiting(driver, WAIT_S).until(EC.url_contains("/sign-in"))


QUEUE = {
    "code": "HELP",
    "name": "Help desk",
    "ring_timeout_s": "0",
}


def test_an_admin_opens_a_new_line_and_its_first_call_reaches_the_new_agent(
    web: tuple[str, int], browser: webdriver.Chrome, engine: Engine, tmp_path: Path
) -> None:
    base, agi_port = web
    shots = artifacts_dir(tmp_path)
    wait = waiting(browser, WAIT_S)
    sign_in(browser, base, "root", ADMIN_PASSWORD, page="/admin")
    Select(browser.find_element(By.ID, "language")).select_by_value("cs")
    click(browser, (By.CSS_SELECTOR, "form[action='/account/language'] button"))
    wait.until(EC.text_to_be_present_in_element((By.ID, "admin-sections"), "Fronty"))

    _create(browser, base, "phone_seats", {"name": "Desk 7", "dial_string": "PJSIP/107"})
    _create(
        browser,
        base,
        "agents",
        {"login": "nina", "name": "Nina Nová", "password": AGENT_PASSWORD},
        {"seats": "Desk 7"},
    )

    # A refused value is told in Czech next to its field, and nothing is saved.
    browser.get(base + "/admin/s/queues/edit")
    wait.until(EC.presence_of_element_located((By.ID, "f-code")))
    _fill(browser, QUEUE)
    for row, day in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun")):  # all week
        Select(browser.find_element(By.ID, f"f-hours-{row}-weekday")).select_by_value(day)
        _fill(browser, {f"hours-{row}-opens": "00:00", f"hours-{row}-closes": "23:59:59"})
    _tick(browser, "agents", "nina")
    click(browser, (By.ID, "admin-save"))
    error = wait.until(EC.presence_of_element_located((By.ID, "f-ring_timeout_s-error")))
    assert error.text == "0 je mimo rozsah (musí být nejméně 1)"
    browser.save_screenshot(str(shots / "new-line-queue-refused.png"))
    _fill(browser, {"ring_timeout_s": "15"})
    click(browser, (By.ID, "admin-save"))
    wait.until(EC.text_to_be_present_in_element((By.ID, "admin-notice"), "Uloženo."))

    # The tree editor (the queue's form links to it): Internet with two reasons below it;
    # a leaf needs a code, so Internet has one until it has reasons below it.
    click(browser, (By.ID, "admin-reasons"))
    wait.until(EC.presence_of_element_located((By.ID, "add-label-in-top")))
    browser.find_element(By.ID, "add-label-in-top").send_keys("Internet")
    browser.find_element(By.ID, "add-code-in-top").send_keys("I-0")
    click(browser, (By.ID, "add-in-top"))
    wait.until(EC.text_to_be_present_in_element((By.ID, "admin-notice"), "Uloženo."))
    for label, code in (("No connection", "I-1"), ("Slow line", "I-2")):
        internet = wait.until(
            EC.presence_of_element_located((By.CSS_SELECTOR, "li[data-label=Internet]"))
        )
        node = internet.get_attribute("id").removeprefix("node-")  # type: ignore[union-attr]
        click(browser, (By.ID, f"edit-{node}"))
        browser.find_element(By.ID, f"add-label-in-{node}").send_keys(label)
        browser.find_element(By.ID, f"add-code-in-{node}").send_keys(code)
        click(browser, (By.ID, f"add-in-{node}"))
        wait.until(EC.text_to_be_present_in_element((By.ID, "admin-notice"), "Uloženo."))
    click(browser, (By.ID, f"edit-{node}"))
    browser.find_element(By.ID, f"code-{node}").clear()
    click(browser, (By.ID, f"rename-{node}"))
    wait.until(EC.text_to_be_present_in_element((By.ID, "admin-notice"), "Uloženo."))
    assert browser.find_elements(By.CSS_SELECTOR, "li[data-label='Slow line']")
    browser.save_screenshot(str(shots / "new-line-reason-tree.png"))

    _create(
        browser,
        base,
        "ivr_menus",
        {
            "code": "HELPMENU",
            "name": "Help menu",
            "prompt": "hotline/main-menu",
            "options-0-digit": "1",  # the options' table: key 1 leads to the queue
            "options-0-queue": "HELP",
        },
    )
    _create(browser, base, "dids", {"number": "5550001", "name": "Help line", "menu": "HELPMENU"})
    browser.save_screenshot(str(shots / "new-line-did-saved.png"))

    # The new menu's prompt is missing; the admin records it (a WAV of a tone here).
    browser.get(base + "/admin/prompts?missing=1")
    row = wait.until(EC.presence_of_element_located((By.ID, "prompt-hotline--main-menu-en")))
    assert "ivr_menus:HELPMENU prompt" in row.text
    recording = tmp_path / "main-menu.wav"
    with wave.open(str(recording), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\x00\x10" * 16000)
    browser.find_element(By.ID, "file-hotline--main-menu-en").send_keys(str(recording))
    click(browser, (By.ID, "upload-hotline--main-menu-en"))
    wait.until(EC.text_to_be_present_in_element((By.ID, "admin-notice"), "Nahrávka nahrazuje"))
    assert (tmp_path / "sounds" / "en" / "hotline" / "main-menu.wav").is_file()
    browser.save_screenshot(str(shots / "new-line-prompt-recorded.png"))
    _sign_out(browser)

    # The new agent, in English, on the same server: a seat, then on air.
    sign_in(browser, base, "nina", AGENT_PASSWORD)
    wait.until(EC.text_to_be_present_in_element((By.ID, "badge"), "Not logged in"))
    Select(browser.find_element(By.ID, "seat_id")).select_by_visible_text("Desk 7")
    click(browser, (By.ID, "seat-login"))
    wait.until(EC.text_to_be_present_in_element((By.ID, "badge"), "Off air"))
    click(browser, (By.ID, "go-on-air"))
    wait.until(EC.text_to_be_present_in_element((By.ID, "badge"), "On air"))

    scenario = tmp_path / "caller.yaml"
    scenario.write_text(CALLER, encoding="utf-8")
    log = tmp_path / "caller.log"
    caller = simulate(
        [str(scenario), *switch_args(agi_port, tmp_path / "sim-caller")], tmp_path, log
    )
    try:
        connected = (By.CSS_SELECTOR, "#cf-status.cf-connected")
        waiting(browser, 60).until(EC.presence_of_element_located(connected))
        Select(browser.find_element(By.ID, "cf-reason-0")).select_by_visible_text("Internet")
        detail = wait.until(EC.presence_of_element_located((By.ID, "cf-reason-1")))
        wait.until(lambda d: len(Select(detail).options) == 3)
        offered = [o.text for o in Select(detail).options][1:]
        assert offered == ["No connection (I-1)", "Slow line (I-2)"]
        browser.save_screenshot(str(shots / "new-line-call-connected.png"))
    finally:
        stop(caller)
    with Session(engine) as session:
        nina = session.scalar(select(Agent.id).where(Agent.login == "nina"))
        answered = session.scalars(select(Call).where(Call.agent_id == nina)).all()
    assert len(answered) == 1, log.read_text(encoding="utf-8")
