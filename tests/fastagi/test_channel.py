"""AGIChannel: one command at a time, reply interpretation, hang-up rules, deadlines."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from fastagi.channel import AGIChannel, HangupKind, RecordResult
from fastagi.errors import (
    AGIArgumentError,
    AGICommandError,
    AGIError,
    AGIProtocolError,
    AGITimeoutError,
    AGIUsageError,
    ChannelHungUp,
    ChannelRedirected,
)
from fastagi.limits import AGILimits
from fastagi.protocol import OutOfBand, ReplyAssembler, parse_environment
from tests.support.deferreds import result_of


class Wire:
    """An AGIChannel whose wire is a list: ``sent`` holds what it wrote, :meth:`asterisk`
    feeds Asterisk's lines back."""

    def __init__(self, limits: AGILimits | None = None, **options: Any) -> None:
        self.clock = Clock()
        self.sent: list[bytes] = []
        self.closes = 0
        request = parse_environment(
            ["agi_uniqueid: 1.1", "agi_context: probe", "agi_network_script: t", ""]
        )
        self.channel = AGIChannel(
            request, self.sent.append, self._close, self.clock, limits, **options
        )
        self._assembler = ReplyAssembler()

    def _close(self) -> None:
        self.closes += 1
        self.channel.session_closed()

    def asterisk(self, *lines: str) -> None:
        for line in lines:
            item = self._assembler.feed(line)
            if item is OutOfBand.HANGUP:
                self.channel.hangup_received()
            elif item is not None:
                self.channel.reply_received(item)

    def take(self) -> list[str]:
        sent, self.sent[:] = [b.decode() for b in self.sent], []
        return sent


def error_of(deferred: Deferred[Any]) -> BaseException:
    box: list[Any] = []
    deferred.addBoth(box.append)
    assert box, "the Deferred has not fired"
    assert isinstance(box[0], Failure), f"expected a failure, got {box[0]!r}"
    error = box[0].value
    assert error is not None
    return error


def pending(deferred: Deferred[Any]) -> bool:
    return not deferred.called


# -- one command at a time ------------------------------------------------------------------------


def test_commands_go_out_one_at_a_time_in_order() -> None:
    wire = Wire()
    ch = wire.channel
    first = ch.get_variable("A")
    second = ch.get_variable("B")
    assert wire.take() == ["GET VARIABLE A\n"]
    # The flow behind `first` issues C at once when resumed; B was issued earlier.
    third: list[Deferred[str | None]] = []

    def issue_c(value: str | None) -> str | None:
        third.append(ch.get_variable("C"))
        return value

    first.addCallback(issue_c)
    wire.asterisk("200 result=1 (a)")
    assert result_of(first) == "a"
    assert wire.take() == ["GET VARIABLE B\n"]
    wire.asterisk("200 result=1 (b)")
    assert result_of(second) == "b"
    assert wire.take() == ["GET VARIABLE C\n"]
    wire.asterisk("200 result=0")
    assert result_of(third[0]) is None


def test_reply_without_a_command_is_a_protocol_error() -> None:
    wire = Wire()
    with pytest.raises(AGIProtocolError):
        wire.asterisk("200 result=0")


def test_bad_argument_raises_at_the_call_and_writes_nothing() -> None:
    wire = Wire()
    with pytest.raises(AGIArgumentError):
        wire.channel.set_variable("X", "a\r\nb")
    with pytest.raises(AGIArgumentError):
        wire.channel.exec_app("Dial", "Local/x@y\n", 20)
    with pytest.raises(AGIArgumentError):
        wire.channel.verbose("nul\x00")
    assert wire.sent == []
    assert not wire.channel.awaiting_reply


@pytest.mark.parametrize(
    ("call", "line"),
    [
        (lambda ch: ch.verbose("hello world", 2), 'VERBOSE "hello world" 2\n'),
        (lambda ch: ch.set_music(True), "SET MUSIC ON default\n"),
        (lambda ch: ch.set_music(True, "jazz"), "SET MUSIC ON jazz\n"),
        (lambda ch: ch.set_music(False), "SET MUSIC OFF\n"),
        (lambda ch: ch.say_number(42, "#"), 'SAY NUMBER 42 "#"\n'),
        (lambda ch: ch.exec_app("Hangup"), "EXEC Hangup\n"),
        (lambda ch: ch.exec_app("Set", "A=b c"), 'EXEC Set "A=b c"\n'),
        (
            lambda ch: ch.record_file("/tmp/vm", "wav", "#", 5000),
            'RECORD FILE /tmp/vm wav "#" 5000 0 BEEP\n',
        ),
        (
            lambda ch: ch.record_file("/tmp/vm", "wav", "#0", 5000, silence_s=3),
            'RECORD FILE /tmp/vm wav "#0" 5000 0 BEEP s=3\n',
        ),
    ],
)
def test_command_bytes(call: Any, line: str) -> None:
    wire = Wire()
    call(wire.channel)
    assert wire.take() == [line]


