"""EXEC Dial from Hotline's flow: ringing simulated phones with Asterisk 22's semantics."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.switch import PhoneBehaviour, PhoneBook, gosub_of, parse_dial_data
from tests.simulator.support import AgiScript, Harness, ScriptedAGI, record_of

PHONES = PhoneBook(
    {
        "PJSIP/101": PhoneBehaviour(answer_after_s=4, talk_s=30),
        "PJSIP/102": PhoneBehaviour(answer_after_s=None),
        "PJSIP/103": PhoneBehaviour(busy=True),
        "PJSIP/104": PhoneBehaviour(answer_after_s=None, reject_after_s=6),
        "PJSIP/105": PhoneBehaviour(unavailable=True),
        "PJSIP/106": PhoneBehaviour(answer_after_s=1, talk_s=None),
    }
)


def test_dial_data_and_options_parse_like_app_dial() -> None:
    request = parse_dial_data("PJSIP/101&Local/7@agents/n,20,mdU(hotline-answered^42^101)")
    assert request.targets == ("PJSIP/101", "Local/7@agents/n")
    assert request.timeout_s == 20
    assert request.options == {"m": "", "d": "", "U": "hotline-answered^42^101"}
    assert parse_dial_data("PJSIP/101").timeout_s is None
    assert parse_dial_data("PJSIP/101,,m(queue)").options == {"m": "queue"}
    # Asterisk 22: U(context^args...) always runs context,s,1 with ARG1..n.
    assert gosub_of("answered-sub^s^1") == ("answered-sub", ("s", "1"))
    assert gosub_of("hotline-answered") == ("hotline-answered", ())


def dial_script(dial: str, replies: list[str], after: tuple[str, ...] = ()) -> AgiScript:
    async def script(agi: ScriptedAGI) -> None:
        await agi.command("ANSWER")
        replies.append(await agi.command(f"EXEC Dial {dial}"))
        for command in ("GET VARIABLE DIALSTATUS", *after):
            replies.append(await agi.command(command))
        replies.append(f"hangup lines: {agi.hangup_lines}")

    return script


@pytest.mark.parametrize(
    ("dial", "expected", "ring_outcomes", "seconds"),
    [
        ("PJSIP/103,20", ["200 result=0", "200 result=1 (BUSY)"], ["busy"], 0.0),
        ("PJSIP/105,20", ["200 result=0", "200 result=1 (CHANUNAVAIL)"], ["unavailable"], 0.0),
        ("PJSIP/999,20", ["200 result=0", "200 result=1 (CHANUNAVAIL)"], ["unavailable"], 0.0),
        ("PJSIP/104,20", ["200 result=0", "200 result=1 (BUSY)"], ["busy"], 6.0),
        ("PJSIP/102,3", ["200 result=0", "200 result=1 (NOANSWER)"], ["noanswer"], 3.0),
        (
            "PJSIP/103&PJSIP/102,5",
            ["200 result=0", "200 result=1 (NOANSWER)"],
            ["busy", "noanswer"],
            5.0,
        ),
    ],
)
def test_unanswered_dials(
    tmp_path: Path, dial: str, expected: list[str], ring_outcomes: list[str], seconds: float
) -> None:
    replies: list[str] = []
    harness = Harness(tmp_path, dial_script(dial, replies), phones=PHONES)
    call = harness.call()
    harness.run(60)
    assert replies == [*expected, "hangup lines: 0"]
    record = record_of(call)
    assert [ring.outcome for ring in record.rings] == ring_outcomes
    assert max(ring.ring_s for ring in record.rings) == pytest.approx(seconds)


def test_first_of_several_phones_to_answer_wins(tmp_path: Path) -> None:
    replies: list[str] = []
    script = dial_script("PJSIP/102&PJSIP/106,20", replies, ("GET VARIABLE DIALEDPEERNUMBER",))
    harness = Harness(tmp_path, script, phones=PHONES)
    call = harness.call(talk_s=10)
    harness.run(60)
    # The caller talks 10 s, hangs up: Dial returns -1 and the channel is dead.
    assert replies == [
        "200 result=-1",
        "200 result=1 (ANSWER)",
        "200 result=1 (106)",
        "hangup lines: 1",
    ]
    record = record_of(call)
    assert [(r.target, r.outcome) for r in record.rings] == [
        ("PJSIP/102", "cancelled"),
        ("PJSIP/106", "answered"),
    ]
    assert record.talk_s == pytest.approx(10.0)
    assert record.hangup_by == "caller"
    assert "DialBegin" in harness.event_names() and "BridgeEnter" in harness.event_names()


def test_agent_ending_the_conversation_leaves_the_caller_in_the_flow(tmp_path: Path) -> None:
    replies: list[str] = []
    after = ("GET VARIABLE ANSWEREDTIME", "GET VARIABLE DIALEDTIME", "CHANNEL STATUS")
    harness = Harness(tmp_path, dial_script("PJSIP/101,20", replies, after), phones=PHONES)
    harness.call(talk_s=None)
    harness.run(60)
    # ANSWER at 0 s, rings 4 s, talks 30 s: the caller's channel has been up 34.5 s.
    assert replies == [
        "200 result=-1",
        "200 result=1 (ANSWER)",
        "200 result=1 (34)",
        "200 result=1 (34)",
        "200 result=6",
        "hangup lines: 0",
    ]


def test_caller_hanging_up_while_the_agent_rings(tmp_path: Path) -> None:
    replies: list[str] = []
    harness = Harness(tmp_path, dial_script("PJSIP/102,30,m", replies), phones=PHONES)
    call = harness.call(hangup_at_s=7)
    harness.run(60)
    assert replies == ["200 result=-1", "200 result=1 (CANCEL)", "hangup lines: 1"]
    assert record_of(call).category == "abandoned"


def test_hash_while_ringing_with_option_d_goes_to_the_exit_context(tmp_path: Path) -> None:
    replies: list[str] = []

    async def script(agi: ScriptedAGI) -> None:
        await agi.command("ANSWER")
        await agi.command("SET VARIABLE EXITCONTEXT hotline-exit")
        replies.append(await agi.command("EXEC Dial PJSIP/102,30,md"))
        for name in ("DIALSTATUS", "EXTEN", "CONTEXT", "PRIORITY"):
            replies.append(await agi.command(f"GET VARIABLE {name}"))

    harness = Harness(tmp_path, script, phones=PHONES)
    # "5" has no extension in hotline-exit: ignored; "0" leaves.
    call = harness.call(keys=((2, "5"), (3, "0")))
    harness.run(10)
    assert replies == [
        "200 result=48",
        "200 result=1 (CANCEL)",
        "200 result=1 (0)",
        "200 result=1 (hotline-exit)",
        "200 result=1 (0)",
    ]
    harness.run(60)
    assert record_of(call).exit_digit == "0"


def test_u_option_opens_the_answered_session_on_the_agent_leg_first(tmp_path: Path) -> None:
    seen: dict[str, object] = {}

    async def caller(agi: ScriptedAGI) -> None:
        await agi.command("ANSWER")
        await agi.command("SET VARIABLE __HOTLINE_CALL 42")
        seen["dial"] = await agi.command("EXEC Dial PJSIP/101,20,U(hotline-answered^42^101)")
        seen["dial_at"] = harness.clock.seconds()

    async def answered(agi: ScriptedAGI) -> None:
        seen["answered_env"] = agi.env
        seen["answered_at"] = harness.clock.seconds()
        seen["inherited"] = await agi.command("GET VARIABLE HOTLINE_CALL")
        await agi.pause(2)  # Hotline records the answer; the bridge waits for this session

    harness = Harness(tmp_path, caller, phones=PHONES)
    harness.serve("127.0.0.1:4573", answered, only="answered")
    harness.call(talk_s=None)
    harness.run(60)
    env = seen["answered_env"]
    assert isinstance(env, dict)
    assert env["agi_channel"] == "PJSIP/101-00000001"
    assert env["agi_context"] == "hotline-answered"
    assert env["agi_extension"] == "s"
    assert (env["agi_arg_1"], env["agi_arg_2"]) == ("42", "101")
    assert env["agi_callerid"] == "2222"  # Dial gives the agent the caller's EXTEN
    assert seen["inherited"] == "200 result=1 (42)"
    assert seen["answered_at"] == pytest.approx(4.5)
    # talk (30 s) starts only after the 2 s answered session: Dial returns at 36.5 s.
    assert seen["dial"] == "200 result=-1"
    assert seen["dial_at"] == pytest.approx(36.5)


def test_gosub_result_abort_refuses_the_answer(tmp_path: Path) -> None:
    replies: list[str] = []

    async def answered(agi: ScriptedAGI) -> None:
        await agi.command("SET VARIABLE GOSUB_RESULT ABORT")

    harness = Harness(
        tmp_path, dial_script("PJSIP/101,20,U(hotline-answered)", replies), phones=PHONES
    )
    harness.serve("127.0.0.1:4573", answered, only="answered")
    call = harness.call(talk_s=None)
    harness.run(60)
    assert replies[0] == "200 result=-1"
    assert record_of(call).answered_by is None
    assert record_of(call).talk_s == 0


def test_a_phone_is_never_rung_with_two_calls_at_once(tmp_path: Path) -> None:
    replies: list[str] = []
    harness = Harness(tmp_path, dial_script("PJSIP/102,10", replies), phones=PHONES)
    first = harness.call()
    second = harness.call(start_at_s=2)
    harness.run(60)
    assert sorted(replies[1::3]) == ["200 result=1 (BUSY)", "200 result=1 (NOANSWER)"]
    assert record_of(first).violations == []
    assert record_of(second).violations == ["PJSIP/102 rung while already in a call (R-1.3)"]


def test_a_ringing_phone_hung_up_over_ami_ends_the_dial(tmp_path: Path) -> None:
    replies: list[str] = []
    harness = Harness(tmp_path, dial_script("PJSIP/102,30", replies), phones=PHONES)
    call = harness.call()
    harness.run(5)
    assert harness.switch.hangup("PJSIP/102-00000001", 16)
    harness.run(60)
    assert replies[:2] == ["200 result=0", "200 result=1 (NOANSWER)"]
    (ring,) = record_of(call).rings
    assert (ring.outcome, ring.ring_s) == ("hangup", pytest.approx(4.5))
