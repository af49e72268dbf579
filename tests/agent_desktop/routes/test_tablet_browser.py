"""The desktop and the Active call form at a tablet's size and a laptop's, in headless
Chromium (issue 5: "Pages look tidy and work at 1366×768 and on a tablet").

``hotline serve`` runs in a subprocess against the test database; the call and the state
changes made "elsewhere" are written into the database as the call flows write them, and
reach the page over Server-Sent Events. At each size the page must not scroll sideways
(``scrollWidth <= innerWidth``) and the main controls must be on screen, unhidden by
anything else, and clickable. The desktop's state controls follow the live state (R-2.2,
R-2.15): "Go on air" offered only off air and not in a call, the pauses disabled (and
looking it) while a call would make them refused, "Outbound call" offered only off air and not
busy with a call. Screenshots go to HOTLINE_TEST_ARTIFACTS. No sleeping: WebDriverWait
polls the page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from agent_desktop import agent_state as core
from agent_desktop.store import agent_sessions
from db.models import Location, QueueLocation
from dialplan.store import calls
from domain.enums import CallState, Direction, ReasonDirection
from tests.support.browser import (
    artifacts_dir,
    browser_tests,
    chromium,
    sign_in,
    waiting,
)
from tests.support.call_form import add_reasons
from tests.support.centre import PASSWORD, StaffCentre, build_staff_centre
from tests.support.customers import add_customer
from tests.support.processes import (
    free_port,
    hotline_env,
    serving,
)

pytestmark = browser_tests()  # skipped without Chromium; fails in CI (tests/support/browser.py)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

WAIT_S = 20
CUSTOMER = "Pekařství a cukrářství Novák a synové s.r.o."  # long: it must wrap, not widen
CALLER = "777123456"
SIZES = {"tablet": (768, 1024), "laptop": (1366, 768)}

# The element's centre, after scrolling it into view, hits the element itself (or a child):
# on screen, inside the viewport's width, and covered by nothing.
HIT_AT_CENTRE = """
const el = arguments[0];
el.scrollIntoView({block: 'center', inline: 'nearest'});
const r = el.getBoundingClientRect();
const x = r.left + r.width / 2, y = r.top + r.height / 2;
const hit = document.elementFromPoint(x, y);
return {left: r.left, right: r.right, width: r.width, height: r.height,
        inner: window.innerWidth, hit: !!hit && (hit === el || el.contains(hit))};
"""


@pytest.fixture
def centre_db(engine: Engine) -> StaffCentre:
    with Session(engine) as session, session.begin():
        centre = build_staff_centre(session, datetime.now(UTC))
        brno = Location(code="BRNO", name="Brno")
        session.add(brno)
        session.flush()
        session.add(QueueLocation(queue_id=centre.support, location_id=brno.id))
        add_customer(session, CUSTOMER, brno.id, ("+420 777 123 456",), address="Masarykova 5")
        add_reasons(session, centre.support, ReasonDirection.INBOUND)
        return centre


@pytest.fixture
def server(db_url: str, centre_db: StaffCentre, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = hotline_env(
        HOTLINE_DATABASE_URL=db_url,
        HOTLINE_WEB_LISTEN=f"tcp:{port}:interface=127.0.0.1",
        HOTLINE_AGI_LISTEN=f"tcp:{free_port()}:interface=127.0.0.1",
    )
    with serving(env, tmp_path):
        yield f"http://127.0.0.1:{port}"


def write(engine: Engine, fn: Callable[[Session], Any]) -> Any:
    with Session(engine) as session, session.begin():
        return fn(session)


def assert_fits(driver: webdriver.Chrome, where: str) -> None:
    scroll_width, inner_width = driver.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth];"
    )
    assert scroll_width <= inner_width, f"{where}: scrolls sideways ({scroll_width}px wide)"


def assert_usable(driver: webdriver.Chrome, wait: WebDriverWait[Any], element_id: str) -> None:
    element = wait.until(EC.element_to_be_clickable((By.ID, element_id)))
    box = driver.execute_script(HIT_AT_CENTRE, element)
    assert box["width"] > 0 and box["height"] > 0, (element_id, box)
    assert 0 <= box["left"] and box["right"] <= box["inner"], (element_id, box)
    assert box["hit"], f"{element_id} is covered by another element: {box}"


# Read in one script, so a live update that replaces the controls between two reads cannot
# hand the test a node that is no longer in the page.
CONTROLS = """
const onAir = document.getElementById("go-on-air");
const outbound = document.getElementById("outbound-call");
return [!!onAir && !onAir.hidden && onAir.getClientRects().length > 0,
        !!outbound && !outbound.hidden && outbound.getClientRects().length > 0];
