"""The AGI command language as Asterisk 22 reads it: argument splitting, the command table.

Everything here is pure (no Twisted): how a command line becomes ``argv`` (Asterisk's own
quoting rules, quirks included), which command a line names, whether the command may run on
a dead channel, and the usage text of the multi-line ``520`` reply.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_ARGS = 128
"""Asterisk truncates a command to this many words (MAX_ARGS in res_agi)."""

AGI_LINE_MAX_BYTES = 2047
"""Asterisk reads commands with fgets() into a 2048-byte buffer: a longer line is processed
as several commands, the first 2047 bytes first."""


def parse_agi_args(line: str) -> list[str]:
    """Split a command line into words the way res_agi's parse_args() does.

    Words are separated by spaces or tabs; double quotes group (and are removed, also in the
    middle of a word); a backslash makes the next character literal. ``""`` after a space
    is an empty word (``STREAM FILE beep ""`` has four words). Nothing else is special: a
    trailing CR stays part of the last word, so ``ANSWER\\r`` is an unknown command.
    """
    words: list[str] = []
    current: list[str] = []
    in_word = False
    quoted = False
    escaped = False
    for char in line:
        if char == '"' and not escaped:
            quoted = not quoted
            if quoted and not in_word:
                in_word = True
                current = []
            continue
        if char in " \t" and not quoted and not escaped:
            if in_word:
                words.append("".join(current))
                in_word = False
            continue
        if char == "\\" and not escaped:
            escaped = True
            continue
        if not in_word:
            if len(words) >= MAX_ARGS - 1:
                escaped = False
                continue
            in_word = True
            current = []
        current.append(char)
        escaped = False
    if in_word:
        words.append("".join(current))
    return words


def quote_agi_arg(value: str) -> str:
    """Quote one argument so that parse_agi_args() gives it back unchanged.

    For tests and tools; CR and LF cannot be carried by AGI at all (transcript 001).
    """
    if "\r" in value or "\n" in value:
        raise ValueError("AGI arguments cannot contain CR or LF")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


@dataclass(frozen=True)
class CommandSpec:
    """One entry of Asterisk's AGI command table."""

    words: tuple[str, ...]
    runs_dead: bool
    usage: str

    @property
    def name(self) -> str:
        return " ".join(self.words).upper()


# The usage of STREAM FILE is Asterisk 22's own text, byte for byte (transcript 001). The
# others are short descriptions of the same shape: the 520 framing is what clients rely on.
_STREAM_FILE_USAGE = (
    "Send the given file, allowing playback to be interrupted by the given digits, if any. "
    "Returns <literal>0</literal> if playback completes without a digit being pressed, or the "
    "ASCII numerical value of the digit if one was pressed, or <literal>-1</literal> on error "
    "or if the channel was disconnected. If musiconhold is playing before calling stream file "
    "it will be automatically stopped and will not be restarted after completion.\n"
    "It sets the following channel variables upon completion:\n"
    "<variable>PLAYBACKSTATUS</variable>: The status of the playback attempt as a text string.\n"
    "    <value>SUCCESS</value>\n"
    "    <value>FAILED</value>\n"
)


def _spec(words: str, runs_dead: bool, usage: str) -> CommandSpec:
    return CommandSpec(tuple(words.split()), runs_dead, usage + "\n")


