"""The real-Asterisk tier: one Asterisk 22 per test session with Hotline's shipped
configuration (``tests/support/real_asterisk.py``), and for each test a real
``hotline serve`` process on a fresh database with :data:`TIER_CENTRE` loaded.

These tests run on the real clock (a real PBX cannot run on a test clock); every wait is
bounded. They are slow by nature, so each one drives several steps of one call path.
"""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from agent_desktop.agent_state import GoOnAir
from agent_desktop.store import agent_sessions
from db.catalog import load_catalog
from db.models import Agent, Call, PhoneSeat
from dialplan.store.prompts import catalog_prompts
from domain.prompts import PROMPT_LANGUAGES
from hotline.prompts import all_prompts, generate
from tests.support.e2e_world import CENTRE_FRAME
from tests.support.processes import (
    ALL_WEEK_HOURS,
    WebUser,
    hotline_env,
    start_serve,
    wait_for_line,
)
from tests.support.real_asterisk import (
    AMI_SECRET,
    AMI_USER,
    Ami,
    BuildCannotRunHereError,
    RealAsterisk,
    build_or_skip,
    cannot_run_here_reason,
    free_port,
    wait_until,
)
from tests.support.speech import require_speech

PHONES = "hotline-test-phones"
TIER_CENTRE = (
    CENTRE_FRAME
    + """
voicemail_boxes:
  - {code: VM, name: Support voicemail, kind: voicemail, max_message_s: 30, silence_s: 3}
  - {code: CB, name: Support callbacks, kind: callback}
departments:
  - {name: Support}
phone_seats:
  - {name: '101', dial_string: 'Local/never@hotline-test-phones'}
  - {name: '102', dial_string: 'Local/never@hotline-test-phones'}
  - {name: '103', dial_string: 'Local/never@hotline-test-phones'}
agents:
  - {login: eva, name: Eva Novakova, password: x, department: Support, seats: ['101']}
  - {login: jan, name: Jan Dvorak, password: x, seats: ['102']}
  - {login: sue, name: Sue Supervisor, password: x, role: supervisor, seats: ['103'],
     supervises: [Support]}
queues:
  - code: SUPPORT
    name: Technical support
    ring_timeout_s: 4
    overflow_after_s: 300
    voicemail_box: VM
    callback_box: CB
    closed_on_weekends: false
    locations: [BRNO]
    agents: [eva, jan]
    hours:
"""
    + ALL_WEEK_HOURS
    + """
  - code: SALES
    name: Sales
    ring_timeout_s: 4
    closed_on_weekends: false
    locations: [BRNO]
    agents: [jan]
    hours:
"""
    + ALL_WEEK_HOURS
    + """
  - code: ROTA
    name: Night rota
    support_turns_enabled: true
    voicemail_box: VM
    agents: [eva]
    closed_on_weekends: false
    locations: [BRNO]
    support_turns:
"""
    + "".join(
        f"      - {{weekday: {day}, opens: '00:00', closes: '23:59:59',"
        " members: [{number: '+421 905 000 000', priority: 9},"
        " {number: '+420 603 111 222', priority: 5}, {agent: eva, priority: 1}]}\n"
        for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    )
    + """
customers:
  - {contract_number: C-1, name: Jan Zakaznik, location: BRNO, phones: ['777 123 456']}
ivr_menus:
  - code: MAIN
    name: Main menu
    prompt: tier/main-menu
    options:
      - {digit: '1', queue: SUPPORT}
prompts:
  - name: tier/main-menu
    en: For technical support, press one.
    cs: Technická podpora, stiskněte jedničku.
dids:
  - {number: '222111000', name: Main line, menu: MAIN, language: cs}
  - {number: '222111001', name: Support direct, queue: SUPPORT}
  - {number: '222111003', name: Night line, queue: ROTA}
"""
)
ROTA_DID = "222111003"
SUPPORT_DID = "222111001"
CZECH_MENU_DID = "222111000"


def speak_prompts(engine: Engine, sounds: Path) -> None:
    """What an admin does with ``hotline prompts``: every prompt the product and this centre
    play, in English and Czech, into the PBX's sounds (kept once made)."""
    require_speech()
    with Session(engine) as s:
        found = all_prompts(catalog_prompts(s), PROMPT_LANGUAGES)
    generate(found, sounds)