# -- interpreting replies -------------------------------------------------------------------------


def test_digits_are_ascii_codes() -> None:
    wire = Wire()
    d = wire.channel.stream_file("menu", "123#")
    wire.asterisk("200 result=35 endpos=1200")
    assert result_of(d) == "#"
    d = wire.channel.wait_for_digit(1000)
    wire.asterisk("200 result=48")
    assert result_of(d) == "0"
    d = wire.channel.say_digits("42", "*")
    wire.asterisk("200 result=42")
    assert result_of(d) == "*"


def test_stream_file_minus_one_missing_file_vs_hang_up_mid_playback() -> None:
    wire = Wire()
    d = wire.channel.stream_file("no-such-file")
    wire.asterisk("200 result=-1 endpos=0")  # 001: missing file on a live channel
    assert result_of(d) is None
    d = wire.channel.stream_file("long-prompt")
    wire.asterisk("200 result=-1 endpos=16000")
    assert isinstance(error_of(d), ChannelHungUp)


def test_get_data_results() -> None:
    wire = Wire()
    for reply, value in [
        ("200 result= (timeout)", ""),
        ("200 result=12 (timeout)", "12"),
        ("200 result=1234", "1234"),
        ("200 result=-1", ""),
    ]:
        d = wire.channel.get_data("menu", 3000, 4)
        assert wire.take() == ["GET DATA menu 3000 4\n"]
        wire.asterisk(reply)
        assert result_of(d) == value


def test_record_file_outcomes() -> None:
    wire = Wire()
    cases: list[tuple[str, Any]] = [
        ("200 result=35 (dtmf) endpos=8000", RecordResult("#", 8000, timed_out=False)),
        ("200 result=0 (timeout) endpos=0", RecordResult(None, 0, timed_out=True)),
        ("200 result=-1 (hangup) endpos=4000", ChannelHungUp),
        ("200 result=-1 (writefile)", AGICommandError),
        # The BEEP ended by a key (nothing recorded) or by the caller hanging up: what a real
        # Asterisk 22 answered when the caller hung up during the beep.
        ("200 result=35 (randomerror) endpos=0", RecordResult("#", 0, timed_out=False)),
        ("200 result=-1 (randomerror) endpos=0", ChannelHungUp),
    ]
    for reply, expected in cases:
        d = wire.channel.record_file("/tmp/vm", "wav", "#", 60000, silence_s=5)
        wire.asterisk(reply)
        if isinstance(expected, RecordResult):
            assert result_of(d) == expected
        else:
            assert isinstance(error_of(d), expected)
    d = wire.channel.record_file("/tmp/vm", "wav", "#", 60000, beep=False)
    wire.asterisk("200 result=-1 (randomerror) endpos=0")  # no beep: a real failure
    assert isinstance(error_of(d), AGICommandError)


def test_error_codes() -> None:
    wire = Wire()
    d: Deferred[Any] = wire.channel.command("BOGUS")
    wire.asterisk("510 Invalid or unknown command")
    error = error_of(d)
    assert isinstance(error, AGICommandError) and error.code == 510
    d = wire.channel.command("STREAM", "FILE")
    wire.asterisk("520-Invalid command syntax.  Proper usage follows:", "Usage text", "520 End")
    error = error_of(d)
    assert isinstance(error, AGIUsageError) and error.usage == "Usage text"
    d = wire.channel.answer()
    wire.asterisk("511 Command Not Permitted on a dead channel or intercept routine")
    assert isinstance(error_of(d), ChannelHungUp)
    d = wire.channel.database_put("f", "k", "v")
    wire.asterisk("200 result=0")
    assert isinstance(error_of(d), AGICommandError)
    d = wire.channel.channel_status()
    wire.asterisk("200 result=-1")
    assert isinstance(error_of(d), AGICommandError)
    d = wire.channel.wait_for_digit(10)
    wire.asterisk("200 result=abc")
    assert isinstance(error_of(d), AGIProtocolError)
    d = wire.channel.database_get("f", "missing")
    wire.asterisk("200 result=0")
    assert result_of(d) is None


