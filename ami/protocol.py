"""AMI message framing: parse the byte stream into messages and format actions.

Pure code (no Twisted): the client (:mod:`ami.client`) and the simulator's fake AMI server
(:mod:`simulator.fake_ami`) both sit on top of it.

The wire, as a real Asterisk 22 speaks it (see ``asterisk-facts/ami-*.txt``):

- on connect the server sends ONE greeting line, ``Asterisk Call Manager/11.0.0``, with no
  blank line after it;
- after that every message is a block of ``Key: Value`` lines ended by ``\\r\\n``, the block
  ended by an empty line. Keys are case-insensitive and may repeat (several ``Variable:``
  headers in an Originate, several ``Output:`` lines in a Command response), so a message is
  an ordered list of pairs, not a dict;
- an empty value is written as ``Key: `` (``AccountCode: `` in every channel event).

Nobody on the wire escapes anything: a CR or LF inside a value would end the line and let the
rest be read as further headers or a new action (the same injection lesson as AGI's
``SET VARIABLE "a\\nb"`` in ``001-basic``), so :func:`format_message` refuses them with
:class:`AMIValueError` before a single byte is produced.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

GREETING_PREFIX = "Asterisk Call Manager/"
# Far above any real message (a CoreShowChannel event is ~600 bytes; Command output is the
# only big one) and small enough that a peer that never sends a blank line cannot make us
# buffer without limit.
DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024

Fields = Mapping[str, str] | Iterable[tuple[str, str]]


class AMIError(Exception):
    """Base class of every AMI error Hotline raises."""


class AMIProtocolError(AMIError):
    """The peer sent bytes that are not AMI; the stream cannot be trusted any more."""


class AMIMessageTooLargeError(AMIProtocolError):
    """A message (or a line without its end) grew beyond the configured bound."""


class AMIValueError(AMIError, ValueError):
    """A key or value cannot be sent on the AMI wire (CR/LF, NUL, a bad key...)."""


@dataclass(frozen=True)
class AMIGreeting:
    """The first line a server sends, e.g. ``Asterisk Call Manager/11.0.0``."""

    text: str

    @property
    def version(self) -> str:
        """The AMI version after the slash (``11.0.0``), or ``""`` if there is none."""
        return self.text.partition("/")[2]


class AMIMessage:
    """One AMI message: ordered ``(key, value)`` pairs, looked up case-insensitively.

    Duplicated keys are kept in order (``get`` returns the first, ``get_all`` all of them).
    Instances are immutable and compare equal when their pairs are equal.
    """

    __slots__ = ("_fields",)

    def __init__(self, fields: Fields = ()) -> None:
        pairs = fields.items() if isinstance(fields, Mapping) else fields
        self._fields: tuple[tuple[str, str], ...] = tuple((str(k), str(v)) for k, v in pairs)

    @property
    def fields(self) -> tuple[tuple[str, str], ...]:
        """All pairs in wire order."""
        return self._fields

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of ``key`` (any case), or ``default``."""
        wanted = key.lower()
        for k, v in self._fields:
            if k.lower() == wanted:
                return v
        return default

    def get_all(self, key: str) -> list[str]:
        """Every value of ``key`` (any case), in wire order."""
        wanted = key.lower()
        return [v for k, v in self._fields if k.lower() == wanted]

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AMIMessage):
            return NotImplemented
        return self._fields == other._fields

    def __hash__(self) -> int:
        return hash(self._fields)

    def __repr__(self) -> str:
        return f"AMIMessage({list(self._fields)!r})"

    def to_dict(self) -> dict[str, str]:
        """A plain dict (keys as sent; for a repeated key the FIRST value wins)."""
        result: dict[str, str] = {}
        for k, v in self._fields:
            result.setdefault(k, v)
        return result

    @property
    def event(self) -> str | None:
        """The ``Event:`` name, or None when this is not an event."""
        return self.get("Event")

    @property
    def response(self) -> str | None:
        """The ``Response:`` value (Success, Error, Goodbye...), or None."""
        return self.get("Response")

    @property
    def action(self) -> str | None:
        """The ``Action:`` name (messages a client sends), or None."""
        return self.get("Action")

    @property
    def action_id(self) -> str | None:
        """The ``ActionID:`` that correlates a response or list event with its action."""
        return self.get("ActionID")

    def to_text(self) -> str:
        """The message as wire text with ``\\n`` line ends (for transcripts and logs)."""
        return "".join(f"{k}: {v}\n" for k, v in self._fields)


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key:
        raise AMIValueError(f"AMI key must be a non-empty string, got {key!r}")
    if key != key.strip() or any(c in key for c in ":\r\n\x00"):
        raise AMIValueError(f"AMI key {key!r} contains ':', whitespace at an end, CR, LF or NUL")


