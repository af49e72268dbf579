"""fastagi.protocol: command quoting, reply parsing, the environment block (pure, no I/O)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from fastagi.errors import AGIArgumentError, AGIProtocolError
from fastagi.protocol import (
    MAX_COMMAND_BYTES,
    AGIReply,
    AGIRequest,
    EnvironmentParser,
    OutOfBand,
    ReplyAssembler,
    format_command,
    parse_environment,
    parse_reply,
)
from tests.fastagi.transcripts import ASTERISK, SERVER, load


def asterisk_parse_args(line: str) -> list[str]:
    """A model of how res_agi.c's parse_args splits a command line into words: blanks separate,
    '"' toggles quoting (and opens a word, even an empty one), '\\' makes the next character
    literal."""
    words: list[str] = []
    quoted = escaped = False
    between_words = True
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and between_words:
                words.append("")
                between_words = False
            continue
        if ch in " \t" and not quoted and not escaped:
            between_words = True
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        if between_words:
            words.append("")
            between_words = False
        words[-1] += ch
        escaped = False
    return words


# -- format_command ---------------------------------------------------------------------------


def _recorded_commands() -> list[str]:
    names = ["001-basic", "004-dialexit", "005-dialtimeout", "006-dialanswer", "009-dtmfwait"]
    lines = {e.text for name in names for e in load(name) if e.direction == SERVER}
    lines.discard('SET VARIABLE BAD "a\nb"\n')  # the line Hotline refuses to write
    return sorted(lines)


@pytest.mark.parametrize("recorded", _recorded_commands())
def test_format_command_reproduces_every_recorded_command(recorded: str) -> None:
    words = asterisk_parse_args(recorded[:-1])
    assert format_command(*words) == recorded


@pytest.mark.parametrize(
    ("words", "line"),
    [
        (("SET", "VARIABLE", "FOO", "bar baz"), 'SET VARIABLE FOO "bar baz"\n'),
        (("SAY", "DIGITS", 123, ""), 'SAY DIGITS 123 ""\n'),
        (("STREAM", "FILE", "beep", "#0"), 'STREAM FILE beep "#0"\n'),
        (("EXEC", "NoOp", "hello, world"), 'EXEC NoOp "hello, world"\n'),
        (("SET", "VARIABLE", "Q", 'say "hi"'), 'SET VARIABLE Q "say \\"hi\\""\n'),
        (("SET", "VARIABLE", "P", "C:\\x"), 'SET VARIABLE P "C:\\\\x"\n'),
        (("SET", "VARIABLE", "N", "Novák"), 'SET VARIABLE N "Novák"\n'),
        (("SET", "VARIABLE", "T", "a\tb"), 'SET VARIABLE T "a\tb"\n'),
    ],
)
def test_format_command_quotes_what_needs_quoting(words: tuple[str | int, ...], line: str) -> None:
    assert format_command(*words) == line


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\r\nb", "\n", "a\x00b"])
@pytest.mark.parametrize("position", [0, 2])
def test_format_command_refuses_line_breaks_and_nul(bad: str, position: int) -> None:
    words: list[str] = ["SET", "VARIABLE", "X"]
    words[position] = bad
    with pytest.raises(AGIArgumentError):
        format_command(*words)


def test_format_command_refuses_lines_asterisk_would_cut() -> None:
    prefix = "SET VARIABLE X "
    fits = "x" * (MAX_COMMAND_BYTES - len(prefix) - 1)
    assert len(format_command("SET", "VARIABLE", "X", fits).encode()) == MAX_COMMAND_BYTES
    with pytest.raises(AGIArgumentError):
        format_command("SET", "VARIABLE", "X", fits + "x")
    with pytest.raises(AGIArgumentError):  # multi-byte characters count as bytes
        format_command("SET", "VARIABLE", "X", "é" * 1100)


@pytest.mark.parametrize("word", [1.5, None, True, b"bytes"])
def test_format_command_refuses_other_types(word: object) -> None:
    with pytest.raises(AGIArgumentError):
        format_command("VERBOSE", word)  # type: ignore[arg-type]


def test_format_command_refuses_too_many_words_and_no_words() -> None:
    with pytest.raises(AGIArgumentError):
        format_command(*(["x"] * 128))
    with pytest.raises(AGIArgumentError):
        format_command()


_WORD = st.text(st.characters(blacklist_characters="\r\n\x00"), max_size=30)


@given(st.lists(_WORD, min_size=1, max_size=8))
def test_asterisk_reads_back_exactly_the_words_we_format(words: list[str]) -> None:
    try:
        line = format_command(*words)
    except AGIArgumentError:
        assume(False)
        return
    assert line.endswith("\n") and line.count("\n") == 1 and "\r" not in line
    assert asterisk_parse_args(line[:-1]) == words


@given(st.lists(st.text(max_size=10), min_size=1, max_size=5))
def test_format_command_never_emits_a_second_line(words: list[str]) -> None:
    try:
        line = format_command(*words)
    except AGIArgumentError:
        assert any(c in word for word in words for c in "\r\n\x00")
        return
    assert line.count("\n") == 1 and "\r" not in line and "\x00" not in line


# -- replies -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("200 result=0", AGIReply(200, "0")),
        ("200 result=1 (777123456)", AGIReply(200, "1", "777123456")),
        ("200 result=1 (bar baz)", AGIReply(200, "1", "bar baz")),
        ("200 result=1 ()", AGIReply(200, "1", "")),
        ("200 result= (timeout)", AGIReply(200, "", "timeout")),
        ("200 result=0 (timeout) endpos=0", AGIReply(200, "0", "timeout", {"endpos": "0"})),
        ("200 result=-1 endpos=0", AGIReply(200, "-1", None, {"endpos": "0"})),
        ("200 result=0 endpos=3520", AGIReply(200, "0", None, {"endpos": "3520"})),
        ("200 result=35", AGIReply(200, "35")),
        ("200 result=-2", AGIReply(200, "-2")),
        ("510 Invalid or unknown command", AGIReply(510, "", "Invalid or unknown command")),
        (
            "511 Command Not Permitted on a dead channel or intercept routine",
            AGIReply(511, "", "Command Not Permitted on a dead channel or intercept routine"),
        ),
        (
            "503 result=-2 Memory allocation failure",
            AGIReply(503, "-2", "Memory allocation failure"),
        ),
        ("200 result=1 (a) b (c)", AGIReply(200, "1", "a) b (c")),
        ("200 result=1 (x) endpos=5)", AGIReply(200, "1", "x) endpos=5")),
        ("200 result=1 ((nested))", AGIReply(200, "1", "(nested)")),
        ("200 result=35 (dtmf) endpos=8000", AGIReply(200, "35", "dtmf", {"endpos": "8000"})),
        ("200 result=0 Gosub complete", AGIReply(200, "0", "Gosub complete")),
    ],
)
def test_parse_reply_shapes(line: str, reply: AGIReply) -> None:
    assert parse_reply(line) == reply


def test_reply_helpers() -> None:
    assert parse_reply("200 result= (timeout)").result_int is None
    assert parse_reply("200 result=-1 endpos=0").result_int == -1
    assert parse_reply("200 result=0").ok
    assert not parse_reply("511 Command Not Permitted").ok


@pytest.mark.parametrize(
    "garbage",
    ["", "hello", "20 result=1", "200 foo", "2000 result=1", "200-result=1", "200 result=1 (open"],
)
def test_parse_reply_refuses_garbage(garbage: str) -> None:
    with pytest.raises(AGIProtocolError):
        parse_reply(garbage)


def _usage_block() -> list[str]:
    lines = [e.text[:-1] for e in load("001-basic") if e.direction == ASTERISK]
    start = next(i for i, line in enumerate(lines) if line.startswith("520-"))
    end = next(i for i, line in enumerate(lines) if line.startswith("520 "))
    return lines[start : end + 1]


def test_the_520_block_of_001_is_one_reply() -> None:
    assembler = ReplyAssembler()
    block = _usage_block()
    assert len(block) == 7
    results = [assembler.feed(line) for line in block]
    assert results[:-1] == [None] * 6
    reply = results[-1]
    assert isinstance(reply, AGIReply) and reply.code == 520
    assert reply.data is not None and reply.data.startswith("Send the given file")
    assert reply.data.endswith("<value>FAILED</value>")
    assert not assembler.in_reply
    assert assembler.feed("200 result=0") == AGIReply(200, "0")  # back in step


def test_assembler_hangup_provisional_and_single_line_520() -> None:
    assembler = ReplyAssembler()
    assert assembler.feed("HANGUP") is OutOfBand.HANGUP
    assert assembler.feed("100 result=0 Trying...") is None
    assert assembler.feed("200 result=0 Gosub complete") == AGIReply(200, "0", "Gosub complete")
    reply = assembler.feed("520 Invalid command syntax.  Proper usage not available.")
    assert isinstance(reply, AGIReply) and reply.code == 520


def test_assembler_joins_a_value_that_holds_newlines() -> None:
    assembler = ReplyAssembler()
    assert assembler.feed("200 result=1 (first") is None
    assert assembler.feed("HANGUP") is None  # inside the value: Asterisk writes it in one go
    assert assembler.feed("last)") == AGIReply(200, "1", "first\nHANGUP\nlast")


def test_assembler_caps_multi_line_replies() -> None:
    assembler = ReplyAssembler(max_reply_chars=100)
    assembler.feed("520-Invalid command syntax.  Proper usage follows:")
    with pytest.raises(AGIProtocolError):
        for _ in range(10):
            assembler.feed("x" * 20)
    assert not assembler.in_reply


@pytest.mark.parametrize("garbage", ["", "hello", "200 foo", "\x00"])
def test_assembler_refuses_garbage(garbage: str) -> None:
    with pytest.raises(AGIProtocolError):
        ReplyAssembler().feed(garbage)


# -- the environment ------------------------------------------------------------------------------


def _environment_of(name: str) -> list[str]:
    lines = []
    for entry in load(name):
        lines.append(entry.text[:-1])
        if entry.text == "\n":
            return lines
    raise AssertionError("no blank line")


def test_environment_of_001() -> None:
    request = parse_environment(_environment_of("001-basic"))
    assert request.script == "basic"
    assert request.network_script == "basic"
    assert request.uniqueid == "1795313168.1"
    assert request.channel == "Local/basic@probe-00000000;2"
    assert request.callerid == "777123456"
    assert request.calleridname == "Jan Novak"
    assert request.context == "probe"
    assert request.extension == "basic"
    assert request.priority == "1"
    assert request.language == "en"
    assert request.env["agi_accountcode"] == ""
    assert request.env["agi_request"] == "agi://127.0.0.1:4573/basic"
    assert len(request.env) == 22
    assert request.args == ()
    assert dict(request.query) == {}


def test_environment_arguments_query_and_nested_script() -> None:
    request = parse_environment(
        [
            "agi_network_script: support/queue?id=4&vip=&id=5",
            "agi_request: agi://10.0.0.1/support/queue?id=4&vip=&id=5",
            "agi_arg_2: second, with comma",
            "agi_arg_1: first",
            "agi_arg_4: not contiguous",
            "agi_calleridname: Name: with colon",
            "",
        ]
    )
    assert request.script == "support/queue"
    assert dict(request.query) == {"id": "5", "vip": ""}
    assert request.args == ("first", "second, with comma")
    assert request.calleridname == "Name: with colon"


def test_environment_falls_back_to_agi_request() -> None:
    request = AGIRequest.from_environment({"agi_request": "agi://127.0.0.1:4573/menu?lang=cs"})
    assert request.script == "menu"
    assert request.query["lang"] == "cs"
    assert AGIRequest.from_environment({}).script == ""


def test_environment_parser_limits_and_skips() -> None:
    parser = EnvironmentParser(max_keys=3, max_chars=1000)
    assert parser.feed("no colon here") is None
    assert parser.feed("other_key: ignored") is None
    assert parser.skipped == 2
    assert parser.feed("agi_uniqueid: 1.2") is None
    with pytest.raises(AGIProtocolError):
        parser.feed("agi_x: one too many")
    parser = EnvironmentParser(max_keys=100, max_chars=50)
    with pytest.raises(AGIProtocolError):
        parser.feed("agi_channel: " + "x" * 60)
    parser = EnvironmentParser()
    parser.feed("agi_uniqueid: 1.2")
    request = parser.feed("")
    assert request is not None and request.uniqueid == "1.2" and "other_key" not in request.env
