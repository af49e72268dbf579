"""Every main page passes axe-core with no serious or critical finding, works from the
keyboard, is laid out for 1366×768, and is photographed there (issue 16).

From the keyboard: on each main page the Tab key reaches every control a person sees (no
control only a mouse can reach), and the main actions are done with keys alone: the seat and
"Go on air", a pause, the call's reason and Save, a back-office item claimed and done, a
supervisor's message sent. Phone numbers show one way there (issue 16).

``hotline serve`` runs in a subprocess against the test database with a staff centre, a call
ringing and connected for the agent, and a message in the back office. Headless Chromium
signs in as an agent, a back-office worker and a supervisor and runs axe-core (vendored in
``tests/support/axe``, so no network) on each of their pages; a finding whose impact is
serious or critical fails the test with its rule and the elements it names. Screenshots of
the agent desktop, the Active call form, the back office and the status page go to
HOTLINE_TEST_ARTIFACTS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.models import Agent, Department, Location, QueueLocation, SupervisorDepartment
from dialplan.store import calls
from domain.enums import CallState, Direction, ReasonDirection
from tests.support.back_office import leave
from tests.support.browser import artifacts_dir, browser_tests, chromium, sign_in, waiting
from tests.support.call_form import add_reasons
from tests.support.centre import PASSWORD, StaffCentre, build_staff_centre
from tests.support.customers import add_customer
from tests.support.processes import free_port, serve_env, serving

pytestmark = browser_tests()  # skipped without Chromium; fails in CI (tests/support/browser.py)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402

WAIT_S = 30
AXE = Path(__file__).resolve().parents[1] / "support" / "axe" / "axe.min.js"
BLOCKING = ("serious", "critical")
CUSTOMER = "Pekařství Novák s.r.o."
# axe.run is asynchronous; execute_async_script hands its result back through the callback.
RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ["violations"]})
  .then(r => done(JSON.stringify(r.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)})))))
  .catch(e => done(JSON.stringify([{id: "axe-error", impact: "critical", help: String(e),
                                     nodes: []}])));
"""

FORM_WIDTH = """
return [document.getElementById("call-form-panel").getBoundingClientRect().width,
        window.innerWidth];
"""
SECOND_HEADING_GAP_PX = """
const h2 = document.querySelector("main h2");
return h2.getBoundingClientRect().top - h2.previousElementSibling.getBoundingClientRect().bottom;
"""
DATES_ON_ONE_LINE = """
const cells = document.querySelectorAll("#bo-items td.when");
return cells.length > 0 && Array.prototype.every.call(cells,
  c => getComputedStyle(c).whiteSpace === "nowrap");
"""
UNLABELLED_FIELD = "document.querySelector('main').appendChild(document.createElement('input'));"
# Marks every control a person sees and could use (a radio group counts once: Tab reaches one
# radio of it, the arrow keys the others) and returns how they are described. A control taken
# out of the Tab order (tabindex="-1") counts: only a mouse could use it.
MARK_CONTROLS = """
const all = document.querySelectorAll(
  "a[href], button, input, select, textarea, summary, [tabindex]");
const native = "a[href], button, input, select, textarea, summary";
const seen = new Map();
for (const e of all) {
  if (e.type === "hidden" || e.disabled || (e.tabIndex < 0 && !e.matches(native))) continue;
  if (!e.getClientRects().length || getComputedStyle(e).visibility === "hidden") continue;
  const key = e.type === "radio" ? "radio:" + e.name : "c" + seen.size;
  if (!seen.has(key)) seen.set(key, (e.id ? "#" + e.id : e.tagName.toLowerCase()) + " "
      + (e.textContent || e.value || e.name || "").trim().slice(0, 40));
  e.setAttribute("data-kb", key);
}
return Object.fromEntries(seen);
"""
# Buttons side by side share a height (issue 16): the rows of buttons whose heights differ.
UNEVEN_BUTTON_ROWS = """
const rows = document.querySelectorAll("main .row, main .controls, main .pauses-choice");
const uneven = [];
for (const row of rows) {
  const heights = Array.from(row.querySelectorAll("button, a.button"))
    .filter(b => b.getClientRects().length)
    .map(b => Math.round(b.getBoundingClientRect().height));
  if (heights.length > 1 && Math.max(...heights) - Math.min(...heights) > 2)
    uneven.push((row.id || row.className) + ": " + heights.join(", "));
}
return uneven;
"""
UNEVEN_ROW = """
const row = document.createElement("div");
row.className = "row";
for (const px of [60, 20]) {  // styled through the DOM: the CSP refuses style attributes
  const b = document.createElement("button");
  b.textContent = "B";
  b.style.height = px + "px";
  row.appendChild(b);
}
document.querySelector("main").appendChild(row);
"""
MOUSE_ONLY_BUTTON = """
const b = document.createElement("button");
b.id = "mouse-only"; b.tabIndex = -1; b.textContent = "Mouse only";
document.querySelector("main").appendChild(b);
"""
FOCUSED = "return document.activeElement && document.activeElement.getAttribute('data-kb');"


