"""The dialplan model, the extensions.conf reader, and Hotline's fallback chain (R-1.16)
run by the switch on the shipped asterisk-conf/extensions.conf."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

import asterisk_conf
from simulator.dialplan import (
    Agi,
    App,
    DialplanParseError,
    FallbackDestination,
    GotoIf,
    HotlineDialplanSettings,
    evaluate,
    expand_expressions,
    load_hotline_dialplan,
    parse_extensions_conf,
    pattern_matches,
)
from simulator.switch import PhoneBehaviour, PhoneBook
from tests.simulator.support import Harness, ScriptedAGI, record_of

ROOT = Path(__file__).resolve().parents[2]
A, B = "127.0.0.1:4573", "127.0.0.1:4574"
ROUNDS = int(load_hotline_dialplan().globals["HOTLINE_RESUME_ROUNDS"])


@pytest.mark.parametrize(
    ("pattern", "exten", "matches"),
    [
        ("_X.", "2222", True),
        ("_X.", "2", False),  # "." needs at least one more character
        ("_X!", "2", True),
        ("_+X.", "+420777", True),
        ("_NXX", "211", True),
        ("_NXX", "111", False),
        ("_[a-z].", "basic", True),
        ("_[a-z].", "Basic", False),
        ("_[0-9a-z].", "q7", True),
        ("_*1.", "*1PJSIP/101", True),
        ("2222", "2222", True),
        ("2222", "22222", False),
    ],
)
def test_extension_patterns(pattern: str, exten: str, matches: bool) -> None:
    assert pattern_matches(pattern, exten) is matches


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("2 >= 5", False),
        ("5 >= 5", True),
        ("10 > 9", True),  # numbers compare as numbers, not as text
        ("3 < 3", False),
        ("3 <= 3", True),
        ('"1" = "1"', True),
        ('"0" = "1"', False),
        ('"" = "1"', False),
        ("1 != 2", True),
        ("05 = 5", True),
        ("1", True),
        ("0", False),
        ("", False),
        ("${X} > 3", False),  # not modelled: false
    ],
)
def test_expressions_gotoif_uses(expression: str, value: bool) -> None:
    assert evaluate(expression) is value


@pytest.mark.parametrize(
    ("data", "expanded"),
    [
        ("HOTLINE_ROUND=$[1 + 1]", "HOTLINE_ROUND=2"),
        ("N=$[10 - 4]", "N=6"),
        ("$[2 >= 5]-$[7 / 2]", "0-3"),
        ("no expression", "no expression"),
        ("unbalanced $[1 + 1", "unbalanced $[1 + 1"),
    ],
)
def test_expressions_in_application_data_are_expanded(data: str, expanded: str) -> None:
    assert expand_expressions(data) == expanded


def test_extensions_conf_reader() -> None:
    text = """
[general]
static=yes
[globals]
SERVER=agi://10.0.0.1:4573 ; trailing comment
[in]
exten => _X.,1,Set(A=1)
 same => n,GotoIf($["${A}" = "1"]?yes:no)
 same => n(no),Hangup()
 same => n(yes),AGI(${SERVER}/inbound,${EXTEN},x\\;y)
