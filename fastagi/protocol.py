"""The FastAGI wire format, as pure functions and small parsers (no I/O, no Twisted).

A malformed line is a clear error for the session it came on, never a crash (R-7.2).

What Asterisk sends and expects is taken from the recordings of a real Asterisk 22 in
``shared/asterisk-facts/`` and from ``res/res_agi.c``:

* The session opens with an environment block of ``agi_key: value`` lines ended by a blank line
  (transcript 001). :class:`EnvironmentParser` turns it into an :class:`AGIRequest`.
* Every command gets exactly one reply. Its shapes (all in transcript 001): ``200 result=N``,
  ``200 result=1 (value with spaces)``, ``200 result=1 ()``, the EMPTY ``200 result= (timeout)``,
  ``200 result=0 (timeout) endpos=0``, ``200 result=-1 endpos=0``, ``510 ...``, ``511 ...`` and
  the multi-line ``520-`` ... ``520 End of proper usage.`` block. ``100 result=0 Trying...`` is
  a provisional line (res_agi.c sends it before GOSUB) and is not the reply.
  :class:`ReplyAssembler` turns lines into :class:`AGIReply` objects.
* Between or before replies Asterisk may send a bare ``HANGUP`` line (transcripts 001, 002,
  redirect-001), reported as :data:`OutOfBand.HANGUP`.
* Commands are single lines that Asterisk splits into words itself (``parse_args`` in
  res_agi.c: spaces separate words, ``"`` groups, ``\\`` escapes the next character). Nothing
  escapes a newline: transcript 001 shows ``SET VARIABLE BAD "a\\nb"`` arriving as TWO commands
  and every later reply off by one. :func:`format_command` is the ONE place that quotes
  arguments, and it refuses CR, LF and NUL before anything is written.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import parse_qsl, urlsplit

from fastagi.errors import AGIArgumentError, AGIProtocolError

# res_agi.c reads a command with fgets() into AGI_BUF_LEN (2048) bytes: a longer line is cut
# and its tail runs as a second command, so a command (with its LF) must fit in 2047 bytes.
MAX_COMMAND_BYTES = 2047
# res_agi.c's MAX_ARGS is 128 including the terminating NULL; extra words are dropped.
MAX_COMMAND_WORDS = 127

# Characters that never need quoting. Anything else (space, tab, quote, backslash, '#', non-ASCII)
# makes format_command quote the word; the '#' rule reproduces the recorded ``STREAM FILE beep
# "#0"`` and ``RECORD FILE ... "#" ...`` byte for byte, and quoting is harmless for Asterisk.
_SAFE_WORD = re.compile(r"[A-Za-z0-9_\-./@,:;=+$(){}^%&!?~\[\]<>|*']+")
_FORBIDDEN_CHARS = ("\r", "\n", "\x00")


def quote_word(word: str) -> str:
    """Quote one command word the way res_agi.c's ``parse_args`` reads it back unchanged."""
    if _SAFE_WORD.fullmatch(word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_command(*words: str | int) -> str:
    """Build one AGI command line (ending in ``\\n``) from its words.

    Every word is quoted when it is empty or holds a character outside a conservative safe set
    (``SAY DIGITS 123 ""``, ``SET VARIABLE FOO "bar baz"``, ``EXEC NoOp "hello, world"``).

    Raises :class:`AGIArgumentError` -- before the caller can write anything -- for a word
    containing CR, LF or NUL (transcript 001: an embedded newline desyncs every later reply),
    for a word that is neither ``str`` nor ``int``, and for a line Asterisk would cut in two.
    """
    if not words:
        raise AGIArgumentError("an AGI command needs at least one word")
    if len(words) > MAX_COMMAND_WORDS:
        raise AGIArgumentError(f"an AGI command takes at most {MAX_COMMAND_WORDS} words")
    parts: list[str] = []
    for word in words:
        if word.__class__ is str:
            text: str = word  # type: ignore[assignment]
        elif isinstance(word, int) and not isinstance(word, bool):
            text = str(word)
        elif isinstance(word, str):
            text = str.__str__(word)
        else:
            raise AGIArgumentError(f"AGI command words are str or int, not {type(word).__name__}")
        if _SAFE_WORD.fullmatch(text):  # the common case: nothing to check or quote
            parts.append(text)
            continue
        for bad in _FORBIDDEN_CHARS:
            if bad in text:
                raise AGIArgumentError(
                    f"AGI argument {text!r} contains {bad!r}; Asterisk would read it as a "
                    "separate command and every later reply would be off by one"
                )
        parts.append(quote_word(text))
    line = " ".join(parts) + "\n"
    # One character is at most 4 bytes in UTF-8, so short lines need no encoding to check.
    if len(line) * 4 > MAX_COMMAND_BYTES:
        try:
            size = len(line.encode("utf-8", "surrogateescape"))
        except UnicodeEncodeError as exc:
            raise AGIArgumentError(f"AGI argument is not encodable: {exc}") from exc
        if size > MAX_COMMAND_BYTES:
            raise AGIArgumentError(
                f"AGI command of {size} bytes is longer than Asterisk's {MAX_COMMAND_BYTES}"
            )
    return line


# ---------------------------------------------------------------------------------------------
# Replies


@dataclass(frozen=True, slots=True)
class AGIReply:
    """One reply from Asterisk.

    ``result`` is the text after ``result=`` (may be EMPTY: ``200 result= (timeout)``), ``data``
    the text in parentheses (``None`` when there are none, ``""`` for ``()``), ``extra`` the
    ``key=value`` words after it (``endpos``). For replies without ``result=`` (``510``,
    ``511``) ``data`` holds the message; for the ``520`` block it holds the usage text.
    """

    code: int
    result: str
    data: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True for a 2xx reply."""
        return 200 <= self.code < 300

    @property
    def result_int(self) -> int | None:
        """``result`` as an integer, or ``None`` when it is empty or not a number."""
        try:
            return int(self.result)
        except ValueError:
            return None


class OutOfBand(enum.Enum):
    """Lines Asterisk sends outside the request/reply rhythm."""

    HANGUP = "HANGUP"


_REPLY_RE = re.compile(r"(\d{3})([ -])(.*)\Z", re.DOTALL)
_EXTRAS_RE = re.compile(r"(?: +[A-Za-z_][A-Za-z0-9_]*=\S*)+ *")
_USAGE_START = "520-"
_USAGE_END = "520 "


def _split_tail(tail: str) -> tuple[str | None, dict[str, str]] | None:
    """Split what follows ``result=X`` into (data, extra); ``None`` if a ``(`` is unclosed.

    The data ends at the LAST ``)`` that is followed only by ``key=value`` words, so a value
    holding parentheses (``200 result=1 (a) b (c)``) stays whole while
    ``200 result=0 (timeout) endpos=0`` still yields ``endpos``.
    """
    if not tail:
        return None, {}
    if tail.startswith("("):
        pos = tail.rfind(")")
        while pos > 0:
            rest = tail[pos + 1 :]
            if not rest or _EXTRAS_RE.fullmatch(rest):
                return tail[1:pos], _parse_extras(rest)
            pos = tail.rfind(")", 0, pos)
        return None
    if _EXTRAS_RE.fullmatch(" " + tail):
        return None, _parse_extras(tail)
    # Free text such as "Gosub complete" (res_agi.c) or a message after an error code.
    return tail, {}


def _parse_extras(text: str) -> dict[str, str]:
    extras: dict[str, str] = {}
    for word in text.split():
        key, _, value = word.partition("=")
        extras[key] = value
    return extras


# The everyday replies (transcript 001 shapes without parentheses inside the data).
_COMMON_REPLY_RE = re.compile(r"200 result=(-?\d*)(?: \(([^()]*)\))?(?: endpos=(-?\d+))?")


def parse_reply(text: str) -> AGIReply:
    """Parse one complete reply (a single line, or a multi-line block joined with ``\\n``)."""
    reply = _parse_reply(text)
    if reply is None:
        raise AGIProtocolError(f"unterminated '(' in reply: {text[:200]!r}")
    return reply


def _parse_reply(text: str) -> AGIReply | None:
    """Like :func:`parse_reply`, but ``None`` when a ``(`` is still open (more lines follow)."""
    common = _COMMON_REPLY_RE.fullmatch(text)
    if common is not None:
        result, data, endpos = common.groups()
        return AGIReply(200, result, data, {} if endpos is None else {"endpos": endpos})
    match = _REPLY_RE.match(text)
    if not match:
        raise AGIProtocolError(f"not an AGI reply: {text[:200]!r}")
    code = int(match.group(1))
    rest = match.group(3)
    if match.group(2) == "-":
        if code != 520:
            raise AGIProtocolError(f"unexpected continuation reply: {text[:200]!r}")
        lines = text.split("\n")
        if len(lines) < 2 or not lines[-1].startswith(_USAGE_END):
            raise AGIProtocolError(f"unterminated 520 usage block: {text[:200]!r}")
        return AGIReply(code=520, result="", data="\n".join(lines[1:-1]))
    if not rest.startswith("result="):
        if code == 200:
            raise AGIProtocolError(f"200 reply without result=: {text[:200]!r}")
        return AGIReply(code=code, result="", data=rest or None)
    result, _, tail = rest[7:].partition(" ")
    split = _split_tail(tail)
    if split is None:
        return None
    data, extra = split
    return AGIReply(code=code, result=result, data=data, extra=extra)


class ReplyAssembler:
    """Feeds on Asterisk's lines after the environment block; returns a complete
    :class:`AGIReply`, :data:`OutOfBand.HANGUP`, or ``None`` while a reply is incomplete.

    Handles the multi-line ``520`` block, a ``GET VARIABLE`` value holding newlines (the reply
    goes on until the ``(`` closes) and ignores provisional ``100`` lines. A reply growing past
    ``max_reply_chars`` or any line that is not AGI raises :class:`AGIProtocolError`.
    """

    __slots__ = ("_max_reply_chars", "_pending", "_pending_chars", "_pending_usage")

    def __init__(self, max_reply_chars: int = 65536) -> None:
        self._max_reply_chars = max_reply_chars
        self._pending: list[str] | None = None
        self._pending_chars = 0
        self._pending_usage = False

    @property
    def in_reply(self) -> bool:
        """True while a multi-line reply has started but not ended."""
        return self._pending is not None

    def feed(self, line: str) -> AGIReply | OutOfBand | None:
        """Take one line (without its line ending)."""
        pending = self._pending
        if pending is not None:
            pending.append(line)
            self._pending_chars += len(line) + 1
            if self._pending_chars > self._max_reply_chars:
                self._pending = None
                raise AGIProtocolError(
                    f"multi-line reply longer than {self._max_reply_chars} characters"
                )
            if self._pending_usage:
                if not line.startswith(_USAGE_END):
                    return None
                self._pending = None
                return parse_reply("\n".join(pending))
            reply = _parse_reply("\n".join(pending))
            if reply is None:  # the value's "(" is still open
                return None
            self._pending = None
            return reply
        if line == "HANGUP":
            return OutOfBand.HANGUP
        if line.startswith(_USAGE_START):
            self._start(line, usage=True)
            return None
        if line.startswith("100 "):
            # Provisional "100 result=0 Trying..." (res_agi.c, GOSUB): the reply follows.
            return None
        reply = _parse_reply(line)
        if reply is None:  # a value holding a newline: the reply goes on
            self._start(line, usage=False)
        return reply

    def _start(self, line: str, usage: bool) -> None:
        self._pending = [line]
        self._pending_chars = len(line) + 1
        self._pending_usage = usage


# ---------------------------------------------------------------------------------------------
# The environment block


def wire_text(value: str) -> str:
    """A value from the wire as text that can be stored and shown (R-7.2): bytes that are
    not UTF-8 (kept by the reader as surrogate escapes) become U+FFFD, NUL is dropped (no
    database column takes it). The request's ``env`` keeps the value as sent."""
    if value.isascii() and "\x00" not in value:
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace").replace("\x00", "")


@dataclass(frozen=True, slots=True)
class AGIRequest:
    """The environment Asterisk sends when a FastAGI session opens.

    ``env`` holds every ``agi_*`` key as sent. ``script`` is the path of the AGI URL without
    the leading slash and without the query string (``agi://host/queue?id=4`` -> ``queue``),
    ``query`` the parsed query string (a repeated key keeps its last value), ``args`` the
    ``AGI(url,a,b)`` arguments ``agi_arg_1`` ... in order.
    """

    env: Mapping[str, str]
    script: str
    query: Mapping[str, str]
    args: tuple[str, ...]

    @classmethod
    def from_environment(cls, env: Mapping[str, str], trusted: bool = False) -> AGIRequest:
        """Build a request from ``agi_*`` keys (other keys are ignored). ``trusted``: ``env`` is
        already a private dict of ``agi_*`` keys only (the parser's), so it is not copied."""
        if trusted and isinstance(env, dict):
            clean = env
        else:
            clean = {key: value for key, value in env.items() if key.startswith("agi_")}
        target = clean.get("agi_network_script")
        if target is None:
            request = clean.get("agi_request", "")
            if "://" in request:
                parts = urlsplit(request)
                target = parts.path + ("?" + parts.query if parts.query else "")
            else:
                target = request
        path, _, query = target.partition("?")
        args: list[str] = []
        while (value := clean.get(f"agi_arg_{len(args) + 1}")) is not None:
            args.append(value)
        return cls(
            env=MappingProxyType(clean),
            script=path.lstrip("/"),
            query=MappingProxyType(dict(parse_qsl(query, keep_blank_values=True)) if query else {}),
            args=tuple(args),
        )

    def _get(self, key: str) -> str:
        return self.env.get(key, "")

    def _text(self, key: str) -> str:
        return wire_text(self._get(key))

    @property
    def uniqueid(self) -> str:
        """Asterisk's unique id of the channel (the call record's key)."""
        return self._get("agi_uniqueid")

    @property
    def channel(self) -> str:
        """The channel name, e.g. ``Local/basic@probe-00000000;2``."""
        return self._get("agi_channel")

    @property
    def callerid(self) -> str:
        """The caller's number as sent (``unknown`` when Asterisk has none)."""
        return self._text("agi_callerid")

    @property
    def calleridname(self) -> str:
        """The caller's name as sent (``unknown`` when Asterisk has none)."""
        return self._text("agi_calleridname")

    @property
    def context(self) -> str:
        """The dialplan context the AGI was started from."""
        return self._get("agi_context")

    @property
    def extension(self) -> str:
        """The dialplan extension the AGI was started from."""
        return self._get("agi_extension")

    @property
    def priority(self) -> str:
        """The dialplan priority the AGI was started from (a number, as text)."""
        return self._get("agi_priority")

    @property
    def language(self) -> str:
        """The channel's language (``en``)."""
        return self._get("agi_language")

    @property
    def network_script(self) -> str:
        """``agi_network_script`` as sent: the URL path without leading slash, with query."""
        return self._get("agi_network_script")


class EnvironmentParser:
    """Collects the environment block line by line; :meth:`feed` returns the
    :class:`AGIRequest` on the blank line that ends it, ``None`` before.

    More than ``max_keys`` lines or ``max_chars`` characters raise :class:`AGIProtocolError`:
    a hostile peer must not make the server buffer without limit. Lines that are not
    ``key: value`` are skipped (``skipped`` counts them).
    """

    __slots__ = ("_chars", "_env", "_lines", "_max_chars", "_max_keys", "skipped")

    def __init__(self, max_keys: int = 192, max_chars: int = 32768) -> None:
        self._max_keys = max_keys
        self._max_chars = max_chars
        self._env: dict[str, str] = {}
        self._lines = 0
        self._chars = 0
        self.skipped = 0

    def feed(self, line: str) -> AGIRequest | None:
        """Take one line (without its line ending)."""
        request, _ = self.feed_lines([line], 0)
        return request

    def feed_lines(self, lines: list[str], start: int) -> tuple[AGIRequest | None, int]:
        """Take ``lines[start:]`` up to the blank line; returns the request (or ``None`` if the
        block goes on) and the index of the first line not consumed. One call per TCP chunk
        instead of one per line: the block is 23 lines on every call (bench/agi_throughput)."""
        env = self._env
        count, chars = self._lines, self._chars
        max_keys, max_chars = self._max_keys, self._max_chars
        try:
            for index in range(start, len(lines)):
                line = lines[index]
                if not line:
                    self._env = {}
                    return AGIRequest.from_environment(env, trusted=True), index + 1
                count += 1
                chars += len(line) + 1
                if count > max_keys:
                    raise AGIProtocolError(f"AGI environment has more than {max_keys} lines")
                if chars > max_chars:
                    raise AGIProtocolError(f"AGI environment is longer than {max_chars} characters")
                key, sep, value = line.partition(":")
                if not sep or not key.startswith("agi_"):
                    self.skipped += 1
                    continue
                # Asterisk writes "key: value"; strip exactly that one space (accountcode is "").
                env[key] = value[1:] if value.startswith(" ") else value
        finally:
            self._lines, self._chars = count, chars
        return None, len(lines)


def parse_environment(lines: Iterable[str]) -> AGIRequest:
    """Parse a whole environment block (the blank line may be omitted)."""
    parser = EnvironmentParser(max_keys=1 << 30, max_chars=1 << 30)
    for line in lines:
        request = parser.feed(line.rstrip("\r\n"))
        if request is not None:
            return request
    request = parser.feed("")
    assert request is not None
    return request