@pytest.fixture(scope="session")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealAsterisk]:
    """The session's Asterisk, booted on the shipped configuration."""
    build = build_or_skip()
    root = tmp_path_factory.mktemp("asterisk")
    asterisk = RealAsterisk(build, root / "run", root / "conf", free_port(), free_port())
    asterisk.prepare()
    try:
        asterisk.start()
    except BuildCannotRunHereError as error:
        # Not a missing install that CI could fix (HOTLINE_REQUIRE_ASTERISK), but a machine
        # that cannot execute the build at all: said loudly, in the summary's skip reason.
        pytest.skip(cannot_run_here_reason(error))
    try:
        yield asterisk
    finally:
        asterisk.stop()


@dataclass
class Tier:
    """What one test works with: the PBX, an AMI login, the database, the server."""

    pbx: RealAsterisk
    ami: Ami
    engine: Engine
    env: dict[str, str]
    cwd: Path
    recordings: Path
    web_url: str
    server: subprocess.Popen[str] | None = None
    output: str = ""

    def start_server(self) -> None:
        self.server = start_serve(self.env, self.cwd)
        self.output = wait_for_line(self.server, "Hotline is serving", timeout_s=60)
        threading.Thread(target=self._drain, args=(self.server,), daemon=True).start()

    def _drain(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.output += line

    def kill_server(self) -> None:
        """SIGKILL: no shutdown code runs, nothing more is written."""
        assert self.server is not None
        self.server.send_signal(signal.SIGKILL)
        self.server.wait(timeout=10)
        self.server = None

    def stop_server(self) -> None:
        if self.server is not None:
            self.server.terminate()
            try:
                self.server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
            self.server = None

    def seat_phone(self, seat: str, extension: str) -> None:
        """Make the phone of ``seat`` behave as ``extension`` of the test phones."""
        with Session(self.engine) as s, s.begin():
            s.execute(
                update(PhoneSeat)
                .where(PhoneSeat.name == seat)
                .values(dial_string=f"Local/{extension}@{PHONES}")
            )

    def on_air(self, login: str, seat: str, *, on_air: bool = True) -> None:
        """``login`` takes ``seat`` and (unless ``on_air`` is False) goes on air."""
        now = datetime.now(UTC)
        with Session(self.engine) as s, s.begin():
            agent = s.scalars(select(Agent.id).where(Agent.login == login)).one()
            seat_id = s.scalars(select(PhoneSeat.id).where(PhoneSeat.name == seat)).one()
            agent_sessions.log_in(s, agent, seat_id, now)
            if on_air:
                agent_sessions.apply_event(s, agent, GoOnAir(), now)

    def web(self, login: str) -> WebUser:
        """``login`` signed in to the server's web pages."""
        user = WebUser(self.web_url)
        assert user.sign_in(login, "x")[0] == 303, f"{login} could not sign in"
        return user

    def call(self) -> Call | None:
        with Session(self.engine, expire_on_commit=False) as s:
            return s.scalars(select(Call).order_by(Call.id)).first()

    def call_where(self, test: Any) -> Call:
        """Wait for the (first) call to satisfy ``test``."""

        def probe() -> Call | None:
            call = self.call()
            return call if call is not None and test(call) else None

        try:
            return wait_until("the call reaches the expected state", probe, 40, 0.2)
        except AssertionError as e:
            call = self.call()
            state = "no call" if call is None else f"{call.state.value}, ended {call.ended_at}"
            raise AssertionError(f"{e} (now: {state})\n{self.output[-3000:]}") from None


@pytest.fixture
def tier(pbx: RealAsterisk, db_url: str, engine: Engine, tmp_path: Path) -> Iterator[Tier]:
    with Session(engine) as s, s.begin():
        load_catalog(s, TIER_CENTRE, source="tier.yaml")
    recordings = tmp_path / "recordings"
    web_port = free_port()
    env = hotline_env(
        HOTLINE_DATABASE_URL=db_url,
        HOTLINE_AGI_LISTEN=f"tcp:{pbx.agi_port}:interface=127.0.0.1",
        HOTLINE_WEB_LISTEN=f"tcp:{web_port}:interface=127.0.0.1",
        HOTLINE_AMI_URL=f"ami://{AMI_USER}:{AMI_SECRET}@127.0.0.1:{pbx.ami_port}",
        HOTLINE_RECORDINGS_DIR=str(recordings),
        HOTLINE_SPOOL_DIR=str(tmp_path / "spool"),
    )
    speak_prompts(engine, pbx.sounds)
    ami = Ami(pbx.ami_port)
    world = Tier(pbx, ami, engine, env, tmp_path, recordings, f"http://127.0.0.1:{web_port}")
    pbx.mark_log()
    world.start_server()
    try:
        yield world
    finally:
        pbx.hang_up_everything()
        world.stop_server()
        ami.close()