def _check_value(key: str, value: str) -> None:
    if not isinstance(value, str):
        raise AMIValueError(f"AMI value of {key!r} must be a string, got {type(value).__name__}")
    # CR/LF would end the header early and inject more headers (or a whole new action); NUL
    # would silently cut the value short inside Asterisk's C strings.
    for bad, name in (("\r", "CR"), ("\n", "LF"), ("\x00", "NUL")):
        if bad in value:
            raise AMIValueError(f"AMI value of {key!r} contains {name}: {value!r}")


def _pairs(fields: Fields) -> list[tuple[str, str]]:
    return list(fields.items()) if isinstance(fields, Mapping) else list(fields)


def format_message(fields: Fields) -> bytes:
    """Encode pairs as one AMI message (``Key: Value\\r\\n`` lines and a blank line).

    Every key and value is checked first; on :class:`AMIValueError` nothing is produced.
    """
    pairs = _pairs(fields)
    if not pairs:
        raise AMIValueError("an AMI message needs at least one field")
    for key, value in pairs:
        _check_key(key)
        _check_value(key, value)
    text = "".join(f"{key}: {value}\r\n" for key, value in pairs) + "\r\n"
    return text.encode("utf-8")


def format_action(action: str, action_id: str | None, fields: Fields = ()) -> bytes:
    """Encode an action: ``Action:`` first, then ``ActionID:`` (when given), then ``fields``."""
    head = [("Action", action)]
    if action_id is not None:
        head.append(("ActionID", action_id))
    return format_message(head + _pairs(fields))


class AMIParser:
    """Incremental parser: feed it bytes as they arrive, get complete messages back.

    ``expect_greeting=True`` (a client) treats the first line as the server's greeting.
    Lines may end in CRLF or a bare LF (Asterisk sends CRLF; being lenient costs nothing).
    After an :class:`AMIProtocolError` the stream is out of step: drop the connection.
    """

    def __init__(
        self,
        *,
        expect_greeting: bool,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self._want_greeting = expect_greeting
        self._max_bytes = max_message_bytes
        self._buffer = b""
        self._lines: list[tuple[str, str]] = []
        self._message_bytes = 0

    def feed(self, data: bytes) -> list[AMIGreeting | AMIMessage]:
        """Consume ``data``; return the greeting and messages it completed, in order."""
        self._buffer += data
        out: list[AMIGreeting | AMIMessage] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                break
            raw = self._buffer[:end]
            self._buffer = self._buffer[end + 1 :]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            self._message_bytes += len(raw) + 2
            if self._message_bytes > self._max_bytes:
                raise AMIMessageTooLargeError(
                    f"AMI message exceeds {self._max_bytes} bytes without a blank line"
                )
            line = raw.decode("utf-8", errors="replace")
            if self._want_greeting:
                self._want_greeting = False
                self._message_bytes = 0
                if not line.startswith(GREETING_PREFIX):
                    raise AMIProtocolError(f"not an AMI greeting: {line[:80]!r}")
                out.append(AMIGreeting(line))
                continue
            if line == "":
                if self._lines:
                    out.append(AMIMessage(self._lines))
                    self._lines = []
                self._message_bytes = 0
                continue
            self._lines.append(_split_line(line))
        if self._message_bytes + len(self._buffer) > self._max_bytes:
            raise AMIMessageTooLargeError(
                f"AMI line or message exceeds {self._max_bytes} bytes without an end"
            )
        return out


def _split_line(line: str) -> tuple[str, str]:
    key, sep, value = line.partition(":")
    if not sep:
        # Not a header (legacy free-form output). Kept under the empty key, not dropped.
        return "", line
    # Asterisk writes "Key: Value"; strip exactly that one space so values round-trip.
    if value.startswith(" "):
        value = value[1:]
    return key.strip(), value
