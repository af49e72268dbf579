"""A real `hotline serve` process killed with SIGKILL while a caller waits, then started
again on the same port: the shipped dialplan's resume chain brings the caller back to the
new process, which keeps the original waiting start and puts the call through (R-1.16).

Real processes run on the real clock, so this one test takes a few real seconds: the
simulator (in this process, on the reactor) waits in music on hold between resume rounds
(the shipped HOTLINE_RESUME_WAIT_S) while the new server starts. Every wait is bounded.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest_twisted
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from twisted.internet import reactor as installed_reactor
from twisted.internet.task import deferLater

from agent_desktop.agent_state import GoOnAir
from agent_desktop.store import agent_sessions
from db.catalog import load_catalog
from db.models import Agent, Call, PhoneSeat
from simulator.scenario import build_switch
from simulator.switch import CallerScript, PhoneBehaviour, PhoneBook
from tests.e2e.test_two_servers import ALWAYS_OPEN
from tests.support.e2e_world import CENTRE_YAML
from tests.support.processes import free_port, hotline_env, start_serve

reactor: Any = installed_reactor
T = TypeVar("T")
POLL_S = 0.05


async def _until(what: str, probe: Callable[[], T | None], timeout_s: float) -> T:
    """Poll ``probe`` on the reactor (never blocking it: the simulator runs there too)."""
    waited = 0.0
    while True:
        value = probe()
        if value is not None:
            return value
        if waited >= timeout_s:
            raise AssertionError(f"not within {timeout_s:g} s: {what}")
        await deferLater(reactor, POLL_S, lambda: None)
        waited += POLL_S


class _Output:
    """A server process's output, read without blocking as it comes."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        self._proc = proc
        self._fd = proc.stdout.fileno()
        os.set_blocking(self._fd, False)
        self.text = ""

    def has(self, needle: str) -> bool | None:
        with selectors.DefaultSelector() as sel:
            sel.register(self._fd, selectors.EVENT_READ)
            while sel.select(0):
                chunk = os.read(self._fd, 65536)
                if not chunk:
                    raise AssertionError(f"hotline serve ended early:\n{self.text}")
                self.text += chunk.decode(errors="replace")
        return True if needle in self.text else None


def _call_row(engine: Engine) -> Call | None:
    with Session(engine) as s:
        return s.scalars(select(Call)).one_or_none()


def _waiting_call(engine: Engine) -> Call | None:
    row = _call_row(engine)
    return row if row is not None and row.state.value == "waiting" else None


def _log_in_eva(engine: Engine) -> None:
    now = datetime.now(UTC)
    with Session(engine) as s, s.begin():
        agent = s.scalars(select(Agent).where(Agent.login == "eva")).one()
        seat = s.scalars(select(PhoneSeat.id).where(PhoneSeat.name == "101")).one()
        agent_sessions.log_in(s, agent.id, seat, now)
        agent_sessions.apply_event(s, agent.id, GoOnAir(), now)


@pytest_twisted.ensureDeferred
async def test_hotline_serve_killed_mid_wait_and_started_again_puts_the_caller_through(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    with Session(engine) as s, s.begin():
        load_catalog(s, CENTRE_YAML, source="centre.yaml")
        load_catalog(s, "queues:" + ALWAYS_OPEN, source="always-open.yaml")
    agi_port = free_port()
    env = hotline_env(
        HOTLINE_DATABASE_URL=db_url,
        HOTLINE_WEB_LISTEN=f"tcp:{free_port()}:interface=127.0.0.1",
        HOTLINE_AGI_LISTEN=f"tcp:{agi_port}:interface=127.0.0.1",
        HOTLINE_SPOOL_DIR=str(tmp_path / "spool"),
        HOTLINE_RECORDINGS_DIR=str(tmp_path / "recordings"),
    )
    switch = build_switch(
        reactor, reactor, servers=(f"127.0.0.1:{agi_port}",), spool_dir=tmp_path / "asterisk"
    )
    switch.phones = PhoneBook({"PJSIP/101": PhoneBehaviour(answer_after_s=0.5, talk_s=1)})
    first = start_serve(env, tmp_path)
    second: subprocess.Popen[str] | None = None
    try:
        first_out = _Output(first)
        await _until("the first server serves", lambda: first_out.has("Hotline is serving"), 30)
        caller = switch.place_call(CallerScript(did="222111001", talk_s=None))
        waiting = await _until("the caller waits in the queue", lambda: _waiting_call(engine), 10)
        assert waiting.driven_by.endswith(f":{first.pid}")  # driven_by is "<host>:<pid>"
        waiting_since = waiting.queue_entered_at

        first.send_signal(signal.SIGKILL)  # no shutdown code runs, nothing more is written
        first.wait(timeout=10)
        assert first.returncode == -signal.SIGKILL
        second = start_serve(env, tmp_path)
        second_out = _Output(second)
        await _until("the second server serves", lambda: second_out.has("Hotline is serving"), 30)
        still = _waiting_call(engine)
        assert still is not None and still.ended_at is None  # not closed as abandoned

        _log_in_eva(engine)
        record = await _until(
            "the call is over", lambda: caller.record if caller.ended.called else None, 20
        )
        answered = _call_row(engine)
        assert answered is not None
        assert answered.state.value == "answered"
        assert answered.queue_entered_at == waiting_since  # the original waiting start
        assert answered.driven_by.endswith(f":{second.pid}")  # the new process put it through
        statuses = [(run.url.rsplit("/", 1)[1], run.status) for run in record.agi_runs]
        # The kernel closed the killed server's socket: a plain EOF (SUCCESS) but without
        # HOTLINE_DONE, so the dialplan resumed. While nothing listened, the resume attempts
        # failed; then one reached the new process and ran until the call ended, its agent
        # leg's answer hook in the middle. Never the fallback.
        assert statuses[0] == ("inbound", "SUCCESS")
        assert statuses[-2:] == [("resume", "HANGUP"), ("answered", "SUCCESS")]
        failed = statuses[1:-2]
        assert failed and set(failed) == {("resume", "FAILURE")}, statuses
        assert not any(step.startswith("hotline-fallback,") for step in record.steps)
    finally:
        switch.shutdown()
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.communicate(timeout=30)