def test_hang_up_is_not_an_agi_error() -> None:
    assert not issubclass(ChannelHungUp, AGIError)
    assert issubclass(ChannelRedirected, ChannelHungUp)


def test_after_hangup_minus_one_raises_but_values_still_come_back() -> None:
    wire = Wire()
    ch = wire.channel
    d: Deferred[Any] = ch.exec_app("Dial", "Local/a@agents/n", 20)
    wire.asterisk("200 result=-1")  # no HANGUP: an ended conversation, caller still there (006)
    assert result_of(d) == -1
    wire.asterisk("HANGUP")
    assert ch.hung_up
    d = ch.get_variable("DIALSTATUS")
    wire.asterisk("200 result=1 (ANSWER)")
    assert result_of(d) == "ANSWER"
    d = ch.exec_app("NoOp", "x")
    wire.asterisk("200 result=0")
    assert result_of(d) == 0
    d = ch.exec_app("Dial", "Local/b@agents/n", 20)
    wire.asterisk("200 result=-1")
    assert isinstance(error_of(d), ChannelHungUp)


def test_wait_for_digit_minus_one_is_a_hang_up_even_before_the_hangup_line() -> None:
    wire = Wire()
    d = wire.channel.wait_for_digit(10000)
    wire.asterisk("200 result=-1")
    assert isinstance(error_of(d), ChannelHungUp)


def test_answer_failure_is_a_hang_up() -> None:
    wire = Wire()
    d = wire.channel.answer()
    wire.asterisk("200 result=-1")
    assert isinstance(error_of(d), ChannelHungUp)


# -- deadlines ----------------------------------------------------------------------------------


def test_a_missing_reply_times_out_closes_and_fails_later_calls() -> None:
    wire = Wire(AGILimits(command_timeout_s=30))
    d = wire.channel.get_variable("X")
    queued = wire.channel.get_variable("Y")
    wire.clock.advance(29.9)
    assert pending(d)
    wire.clock.advance(0.2)
    assert isinstance(error_of(d), AGITimeoutError)
    assert isinstance(error_of(queued), AGITimeoutError)
    assert wire.closes == 1
    later = wire.channel.answer()
    assert isinstance(error_of(later), AGITimeoutError)
    assert wire.take() == ["GET VARIABLE X\n"]


def test_wait_commands_get_their_own_timeout_plus_margin() -> None:
    wire = Wire(AGILimits(timeout_margin_s=10, command_timeout_s=1))
    d = wire.channel.wait_for_digit(20000)
    wire.clock.advance(29.9)
    assert pending(d)
    wire.clock.advance(0.2)
    assert isinstance(error_of(d), AGITimeoutError)


def test_record_and_get_data_deadlines_cover_their_timeouts() -> None:
    wire = Wire(AGILimits(timeout_margin_s=5, command_timeout_s=1, media_timeout_s=60))
    d = wire.channel.record_file("/tmp/vm", "wav", "#", 120000)
    wire.clock.advance(124)
    assert pending(d)
    wire.asterisk("200 result=0 (timeout) endpos=960000")
    assert result_of(d).timed_out
    d2 = wire.channel.get_data("menu", 5000, 3)  # 60 s prompt + 4 x 5 s + 5 s margin
    wire.clock.advance(84.9)
    assert pending(d2)
    wire.clock.advance(0.2)
    assert isinstance(error_of(d2), AGITimeoutError)


def test_dial_lasts_a_conversation_unless_overridden() -> None:
    wire = Wire(AGILimits(command_timeout_s=1, media_timeout_s=2))
    d = wire.channel.exec_app("Dial", "Local/a@agents/n", 20, "U(answered-sub)")
    wire.clock.advance(3600)
    assert pending(d)
    wire.asterisk("200 result=-1")
    assert result_of(d) == -1
    d = wire.channel.exec_app("Dial", "Local/a@agents/n", 20, reply_timeout_s=35)
    wire.clock.advance(35.1)
    assert isinstance(error_of(d), AGITimeoutError)


