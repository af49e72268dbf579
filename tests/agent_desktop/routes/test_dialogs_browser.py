"""The transfer and outbound dialogs in a real browser (headless Chromium), nothing faked.

``hotline serve`` runs in a subprocess with its AMI client pointed at ``hotline simulate``,
which plays Asterisk over real TCP in another subprocess: the fake AMI (Originate,
Redirect), the phones, and - for the transfer - a caller who comes in over FastAGI.

* Outbound (R-2.15, R-1.13): an off-air agent opens "Outbound call" from the desktop, finds
  the customer, whose main number is filled in, and calls. The ringing dialog shows; the
  agent's phone answers, then the customer's; the dialog closes itself and the Active call
  form takes over with that customer.
* Transfer (R-2.14, R-1.12): an agent in a call opens "Transfer" from the call form, sees
  the active queues and that no colleague is on air, and sends the caller to Sales. The
  caller is redirected through AMI and waits in Sales; the agent is back at the desktop,
  processing the first leg.

No sleeping: WebDriverWait polls the page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from db.catalog import load_catalog
from db.models import Call, Queue
from domain.enums import Direction
from tests.support.browser import (
    artifacts_dir,
    browser_tests,
    chromium,
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
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

WAIT_S = 30
PASSWORD = "dialogs"


def queue(code: str, name: str, agent: str) -> str:
    return f"""  - code: {code}
    name: {name}
    ring_timeout_s: 20
    overflow_enabled: false
    callback_offer_after_s: null
    closed_on_weekends: false
    locations: [BRNO]
    agents: [{agent}]
    hours:
{ALL_WEEK_HOURS}    reasons:
      in:
        - {{label: Other, code: X-1}}
      out:
        - {{label: Call back, code: O-1}}
"""


CENTRE = f"""
settings: {{time_zone: Europe/Prague, country_prefix: '420'}}
locations:
  - {{code: BRNO, name: Brno}}
customers:
  - contract_number: BR-10042
    name: Pekařství Novák s.r.o.
    location: BRNO
    address: Masarykova 5, Brno
    phones: ['+420 777 123 456', '+420 603 999 888']
phone_seats:
  - {{name: '101', dial_string: PJSIP/101}}
  - {{name: '102', dial_string: PJSIP/102}}
agents:
  - {{login: eva, name: Eva Nováková, password: '{PASSWORD}', seats: ['101', '102']}}
  - {{login: martin, name: Martin Král, password: '{PASSWORD}', seats: ['101', '102']}}
queues:
{queue("SUPPORT", "Technical support", "eva")}{queue("SALES", "Sales", "martin")}
dids:
  - {{number: '222111001', name: Support direct, queue: SUPPORT}}
  - {{number: '222111002', name: Sales direct, queue: SALES}}
"""

# The agent's phone answers after 1 s and stays until the other side hangs up; any other
# number (the customer's) answers after 2 s and talks 6 s.
PHONES = """
phones:
  PJSIP/101: {answer_after_s: 1, talk_s: null}
  default: {answer_after_s: 2, talk_s: 6}
"""
# A caller for Technical support who stays on the line for minutes once connected.
CALLER = """
callers:
  - {did: '222111001', caller_id_num: '777123456', start_at_s: 0, talk_s: 300}
