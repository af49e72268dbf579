"""Scenario files, load profiles, and whole runs on a memory network."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from twisted.internet.task import Clock

from simulator.memnet import MemoryNetwork
from simulator.scenario import (
    LoadProfile,
    MixedPhones,
    Scenario,
    ScenarioError,
    SimulationRun,
    build_switch,
    generate_callers,
    load_scenario,
    parse_mix,
    parse_phones,
    parse_scenario,
)
from simulator.switch import CallerScript, PhoneBehaviour, PhoneBook
from tests.simulator.support import Harness, ScriptedAGI, result_of

BASIC = Path(__file__).resolve().parents[2] / "simulator" / "scenarios" / "basic.yaml"


def test_the_shipped_example_scenario_loads() -> None:
    scenario = load_scenario(BASIC)
    assert len(scenario.callers) == 5
    assert scenario.callers[0] == CallerScript(
        did="542100100",
        caller_id_num="777123456",
        caller_id_name="Jan Novak",
        start_at_s=0.0,
        keys=((8.0, "1"),),
        talk_s=40.0,
    )
    assert scenario.phones.behaviour("PJSIP/102") == PhoneBehaviour(answer_after_s=None)
    assert scenario.phones.behaviour("PJSIP/420777123456@trunk") == PhoneBehaviour(
        answer_after_s=3.0, talk_s=30.0
    )
    assert scenario.fallback.ring_group == ("PJSIP/101", "PJSIP/104")
    assert scenario.duration_s == 300


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("callers: [\n  {did: '1', talk_s: soon}\n]\n", 2, "talk_s must be a number"),
        ("callers:\n  - did: '1'\n    keys: [[2, '12']]\n", 3, "not one DTMF digit"),
        ("callers:\n  - caller_id_num: '1'\n", 2, "needs a did"),
        ("phones:\n  PJSIP/1: {ansver_after_s: 3}\n", 2, "unknown key 'ansver_after_s'"),
        ("phones:\n  PJSIP/1: {busy: maybe}\n", 2, "busy must be true or false"),
        ("duration_s: 10\nduration_s: 20\ncallers: []\n", 2, "given twice"),
        ("callers:\n  - did: '1'\n    start_at_s: -4\n", 3, "cannot be negative"),
        ("callers: [did: 1\n", 2, "not valid YAML"),
        ("servers: [localhost]\ncallers: []\n", 1, "must be host:port"),
        ("- just a list\n", 1, "must be a mapping"),
        ("", 1, "empty"),
    ],
)
def test_malformed_scenarios_are_refused_with_line_and_reason(
    text: str, line: int, reason: str
) -> None:
    with pytest.raises(ScenarioError) as refused:
        parse_scenario(text, "s.yaml")
    message = str(refused.value)
    assert message.startswith(f"s.yaml:{line}: "), message
    assert reason in message


def test_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "nope.yaml")


def test_mix_and_generated_load() -> None:
    assert parse_mix("answer=7,hash=1,zero=1,hangup=1") == {
        "answer": 0.7,
        "hash": 0.1,
        "zero": 0.1,
        "hangup": 0.1,
    }
    for bad in ("answer", "talk=1", "answer=x", "answer=0", "answer=-1,hash=2"):
        with pytest.raises(ScenarioError):
            parse_mix(bad)
    profile = LoadProfile(
        calls_per_second=2, total=400, mix=parse_mix("answer=0.5,hash=0.5"), did="2222"
    )
    callers = list(generate_callers(profile))
    assert callers == list(generate_callers(profile))  # seeded: repeatable
    assert [c.start_at_s for c in callers[:3]] == [0.0, 0.5, 1.0]
    kinds = Counter("hash" if c.keys else "answer" for c in callers)
    assert 160 < kinds["hash"] < 240
    assert all(c.did == "2222" for c in callers)


def test_phone_mix_draws_a_behaviour_at_every_ring() -> None:
    shares = parse_phones("answer=8,noanswer=1,busy=1")
    assert shares == {"answer": 0.8, "noanswer": 0.1, "busy": 0.1}
    for bad in ("ring=1", "busy", "busy=x", "busy=0"):
        with pytest.raises(ScenarioError):
            parse_phones(bad)

    def draws(seed: int) -> list[PhoneBehaviour | None]:
        phones = MixedPhones(shares, seed)
        return [phones.behaviour("PJSIP/101") for _ in range(1000)]

    rings = draws(7)
    assert rings == draws(7)  # seeded: repeatable
    kinds = Counter(
        "busy"
        if b is not None and b.busy
        else "answer"
        if b is not None and b.answer_after_s is not None
        else "noanswer"
        for b in rings
    )
    assert 750 < kinds["answer"] < 850 and 60 < kinds["busy"] < 140
    assert 60 < kinds["noanswer"] < 140
    every = MixedPhones(parse_phones("reject=1,unavailable=1"), 1)
    others = [every.behaviour("PJSIP/any") for _ in range(50)]
    assert any(b is not None and b.unavailable for b in others)
    assert any(b is not None and b.reject_after_s is not None for b in others)


def test_a_load_with_a_phone_mix_rings_phones_that_way(tmp_path: Path) -> None:
    harness = Harness(tmp_path, answer_and_queue)
    printed: list[str] = []
    run = SimulationRun(harness.switch, harness.clock, printed.append, quiet=True)
    profile = LoadProfile(calls_per_second=5, concurrency=4, total=8, phones=parse_phones("busy=1"))
    finished = run.start_load(profile, duration_s=None)
    harness.run(2000)
    summary = result_of(finished)
    assert summary.calls == 8
    rings = [ring.outcome for call in harness.switch.calls for ring in call.rings]
    assert rings == ["busy"] * 8  # nobody answered: every phone said busy


async def answer_and_queue(agi: ScriptedAGI) -> None:
    """A stand-in for Hotline: answer, ring PJSIP/101, finish the call."""
    await agi.command("ANSWER")
    await agi.command("EXEC Dial PJSIP/101,15")
    await agi.command("SET VARIABLE HOTLINE_DONE 1")
    await agi.command("HANGUP")


def test_a_scenario_run_prints_each_call_and_a_summary(tmp_path: Path) -> None:
    harness = Harness(tmp_path, answer_and_queue)
    printed: list[str] = []
    scenario = Scenario(
        callers=(
            CallerScript(did="2222", caller_id_num="601", talk_s=10),
            CallerScript(did="2222", caller_id_num="602", start_at_s=1),
            CallerScript(did="2222", caller_id_num="603", start_at_s=2, hangup_at_s=0.2),
        ),
        phones=PhoneBook({"PJSIP/101": PhoneBehaviour(answer_after_s=4, talk_s=None)}),
    )
    run = SimulationRun(harness.switch, harness.clock, printed.append)
    finished = run.start_scenario(scenario)
    harness.run(100)
    summary = result_of(finished)
    assert summary.calls == 3
    assert summary.categories == {"answered": 1, "ended-by-hotline": 1, "abandoned": 1}
    assert summary.violations == 1  # the second caller found PJSIP/101 in a call
    transcripts = "\n".join(printed)
    assert "=== call" in transcripts and "601 -> 2222" in transcripts
    assert "outcome: answered by PJSIP/101 after 4.0 s ringing, talked 10.0 s" in transcripts
    assert ">>  EXEC Dial PJSIP/101,15" in transcripts
    assert "<<  200 result=-1" in transcripts
    assert printed[-1].startswith("=== summary\ncalls: 3")


def test_a_load_run_keeps_to_its_concurrency(tmp_path: Path) -> None:
    harness = Harness(tmp_path, answer_and_queue)
    harness.switch.phones = PhoneBook(default=PhoneBehaviour(answer_after_s=1, talk_s=None))
    printed: list[str] = []
    run = SimulationRun(harness.switch, harness.clock, printed.append, quiet=True)
    profile = LoadProfile(calls_per_second=5, concurrency=3, total=12, mix={"answer": 1.0})
    finished = run.start_load(profile, duration_s=None)
    harness.run(2000)
    summary = result_of(finished)
    assert summary.calls == 12
    # Each call is a caller leg plus an agent leg: at most 3 calls means 6 channels.
    assert summary.max_concurrent_channels <= 6
    assert len([line for line in printed if line.startswith("call ")]) == 12


def test_a_run_with_a_duration_hangs_everything_up_at_the_end(tmp_path: Path) -> None:
    async def never_ends(agi: ScriptedAGI) -> None:
        await agi.command("ANSWER")
        await agi.command("WAIT FOR DIGIT -1")
        await agi.command("GET VARIABLE CHANNEL")

    harness = Harness(tmp_path, never_ends)
    printed: list[str] = []
    late = CallerScript(did="2222", start_at_s=100)
    scenario = Scenario((CallerScript(did="2222"), late), PhoneBook(), duration_s=30)
    finished = SimulationRun(harness.switch, harness.clock, printed.append).start_scenario(scenario)
    harness.run(29)
    assert not finished.called
    harness.run(200)
    assert result_of(finished).calls == 1
    assert harness.switch.channels_by_name == {}
    assert harness.switch.calls[0].category == "ended-by-switch"
    assert printed[-1].endswith("callers not started before the end: 1")


def test_build_switch_wires_servers_scenario_and_spool(tmp_path: Path) -> None:
    clock = Clock()
    switch = build_switch(
        clock,
        MemoryNetwork(clock),
        servers=("10.0.0.1:4573", "10.0.0.2:4573"),
        scenario=load_scenario(BASIC),
        spool_dir=tmp_path / "spool",
    )
    assert switch.dialplan.globals["HOTLINE_AGI_1"] == "agi://10.0.0.1:4573"
    assert switch.dialplan.globals["HOTLINE_AGI_2"] == "agi://10.0.0.2:4573"
    assert switch.dialplan.globals["HOTLINE_FALLBACK_GROUP"] == "PJSIP/101&PJSIP/104"
    assert switch.phones.behaviour("PJSIP/103") == PhoneBehaviour(busy=True)
    assert (tmp_path / "spool" / "sounds").is_dir()