def unreachable_by_tab(driver: webdriver.Chrome) -> list[str]:
    """The controls on the page that the Tab key never reaches."""
    controls: dict[str, str] = driver.execute_script(MARK_CONTROLS)
    driver.execute_script("document.activeElement && document.activeElement.blur();")
    reached: set[str] = set()
    for _ in range(len(controls) + 10):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        key = driver.execute_script(FOCUSED)
        if key:
            reached.add(key)
    return sorted(text for key, text in controls.items() if key not in reached)


def press_enter_on(driver: webdriver.Chrome, element_id: str) -> None:
    """Focus a control as Tab would and press Enter on it: no mouse."""
    driver.find_element(By.ID, element_id).send_keys(Keys.ENTER)


@pytest.fixture
def centre_db(engine: Engine) -> StaffCentre:
    with Session(engine) as session, session.begin():
        now = datetime.now(UTC)
        centre = build_staff_centre(session, now)
        brno = Location(code="BRNO", name="Brno")
        session.add(brno)
        session.flush()
        session.add(QueueLocation(queue_id=centre.support, location_id=brno.id))
        add_customer(session, CUSTOMER, brno.id, ("+420 777 123 456",), address="Masarykova 5")
        add_reasons(session, centre.support, ReasonDirection.INBOUND)
        leave(session, centre.box, "message", "+420777123456", now, duration_s=12)
        leave(session, centre.box, "message", "00421903123456", now, duration_s=9)
        support = Department(name="Support")  # sue supervises eva's department
        session.add(support)
        session.flush()
        eva = session.get(Agent, centre.agents["eva"])
        assert eva is not None
        eva.department_id = support.id
        session.add(SupervisorDepartment(agent_id=centre.agents["sue"], department_id=support.id))
        return centre


