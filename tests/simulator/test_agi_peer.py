"""The AGI peer beyond the recorded transcripts: parsing, digits, recording, dead mode."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.agi_commands import find_command, parse_agi_args, quote_agi_arg
from simulator.media import SoundCatalogue
from simulator.switch import PhoneBehaviour, PhoneBook
from tests.simulator.support import Harness, ScriptedAGI, record_of
from tests.support.full_disk import fill, small_disk


# ------------------------------------------------------------------- argument parsing
def test_arguments_split_like_asterisk() -> None:
    assert parse_agi_args('STREAM FILE beep ""') == ["STREAM", "FILE", "beep", ""]
    assert parse_agi_args('SET VARIABLE FOO "bar baz"') == ["SET", "VARIABLE", "FOO", "bar baz"]
    assert parse_agi_args('EXEC NoOp "hello, world"') == ["EXEC", "NoOp", "hello, world"]
    assert parse_agi_args(r"SET VARIABLE X a\ b\"c") == ["SET", "VARIABLE", "X", 'a b"c']
    assert parse_agi_args('GET VARIABLE ab"c d"e') == ["GET", "VARIABLE", "abc de"]
    # A CR is an ordinary character: "ANSWER\r" is not the ANSWER command.
    assert parse_agi_args("ANSWER\r") == ["ANSWER\r"]
    assert find_command(parse_agi_args("ANSWER\r")) is None


def test_command_lookup_is_by_leading_words() -> None:
    spec = find_command(["get", "FULL", "variable", "${X}"])
    assert spec is not None and spec.name == "GET FULL VARIABLE"
    assert find_command(["GET"]) is None
    assert find_command([]) is None


@given(st.lists(st.text(alphabet=st.characters(exclude_characters="\r\n\x00")), max_size=8))
def test_quoted_arguments_come_back_unchanged(words: list[str]) -> None:
    line = " ".join(["EXEC", "NoOp", *(quote_agi_arg(w) for w in words)])
    assert parse_agi_args(line) == ["EXEC", "NoOp", *words]


@given(st.text())
def test_any_line_parses_without_error(line: str) -> None:
    assert isinstance(parse_agi_args(line), list)


# --------------------------------------------------------------------------- wire
def session_log(harness: Harness) -> list[str]:
    return [line for _, line in harness.servers["127.0.0.1:4573"].sessions[0].lines]


def test_crlf_terminated_command_is_unknown(tmp_path: Path) -> None:
    replies: list[str] = []

    async def script(agi: ScriptedAGI) -> None:
        agi.send_raw(b"ANSWER\r\n")
        replies.append(await agi.reply())
        replies.append(await agi.command("ANSWER"))

    harness = Harness(tmp_path, script)
    harness.call()
    harness.run(5)
    assert replies == ["510 Invalid or unknown command", "200 result=0"]


def test_environment_carries_agi_arguments_and_dnid(tmp_path: Path) -> None:
    envs: list[dict[str, str]] = []

    async def script(agi: ScriptedAGI) -> None:
        envs.append(agi.env)

    harness = Harness(tmp_path, script)
    harness.call(caller_id_num="602111222", caller_id_name="Eva")
    harness.run(5)
    env = envs[0]
    assert env["agi_request"] == "agi://127.0.0.1:4573/inbound"
    assert env["agi_network_script"] == "inbound"
    assert env["agi_channel"] == "PJSIP/trunk-00000000"
    assert env["agi_type"] == "PJSIP"
    assert env["agi_dnid"] == "2222"
    assert env["agi_context"] == "hotline-inbound"
    assert env["agi_extension"] == "2222"
    assert env["agi_arg_1"] == "2222"
    assert (env["agi_callerid"], env["agi_calleridname"]) == ("602111222", "Eva")
    assert list(env)[-1] == "agi_arg_1"


# -------------------------------------------------------------------------- digits
def test_get_data_collects_digits_until_hash(tmp_path: Path) -> None:
    replies: list[str] = []

    async def script(agi: ScriptedAGI) -> None:
        replies.append(await agi.command("ANSWER"))
        replies.append(await agi.command("GET DATA menu 3000 4"))  # # ends the input
        replies.append(await agi.command("GET DATA menu 3000 4"))  # # first: empty
        replies.append(await agi.command("GET DATA menu 1000 4"))  # one key, then timeout
        replies.append(await agi.command("GET DATA menu 3000 2"))  # max digits reached
        replies.append(await agi.command("GET DATA no-such-prompt 1000 4"))

    sounds = SoundCatalogue(default_duration_s=2.0, missing=frozenset({"no-such-prompt"}))
    harness = Harness(tmp_path, script, sounds=sounds)
    # prompts start at 0.5 s, 3.0 s (after "12#"), 3.5 s (after "#"), 6.8 s (after a 1 s
    # timeout following "9") and each plays 2 s unless a key interrupts it.
    keys = ((1.0, "1"), (2.8, "2"), (3.0, "#"), (3.5, "#"), (5.8, "9"), (9.0, "4"), (9.5, "5"))
    harness.call(keys=keys)
    harness.run(30)
    assert replies == [
        "200 result=0",
        "200 result=12",
        "200 result=",
        "200 result=9 (timeout)",
        "200 result=45",
        "200 result=-1",
    ]


def test_keys_between_commands_wait_for_the_next_listener(tmp_path: Path) -> None:
    replies: list[str] = []

    async def script(agi: ScriptedAGI) -> None:
        replies.append(await agi.command("ANSWER"))  # 0-0.5 s: a key is queued back
        replies.append(await agi.command("WAIT FOR DIGIT 100"))
        replies.append(await agi.command("EXEC Playback hello"))  # 0.5-2.5 s: drops keys
        replies.append(await agi.command("EXEC Wait 2"))  # 2.5-4.5 s: drops keys too
        replies.append(await agi.command("WAIT FOR DIGIT 100"))
        await agi.pause(1.0)  # 4.6-5.6 s: nothing runs on the channel
        replies.append(await agi.command("WAIT FOR DIGIT 5000"))

    harness = Harness(tmp_path, script)
    harness.call(keys=((0.2, "7"), (1.0, "1"), (3.0, "2"), (5.0, "3")))
    harness.run(30)
    assert replies == [
        "200 result=0",
        "200 result=55",
        "200 result=0",
        "200 result=0",
        "200 result=0",
        "200 result=51",
    ]


def test_stream_file_stops_on_an_escape_digit_with_its_position(tmp_path: Path) -> None:
    replies: list[str] = []

    async def script(agi: ScriptedAGI) -> None:
        await agi.command("ANSWER")
        replies.append(await agi.command('STREAM FILE hotline/menu "12"'))
        replies.append(await agi.command('STREAM FILE hotline/menu "12" 8000'))

    sounds = SoundCatalogue({"hotline/menu": 3.0})
    harness = Harness(tmp_path, script, sounds=sounds)
    harness.call(keys=((1.25, "5"), (1.5, "2")))  # 5 is not an escape digit
    harness.run(30)
    assert replies == ["200 result=50 endpos=8000", "200 result=0 endpos=24000"]


def test_a_command_sent_during_a_wait_interrupts_it_as_asterisk_does(tmp_path: Path) -> None:
    lines: list[str] = []

    async def script(agi: ScriptedAGI) -> None:
        await agi.command("ANSWER")
        agi.send_raw(b"WAIT FOR DIGIT 10000\nGET VARIABLE CHANNEL\n")
        lines.append(await agi.reply())
        lines.append(await agi.reply())
        agi.send_raw(b'STREAM FILE beep ""\nGET VARIABLE EXTEN\n')
        lines.append(await agi.reply())  # STREAM FILE got no reply at all

    harness = Harness(tmp_path, script)
    harness.call()
    harness.run(30)
    assert lines == [
        "200 result=1",
        "200 result=1 (PJSIP/trunk-00000000)",
        "200 result=1 (2222)",
    ]


# ----------------------------------------------------------------------- recording
def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as recording:
        assert (recording.getnchannels(), recording.getsampwidth()) == (1, 2)
        assert recording.getframerate() == 8000
        return recording.getnframes() / 8000


def test_record_file_ends_on_hash_and_writes_a_wav(tmp_path: Path) -> None:
    replies: list[str] = []
    target = tmp_path / "vm" / "msg1"
    target.parent.mkdir()

    async def script(agi: ScriptedAGI) -> None:
        await agi.command("ANSWER")
        replies.append(await agi.command(f'RECORD FILE {target} wav "#" 60000 s=3'))

    harness = Harness(tmp_path, script)
    harness.call(keys=((4.5, "#"),), speech_s=10)
    harness.run(30)
    # Recording ran 0.5-4.5 s; Asterisk cuts the last 200 ms (the key's tone).
    assert replies == ["200 result=35 (dtmf) endpos=30400"]
    assert wav_seconds(tmp_path / "vm" / "msg1.wav") == 3.8


def test_record_file_ends_on_silence_keeping_one_second_of_it(tmp_path: Path) -> None:
    replies: list[str] = []

    async def script(agi: ScriptedAGI) -> None:
        await agi.command("ANSWER")
        replies.append(await agi.command(f'RECORD FILE {tmp_path}/msg wav "#" 60000 BEEP s=2'))

    harness = Harness(tmp_path, script)
    harness.call(speech_s=3)
    harness.run(30)
    # beep 0.44 s, then 3 s of speech and 2 s of silence; 1 s of silence is kept.
    assert replies == ["200 result=0 (timeout) endpos=32000"]
    assert wav_seconds(tmp_path / "msg.wav") == 4.0


def test_record_file_refuses_a_missing_directory_and_reports_hangup(tmp_path: Path) -> None:
    replies: list[str] = []

    async def script(agi: ScriptedAGI) -> None:
        await agi.command("ANSWER")
        replies.append(await agi.command('RECORD FILE /nonexistent/dir/x wav "#" 1000'))
        replies.append(await agi.command(f'RECORD FILE {tmp_path}/cut wav "#" -1'))
        replies.append(await agi.command("GET VARIABLE CHANNEL"))

    harness = Harness(tmp_path, script)
    harness.call(hangup_at_s=2.5)
    harness.run(30)
    assert replies == [
        "200 result=-1 (writefile)",
        "200 result=-1 (hangup) endpos=16000",
        "200 result=1 (PJSIP/trunk-00000000)",
    ]
    assert wav_seconds(tmp_path / "cut.wav") == 2.0


def test_record_file_on_a_disk_that_fills_up_says_writefile_and_keeps_the_file(
    tmp_path: Path,
) -> None:
    """As Asterisk's res_agi: a frame it cannot write ends the recording with `writefile`,
    and the file keeps what it holds (here the header written at the start)."""
    replies: list[str] = []
    with small_disk(tmp_path / "disk", size_mb=1) as disk:

        async def script(agi: ScriptedAGI) -> None:
            await agi.command("ANSWER")
            replies.append(await agi.command(f'RECORD FILE {disk}/msg wav "#" 60000 s=3'))

        harness = Harness(tmp_path, script)
        harness.call(keys=((4.5, "#"),), speech_s=10)
        harness.run(2)
        fill(disk)
        harness.run(30)
        assert replies == ["200 result=-1 (writefile) endpos=0"]
        assert (disk / "msg.wav").exists()


# ----------------------------------------------------------------- variables, astdb
def test_variables_functions_and_database(tmp_path: Path) -> None:
    replies: list[str] = []

    async def script(agi: ScriptedAGI) -> None:
        for command in (
            "SET VARIABLE X ab",
            "GET FULL VARIABLE ${CALLERID(num)}/${X}/${LEN(${X})}/${UNIQUEID:0:4}",
            "SET VARIABLE CALLERID(name) Hana",
            "GET VARIABLE CALLERID(name)",
            "GET VARIABLE NOPE(x)",
            "DATABASE PUT cc agent/1 on",
            "DATABASE PUT cc agent/2 off",
            "GET FULL VARIABLE ${DB(cc/agent/1)}",
            "DATABASE DEL cc agent/1",
            "DATABASE DEL cc agent/1",
            "DATABASE DELTREE cc agent",
            "DATABASE GET cc agent/2",
            "DATABASE GET cc",
            'SET VARIABLE EMPTY ""',
            "GET VARIABLE EMPTY",
        ):
            replies.append(await agi.command(command))

    harness = Harness(tmp_path, script)
    harness.call(caller_id_num="777")
    harness.run(5)
    assert replies[:5] == [
        "200 result=1",
        f"200 result=1 (777/ab/2/{harness.switch.calls[0].linkedid[:4]})",
        "200 result=1",
        "200 result=1 (Hana)",
        "200 result=0",
    ]
    assert replies[5:] == [
        "200 result=1",
        "200 result=1",
        "200 result=1 (on)",
        "200 result=1",
        "200 result=0",
        "200 result=0",  # DELTREE answers 0 when it deleted something (res_agi's quirk)
        "200 result=0",
        replies[12],
        "200 result=1",
        "200 result=1 ()",
    ]
    assert replies[12].startswith("520-Invalid command syntax.")


# ---------------------------------------------------------------------- dead mode
def test_after_hangup_only_dead_safe_commands_run(tmp_path: Path) -> None:
    replies: list[str] = []
    hangups: list[int] = []

    async def script(agi: ScriptedAGI) -> None:
        replies.append(await agi.command("HANGUP"))
        for command in (
            "GET VARIABLE CHANNEL",
            "EXEC NoOp x",
            "SET VARIABLE A 1",
            "DATABASE PUT f k v",
            "VERBOSE hi 1",
            "WAIT FOR DIGIT 10",
            "CHANNEL STATUS",
            'STREAM FILE beep ""',
        ):
            replies.append(await agi.command(command))
        hangups.append(agi.hangup_lines)

    harness = Harness(tmp_path, script)
    call = harness.call()
    harness.run(5)
    dead = "511 Command Not Permitted on a dead channel or intercept routine"
    assert replies == [
        "200 result=1",
        "200 result=1 (PJSIP/trunk-00000000)",
        "200 result=0",
        "200 result=1",
        "200 result=1",
        "200 result=1",
        dead,
        dead,
        dead,
    ]
    assert hangups == [1]
    record = record_of(call)
    assert record.category == "ended-by-hotline"
    # The script hung up without HOTLINE_DONE=1: the shipped [hotline-hangup] handler
    # (the h extension) asks a server to settle the call with `resume`.
    assert [run.status for run in record.agi_runs] == ["HANGUP", "SUCCESS"]
    assert record.agi_runs[1].url.endswith("/resume")


def test_mixmonitor_and_say_commands(tmp_path: Path) -> None:
    replies: list[str] = []
    times: list[float] = []

    async def script(agi: ScriptedAGI) -> None:
        await agi.command("ANSWER")
        replies.append(await agi.command("EXEC MixMonitor calls/c1.wav"))
        replies.append(await agi.command("GET VARIABLE MIXMONITOR_FILENAME"))
        replies.append(await agi.command('SAY NUMBER 123 ""'))  # 1, hundred, 20, 3
        times.append(harness.clock.seconds())
        replies.append(await agi.command('SAY DIGITS 4567 "6"'))
        times.append(harness.clock.seconds())
        replies.append(await agi.command("SAY DIGITS abc x"))
        replies.append(await agi.command("EXEC StopMixMonitor"))
        await agi.command(f'RECORD FILE {tmp_path}/note wav "#" 1000')
        await agi.command("HANGUP")

    harness = Harness(tmp_path, script)
    call = harness.call(keys=((5.0, "6"),))
    harness.run(30)
    monitor = tmp_path / "monitor" / "calls" / "c1.wav"
    assert replies[:4] == [
        "200 result=0",
        f"200 result=1 ({monitor})",
        "200 result=0",
        "200 result=54",
    ]
    assert replies[4].startswith("520-") and replies[5] == "200 result=0"
    assert times[0] == pytest.approx(0.5 + 0.84 + 0.7 + 0.8 + 0.84)
    assert times[1] == pytest.approx(5.0)
    record = record_of(call)
    assert record.monitors == [(str(monitor), pytest.approx(times[1] - 0.5))]
    assert wav_seconds(monitor) == pytest.approx(times[1] - 0.5)
    assert record.recordings == [(f"{tmp_path}/note.wav", 1.0)]
    assert record.category == "recorded"


_WORDS = st.sampled_from(
    [
        "ANSWER",
        "HANGUP",
        "GET",
        "SET",
        "VARIABLE",
        "FULL",
        "DATA",
        "STREAM",
        "FILE",
        "WAIT",
        "FOR",
        "DIGIT",
        "EXEC",
        "Dial",
        "Playback",
        "Wait",
        "RECORD",
        "SAY",
        "NUMBER",
        "DIGITS",
        "DATABASE",
        "CHANNEL",
        "STATUS",
        "beep",
        "wav",
        '"#"',
        '""',
        "PJSIP/101,2",
        "${X}",
        "-1",
        "0",
        "150",
        "3",
        "x y",
        '"a b',
        "\\",
    ]
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_WORDS, max_size=6).map(" ".join), min_size=1, max_size=12))
def test_any_command_sequence_gets_one_reply_each_and_ends_cleanly(commands: list[str]) -> None:
    import tempfile

    replies: list[str] = []

    async def script(agi: ScriptedAGI) -> None:
        for command in commands:
            replies.append(await agi.command(command))

    with tempfile.TemporaryDirectory() as spool:
        phones = PhoneBook({"PJSIP/101": PhoneBehaviour(answer_after_s=1, talk_s=2)})
        harness = Harness(Path(spool), script, phones=phones)
        call = harness.call(hangup_at_s=60, talk_s=1)
        harness.run(400)
        assert len(replies) == len(commands)
        for reply in replies:
            assert reply[:3] in ("200", "510", "511", "520"), reply
        assert record_of(call).ended_at is not None
        assert harness.switch.channels_by_name == {}