"""


PAUSES_DISABLED = """
const pauses = document.querySelectorAll("button.pause");
return pauses.length > 0 && Array.prototype.every.call(pauses, function (b) { return b.disabled; });
"""
DISABLED_LOOK = """
const style = getComputedStyle(document.querySelector("button.pause"));
return {cursor: style.cursor, opacity: style.opacity};
"""


def on_air_offered(driver: webdriver.Chrome) -> bool:
    return bool(driver.execute_script(CONTROLS)[0])


def outbound_offered(driver: webdriver.Chrome) -> bool:
    return bool(driver.execute_script(CONTROLS)[1])


@pytest.mark.parametrize("size", sorted(SIZES))
def test_desktop_and_call_form_fit_and_work_and_controls_follow_the_live_state(
    server: str, engine: Engine, centre_db: StaffCentre, tmp_path: Path, size: str
) -> None:
    width, height = SIZES[size]
    shots = artifacts_dir(tmp_path)
    with chromium(tmp_path, f"--window-size={width},{height}") as driver:
        driver.set_window_size(width, height)
        wait = waiting(driver, WAIT_S)
        assert driver.execute_script("return window.innerWidth;") <= width

        sign_in(driver, server, "eva", PASSWORD)
        wait.until(EC.text_to_be_present_in_element((By.ID, "badge"), "Not logged in"))
        assert_fits(driver, "seat choice")
        assert_usable(driver, wait, "seat_id")
        Select(driver.find_element(By.ID, "seat_id")).select_by_visible_text("101")
        assert_usable(driver, wait, "seat-login")
        driver.find_element(By.ID, "seat-login").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "badge"), "Off air"))

        # The desktop off air: every main control fits and can be clicked.
        assert_fits(driver, "desktop")
        for control in (
            "go-on-air",
            "outbound-call",
            "seat-logout",
            "location_id",
            "status-line",
            "badge",
        ):
            assert_usable(driver, wait, control)
        assert (on_air_offered(driver), outbound_offered(driver)) == (True, True)
        driver.save_screenshot(str(shots / f"desktop-{size}-off-air.png"))

        driver.find_element(By.ID, "go-on-air").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "badge"), "On air"))
        assert (on_air_offered(driver), outbound_offered(driver)) == (False, False)

        # From here on, no reload: state changes made elsewhere arrive live.
        driver.execute_script("window.hotlineSamePage = true;")
        eva = centre_db.agents["eva"]
        meeting = centre_db.pauses["meeting"]
        write(engine, lambda s: agent_sessions.apply_event(s, eva, core.Pause(meeting), now()))
        wait.until(lambda d: on_air_offered(d) and outbound_offered(d))
        current = driver.find_elements(By.CSS_SELECTOR, "button.pause.current")
        assert [b.text.split()[0] for b in current] == ["Meeting"]
        write(engine, lambda s: agent_sessions.apply_event(s, eva, core.GoOnAir(), now()))
        wait.until(lambda d: not on_air_offered(d) and not outbound_offered(d))
        assert not driver.find_elements(By.CSS_SELECTOR, "button.pause.current")

        # A call rings and connects: the Active call form opens by itself.
        def ring(session: Session) -> int:
            view = calls.open_call(
                session,
                uniqueid=f"tablet-{size}",
                direction=Direction.INBOUND,
                now=now(),
                caller_number=CALLER,
                did="2200",
            )
            calls.enter_queue(session, view.id, centre_db.support, now(), keep_waiting_start=False)
            offer = calls.offer(session, view.id, eva, now())
            assert offer is not None
            calls.answered(session, offer.attempt_id, now())
            return view.id

        call_id = write(engine, ring)
        wait.until(EC.text_to_be_present_in_element((By.ID, "cf-name"), CUSTOMER))
        wait.until(EC.text_to_be_present_in_element((By.ID, "badge"), "In a call"))
        assert (on_air_offered(driver), outbound_offered(driver)) == (False, False)
        wait.until(lambda d: d.execute_script(PAUSES_DISABLED))
        # A disabled button looks disabled (issue 16: the stylesheet had no :disabled rule).
        looks = driver.execute_script(DISABLED_LOOK)
        assert looks["cursor"] == "not-allowed" and float(looks["opacity"]) < 1, looks
        assert_fits(driver, "Active call form, connected")
        for control in ("cf-q", "cf-search-button", "cf-reason-0", "cf-note", "cf-rt"):
            assert_usable(driver, wait, control)
        assert_usable(driver, wait, "cf-transfer")
        driver.execute_script(
            "document.getElementById('call-form-panel').scrollIntoView({block: 'start'});"
        )
        driver.save_screenshot(str(shots / f"call-form-{size}-connected.png"))

        write(engine, lambda s: calls.close_call(s, call_id, CallState.ANSWERED, now()))
        wait.until(EC.text_to_be_present_in_element((By.ID, "cf-status"), "The call has ended."))
        wait.until(EC.text_to_be_present_in_element((By.ID, "badge"), "Processing a call"))
        Select(driver.find_element(By.ID, "cf-reason-0")).select_by_visible_text("Other (OTH)")
        wait.until(EC.text_to_be_present_in_element((By.ID, "cf-reason-code"), "OTH"))
        assert_fits(driver, "Active call form, processing")
        assert_usable(driver, wait, "cf-save-button")
        driver.save_screenshot(str(shots / f"call-form-{size}-processing.png"))
        driver.find_element(By.ID, "cf-save-button").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "cf-saved"), "The call was saved."))
        wait.until(lambda d: not on_air_offered(d) and not outbound_offered(d))  # on air again
        assert driver.execute_script("return window.hotlineSamePage === true;")


def now() -> datetime:
    return datetime.now(UTC)