@pytest.fixture
def server(db_url: str, centre_db: StaffCentre, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    with serving(serve_env(tmp_path, web_port=port, HOTLINE_DATABASE_URL=db_url), tmp_path):
        yield f"http://127.0.0.1:{port}"


def findings(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings on the page shown now."""
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    driver.set_script_timeout(WAIT_S)
    found = json.loads(driver.execute_async_script(RUN_AXE))
    return [f for f in found if f["impact"] in BLOCKING]


def check(driver: webdriver.Chrome, page: str, report: dict[str, list[dict[str, Any]]]) -> None:
    waiting(driver, WAIT_S).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )
    report[page] = findings(driver)
    uneven = driver.execute_script(UNEVEN_BUTTON_ROWS)
    if uneven:
        report[page].append({"id": "buttons of a row differ in height", "nodes": uneven})


def ring_and_answer(engine: Engine, centre: StaffCentre, uniqueid: str = "axe-1") -> int:
    with Session(engine) as session, session.begin():
        now = datetime.now(UTC)
        view = calls.open_call(
            session,
            uniqueid=uniqueid,
            direction=Direction.INBOUND,
            now=now,
            caller_number="+420777123456",
            did="2200",
        )
        assert view is not None
        calls.enter_queue(session, view.id, centre.support, now, keep_waiting_start=False)
        offer = calls.offer(session, view.id, centre.agents["eva"], now)
        assert offer is not None
        calls.answered(session, offer.attempt_id, now)
        return view.id


def hang_up(engine: Engine, call_id: int) -> None:
    with Session(engine) as session, session.begin():
        calls.close_call(session, call_id, CallState.ANSWERED, datetime.now(UTC))


def test_the_main_pages_have_no_serious_accessibility_finding_and_work_by_keyboard(
    server: str, engine: Engine, centre_db: StaffCentre, tmp_path: Path
) -> None:
    shots = artifacts_dir(tmp_path)
    report: dict[str, list[dict[str, Any]]] = {}
    unreached: dict[str, list[str]] = {}
    with chromium(tmp_path) as driver:
        wait = waiting(driver, WAIT_S)
        driver.get(server + "/sign-in")
        # The checker itself sees a field without a label (else a silent axe passes all).
        driver.execute_script(UNLABELLED_FIELD)
        assert "label" in {f["id"] for f in findings(driver)}
        # ...and the Tab walk sees a button only a mouse reaches.
        driver.get(server + "/sign-in")
        driver.execute_script(MOUSE_ONLY_BUTTON)
        assert unreachable_by_tab(driver) == ["#mouse-only Mouse only"]
        # ...and the height check sees a row of buttons of two heights.
        driver.execute_script(UNEVEN_ROW)
        assert [r.split(":")[0] for r in driver.execute_script(UNEVEN_BUTTON_ROWS)] == ["row"]
        driver.get(server + "/sign-in")
        check(driver, "/sign-in", report)
        sign_in(driver, server, "eva", PASSWORD)
        wait.until(EC.text_to_be_present_in_element((By.ID, "badge"), "Not logged in"))
        check(driver, "/desktop (seat choice)", report)
        # The language switch is in the header, on screen without scrolling.
        switch = driver.find_element(By.CSS_SELECTOR, "header #language")
        assert switch.is_displayed() and switch.rect["y"] < 80, switch.rect

        # From the keyboard alone: the seat, then "Go on air".
        seat = driver.find_element(By.ID, "seat_id")
        seat.send_keys("101")
        seat.send_keys(Keys.TAB)
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        wait.until(EC.text_to_be_present_in_element((By.ID, "badge"), "Off air"))
        driver.find_element(By.ID, "go-on-air").send_keys(Keys.ENTER)
        wait.until(EC.text_to_be_present_in_element((By.ID, "badge"), "On air"))
        check(driver, "/desktop (on air)", report)
        unreached["/desktop"] = unreachable_by_tab(driver)
        driver.save_screenshot(str(shots / "usability-desktop-1366.png"))
        # A pause and back on air, by keyboard.
        driver.find_element(By.CSS_SELECTOR, "button.pause").send_keys(Keys.ENTER)
        wait.until(EC.text_to_be_present_in_element((By.ID, "badge"), "Pause: Personal"))
        press_enter_on(driver, "go-on-air")
        wait.until(EC.text_to_be_present_in_element((By.ID, "badge"), "On air"))

        call_id = ring_and_answer(engine, centre_db)
        wait.until(EC.text_to_be_present_in_element((By.ID, "cf-name"), CUSTOMER))
        check(driver, "/desktop (Active call form)", report)
        # The matched customer shows what tells them apart; the form uses the screen's width.
        assert driver.find_element(By.ID, "cf-address").text == "Masarykova 5"
        assert driver.find_element(By.ID, "cf-location").text == "Brno"
        # The caller's +420777123456 in the centre's own (Czech) national format.
        assert driver.find_element(By.ID, "cf-number").text == "777 123 456"
        unreached["/desktop/call"] = unreachable_by_tab(driver)
        form_px, inner_px = driver.execute_script(FORM_WIDTH)
        assert form_px >= 0.85 * inner_px, (form_px, inner_px)
        driver.execute_script(
            "document.getElementById('call-form-panel').scrollIntoView({block: 'start'});"
        )
        driver.save_screenshot(str(shots / "usability-call-form-1366.png"))
        driver.get(f"{server}/calls/{call_id}/transfer")
        check(driver, "/calls/<id>/transfer", report)
        unreached["/calls/<id>/transfer"] = unreachable_by_tab(driver)
        # The caller hangs up; the reason picked and the form saved by keyboard.
        driver.get(server + "/desktop/call")
        hang_up(engine, call_id)
        wait.until(EC.text_to_be_present_in_element((By.ID, "cf-status"), "The call has ended"))
        driver.find_element(By.ID, "cf-reason-0").send_keys("Other")
        wait.until(EC.text_to_be_present_in_element((By.ID, "cf-reason-code"), "OTH"))
        press_enter_on(driver, "cf-save-button")
        wait.until(EC.text_to_be_present_in_element((By.ID, "cf-saved"), "The call was saved."))
        driver.get(server + "/outbound?q=novak")
        check(driver, "/outbound", report)
        unreached["/outbound"] = unreachable_by_tab(driver)
        driver.get(server + "/status")
        check(driver, "/status", report)
        assert driver.execute_script(SECOND_HEADING_GAP_PX) >= 15  # headings spaced
        icon = driver.find_element(By.CSS_SELECTOR, 'link[rel="icon"]').get_attribute("href")
        driver.get(icon)
        assert "<svg" in driver.page_source  # the favicon is served
        driver.get(server + "/status")
        driver.save_screenshot(str(shots / "usability-status-1366.png"))

    with chromium(tmp_path / "bob") as driver:
        wait = waiting(driver, WAIT_S)
        sign_in(driver, server, "bob", PASSWORD, page="/backoffice")
        wait.until(EC.presence_of_element_located((By.ID, "bo-items")))
        check(driver, "/backoffice", report)
        assert driver.execute_script(DATES_ON_ONE_LINE), "a back-office date wraps"
        # A Slovak caller's number in the international format, with "+".
        assert "+421 903 123 456" in driver.find_element(By.ID, "bo-items").text
        unreached["/backoffice"] = unreachable_by_tab(driver)
        driver.save_screenshot(str(shots / "usability-backoffice-1366.png"))
        # An item opened, claimed and done, by keyboard.
        driver.find_element(By.CSS_SELECTOR, "#bo-items a.button").send_keys(Keys.ENTER)
        wait.until(EC.presence_of_element_located((By.ID, "bo-item-heading")))
        check(driver, "/backoffice/items/<id>", report)
        press_enter_on(driver, "bo-claim")
        wait.until(EC.presence_of_element_located((By.ID, "bo-done")))
        unreached["/backoffice/items/<id>"] = unreachable_by_tab(driver)
        driver.save_screenshot(str(shots / "usability-backoffice-item-1366.png"))
        press_enter_on(driver, "bo-done")
        wait.until(EC.presence_of_element_located((By.ID, "bo-outcome")))

    with chromium(tmp_path / "sue") as driver:
        sign_in(driver, server, "sue", PASSWORD, page="/supervisor/messages")
        check(driver, "/supervisor/messages", report)
        unreached["/supervisor/messages"] = unreachable_by_tab(driver)
        # A message written and sent by keyboard: Tab from field to field, Enter on Send.
        driver.find_element(By.ID, "sv-agent").send_keys("Eva")
        driver.switch_to.active_element.send_keys(Keys.TAB)  # to the severity
        driver.switch_to.active_element.send_keys(Keys.TAB, "Call the bakery back, please.")
        minutes = driver.find_element(By.ID, "sv-minutes")
        minutes.send_keys(Keys.CONTROL, "a")
        minutes.send_keys("15", Keys.TAB)
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        wait = waiting(driver, WAIT_S)
        wait.until(EC.presence_of_element_located((By.ID, "sv-sent")))
        assert "Call the bakery back, please." in driver.find_element(By.ID, "sv-latest").text
        ring_and_answer(engine, centre_db, "axe-2")  # eva talks: a row for the call's detail
        driver.get(server + "/supervisor")
        waiting(driver, WAIT_S).until(
            EC.presence_of_element_located((By.CSS_SELECTOR, "#sv-panels .sv-agents"))
        )
        check(driver, "/supervisor", report)
        # The live screen's dialogs: a call's detail and "Set state…".
        assert driver.find_elements(By.CSS_SELECTOR, "a.sv-detail")  # eva's call
        driver.execute_script("document.querySelector('a.sv-detail').click();")
        waiting(driver, WAIT_S).until(EC.presence_of_element_located((By.ID, "sv-call-detail")))
        check(driver, "/supervisor (call detail)", report)
        driver.execute_script("document.getElementById('sv-call-dialog').close();")
        driver.execute_script("document.querySelector('button.sv-set-state').click();")
        check(driver, "/supervisor (set state)", report)
        driver.get(server + "/home")
        check(driver, "/home", report)

    failing = {page: found for page, found in report.items() if found}
    assert failing == {}, json.dumps(failing, indent=1, ensure_ascii=False)
    mouse_only = {page: found for page, found in unreached.items() if found}
    assert mouse_only == {}, json.dumps(mouse_only, indent=1, ensure_ascii=False)
