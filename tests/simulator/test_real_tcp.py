"""The simulator over real loopback TCP: a FastAGI client toward a real listening socket,
a server that is not there, and ``hotline simulate`` run as a process."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest_twisted
from twisted.internet import reactor as installed_reactor
from twisted.internet.task import Clock
from twisted.internet.utils import getProcessOutputAndValue

from simulator.dialplan import Agi, App, Context, Dialplan, Extension
from simulator.switch import CallerScript, Switch
from tests.simulator.support import ScriptedAGI, ScriptedAGIFactory

ROOT = Path(__file__).resolve().parents[2]
reactor: Any = installed_reactor


def one_agi_dialplan(port: int) -> Dialplan:
    steps = (
        Agi(f"agi://127.0.0.1:{port}/probe", ("${EXTEN}", "x y")),
        App("Set", "AFTER=${AGISTATUS}"),
        App("Hangup"),
    )
    return Dialplan([Context("t", (Extension("_X.", steps),))])


def free_port() -> int:
    listening = reactor.listenTCP(0, ScriptedAGIFactory(_nothing, reactor), interface="127.0.0.1")
    port = listening.getHost().port
    listening.stopListening()
    return port


async def _nothing(agi: ScriptedAGI) -> None:
    return None


@pytest_twisted.ensureDeferred
async def test_a_session_over_real_tcp(tmp_path: Path) -> None:
    replies: list[str] = []
    envs: list[dict[str, str]] = []

    async def script(agi: ScriptedAGI) -> None:
        envs.append(agi.env)
        for command in ("GET VARIABLE CALLERID(num)", 'SET VARIABLE A "1 2"', "BOGUS", "STREAM"):
            replies.append(await agi.command(command))

    factory = ScriptedAGIFactory(script, reactor)
    listening = reactor.listenTCP(0, factory, interface="127.0.0.1")
    clock = Clock()  # simulated time stays in the test's hands; the bytes go over TCP
    try:
        port = listening.getHost().port
        switch = Switch(
            clock=clock, connector=reactor, dialplan=one_agi_dialplan(port), spool_dir=tmp_path
        )
        call = switch.place_call(CallerScript(did="2222", caller_id_num="603", context="t"))
        clock.advance(0)
        record = await call.ended
    finally:
        await listening.stopListening()
    assert replies == [
        "200 result=1 (603)",
        "200 result=1",
        "510 Invalid or unknown command",
        "510 Invalid or unknown command",
    ]
    assert (envs[0]["agi_arg_1"], envs[0]["agi_arg_2"]) == ("2222", "x y")
    assert [run.status for run in record.agi_runs] == ["SUCCESS"]
    assert record.steps[1] == "t,2222,2 Set(AFTER=${AGISTATUS})"


@pytest_twisted.ensureDeferred
async def test_nothing_listening_means_failure_and_the_dialplan_goes_on(tmp_path: Path) -> None:
    clock = Clock()
    switch = Switch(
        clock=clock, connector=reactor, dialplan=one_agi_dialplan(free_port()), spool_dir=tmp_path
    )
    call = switch.place_call(CallerScript(did="2222", context="t"))
    clock.advance(0)
    record = await call.ended
    assert [run.status for run in record.agi_runs] == ["FAILURE"]
    assert [step.split(" ")[0] for step in record.steps] == ["t,2222,1", "t,2222,2", "t,2222,3"]
    assert any("connect failed" in line.text for line in record.lines)


@pytest_twisted.ensureDeferred
async def test_hotline_simulate_runs_a_scenario_against_a_server(tmp_path: Path) -> None:
    async def hotline(agi: ScriptedAGI) -> None:
        await agi.command("ANSWER")
        await agi.command("SET VARIABLE HOTLINE_DONE 1")
        await agi.command("HANGUP")

    factory = ScriptedAGIFactory(hotline, reactor)
    listening = reactor.listenTCP(0, factory, interface="127.0.0.1")
    scenario = tmp_path / "one.yaml"
    scenario.write_text('callers:\n  - {did: "2222", caller_id_num: "604"}\n', encoding="utf-8")
    try:
        port = listening.getHost().port
        out, err, code = await getProcessOutputAndValue(
            sys.executable,
            [
                "-c",
                "import sys; from simulator.cli import main; sys.exit(main(sys.argv[1:]))",
                str(scenario),
                "--agi",
                f"tcp:127.0.0.1:{port}",
                "--spool-dir",
                str(tmp_path / "spool"),
            ],
            path=str(ROOT),
        )
    finally:
        await listening.stopListening()
    text = out.decode()
    assert code == 0, err.decode()
    assert "604 -> 2222" in text
    assert ">>  ANSWER" in text and "<<  200 result=0" in text
    assert "outcome: ended by hotline" in text
    assert "=== summary\ncalls: 1" in text


@pytest_twisted.ensureDeferred
async def test_hotline_simulate_runs_a_load_with_agent_phone_behaviours(tmp_path: Path) -> None:
    async def hotline(agi: ScriptedAGI) -> None:
        await agi.command("ANSWER")
        await agi.command("EXEC Dial PJSIP/101,5")
        await agi.command("GET VARIABLE DIALSTATUS")
        await agi.command("SET VARIABLE HOTLINE_DONE 1")
        await agi.command("HANGUP")

    factory = ScriptedAGIFactory(hotline, reactor)
    listening = reactor.listenTCP(0, factory, interface="127.0.0.1")
    try:
        port = listening.getHost().port
        out, err, code = await getProcessOutputAndValue(
            sys.executable,
            [
                "-c",
                "import sys; from simulator.cli import main; sys.exit(main(sys.argv[1:]))",
                "--agi",
                f"tcp:127.0.0.1:{port}",
                "--calls-per-second",
                "20",
                "--total",
                "6",
                "--concurrency",
                "6",
                "--phones",
                "busy=1,unavailable=1",
                "--seed",
                "3",
                "--spool-dir",
                str(tmp_path / "spool"),
            ],
            path=str(ROOT),
        )
    finally:
        await listening.stopListening()
    text = out.decode()
    assert code == 0, err.decode()
    assert "=== summary\ncalls: 6" in text
    statuses = [
        line.rsplit("(", 1)[1].rstrip(")")
        for line in text.splitlines()
        if "<<  200 result=1 (" in line
    ]
    # Every phone rang busy or unregistered, as --phones said; none answered.
    assert len(statuses) == 6 and set(statuses) == {"BUSY", "CHANUNAVAIL"}