# Same order as res_agi's table: the first entry whose words start the line wins.
COMMANDS: tuple[CommandSpec, ...] = (
    _spec("answer", False, "Answers the channel. Returns -1 on failure, 0 on success."),
    _spec("asyncagi break", True, "Interrupts Async AGI. Returns 0."),
    _spec("channel status", False, "Usage: CHANNEL STATUS [<channelname>]. Returns the state."),
    _spec("database del", True, "Usage: DATABASE DEL <family> <key>. Returns 1 if deleted."),
    _spec("database deltree", True, "Usage: DATABASE DELTREE <family> [<keytree>]."),
    _spec("database get", True, "Usage: DATABASE GET <family> <key>. Returns 1 (value)."),
    _spec("database put", True, "Usage: DATABASE PUT <family> <key> <value>."),
    _spec("exec", True, "Usage: EXEC <application> <options>. Returns the application's result."),
    _spec("get data", False, "Usage: GET DATA <file to be streamed> [timeout] [max digits]."),
    _spec("get full variable", True, "Usage: GET FULL VARIABLE <expression> [<channelname>]."),
    _spec("get option", False, "Usage: GET OPTION <filename> <escape_digits> [timeout]."),
    _spec("get variable", True, "Usage: GET VARIABLE <variablename>. Returns 1 (value)."),
    _spec("hangup", False, "Usage: HANGUP [<channelname>]. Returns 1 on success."),
    _spec("noop", True, "Does nothing. Returns 0."),
    _spec("receive char", False, "Usage: RECEIVE CHAR <timeout>."),
    _spec("receive text", False, "Usage: RECEIVE TEXT <timeout>."),
    _spec(
        "record file",
        False,
        "Usage: RECORD FILE <filename> <format> <escape digits> <timeout> [offset samples] "
        "[BEEP] [s=silence].",
    ),
    _spec("say alpha", False, "Usage: SAY ALPHA <number> <escape digits>."),
    _spec("say digits", False, "Usage: SAY DIGITS <number> <escape digits>."),
    _spec("say number", False, "Usage: SAY NUMBER <number> <escape digits> [gender]."),
    _spec("say phonetic", False, "Usage: SAY PHONETIC <string> <escape digits>."),
    _spec("say date", False, "Usage: SAY DATE <date> <escape digits>."),
    _spec("say time", False, "Usage: SAY TIME <time> <escape digits>."),
    _spec(
        "say datetime",
        False,
        "Usage: SAY DATETIME <time> <escape digits> [format] [timezone].",
    ),
    _spec("send image", False, "Usage: SEND IMAGE <image>."),
    _spec("send text", False, "Usage: SEND TEXT <text to send>."),
    _spec("set autohangup", False, "Usage: SET AUTOHANGUP <time>."),
    _spec("set callerid", False, "Usage: SET CALLERID <number>."),
    _spec("set context", False, "Usage: SET CONTEXT <desired context>."),
    _spec("set extension", False, "Usage: SET EXTENSION <new extension>."),
    _spec("set music", False, "Usage: SET MUSIC <on|off> <class>."),
    _spec("set priority", False, "Usage: SET PRIORITY <priority>."),
    _spec("set variable", True, "Usage: SET VARIABLE <variablename> <value>."),
    CommandSpec(("stream", "file"), False, _STREAM_FILE_USAGE),
    _spec(
        "control stream file",
        False,
        "Usage: CONTROL STREAM FILE <filename> <escape digits> [skipms] [ffchar] [rewchr] "
        "[pausechr] [offsetms].",
    ),
    _spec("tdd mode", False, "Usage: TDD MODE <on|off>."),
    _spec("verbose", True, "Usage: VERBOSE <message> <level>."),
    _spec("wait for digit", False, "Usage: WAIT FOR DIGIT <timeout>."),
    _spec("speech create", False, "Usage: SPEECH CREATE <engine>."),
    _spec("speech set", False, "Usage: SPEECH SET <name> <value>."),
    _spec("speech destroy", True, "Usage: SPEECH DESTROY."),
    _spec("speech load grammar", False, "Usage: SPEECH LOAD GRAMMAR <grammar name> <path>."),
    _spec("speech unload grammar", True, "Usage: SPEECH UNLOAD GRAMMAR <grammar name>."),
    _spec("speech activate grammar", False, "Usage: SPEECH ACTIVATE GRAMMAR <grammar name>."),
    _spec("speech deactivate grammar", False, "Usage: SPEECH DEACTIVATE GRAMMAR <grammar name>."),
    _spec("speech recognize", False, "Usage: SPEECH RECOGNIZE <prompt> <timeout> [offset]."),
)


def find_command(argv: Sequence[str]) -> CommandSpec | None:
    """The command a line names, as res_agi's find_command(argv, 0) chooses it.

    The line must have at least the command's words (compared case-insensitively); further
    words are its arguments. An empty line names nothing.
    """
    for spec in COMMANDS:
        if len(argv) < len(spec.words):
            continue
        if all(a.lower() == w for a, w in zip(argv, spec.words, strict=False)):
            return spec
    return None


def usage_reply(spec: CommandSpec) -> str:
    """The multi-line 520 reply, exactly framed as in transcript 001."""
    return (
        "520-Invalid command syntax.  Proper usage follows:\n"
        + spec.usage
        + "520 End of proper usage.\n"
    )


def leading_int(text: str) -> int | None:
    """``sscanf("%d")``: the optional sign and digits at the start of ``text``, else None."""
    match = _INT.match(text)
    return int(match.group(0)) if match else None


def leading_float(text: str) -> float | None:
    """``sscanf("%lf")``: the number at the start of ``text`` (``2``, ``1.5s``), else None."""
    match = _FLOAT.match(text)
    return float(match.group(0)) if match else None


def atoi(text: str) -> int:
    """C's atoi(): the leading integer of ``text``, 0 when there is none."""
    value = leading_int(text)
    return 0 if value is None else value


_INT = re.compile(r"[ \t]*[-+]?\d+")
_FLOAT = re.compile(r"[ \t]*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
