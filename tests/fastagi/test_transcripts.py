"""Every AGI transcript recorded from a real Asterisk 22 (shared/asterisk-facts) as a test.

For each transcript a flow issues the commands the recording peer issued; the replayer feeds
Asterisk's recorded lines and asserts that the server wrote EXACTLY the recorded ``>>`` bytes,
and the flow asserts what each command returned. The one deliberate difference is 001's
``SET VARIABLE BAD "a\\nb"``: Hotline refuses to write it (the recording shows it desyncing
every later reply), so the test replays the recording up to that line and then the recorded
replies re-paired with the commands they belong to.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastagi.channel import AGIChannel, HangupKind, RecordResult
from fastagi.errors import (
    AGIArgumentError,
    AGICommandError,
    AGIUsageError,
    ChannelHungUp,
    ChannelRedirected,
)
from fastagi.server import SessionOutcome
from tests.fastagi.harness import Session
from tests.fastagi.transcripts import (
    ASTERISK,
    SERVER,
    Entry,
    entries_from,
    load,
    transcript_names,
)
from tests.support.asterisk_facts import FACTS_DIR, ORIGINALS

# ---------------------------------------------------------------------------------------------
# The flows: what the recording peer did, with the results Hotline must derive.


async def flow_001_basic_until_bad_line(ch: AGIChannel) -> None:
    assert ch.request.script == "basic"
    assert ch.request.uniqueid == "1795313168.1"
    assert ch.request.calleridname == "Jan Novak"
    assert ch.request.env["agi_accountcode"] == ""
    await ch.answer()
    assert await ch.get_variable("CALLERID(num)") == "777123456"
    await ch.set_variable("FOO", "bar baz")
    assert await ch.get_variable("FOO") == "bar baz"
    assert await ch.get_variable("NOSUCHVAR") is None  # "200 result=0", no parentheses
    assert await ch.get_full_variable("${FOO}-x") == "bar baz-x"
    assert await ch.stream_file("beep", "#0") is None  # played to the end, no key
    assert await ch.stream_file("no-such-file") is None  # "-1 endpos=0": missing file, live
    assert await ch.get_data("beep", 100, 4) == ""  # "200 result= (timeout)"
    assert await ch.wait_for_digit(100) is None
    assert await ch.exec_app("NoOp", "hello, world") == 0
    assert await ch.exec_app("Playback", "beep") == 0
    with pytest.raises(AGICommandError) as unknown:
        await ch.command("BOGUS", "COMMAND")
    assert unknown.value.code == 510
    with pytest.raises(AGIUsageError) as usage:
        await ch.command("STREAM", "FILE")
    assert "PLAYBACKSTATUS" in usage.value.usage
    assert usage.value.usage.count("\n") == 4  # the five lines between 520- and 520
    assert await ch.say_digits("123") is None
    assert await ch.channel_status() == 6
    await ch.database_put("fam", "key", "val")
    assert await ch.database_get("fam", "key") == "val"
    recorded = await ch.record_file(
        "/var/spool/asterisk/monitor/probe-test", "wav", "#", 1500, silence_s=1, beep=False
    )
    assert recorded == RecordResult(digit=None, endpos=0, timed_out=True)
    assert await ch.exec_app("NoSuchApp", "x") == -2
    with pytest.raises(AGIArgumentError):
        await ch.set_variable("BAD", "a\nb")
    assert ch.request.script == "basic"  # (nothing was written: the replayer checks)
    await ch.hangup()
    assert await ch.get_variable("FOO") == "bar baz"  # read-only still answers after HANGUP
    assert ch.hung_up
    with pytest.raises(ChannelHungUp):
        await ch.answer()  # 511


def _001_entries() -> list[Entry]:
    entries = load("001-basic")
    bad = next(i for i, e in enumerate(entries) if e.text.startswith("SET VARIABLE BAD"))
    recorded_tail = entries[bad:]
    # The recording after the bad line: '<< 200 result=1' answered 'SET VARIABLE BAD "a', the
    # '510' answered 'b"', and every later reply is one command late. Without the bad line
    # the recorded replies pair up with their own commands again:
    texts = [e.text for e in recorded_tail]
    assert texts[1:3] == ["200 result=1\n", "HANGUP\n"] and texts[3].startswith("510 ")
    repaired = entries_from(
        [
            (SERVER, "HANGUP\n"),
            (ASTERISK, "200 result=1\n"),
            (SERVER, "GET VARIABLE FOO\n"),
            (ASTERISK, "HANGUP\n"),
            (ASTERISK, "200 result=1 (bar baz)\n"),
            (SERVER, "ANSWER\n"),
            (ASTERISK, texts[-1]),  # the recorded 511
        ],
        seconds=recorded_tail[-1].seconds,
    )
    for entry in repaired:  # every repaired line is a line of the recording
        assert entry.text in texts
    return entries[:bad] + repaired


def test_001_basic() -> None:
    session = Session(flow_001_basic_until_bad_line)
    session.replayer.play(_001_entries())
    session.raise_flow_error_unless()
    assert session.flow_returned
    assert session.outcome is SessionOutcome.COMPLETED
    assert session.transport.disconnecting


def test_001_newline_argument_is_refused_before_anything_is_written() -> None:
    written_before: list[bytes] = []

    async def flow(ch: AGIChannel) -> None:
        session.written()
        with pytest.raises(AGIArgumentError):
            await ch.set_variable("BAD", "a\nb")
        written_before.append(session.written())

    session = Session(flow)
    session.feed(b"".join(e.text.encode() for e in load("001-basic")[:23]))
    session.raise_flow_error_unless()
    assert written_before == [b""]


async def flow_002(ch: AGIChannel) -> None:
    await ch.answer()
    with pytest.raises(ChannelHungUp):
        await ch.wait_for_digit(10000)  # "-1" arrives BEFORE the HANGUP line
    assert not ch.hung_up
    assert await ch.get_variable("CALLERID(num)") == "777123456"  # HANGUP came first
    assert ch.hung_up
    with pytest.raises(ChannelHungUp):
        await ch.stream_file("beep")
    await ch.answer()  # 511 again: the ChannelHungUp ends the flow


def test_002_hangupwait() -> None:
    session = Session(flow_002)
    # Past the recording: the server asks where the channel is to classify the end.
    extra = entries_from(
        [(SERVER, "GET VARIABLE CONTEXT\n"), (ASTERISK, "200 result=1 (probe)\n")], 2.05
    )
    session.replayer.play(load("002-hangupwait") + extra)
    session.raise_flow_error_unless(ChannelHungUp)
    assert type(session.flow_error) is ChannelHungUp
    assert session.outcome is SessionOutcome.HUNG_UP
    assert session.transport.disconnecting


async def flow_004(ch: AGIChannel) -> None:
    await ch.answer()
    await ch.set_variable("EXITCONTEXT", "exitdigits")
    pressed = await ch.exec_app("Dial", "Local/noanswer@agents/n", 20, "md")
    assert pressed == 35 and chr(pressed) == "#"
    assert await ch.get_variable("DIALSTATUS") == "CANCEL"
    assert await ch.get_variable("EXTEN") == "#"
    assert await ch.get_variable("CONTEXT") == "exitdigits"
    assert await ch.get_variable("PRIORITY") == "0"


def test_004_dialexit() -> None:
    session = Session(flow_004)
    session.replayer.play(load("004-dialexit"))
    session.raise_flow_error_unless()
    assert session.outcome is SessionOutcome.COMPLETED


async def flow_005(ch: AGIChannel) -> None:
    await ch.answer()
    assert await ch.exec_app("Dial", "Local/noanswer@agents/n", 3, "m") == 0
    assert await ch.get_variable("DIALSTATUS") == "NOANSWER"
    assert await ch.get_variable("DIALEDTIME") == ""  # "200 result=1 ()": set but empty


def test_005_dialtimeout() -> None:
    session = Session(flow_005)
    session.replayer.play(load("005-dialtimeout"))
    session.raise_flow_error_unless()
    assert session.outcome is SessionOutcome.COMPLETED


async def flow_006(ch: AGIChannel) -> None:
    await ch.answer()
    # -1 after an answered conversation, with no HANGUP: the caller is still there.
    assert await ch.exec_app("Dial", "Local/answer@agents/n", 20, "U(answered-sub^s^1)") == -1
    assert await ch.get_variable("DIALSTATUS") == "ANSWER"
    assert await ch.get_variable("ANSWEREDTIME") == "8"
    assert await ch.get_variable("DIALEDTIME") == "8"


def test_006_dialanswer() -> None:
    session = Session(flow_006)
    session.replayer.play(load("006-dialanswer"))  # the clock passes 8 s inside EXEC Dial
    session.raise_flow_error_unless()
    assert session.outcome is SessionOutcome.COMPLETED


async def flow_007(ch: AGIChannel) -> None:
    assert ch.request.context == "answered-sub"
    assert ch.request.channel == "Local/answer@agents-00000008;1"
    assert await ch.get_variable("CHANNEL") == "Local/answer@agents-00000008;1"
    assert await ch.get_variable("CALLERID(num)") == "dialanswer"


def test_007_answered() -> None:
    session = Session(flow_007)
    session.replayer.play(load("007-answered"))
    session.raise_flow_error_unless()
    assert session.routed[0].script == "answered"
    assert session.outcome is SessionOutcome.COMPLETED


async def flow_008(ch: AGIChannel) -> None:
    await ch.answer()  # then the flow ends: the server closes mid-dialplan


def test_008_closemid() -> None:
    session = Session(flow_008)
    session.replayer.play(load("008-closemid"))
    session.raise_flow_error_unless()
    assert session.transport.disconnecting
    assert session.outcome is SessionOutcome.COMPLETED


async def flow_009(ch: AGIChannel) -> None:
    await ch.answer()
    await ch.start_music_on_hold("default")
    assert await ch.wait_for_digit(10000) == "#"  # result=35
    assert await ch.wait_for_digit(10000) == "0"  # result=48
    await ch.stop_music_on_hold()
    assert await ch.stream_file("beep", "#0") is None
    await ch.hangup()


def test_009_dtmfwait() -> None:
    session = Session(flow_009)
    session.replayer.play(load("009-dtmfwait"))  # its last line, HANGUP, comes after the close
    session.raise_flow_error_unless()
    assert session.outcome is SessionOutcome.COMPLETED


async def flow_redirect_001_flow_classifies(ch: AGIChannel) -> None:
    await ch.answer()
    try:
        await ch.wait_for_digit(10000)
    except ChannelHungUp as exc:
        assert await ch.hangup_kind() is HangupKind.REDIRECTED
        raise await ch.classify_hangup(exc) from exc


def test_redirect_001_flow_tells_redirect_from_hangup() -> None:
    session = Session(flow_redirect_001_flow_classifies)
    session.replayer.play(load("redirect-001-hangupwait"))
    session.raise_flow_error_unless(ChannelRedirected)
    assert isinstance(session.flow_error, ChannelRedirected)
    assert session.outcome is SessionOutcome.REDIRECTED


async def flow_redirect_001_plain(ch: AGIChannel) -> None:
    await ch.answer()
    await ch.wait_for_digit(10000)  # ChannelHungUp propagates; the server classifies


def test_redirect_001_server_classifies_the_outcome() -> None:
    session = Session(flow_redirect_001_plain)
    session.replayer.play(load("redirect-001-hangupwait"))
    session.raise_flow_error_unless(ChannelHungUp)
    assert type(session.flow_error) is ChannelHungUp
    assert session.outcome is SessionOutcome.REDIRECTED


async def flow_redirect_002(ch: AGIChannel) -> None:
    assert ch.request.context == "redirect-target"
    assert ch.request.extension == "q2"
    assert ch.request.priority == "2"
    assert await ch.get_variable("CALLERID(num)") == "777000111"
    await ch.hangup()


def test_redirect_002_redirected() -> None:
    session = Session(flow_redirect_002)
    session.replayer.play(load("redirect-002-redirected"))
    session.raise_flow_error_unless()
    assert session.routed[0].uniqueid == "1795313269.33"  # same call as redirect-001
    assert session.outcome is SessionOutcome.COMPLETED


FLOWS = {
    "001-basic": (test_001_basic, None),
    "002-hangupwait": (test_002_hangupwait, flow_002),
    "004-dialexit": (test_004_dialexit, flow_004),
    "005-dialtimeout": (test_005_dialtimeout, flow_005),
    "006-dialanswer": (test_006_dialanswer, flow_006),
    "007-answered": (test_007_answered, flow_007),
    "008-closemid": (test_008_closemid, flow_008),
    "009-dtmfwait": (test_009_dtmfwait, flow_009),
    "redirect-001-hangupwait": (test_redirect_001_server_classifies_the_outcome, None),
    "redirect-002-redirected": (test_redirect_002_redirected, flow_redirect_002),
}


def test_every_transcript_has_a_test() -> None:
    assert transcript_names() == sorted(FLOWS)


@pytest.mark.skipif(not ORIGINALS.is_dir(), reason="shared/asterisk-facts is not present")
def test_copies_match_the_shared_originals() -> None:
    originals = sorted(p.name for p in ORIGINALS.glob("*.txt"))
    assert originals == sorted(p.name for p in FACTS_DIR.glob("*.txt"))
    for name in originals:
        assert (FACTS_DIR / name).read_bytes() == (ORIGINALS / name).read_bytes(), name


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_crlf_line_endings_give_the_same_session(name: str) -> None:
    """The server accepts "\\r\\n" as well as Asterisk's "\\n"."""
    entries = _001_entries() if name == "001-basic" else load(name)
    crlf = [
        Entry(e.seconds, e.direction, e.text[:-1] + "\r\n") if e.direction == ASTERISK else e
        for e in entries
    ]
    flow = {
        "001-basic": flow_001_basic_until_bad_line,
        "redirect-001-hangupwait": flow_redirect_001_plain,
    }.get(name) or FLOWS[name][1]
    assert flow is not None
    session = Session(flow)
    if name == "002-hangupwait":
        crlf += entries_from(
            [(SERVER, "GET VARIABLE CONTEXT\n"), (ASTERISK, "200 result=1 (probe)\r\n")], 2.05
        )
    session.replayer.play(crlf)
    session.raise_flow_error_unless(ChannelHungUp)
    assert session.outcome is not None
    assert session.outcome is not SessionOutcome.PROTOCOL_ERROR
    assert session.outcome is not SessionOutcome.FAILED


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_001_replays_identically_however_tcp_splits_the_bytes(data: st.DataObject) -> None:
    entries = _001_entries()
    runs: list[list[int]] = []
    run_bytes = 0
    for entry, following in zip(entries, [*entries[1:], None], strict=True):
        if entry.direction != ASTERISK:
            continue
        run_bytes += len(entry.text.encode())
        if following is None or following.direction != ASTERISK:
            runs.append(data.draw(st.lists(st.integers(1, max(1, run_bytes - 1)), max_size=6)))
            run_bytes = 0
    session = Session(flow_001_basic_until_bad_line)
    session.replayer.play(entries, chunks=runs)
    session.raise_flow_error_unless()
    assert session.outcome is SessionOutcome.COMPLETED
