"""AGIChannel: typed AGI commands for call flows, one command on the wire at a time.

Every method returns a :class:`~twisted.internet.defer.Deferred`, so flows written as
``async def`` simply ``await`` it and Twisted-style code can add callbacks. Bad arguments raise
:class:`~fastagi.errors.AGIArgumentError` at the call, before anything is written.

Hang-up rules, from the real Asterisk recordings in ``shared/asterisk-facts/``:

* Asterisk sends a bare ``HANGUP`` line at any moment once the channel is gone -- before the
  reply of the NEXT command at the latest (res_agi.c switches to "dead" mode before it reads
  that command; transcripts 002 and redirect-001).
* Commands allowed on a dead channel (GET VARIABLE, GET FULL VARIABLE, SET VARIABLE, EXEC,
  DATABASE *, VERBOSE) still answer after ``HANGUP`` and return their value (transcript 002);
  the others get ``511`` -> :class:`ChannelHungUp`. Commands are still sent after a hang-up so
  that Asterisk, not a guess, decides.
* ``result=-1`` of any command after ``HANGUP`` -> :class:`ChannelHungUp`. ``WAIT FOR DIGIT``
  returning -1 means hang-up even before the ``HANGUP`` line (transcript 002).
* ``STREAM FILE`` of a missing file answers ``result=-1 endpos=0`` on a LIVE channel
  (transcript 001): that is a playback failure (logged, ``None`` returned), while ``-1`` with
  ``endpos>0`` means the call went away during playback. ``GET DATA``/``SAY`` cannot tell the
  two apart; they log and return "nothing pressed", and the next command reveals a hang-up.
* An AMI ``Redirect`` looks exactly like a hang-up (redirect-001). :meth:`AGIChannel.hangup_kind`
  asks ``GET VARIABLE CONTEXT`` (and optionally a transfer marker variable) to tell them apart.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from domain.clock import Clock, DelayedCall
from fastagi.errors import (
    AGICommandError,
    AGIProtocolError,
    AGITimeoutError,
    AGIUsageError,
    ChannelHungUp,
    ChannelRedirected,
)
from fastagi.limits import AGILimits
from fastagi.protocol import AGIReply, AGIRequest, format_command

T = TypeVar("T")


_log = Logger(namespace="fastagi.channel")


class HangupKind(enum.Enum):
    """Why the AGI session lost its channel."""

    HUNG_UP = "hung_up"
    REDIRECTED = "redirected"


@dataclass(frozen=True, slots=True)
class RecordResult:
    """Outcome of ``RECORD FILE``: the escape digit pressed (or ``None``), the end position in
    samples, and whether it ended by timeout/silence rather than a digit."""

    digit: str | None
    endpos: int
    timed_out: bool


class _Pending:
    """One command waiting to be sent or waiting for its reply; ``interpret`` turns the reply
    into the method's return value (or raises)."""

    __slots__ = ("deferred", "interpret", "line", "name", "timeout_s")

    def __init__(
        self,
        line: bytes,
        name: str,
        timeout_s: float,
        interpret: Callable[[AGIReply, str], Any],
    ) -> None:
        self.line = line
        self.name = name
        self.timeout_s = timeout_s
        self.interpret = interpret
        self.deferred: Deferred[Any] = Deferred()


def _reply(reply: AGIReply, name: str) -> AGIReply:
    return reply


def _connection_closed() -> Exception:
    return ChannelHungUp("the AGI connection is closed")


def _ignore(*args: object) -> None:
    """Stands in for the server's write/close once the session is closed."""


def _digit(code: int, name: str) -> str | None:
    """Asterisk reports a key as its ASCII code (``#`` = 35, ``0`` = 48), 0 for none."""
    if code == 0:
        return None
    if not 0 < code < 0x110000:
        raise AGIProtocolError(f"{name!r}: {code} is not a key code")
    return chr(code)