exten => s,1,Goto(in,123,yes)
"""
    dialplan = parse_extensions_conf(text, "t.conf", {"EXTRA": "1"})
    extension = dialplan.extension("in", "42")
    assert extension is not None
    assert extension.steps == (
        App("Set", "A=1"),
        GotoIf('"${A}" = "1"', "yes", "no"),
        App("Hangup", ""),
        Agi("${SERVER}/inbound", ("${EXTEN}", "x\\;y")),
    )
    assert extension.labels == {"no": 3, "yes": 4}
    assert dialplan.globals == {"SERVER": "agi://10.0.0.1:4573", "EXTRA": "1"}
    assert dialplan.resolve("in,123,yes", "in", "s") == ("in", "123", 4)
    assert dialplan.resolve("nowhere", "in", "42") is None
    for bad, line in (("[c]\nexten => s,2,NoOp()\n", 2), ("exten => s,1,NoOp()\n", 1)):
        with pytest.raises(DialplanParseError, match=f"t.conf:{line}:"):
            parse_extensions_conf(bad, "t.conf")


def test_the_simulator_runs_the_shipped_file_with_its_settings() -> None:
    """The dialplan is the installed asterisk_conf/extensions.conf, no copy of it."""
    shipped = asterisk_conf.read_text("extensions.conf")
    assert (ROOT / "asterisk-conf" / "extensions.conf").read_text(encoding="utf-8") == shipped
    settings = HotlineDialplanSettings((A, B))
    plan = load_hotline_dialplan(settings)
    parsed = parse_extensions_conf(shipped, "extensions.conf", settings.global_overrides())
    assert plan.globals == parsed.globals
    assert plan.globals["HOTLINE_AGI_1"] == f"agi://{A}"
    assert plan.globals["HOTLINE_AGI_2"] == f"agi://{B}"
    assert plan.context_names == parsed.context_names
    assert all(plan.context(name) == parsed.context(name) for name in plan.context_names)


def runs(harness: Harness) -> list[tuple[str, str]]:
    return [(run.url, run.status) for run in harness.switch.calls[0].agi_runs]


async def hang_up_politely(agi: ScriptedAGI) -> None:
    await agi.command("SET VARIABLE HOTLINE_DONE 1")
    await agi.command("HANGUP")


async def close_at_once(agi: ScriptedAGI) -> None:
    return None


def test_server_down_resume_on_the_second_then_the_ring_group(tmp_path: Path) -> None:
    phones = PhoneBook({"PJSIP/101": PhoneBehaviour(answer_after_s=5, talk_s=12)})
    harness = Harness(
        tmp_path,
        servers=(A, B),
        fallback=FallbackDestination(("PJSIP/101",), 20),
        phones=phones,
    )
    harness.serve(B, close_at_once, only="resume")  # B takes the call but does not finish it
    call = harness.call(talk_s=None)
    harness.run(60)
    # Every round (HOTLINE_RESUME_ROUNDS of the shipped file) tries A, then B; B's sessions
    # end without HOTLINE_DONE, so after the last round the fallback takes the call.
    assert runs(harness) == [(f"agi://{A}/inbound", "FAILURE")] + ROUNDS * [
        (f"agi://{A}/resume", "FAILURE"),
        (f"agi://{B}/resume", "SUCCESS"),
    ]
    record = record_of(call)
    assert record.category == "fallback-answered"
    assert record.talk_s == pytest.approx(12)
    assert any(step.startswith("hotline-fallback,s,3 Dial(") for step in record.steps)


def test_a_restarted_server_resumes_the_call_it_lost(tmp_path: Path) -> None:
    envs: list[dict[str, str]] = []

    async def inbound(agi: ScriptedAGI) -> None:
        envs.append(agi.env)
        await agi.command("ANSWER")  # then the server "crashes": the socket closes

    async def resume(agi: ScriptedAGI) -> None:
        envs.append(agi.env)
        await hang_up_politely(agi)

    harness = Harness(tmp_path, inbound, servers=(A, B))
    harness.serve(A, resume, only="resume")
    call = harness.call()
    harness.run(60)
    assert runs(harness) == [(f"agi://{A}/inbound", "SUCCESS"), (f"agi://{A}/resume", "HANGUP")]
    # The resumed session carries the same call: same channel and uniqueid, the DID.
    assert envs[1]["agi_uniqueid"] == envs[0]["agi_uniqueid"]
    assert envs[1]["agi_channel"] == envs[0]["agi_channel"]
    assert (envs[1]["agi_context"], envs[1]["agi_extension"]) == ("hotline-resume", "s")
    assert (envs[1]["agi_priority"], envs[1]["agi_arg_1"]) == ("5", "2222")
    assert record_of(call).category == "ended-by-hotline"


def test_no_server_at_all_ends_in_voicemail(tmp_path: Path) -> None:
    # The shipped ring group (PJSIP/101&PJSIP/102) is not registered here: unavailable.
    harness = Harness(tmp_path, servers=(A,), fallback=FallbackDestination(voicemail_box="100"))
    call = harness.call(speech_s=6)
    harness.run(60)
    assert runs(harness) == [(f"agi://{A}/inbound", "FAILURE")] + ROUNDS * 2 * [
        (f"agi://{A}/resume", "FAILURE")
    ]
    record = record_of(call)
    assert record.category == "fallback-voicemail"
    message = tmp_path / "voicemail" / "default" / "100" / "INBOX" / "msg0000.wav"
    with wave.open(str(message), "rb") as wav:
        assert wav.getnframes() / wav.getframerate() == pytest.approx(9.0)  # speech + 3 s


def test_a_key_that_ended_the_dial_leads_back_to_resume_if_the_flow_stops(
    tmp_path: Path,
) -> None:
    async def inbound(agi: ScriptedAGI) -> None:
        await agi.command("ANSWER")
        await agi.command("SET VARIABLE EXITCONTEXT hotline-exit")
        await agi.command("EXEC Dial PJSIP/102,30,d")  # the caller presses #; server dies

    harness = Harness(tmp_path, inbound, phones=PhoneBook({"PJSIP/102": PhoneBehaviour(None)}))
    harness.serve(A, hang_up_politely, only="resume")
    call = harness.call(keys=((3, "#"),))
    harness.run(60)
    steps = record_of(call).steps
    assert "hotline-exit,#,1 Set(HOTLINE_EXIT_KEY=${EXTEN})" in steps  # for the resume
    assert "hotline-exit,#,2 Goto(hotline-resume,s,1)" in steps
    assert runs(harness)[-1] == (f"agi://{A}/resume", "HANGUP")


def test_the_answered_hook_goes_to_the_first_server(tmp_path: Path) -> None:
    answered: list[dict[str, str]] = []

    async def inbound(agi: ScriptedAGI) -> None:
        await agi.command("ANSWER")
        await agi.command("EXEC Dial PJSIP/101,20,U(hotline-answered^7^101)")
        await hang_up_politely(agi)

    async def hook(agi: ScriptedAGI) -> None:
        answered.append(agi.env)

    phones = PhoneBook({"PJSIP/101": PhoneBehaviour(answer_after_s=2, talk_s=5)})
    harness = Harness(tmp_path, inbound, servers=(A, B), phones=phones)
    harness.serve(A, hook, only="answered")
    call = harness.call(talk_s=None)
    harness.run(60)
    assert [(env["agi_request"], env["agi_arg_1"], env["agi_arg_2"]) for env in answered] == [
        (f"agi://{A}/answered", "7", "101")
    ]
    assert record_of(call).answered_by == "PJSIP/101"


def test_the_shipped_u_option_form_passes_s_and_1_as_the_arguments(tmp_path: Path) -> None:
    """``U(hotline-answered^s^1(call^attempt))`` (the pre-Asterisk-13 form) reaches
    Asterisk 22's app_dial as context hotline-answered with ARG1=s, ARG2=1(call,attempt)."""
    answered: list[dict[str, str]] = []

    async def inbound(agi: ScriptedAGI) -> None:
        await agi.command("ANSWER")
        await agi.command("EXEC Dial PJSIP/101,20,U(hotline-answered^s^1(42^7))")
        await hang_up_politely(agi)

    async def hook(agi: ScriptedAGI) -> None:
        answered.append(agi.env)

    phones = PhoneBook({"PJSIP/101": PhoneBehaviour(answer_after_s=2, talk_s=5)})
    harness = Harness(tmp_path, inbound, phones=phones)
    harness.serve(A, hook, only="answered")
    harness.call(talk_s=None)
    harness.run(60)
    assert [(env["agi_arg_1"], env["agi_arg_2"]) for env in answered] == [("s", "1(42,7)")]


def test_outbound_dials_the_number_itself_when_hotline_does_not_finish(tmp_path: Path) -> None:
    harness = Harness(
        tmp_path, phones=PhoneBook(default=PhoneBehaviour(answer_after_s=1, talk_s=4))
    )
    harness.serve(A, close_at_once, only="outbound")
    harness.switch.originate(
        {"Channel": "PJSIP/101", "Context": "hotline-outbound", "Exten": "420777123456"}, "o1"
    )
    harness.run(60)
    record = harness.switch.calls[0]
    assert [ring.target for ring in record.rings] == ["PJSIP/101", "PJSIP/420777123456@trunk"]
    assert record.talk_s == pytest.approx(4)