"""


@dataclass(frozen=True)
class Hotline:
    web: str
    switch_log: Path


@pytest.fixture
def centre(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        load_catalog(session, CENTRE, source="dialogs-browser.yaml")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    with chromium(tmp_path) as driver:
        yield driver


@pytest.fixture
def hotline(
    db_url: str, centre: None, tmp_path: Path, browser: webdriver.Chrome
) -> Iterator[Callable[[str], Hotline]]:
    """Start ``hotline serve`` and the simulated switch with a scenario; wait until Hotline's
    AMI client is logged in (the status page says "ready")."""
    with ExitStack() as running:

        def start(scenario: str) -> Hotline:
            web_port, agi_port, ami_port = free_port(), free_port(), free_port()
            env = hotline_env(
                HOTLINE_DATABASE_URL=db_url,
                HOTLINE_WEB_LISTEN=f"tcp:{web_port}:interface=127.0.0.1",
                HOTLINE_AGI_LISTEN=f"tcp:{agi_port}:interface=127.0.0.1",
                HOTLINE_AMI_URL=ami_url(ami_port),
            )
            running.enter_context(serving(env, tmp_path))
            script = tmp_path / "switch.yaml"
            script.write_text("duration_s: 600\n" + scenario + PHONES, encoding="utf-8")
            log = tmp_path / "switch.log"
            args = switch_args(agi_port, tmp_path / "sim", ami_port)
            running.callback(stop, simulate([str(script), *args], tmp_path, log))
            web = f"http://127.0.0.1:{web_port}"

            def ready(driver: webdriver.Chrome) -> bool:
                driver.get(web + "/status")
                found = driver.find_elements(By.XPATH, "//td[@id='telephony'][.='ready']")
                return bool(found)

            waiting(browser, WAIT_S).until(ready)
            return Hotline(web, log)

        yield start


def at_seat(browser: webdriver.Chrome, web: str, login: str, seat: str) -> WebDriverWait:
    wait = waiting(browser, WAIT_S)
    sign_in(browser, web, login, PASSWORD)
    Select(browser.find_element(By.ID, "seat_id")).select_by_visible_text(seat)
    browser.find_element(By.ID, "seat-login").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "badge"), "Off air"))
    return wait


def test_an_outbound_call_rings_then_the_call_form_takes_over(
    hotline: Callable[[str], Hotline], browser: webdriver.Chrome, engine: Engine, tmp_path: Path
) -> None:
    web = hotline("").web
    wait = at_seat(browser, web, "eva", "101")

    browser.find_element(By.ID, "outbound-call").click()
    wait.until(EC.presence_of_element_located((By.ID, "outbound-form")))
    browser.find_element(By.ID, "q").send_keys("Masarykova")
    browser.find_element(By.CSS_SELECTOR, "#customer-search button[type=submit]").click()
    hits = wait.until(EC.presence_of_element_located((By.ID, "search-hits")))
    assert "Pekařství Novák s.r.o." in hits.text
    hits.find_element(By.LINK_TEXT, "Pick").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "picked-customer"), "Pekařství Novák"))
    # The main number is filled in; picking another of the customer's numbers fills that.
    assert browser.find_element(By.ID, "number").get_attribute("value") == "+420 777 123 456"
    # The list shows the numbers one way, the centre's own nationally (issue 16); the field
    # to call takes the number as stored.
    Select(browser.find_element(By.ID, "phone_id")).select_by_visible_text("603 999 888")
    assert browser.find_element(By.ID, "number").get_attribute("value") == "+420 603 999 888"
    Select(browser.find_element(By.ID, "phone_id")).select_by_visible_text("777 123 456 (main)")
    browser.find_element(By.ID, "place-call").click()

    # The ringing dialog, then - without the agent doing anything - the Active call form.
    wait.until(EC.text_to_be_present_in_element((By.ID, "ringing-heading"), "777 123 456"))
    browser.save_screenshot(str(artifacts_dir(tmp_path) / "outbound-ringing.png"))
    wait.until(EC.url_matches(r"/desktop$"))
    wait.until(EC.text_to_be_present_in_element((By.ID, "cf-name"), "Pekařství Novák s.r.o."))
    assert "Outbound call" in browser.find_element(By.ID, "badge").text
    # The customer hangs up after 6 s: the agent processes the call (R-2.8, outbound tree).
    wait.until(EC.text_to_be_present_in_element((By.ID, "cf-status"), "The call has ended."))
    wait.until(EC.text_to_be_present_in_element((By.ID, "badge"), "Processing a call"))
    browser.save_screenshot(str(artifacts_dir(tmp_path) / "outbound-form.png"))

    with Session(engine) as session:
        [call] = session.scalars(select(Call)).all()
        assert call.direction is Direction.OUTBOUND
        assert (call.callee_number, call.state.value) == ("420777123456", "answered")


def test_a_transfer_sends_the_caller_to_another_queue(
    hotline: Callable[[str], Hotline], browser: webdriver.Chrome, engine: Engine, tmp_path: Path
) -> None:
    web = hotline(CALLER).web
    wait = at_seat(browser, web, "eva", "101")
    browser.find_element(By.ID, "go-on-air").click()

    # The waiting caller rings eva's phone, which answers: the call form shows Transfer.
    transfer = wait.until(EC.element_to_be_clickable((By.ID, "cf-transfer")))
    assert "In a call" in browser.find_element(By.ID, "badge").text
    transfer.click()
    dialog = wait.until(EC.presence_of_element_located((By.ID, "transfer-form")))
    assert "Caller 777 123 456, queue Technical support" in browser.page_source
    assert "No other agent is on air." in dialog.text
    assert not browser.find_elements(By.ID, "no-telephony")
    with Session(engine) as session:
        sales = session.scalar(select(Queue.id).where(Queue.code == "SALES"))
    dialog.find_element(By.CSS_SELECTOR, f"input[value='queue-{sales}']").click()
    browser.save_screenshot(str(artifacts_dir(tmp_path) / "transfer-dialog.png"))
    browser.find_element(By.ID, "transfer-submit").click()

    # Back at the desktop on the call's form, processing the first leg; the form says the
    # caller waits in Sales (issue 16: every action says what happened).
    wait.until(EC.url_contains("/desktop/call?transferred="))
    notice = wait.until(EC.visibility_of_element_located((By.ID, "cf-notice")))
    assert notice.text.startswith("The call was transferred to the queue Sales, where"), notice.text
    wait.until(EC.text_to_be_present_in_element((By.ID, "badge"), "Processing a call"))
    browser.save_screenshot(str(artifacts_dir(tmp_path) / "transfer-done.png"))

    def legs() -> list[tuple[str, int | None]]:
        with Session(engine) as session:
            rows = session.scalars(select(Call).order_by(Call.id)).all()
            return [(c.state.value, c.queue_id) for c in rows]

    wait.until(lambda _: len(legs()) == 2 and legs()[1][1] == sales)
    old, new = legs()
    assert old[0] == "transferred"
    assert new[0] in ("waiting", "ringing")  # nobody is on air in Sales