def _int_result(reply: AGIReply, name: str) -> int:
    value = reply.result_int
    if value is None:
        raise AGIProtocolError(f"{name!r}: result {reply.result!r} is not a number")
    return value


def _endpos(reply: AGIReply) -> int:
    try:
        return int(reply.extra.get("endpos", "0"))
    except ValueError:
        return 0


class AGIChannel:
    """The call flow's handle on one FastAGI session.

    The server (or a test) constructs it with ``write``/``close`` callables and feeds it with
    :meth:`reply_received`, :meth:`hangup_received` and :meth:`session_closed`.
    ``transfer_variable`` names a channel variable that a transfer sets before it redirects the
    channel (e.g. ``HOTLINE_TRANSFER``); it lets :meth:`hangup_kind` recognise a redirect into
    the SAME context.
    """

    __slots__ = (
        "_clock",
        "_close",
        "_deadline",
        "_failure",
        "_hangup_kind",
        "_in_flight",
        "_known_contexts",
        "_limits",
        "_queue",
        "_watchdog",
        "_watchdog_at",
        "_write",
        "hung_up",
        "request",
        "transfer_variable",
    )

    def __init__(
        self,
        request: AGIRequest,
        write: Callable[[bytes], object],
        close: Callable[[], object],
        clock: Clock,
        limits: AGILimits | None = None,
        transfer_variable: str | None = None,
    ) -> None:
        self.request = request
        self._write = write
        self._close = close
        self._clock = clock
        self._limits = limits or AGILimits()
        self.transfer_variable = transfer_variable
        #: True once Asterisk sent the out-of-band ``HANGUP`` line.
        self.hung_up = False
        self._in_flight: _Pending | None = None
        self._queue: deque[_Pending] = deque()
        self._failure: Callable[[], Exception] | None = None
        self._hangup_kind: HangupKind | None = None
        self._known_contexts = {request.context.casefold()}
        self._watchdog: DelayedCall | None = None
        self._watchdog_at = 0.0
        self._deadline = 0.0

    # -- fed by the server -------------------------------------------------------------------

    @property
    def awaiting_reply(self) -> bool:
        """True while a command is on the wire."""
        return self._in_flight is not None

    @property
    def closed(self) -> bool:
        """True once the session can no longer carry commands."""
        return self._failure is not None

    def hangup_received(self) -> None:
        """Asterisk sent the bare ``HANGUP`` line."""
        self.hung_up = True

    def reply_received(self, reply: AGIReply) -> None:
        """Asterisk answered the command on the wire. Raises :class:`AGIProtocolError` when no
        command is waiting (the peer is out of step; the caller must close the session)."""
        pending = self._in_flight
        if pending is None:
            raise AGIProtocolError(
                f"reply {reply.code} result={reply.result!r} without a command on the wire"
            )
        self._in_flight = None
        # Put the next queued command on the wire before resuming the flow, so commands leave in
        # the order they were issued even when the resumed flow issues another one at once.
        if self._queue:
            self._send(self._queue.popleft())
        error = self._reply_error(pending.name, reply)
        if error is not None:
            pending.deferred.errback(error)
            return
        try:
            value = pending.interpret(reply, pending.name)
        except Exception:
            pending.deferred.errback(Failure())
        else:
            pending.deferred.callback(value)

    def session_closed(self, error_factory: Callable[[], Exception] | None = None) -> None:
        """The connection is gone or being closed: fail what is waiting and every later call
        with ``error_factory()`` (default: :class:`ChannelHungUp`)."""
        if self._failure is not None:
            return
        self._failure = error_factory or _connection_closed
        # Let go of the server's callbacks: they are the channel<->protocol reference cycle that
        # would otherwise leave every ended session (transport, socket, buffers) to the cyclic
        # GC, whose full passes over thousands of live calls cost whole seconds of CPU.
        self._write = self._close = _ignore
        waiting = ([self._in_flight] if self._in_flight is not None else []) + list(self._queue)
        self._in_flight = None
        self._queue.clear()
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None and watchdog.active():
            watchdog.cancel()
        for pending in waiting:
            pending.deferred.errback(self._failure())

    # -- the wire ----------------------------------------------------------------------------

    def command(
        self, *words: str | int, reply_timeout_s: float | None = None
    ) -> Deferred[AGIReply]:
        """Send any AGI command and return its reply. ``511`` raises :class:`ChannelHungUp`,
        ``520`` :class:`AGIUsageError`, ``510`` and other error codes :class:`AGICommandError`,
        and ``result=-1`` after ``HANGUP`` :class:`ChannelHungUp`."""
        return self._run(words, reply_timeout_s or self._limits.command_timeout_s, _reply)

    def _run(
        self,
        words: tuple[str | int, ...],
        timeout_s: float,
        interpret: Callable[[AGIReply, str], T],
    ) -> Deferred[T]:
        line = format_command(*words)  # raises AGIArgumentError before anything is written
        if self._failure is not None:
            return fail(self._failure())
        pending = _Pending(line.encode("utf-8", "surrogateescape"), line[:-1], timeout_s, interpret)
        if self._in_flight is None and not self._queue:
            self._send(pending)
        else:
            self._queue.append(pending)
        return pending.deferred

    def _send(self, pending: _Pending) -> None:
        self._in_flight = pending
        # One watchdog timer per session instead of a timer per command: it is (re)armed only
        # when none is pending or the new deadline is sooner, and checks the command on the
        # wire when it fires. Never late; saves a timer and a cancel on nearly every command.
        deadline = self._clock.seconds() + pending.timeout_s
        self._deadline = deadline
        if self._watchdog is None or deadline < self._watchdog_at:
            if self._watchdog is not None and self._watchdog.active():
                self._watchdog.cancel()
            self._watchdog = self._clock.callLater(pending.timeout_s, self._watchdog_fired)
            self._watchdog_at = deadline
        self._write(pending.line)

    def _watchdog_fired(self) -> None:
        self._watchdog = None
        pending = self._in_flight
        if pending is None:
            return
        remaining_s = self._deadline - self._clock.seconds()
        if remaining_s > 0:
            self._watchdog = self._clock.callLater(remaining_s, self._watchdog_fired)
            self._watchdog_at = self._deadline
            return
        message = f"no reply to {pending.name!r} within {pending.timeout_s:g} s"
        _log.error(
            "AGI call {uniqueid}: {message}; closing the session",
            uniqueid=self.request.uniqueid,
            message=message,
        )
        close = self._close
        self.session_closed(lambda: AGITimeoutError(message))
        close()

    def _reply_error(self, name: str, reply: AGIReply) -> Exception | None:
        if reply.code == 511:
            return ChannelHungUp(f"{name!r}: {reply.data or 'not permitted on a dead channel'}")
        if reply.code == 520:
            return AGIUsageError(name, reply.data or "")
        if not reply.ok:
            return AGICommandError(name, reply.data or reply.result, code=reply.code)
        if self.hung_up and reply.result == "-1":
            return ChannelHungUp(f"{name!r} returned -1 after HANGUP")
        return None

    # -- reply interpreters ------------------------------------------------------------------

    @staticmethod
    def _none(reply: AGIReply, name: str) -> None:
        return None

    @staticmethod
    def _value(reply: AGIReply, name: str) -> str | None:
        # 001: unset -> "200 result=0" (no parentheses); set -> "result=1 (value)"; "()" -> "".
        if reply.result == "1":
            return reply.data if reply.data is not None else ""
        return None

    def _warn(self, what: str, name: str, reply: AGIReply) -> None:
        _log.warn(
            "AGI call {uniqueid}: {what} ({name!r} answered result={result})",
            uniqueid=self.request.uniqueid,
            what=what,
            name=name,
            result=reply.result,
        )

    def _played(self, reply: AGIReply, name: str) -> str | None:
        code = _int_result(reply, name)
        if code >= 0:
            return _digit(code, name)
        if _endpos(reply) > 0:
            raise ChannelHungUp(f"{name!r} stopped during playback (result=-1)")
        self._warn("playback failed; is the sound file missing?", name, reply)
        return None

    # -- the commands ------------------------------------------------------------------------

    def answer(self) -> Deferred[None]:
        """``ANSWER`` the channel (about 0.5 s on Local channels, transcript 001)."""

        def check(reply: AGIReply, name: str) -> None:
            if reply.result == "-1":
                raise ChannelHungUp("ANSWER failed: the channel is gone")

        return self._run(("ANSWER",), self._limits.command_timeout_s, check)

    def hangup(self) -> Deferred[None]:
        """``HANGUP`` the channel; Asterisk then sends ``HANGUP`` (transcript 009)."""
        return self._run(("HANGUP",), self._limits.command_timeout_s, self._none)

    def stream_file(self, name: str, escape_digits: str = "") -> Deferred[str | None]:
        """Play ``name``; the escape digit that interrupted it, or ``None``."""
        return self._run(
            ("STREAM", "FILE", name, escape_digits), self._limits.media_timeout_s, self._played
        )

    def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> Deferred[str]:
        """Play ``prompt`` and collect up to ``max_digits`` keys (``#`` ends early); ``""`` when
        nothing was pressed. ``timeout_ms`` is Asterisk's wait for each key."""
        _check_positive("timeout_ms", timeout_ms)
        _check_positive("max_digits", max_digits)

        def interpret(reply: AGIReply, name: str) -> str:
            if reply.result == "-1":
                self._warn("GET DATA failed; is the prompt missing?", name, reply)
                return ""
            # 001: a timeout with nothing pressed is "200 result= (timeout)" -- EMPTY result.
            return reply.result

        timeout_s = (
            self._limits.media_timeout_s
            + (max_digits + 1) * timeout_ms / 1000
            + self._limits.timeout_margin_s
        )
        return self._run(("GET", "DATA", prompt, timeout_ms, max_digits), timeout_s, interpret)

    def wait_for_digit(self, timeout_ms: int) -> Deferred[str | None]:
        """Wait up to ``timeout_ms`` for one key; ``None`` on timeout."""
        _check_non_negative("timeout_ms", timeout_ms)

        def interpret(reply: AGIReply, name: str) -> str | None:
            code = _int_result(reply, name)
            if code < 0:
                # 002 and redirect-001: -1 arrives BEFORE the HANGUP line.
                raise ChannelHungUp(f"{name!r} returned {code}")
            return _digit(code, name)

        timeout_s = timeout_ms / 1000 + self._limits.timeout_margin_s
        return self._run(("WAIT", "FOR", "DIGIT", timeout_ms), timeout_s, interpret)

    def record_file(
        self,
        path: str,
        fmt: str,
        escape_digits: str,
        timeout_ms: int,
        silence_s: int | None = None,
        beep: bool = True,
    ) -> Deferred[RecordResult]:
        """Record to ``path`` (without extension) in format ``fmt`` until an escape digit,
        ``timeout_ms`` or ``silence_s`` seconds of silence."""
        _check_positive("timeout_ms", timeout_ms)
        words: list[str | int] = ["RECORD", "FILE", path, fmt, escape_digits, timeout_ms, 0]
        if beep:
            words.append("BEEP")
        if silence_s is not None:
            _check_positive("silence_s", silence_s)
            words.append(f"s={silence_s}")

        def interpret(reply: AGIReply, name: str) -> RecordResult:
            code = _int_result(reply, name)
            reason = reply.data or ""
            if reason == "hangup" or (code < 0 and reason == "waitfor"):
                raise ChannelHungUp(f"{name!r}: hang-up while recording")
            if reason == "dtmf":
                return RecordResult(_digit(code, name), _endpos(reply), timed_out=False)
            # "randomerror" is how Asterisk ends the BEEP: a key (result = its code) ends it
            # before anything was recorded, a hang-up gives -1 (seen on a real Asterisk 22).
            if reason == "randomerror" and code > 0:
                return RecordResult(_digit(code, name), 0, timed_out=False)
            if reason == "randomerror" and beep:
                raise ChannelHungUp(f"{name!r}: hang-up during the beep")
            if code < 0 or reason in ("writefile", "randomerror"):
                raise AGICommandError(name, f"recording failed ({reason or code})")
            return RecordResult(None, _endpos(reply), timed_out=reason == "timeout")

        timeout_s = timeout_ms / 1000 + self._limits.timeout_margin_s
        return self._run(tuple(words), timeout_s, interpret)

    def say_digits(self, digits: str | int, escape_digits: str = "") -> Deferred[str | None]:
        """Say ``digits`` one by one; the escape digit pressed, or ``None``."""
        return self._say(("SAY", "DIGITS", digits, escape_digits))

    def say_number(self, number: int, escape_digits: str = "") -> Deferred[str | None]:
        """Say ``number``; the escape digit pressed, or ``None``."""
        return self._say(("SAY", "NUMBER", number, escape_digits))

    def _say(self, words: tuple[str | int, ...]) -> Deferred[str | None]:
        def interpret(reply: AGIReply, name: str) -> str | None:
            code = _int_result(reply, name)
            if code < 0:
                self._warn("SAY failed", name, reply)
                return None
            return _digit(code, name)

        return self._run(words, self._limits.media_timeout_s, interpret)

    def get_variable(self, name: str) -> Deferred[str | None]:
        """A channel variable or function (``CALLERID(num)``); ``None`` when unset, ``""`` when
        set but empty. Still answers after ``HANGUP`` (transcript 002)."""
        return self._run(("GET", "VARIABLE", name), self._limits.command_timeout_s, self._value)

    def get_full_variable(self, expression: str) -> Deferred[str | None]:
        """Evaluate an expression such as ``${FOO}-x`` on the channel."""
        return self._run(
            ("GET", "FULL", "VARIABLE", expression), self._limits.command_timeout_s, self._value
        )

    def set_variable(self, name: str, value: str | int) -> Deferred[None]:
        """Set a channel variable. Setting ``EXITCONTEXT`` also tells :meth:`hangup_kind` that
        Dial's ``d`` option may move the channel into that context (transcript 004)."""
        if name == "EXITCONTEXT":
            self._known_contexts.add(str(value).casefold())
        return self._run(
            ("SET", "VARIABLE", name, value), self._limits.command_timeout_s, self._none
        )

    def exec_app(
        self, app: str, *args: str | int, reply_timeout_s: float | None = None
    ) -> Deferred[int]:
        """Run a dialplan application; its raw result (Dial with ``d``: the key's ASCII code;
        ``-2``: unknown application). Arguments are joined with ``,`` as Asterisk expects
        (``EXEC Dial Local/x@agents/n,20,md``). The reply deadline is ``dial_timeout_s`` for
        Dial (it lasts the whole conversation), else ``media_timeout_s``, unless overridden."""
        words: tuple[str | int, ...] = ("EXEC", app)
        if args:
            words += (",".join(str(arg) for arg in args),)
        if reply_timeout_s is None:
            reply_timeout_s = (
                self._limits.dial_timeout_s
                if app.casefold() == "dial"
                else self._limits.media_timeout_s
            )
        return self._run(words, reply_timeout_s, _int_result)

    def channel_status(self) -> Deferred[int]:
        """``CHANNEL STATUS``: 0 down/available ... 4 ring, 5 ringing, 6 up, 7 busy."""

        def interpret(reply: AGIReply, name: str) -> int:
            status = _int_result(reply, name)
            if status < 0:
                raise AGICommandError(name, "no such channel")
            return status

        return self._run(("CHANNEL", "STATUS"), self._limits.command_timeout_s, interpret)

    def set_music(self, on: bool, moh_class: str = "default") -> Deferred[None]:
        """``SET MUSIC ON|OFF class``: music on hold between commands."""
        words: tuple[str, ...] = ("SET", "MUSIC", "ON", moh_class)
        if not on:
            words = ("SET", "MUSIC", "OFF")
        return self._run(words, self._limits.command_timeout_s, self._none)

    def start_music_on_hold(self, moh_class: str = "default") -> Deferred[None]:
        """Music for the caller while the flow waits for keys (transcript 009)."""
        return self._run(
            ("EXEC", "StartMusicOnHold", moh_class), self._limits.command_timeout_s, self._none
        )

    def stop_music_on_hold(self) -> Deferred[None]:
        """Stop the music started by :meth:`start_music_on_hold`."""
        return self._run(("EXEC", "StopMusicOnHold"), self._limits.command_timeout_s, self._none)

    def verbose(self, message: str, level: int = 1) -> Deferred[None]:
        """Write ``message`` to Asterisk's console/log at verbosity ``level``."""
        return self._run(("VERBOSE", message, level), self._limits.command_timeout_s, self._none)

    def database_get(self, family: str, key: str) -> Deferred[str | None]:
        """A value from Asterisk's AstDB, ``None`` when absent."""
        return self._run(
            ("DATABASE", "GET", family, key), self._limits.command_timeout_s, self._value
        )

    def database_put(self, family: str, key: str, value: str | int) -> Deferred[None]:
        """Store a value in Asterisk's AstDB."""

        def check(reply: AGIReply, name: str) -> None:
            if reply.result != "1":
                raise AGICommandError(name, "AstDB refused the value")

        return self._run(
            ("DATABASE", "PUT", family, key, value), self._limits.command_timeout_s, check
        )

    # -- hang-up or redirect? ----------------------------------------------------------------

    def hangup_kind(self) -> Deferred[HangupKind]:
        """After a :class:`ChannelHungUp`: did the caller hang up, or was the channel
        redirected (AMI ``Redirect``, a transfer)? Asks ``GET VARIABLE CONTEXT`` (readable after
        ``HANGUP``, redirect-001) and compares it with the request's context and any
        ``EXITCONTEXT`` set; then the ``transfer_variable`` if one is configured. A closed
        connection counts as a hang-up. The answer is cached."""
        if self._hangup_kind is not None:
            return succeed(self._hangup_kind)
        return Deferred.fromCoroutine(self._ask_hangup_kind())

    async def _ask_hangup_kind(self) -> HangupKind:
        kind = HangupKind.HUNG_UP
        try:
            context = await self.get_variable("CONTEXT")
            if context is not None and context.casefold() not in self._known_contexts:
                kind = HangupKind.REDIRECTED
            elif self.transfer_variable:
                if await self.get_variable(self.transfer_variable):
                    kind = HangupKind.REDIRECTED
        except (ChannelHungUp, AGIProtocolError, AGITimeoutError, AGICommandError):
            pass
        self._hangup_kind = kind
        return kind

    def classify_hangup(self, error: ChannelHungUp) -> Deferred[ChannelHungUp]:
        """The exception a flow should raise for ``error``: a :class:`ChannelRedirected` when
        :meth:`hangup_kind` says so, else ``error`` itself. Use ``raise await
        channel.classify_hangup(exc)``."""
        if isinstance(error, ChannelRedirected):
            return succeed(error)

        def pick(kind: HangupKind) -> ChannelHungUp:
            if kind is HangupKind.REDIRECTED:
                redirected = ChannelRedirected(f"redirected: {error}")
                redirected.__cause__ = error
                return redirected
            return error

        return self.hangup_kind().addCallback(pick)


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")


def _check_non_negative(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, not {value!r}")