def test_one_watchdog_timer_serves_every_command() -> None:
    wire = Wire(AGILimits(command_timeout_s=30, media_timeout_s=600))
    for _ in range(3):
        d = wire.channel.answer()
        wire.asterisk("200 result=0")
        result_of(d)
    assert len(wire.clock.getDelayedCalls()) == 1
    wire.clock.advance(20)
    play = wire.channel.stream_file("long")  # deadline at 620 s: the watchdog stays at 30 s
    wire.clock.advance(15)  # the watchdog fired at 30 s and re-armed for 620 s
    assert pending(play) and len(wire.clock.getDelayedCalls()) == 1
    wire.asterisk("200 result=0 endpos=1")
    d = wire.channel.answer()  # deadline 65 s: sooner than 620 s, so the watchdog moves
    wire.clock.advance(29.9)
    assert pending(d)
    wire.clock.advance(0.2)
    assert isinstance(error_of(d), AGITimeoutError)
    assert wire.clock.getDelayedCalls() == []


@pytest.mark.parametrize(
    "call",
    [
        lambda ch: ch.wait_for_digit(-1),
        lambda ch: ch.get_data("p", 0, 4),
        lambda ch: ch.get_data("p", 100, 0),
        lambda ch: ch.record_file("/tmp/x", "wav", "#", -1),
        lambda ch: ch.record_file("/tmp/x", "wav", "#", 1000, silence_s=0),
    ],
)
def test_nonsense_timeouts_are_refused(call: Any) -> None:
    wire = Wire()
    with pytest.raises(ValueError):
        call(wire.channel)
    assert wire.sent == []


# -- closing -----------------------------------------------------------------------------------


def test_session_closed_fails_waiting_and_later_commands() -> None:
    wire = Wire()
    d1 = wire.channel.answer()
    d2 = wire.channel.get_variable("X")
    wire.channel.session_closed()
    assert isinstance(error_of(d1), ChannelHungUp)
    assert isinstance(error_of(d2), ChannelHungUp)
    assert isinstance(error_of(wire.channel.answer()), ChannelHungUp)
    assert wire.take() == ["ANSWER\n"]
    assert wire.clock.getDelayedCalls() == []


# -- hang-up or redirect -------------------------------------------------------------------------


def _hung_up_wire(**options: Any) -> Wire:
    wire = Wire(**options)
    d = wire.channel.wait_for_digit(10000)
    wire.asterisk("200 result=-1")
    assert isinstance(error_of(d), ChannelHungUp)
    wire.take()
    return wire


def test_hangup_kind_redirected_when_the_context_changed() -> None:
    wire = _hung_up_wire()
    kind = wire.channel.hangup_kind()
    assert wire.take() == ["GET VARIABLE CONTEXT\n"]
    wire.asterisk("HANGUP", "200 result=1 (redirect-target)")
    assert result_of(kind) is HangupKind.REDIRECTED
    assert result_of(wire.channel.hangup_kind()) is HangupKind.REDIRECTED  # cached
    assert wire.take() == []


def test_hangup_kind_hung_up_in_the_same_context() -> None:
    wire = _hung_up_wire()
    kind = wire.channel.hangup_kind()
    wire.asterisk("HANGUP", "200 result=1 (probe)")
    assert result_of(kind) is HangupKind.HUNG_UP
    error = ChannelHungUp("x")
    assert result_of(wire.channel.classify_hangup(error)) is error


def test_hangup_kind_uses_the_transfer_marker_for_a_same_context_redirect() -> None:
    wire = _hung_up_wire(transfer_variable="HOTLINE_TRANSFER")
    kind = wire.channel.hangup_kind()
    wire.asterisk("HANGUP", "200 result=1 (probe)")
    assert wire.take() == ["GET VARIABLE CONTEXT\n", "GET VARIABLE HOTLINE_TRANSFER\n"]
    wire.asterisk("200 result=1 (queue 7)")
    assert result_of(kind) is HangupKind.REDIRECTED
    original = ChannelHungUp("x")
    redirected = result_of(wire.channel.classify_hangup(original))
    assert isinstance(redirected, ChannelRedirected) and redirected.__cause__ is original


def test_hangup_kind_knows_dials_exit_context() -> None:
    # 004: Dial's d option moves the channel to EXITCONTEXT without any redirect.
    wire = Wire()
    wire.channel.set_variable("EXITCONTEXT", "exitdigits")
    wire.asterisk("200 result=1")
    d = wire.channel.wait_for_digit(100)
    wire.asterisk("200 result=-1")
    error_of(d)
    kind = wire.channel.hangup_kind()
    wire.asterisk("HANGUP", "200 result=1 (exitdigits)")
    assert result_of(kind) is HangupKind.HUNG_UP


def test_hangup_kind_on_a_closed_connection_is_a_hang_up() -> None:
    wire = _hung_up_wire()
    wire.channel.session_closed()
    assert result_of(wire.channel.hangup_kind()) is HangupKind.HUNG_UP
    assert wire.take() == []
