"""One AGI session as Asterisk 22 runs it: a FastAGI client that answers like the real thing.

``AGISession`` connects to a FastAGI server (through an injected ``connectTCP``), sends the
environment block, then reads one command at a time and answers it with the reply shapes
recorded in ``shared/asterisk-facts`` (the transcripts there are tests of this module).

Wire facts reproduced (res_agi's run_agi loop):

* Commands are processed one by one in arrival order; replies are exact (``200 result= (timeout)``
  with an EMPTY result for GET DATA, ``520-`` usage blocks, ``510``, ``511`` on a dead channel).
* A hang-up, a HANGUP command or an AMI Redirect makes the session "dead": a bare ``HANGUP``
  line is sent as soon as a command is waiting, else about 43 ms later, and commands are
  answered again from then on (transcripts 001, 002, 009, redirect-001); in dead mode only
  the read-only / bookkeeping commands run, the others get ``511``.
* A command arriving while STREAM FILE, GET DATA, GET OPTION or SAY plays stops the playback
  WITHOUT a reply, and WAIT FOR DIGIT answers ``200 result=1`` (Asterisk watches the socket
  during those waits); EOF from the server does the same.
* The session's AGISTATUS: SUCCESS when the server closes the socket (008), HANGUP when the
  channel hung up or was redirected meanwhile, FAILURE when nothing listens ("nolistener")
  or a command failed on a live channel (e.g. STREAM FILE of a missing file).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress, IConnector
from twisted.internet.protocol import ClientFactory
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from domain.clock import Clock
from simulator.agi_commands import (
    AGI_LINE_MAX_BYTES,
    atoi,
    find_command,
    leading_float,
    leading_int,
    parse_agi_args,
    usage_reply,
)
from simulator.channel import (
    ALL_DIGITS,
    ChannelState,
    Outcome,
    OutcomeKind,
    SimChannel,
    SoftHangup,
    Wait,
    parse_caller_id,
)
from simulator.media import (
    SAMPLE_RATE_HZ,
    SoundCatalogue,
    alpha_files,
    digit_files,
    number_files,
    write_recording,
)

log = Logger()

AGI_PORT = 4573
AGI_CONNECT_TIMEOUT_S = 2.0  # MAX_AGI_CONNECT in res_agi
ANSWER_MEDIA_WAIT_S = 0.5  # __ast_answer() waits up to 500 ms for media (001: 0.502 s)
DEAD_NOTICE_S = 0.043  # HANGUP line / first dead reply 42-45 ms after the hang-up (001, 009)
DIGIT_TIMEOUT_MS = 5000  # the PBX's default digit timeout (GET OPTION, GET DATA)
RESPONSE_TIMEOUT_MS = 10000  # the PBX's default response timeout (GET DATA, first digit)


class AGIStatus(enum.Enum):
    """The AGISTATUS variable an AGI() application leaves behind."""

    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    NOTFOUND = "NOTFOUND"
    HANGUP = "HANGUP"


class _Result(enum.Enum):
    SUCCESS = 0
    USAGE = 1
    FAILURE = 2


class TCPConnector(Protocol):
    """The part of IReactorTCP the session uses (the reactor, or an in-memory network)."""

    def connectTCP(
        self,
        host: str,
        port: int,
        factory: ClientFactory,
        timeout: float = 30,
        bindAddress: Any = None,
    ) -> object: ...


class AGIHost(Protocol):
    """What a session needs from the switch around it."""

    clock: Clock
    sounds: SoundCatalogue
    astdb: MutableMapping[tuple[str, str], str]
    sounds_dir: Path
    agi_version: str

    def find_channel(self, name: str) -> SimChannel | None: ...

    def run_app(self, channel: SimChannel, app: str, data: str) -> Awaitable[int]: ...

    def log(self, channel: SimChannel, kind: str, text: str) -> None: ...

    def recorded(self, channel: SimChannel, path: str, seconds: float) -> None: ...


@dataclass(frozen=True)
class AGIRequest:
    """``AGI(url,arg1,arg2...)`` after substitution."""

    url: str
    args: tuple[str, ...] = ()

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or AGI_PORT

    @property
    def script(self) -> str:
        """``agi_network_script``: the URL after ``host[:port]/`` (query included)."""
        rest = self.url.split("://", 1)[-1]
        _, slash, script = rest.partition("/")
        return script if slash else ""


def environment_block(channel: SimChannel, request: AGIRequest, version: str, threadid: int) -> str:
    """The lines Asterisk sends first, in its order, ending with the blank line (001)."""
    lines = ["agi_network: yes"]
    if request.script:
        lines.append(f"agi_network_script: {request.script}")
    lines += [
        f"agi_request: {request.url}",
        f"agi_channel: {channel.name}",
        f"agi_language: {channel.language}",
        f"agi_type: {channel.tech}",
        f"agi_uniqueid: {channel.uniqueid}",
        f"agi_version: {version}",
        f"agi_callerid: {channel.caller_id_num or 'unknown'}",
        f"agi_calleridname: {channel.caller_id_name or 'unknown'}",
        "agi_callingpres: 0",
        "agi_callingani2: 0",
        "agi_callington: 0",
        "agi_callingtns: 0",
        f"agi_dnid: {channel.dnid or 'unknown'}",
        "agi_rdnis: unknown",
        f"agi_context: {channel.context}",
        f"agi_extension: {channel.exten}",
        f"agi_priority: {channel.priority}",
        "agi_enhanced: 0.0",
        f"agi_accountcode: {channel.accountcode}",
        f"agi_threadid: {threadid}",
    ]
    lines += [f"agi_arg_{n}: {arg}" for n, arg in enumerate(request.args, start=1)]
    return "\n".join(lines) + "\n\n"


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


class AGIClientProtocol(TwistedProtocol):
    """Bytes <-> command lines for one session (fgets() semantics: LF ends a line, a CR
    stays in it, 2047 bytes at most, a last unterminated line still counts)."""

    def __init__(self, session: AGISession) -> None:
        self._session = session
        self._buffer = b""

    def connectionMade(self) -> None:
        self._session._connected(self)

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0 or newline > AGI_LINE_MAX_BYTES:
                if len(self._buffer) >= AGI_LINE_MAX_BYTES:
                    chunk = self._buffer[:AGI_LINE_MAX_BYTES]
                    self._buffer = self._buffer[AGI_LINE_MAX_BYTES:]
                    self._session._line_received(_decode(chunk))
                    continue
                return
            line = self._buffer[:newline]
            self._buffer = self._buffer[newline + 1 :]
            self._session._line_received(_decode(line))

    def connectionLost(self, reason: Failure | None = None) -> None:
        if self._buffer:
            line, self._buffer = self._buffer, b""
            self._session._line_received(_decode(line))
        self._session._connection_lost()

    def send(self, text: str) -> None:
        transport: Any = self.transport
        if transport is not None:
            transport.write(_encode(text))

    def close(self) -> None:
        transport: Any = self.transport
        if transport is not None:
            transport.loseConnection()


class _AGIClientFactory(ClientFactory):
    noisy = False  # one per simulated call: "Starting factory" would fill the demo's log

    def __init__(self, session: AGISession) -> None:
        self._session = session

    def buildProtocol(self, addr: IAddress | None) -> AGIClientProtocol:
        return AGIClientProtocol(self._session)

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        self._session._connect_failed(reason)


Handler = Callable[[list[str]], Awaitable[_Result]]


class AGISession:
    """One run of the AGI() application on ``channel``; ``run()`` fires with the AGISTATUS."""

    def __init__(
        self, host: AGIHost, channel: SimChannel, request: AGIRequest, threadid: int
    ) -> None:
        self._host = host
        self._clock = host.clock
        self._channel = channel
        self._request = request
        self._threadid = threadid
        self._protocol: AGIClientProtocol | None = None
        self._finished: Deferred[AGIStatus] = Deferred()
        self._status = AGIStatus.SUCCESS
        self._inbox: deque[str] = deque()
        self._eof = False
        self._dead = False
        self._needhup = False
        self._wake: Deferred[None] | None = None
        self._ctrl_wait: Wait | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._handlers: dict[tuple[str, ...], Handler] = self._handler_table()

    @property
    def channel(self) -> SimChannel:
        return self._channel

    @property
    def request(self) -> AGIRequest:
        return self._request

    def run(self, connector: TCPConnector) -> Deferred[AGIStatus]:
        """Connect and serve; the Deferred fires when the session is over."""
        self._log("agi", f"connect {self._request.url}")
        connector.connectTCP(
            self._request.host,
            self._request.port,
            _AGIClientFactory(self),
            timeout=AGI_CONNECT_TIMEOUT_S,
        )
        return self._finished

    def abort(self) -> None:
        """Close the socket from Asterisk's side (the switch shuts down)."""
        if self._protocol is not None:
            self._protocol.close()

    # ------------------------------------------------------------------ connection events
    def _connect_failed(self, reason: Failure) -> None:
        self._log("agi", f"connect failed: {reason.getErrorMessage()}")
        self._end(AGIStatus.FAILURE)

    def _connected(self, protocol: AGIClientProtocol) -> None:
        self._protocol = protocol
        # AGI on an already hung-up channel runs dead from the start, with no HANGUP line.
        self._dead = self._channel.check_hangup()
        self._unsubscribe = self._channel.on_softhangup(self._on_softhangup)
        block = environment_block(
            self._channel, self._request, self._host.agi_version, self._threadid
        )
        channel = self._channel
        self._log(
            "agi",
            f"env sent: {channel.name} uniqueid {channel.uniqueid}, callerid "
            f"{channel.caller_id_num or 'unknown'} ({channel.caller_id_name or 'unknown'}), "
            f"{channel.context},{channel.exten},{channel.priority}, "
            f"args {list(self._request.args)}",
        )
        self._log("env", block.rstrip("\n").replace("\n", " | "))
        protocol.send(block)
        Deferred.fromCoroutine(self._serve()).addErrback(self._crashed)

    def _line_received(self, line: str) -> None:
        self._inbox.append(line)
        self._interrupt_ctrl_wait()
        self._poke()

    def _connection_lost(self) -> None:
        self._eof = True
        self._protocol = None
        self._interrupt_ctrl_wait()
        self._poke()

    def _on_softhangup(self, channel: SimChannel) -> None:
        if not self._dead:
            self._needhup = True
            self._poke()

    def _interrupt_ctrl_wait(self) -> None:
        if self._ctrl_wait is not None:
            self._ctrl_wait.finish(OutcomeKind.COMMAND)

    def _poke(self) -> None:
        if self._wake is not None:
            wake, self._wake = self._wake, None
            wake.callback(None)

    async def _idle(self, timeout_s: float | None = None) -> None:
        """Wait until a line, EOF or a hang-up arrives (or the timeout passes)."""
        if self._inbox or self._eof or (self._needhup and not self._dead):
            return
        wake: Deferred[None] = Deferred()
        self._wake = wake
        timer = None
        if timeout_s is not None:
            timer = self._clock.callLater(timeout_s, self._poke)
        await wake
        if timer is not None and timer.active():
            timer.cancel()

    async def _sleep(self, seconds: float) -> None:
        done: Deferred[None] = Deferred()
        self._clock.callLater(seconds, done.callback, None)
        await done

    # -------------------------------------------------------------------- the main loop
    async def _serve(self) -> None:
        while True:
            if self._needhup:
                await self._go_dead()
            elif self._inbox:
                await self._handle_line(self._inbox.popleft())
            elif self._eof:
                break
            else:
                await self._idle()
        self._end(self._status)

    async def _go_dead(self) -> None:
        """needhup in run_agi: HANGUP goes out once; replies resume ~43 ms after."""
        self._needhup = False
        self._dead = True
        if self._status is AGIStatus.SUCCESS:
            self._status = AGIStatus.HANGUP
        hung_up_at = self._clock.seconds()
        await self._idle(DEAD_NOTICE_S)
        if not self._eof:
            self._send("HANGUP\n")
        remaining = hung_up_at + DEAD_NOTICE_S - self._clock.seconds()
        if remaining > 1e-9 and not self._eof:
            await self._sleep(remaining)

    async def _handle_line(self, line: str) -> None:
        self._log(">>", line)
        argv = parse_agi_args(line)
        spec = find_command(argv)
        if spec is None:
            self._send("510 Invalid or unknown command\n")
            return
        if self._dead and not spec.runs_dead:
            self._send("511 Command Not Permitted on a dead channel or intercept routine\n")
            return
        result = await self._handlers[spec.words](argv)
        if result is _Result.USAGE:
            self._send(usage_reply(spec))
        elif result is _Result.FAILURE and (self._dead or not self._channel.check_hangup()):
            self._status = AGIStatus.FAILURE

    def _end(self, status: AGIStatus) -> None:
        if self._finished.called:
            return
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._protocol is not None:
            self._protocol.close()
        self._log("agi", f"ended AGISTATUS={status.value}")
        self._finished.callback(status)

    def _crashed(self, failure: Failure) -> None:
        log.failure("AGI session on {channel} crashed", failure, channel=self._channel.name)
        self._end(AGIStatus.FAILURE)

    def _send(self, text: str) -> None:
        for line in text.splitlines():
            self._log("<<", line)
        if self._protocol is not None:
            self._protocol.send(text)

    def _log(self, kind: str, text: str) -> None:
        self._host.log(self._channel, kind, text)

    # --------------------------------------------------------------- media primitives
    async def _listen(
        self, timeout_s: float | None, accept: str, *, ctrl: bool, keep_others: bool = False
    ) -> Outcome:
        """Wait on the channel; with ``ctrl`` a new command (or EOF) interrupts, as
        Asterisk's waits that watch the AGI socket do."""
        if ctrl and (self._inbox or self._eof):
            return Outcome(OutcomeKind.COMMAND, 0.0)
        wait = self._channel.listen(timeout_s, accept, keep_others)
        if ctrl:
            self._ctrl_wait = wait
        try:
            return await wait.result
        finally:
            if self._ctrl_wait is wait:
                self._ctrl_wait = None

    async def _wait_digit(self, timeout_ms: int, *, ctrl: bool = True) -> int:
        """ast_waitfordigit_full(): ASCII code, 0 on timeout, -1 hang-up, 1 new command."""
        if timeout_ms == 0:
            return 0
        timeout_s = None if timeout_ms < 0 else timeout_ms / 1000
        outcome = await self._listen(timeout_s, ALL_DIGITS, ctrl=ctrl)
        return _code(outcome)

    async def _play(self, files: Sequence[str], escape: str, *, ctrl: bool) -> int:
        """Play files one after another: digit code, 0 done, -1 hang-up, 1 new command.
        Missing files are skipped (ast_say_* go on with the next file)."""
        for name in files:
            duration = self._host.sounds.duration_of(name)
            if duration is None:
                continue
            outcome = await self._listen(duration, escape, ctrl=ctrl)
            if outcome.kind is not OutcomeKind.TIMEOUT:
                return _code(outcome)
        return 0

    # ---------------------------------------------------------------- command handlers
    def _handler_table(self) -> dict[tuple[str, ...], Handler]:
        return {
            ("answer",): self._answer,
            ("asyncagi", "break"): self._reply0,
            ("channel", "status"): self._channel_status,
            ("database", "del"): self._database_del,
            ("database", "deltree"): self._database_deltree,
            ("database", "get"): self._database_get,
            ("database", "put"): self._database_put,
            ("exec",): self._exec,
            ("get", "data"): self._get_data,
            ("get", "full", "variable"): self._get_full_variable,
            ("get", "option"): self._get_option,
            ("get", "variable"): self._get_variable,
            ("hangup",): self._hangup,
            ("noop",): self._reply0,
            ("receive", "char"): self._receive_char,
            ("receive", "text"): self._receive_text,
            ("record", "file"): self._record_file,
            ("say", "alpha"): self._say_alpha,
            ("say", "digits"): self._say_digits,
            ("say", "number"): self._say_number,
            ("say", "phonetic"): self._say_alpha,
            ("say", "date"): self._say_clock,
            ("say", "time"): self._say_clock,
            ("say", "datetime"): self._say_datetime,
            ("send", "image"): self._send_something,
            ("send", "text"): self._send_something,
            ("set", "autohangup"): self._set_autohangup,
            ("set", "callerid"): self._set_callerid,
            ("set", "context"): self._set_context,
            ("set", "extension"): self._set_extension,
            ("set", "music"): self._set_music,
            ("set", "priority"): self._set_priority,
            ("set", "variable"): self._set_variable,
            ("stream", "file"): self._stream_file,
            ("control", "stream", "file"): self._control_stream_file,
            ("tdd", "mode"): self._tdd_mode,
            ("verbose",): self._verbose,
            ("wait", "for", "digit"): self._wait_for_digit,
            ("speech", "create"): self._reply0,
            ("speech", "set"): self._speech_args(4),
            ("speech", "destroy"): self._reply0,
            ("speech", "load", "grammar"): self._speech_args(5),
            ("speech", "unload", "grammar"): self._speech_args(4),
            ("speech", "activate", "grammar"): self._speech_args(4),
            ("speech", "deactivate", "grammar"): self._speech_args(4),
            ("speech", "recognize"): self._speech_recognize,
        }

    def _ok(self, text: str, value: int = 0) -> _Result:
        self._send(text + "\n")
        return _Result.SUCCESS if value >= 0 else _Result.FAILURE

    async def _reply0(self, argv: list[str]) -> _Result:
        return self._ok("200 result=0")

    def _speech_args(self, argc: int) -> Handler:
        async def handler(argv: list[str]) -> _Result:
            if len(argv) != argc:
                return _Result.USAGE
            return self._ok("200 result=0")  # no speech engine: nothing is loaded

        return handler

    async def _speech_recognize(self, argv: list[str]) -> _Result:
        if len(argv) < 4:
            return _Result.USAGE
        return self._ok("200 result=0")

    async def _answer(self, argv: list[str]) -> _Result:
        result = 0
        if self._channel.state != ChannelState.UP:
            self._channel.answer()
            # Frames read while waiting for media are queued back (keys are not lost).
            outcome = await self._listen(ANSWER_MEDIA_WAIT_S, "", ctrl=False, keep_others=True)
            if outcome.kind is OutcomeKind.HANGUP:
                result = -1
        return self._ok(f"200 result={result}", result)

    async def _channel_status(self, argv: list[str]) -> _Result:
        if len(argv) == 2:
            return self._ok(f"200 result={int(self._channel.state)}")
        if len(argv) == 3:
            other = self._host.find_channel(argv[2])
            state = -1 if other is None else int(other.state)
            return self._ok(f"200 result={state}")
        return _Result.USAGE

    async def _database_get(self, argv: list[str]) -> _Result:
        if len(argv) != 4:
            return _Result.USAGE
        value = self._host.astdb.get((argv[2], argv[3]))
        return self._ok("200 result=0" if value is None else f"200 result=1 ({value})")

    async def _database_put(self, argv: list[str]) -> _Result:
        if len(argv) != 5:
            return _Result.USAGE
        self._host.astdb[(argv[2], argv[3])] = argv[4]
        return self._ok("200 result=1")

    async def _database_del(self, argv: list[str]) -> _Result:
        if len(argv) != 4:
            return _Result.USAGE
        existed = self._host.astdb.pop((argv[2], argv[3]), None) is not None
        return self._ok(f"200 result={1 if existed else 0}")

    async def _database_deltree(self, argv: list[str]) -> _Result:
        if not 3 <= len(argv) <= 4:
            return _Result.USAGE
        family = argv[2]
        prefix = argv[3] if len(argv) == 4 else ""
        doomed = [k for k in self._host.astdb if k[0] == family and k[1].startswith(prefix)]
        for key in doomed:
            del self._host.astdb[key]
        # res_agi answers '0' when something WAS deleted (its test is inverted); mirrored.
        return self._ok(f"200 result={0 if doomed else 1}")

    async def _exec(self, argv: list[str]) -> _Result:
        if len(argv) < 2:
            return _Result.USAGE
        # Only the first word after the application is its data (pbx_exec(argv[2])).
        result = await self._host.run_app(self._channel, argv[1], argv[2] if len(argv) > 2 else "")
        self._send(f"200 result={result}\n")
        # handle_exec() returns the application's result as its own status: 1 and 2 are
        # RESULT_SHOWUSAGE and RESULT_FAILURE to res_agi. Mirrored, quirk included.
        return {1: _Result.USAGE, 2: _Result.FAILURE}.get(result, _Result.SUCCESS)

    async def _get_data(self, argv: list[str]) -> _Result:
        if len(argv) < 3:
            return _Result.USAGE
        timeout_ms = atoi(argv[3]) if len(argv) >= 4 else 0
        max_digits = atoi(argv[4]) if len(argv) >= 5 else 1024
        code, digits = await self._getdata(argv[2], max_digits, timeout_ms)
        if code == 2:  # a new command arrived: no reply at all
            return _Result.SUCCESS
        if code == 1:
            return self._ok(f"200 result={digits} (timeout)")
        if code < 0:
            return self._ok("200 result=-1")
        return self._ok(f"200 result={digits}")

    async def _getdata(self, prompt: str, max_digits: int, timeout_ms: int) -> tuple[int, str]:
        """ast_app_getdata_full(): -1 failed, 0 complete, 1 timeout, 2 interrupted,
        3 ``#`` as the first key."""
        code, digits = 0, ""
        files = prompt.split("&")
        for index, name in enumerate(files):
            playing: float | None = None
            if name:
                playing = self._host.sounds.duration_of(name)
                if playing is None:
                    code = -1  # ast_streamfile failed: skip to the next prompt
                    continue
            if index == len(files) - 1:
                first_ms, next_ms = RESPONSE_TIMEOUT_MS, DIGIT_TIMEOUT_MS
                if timeout_ms > 0:
                    first_ms = next_ms = timeout_ms
                elif timeout_ms < 0:
                    first_ms = next_ms = 1_000_000_000
            else:
                first_ms, next_ms = 50, DIGIT_TIMEOUT_MS
            code, digits = await self._readstring(playing, max_digits, next_ms, first_ms)
            if code == 3 or digits:
                return code, digits
        return code, digits

    async def _readstring(
        self, playing_s: float | None, max_digits: int, next_ms: int, first_ms: int
    ) -> tuple[int, str]:
        if max_digits <= 0:
            return -1, ""
        digits = ""
        wait_ms = first_ms
        while True:
            if playing_s is not None:
                code = _code(await self._listen(playing_s, ALL_DIGITS, ctrl=True))
                playing_s = None
                if code == 0:
                    code = await self._wait_digit(wait_ms)
            else:
                code = await self._wait_digit(wait_ms)
            if code < 0:
                return -1, digits
            if code == 0:
                return 1, digits
            if code == 1:
                return 2, digits
            key = chr(code)
            if key == "#" and not digits:
                return 3, digits
            if key != "#":
                digits += key
            if key == "#" or len(digits) >= max_digits:
                return 0, digits
            wait_ms = next_ms

    async def _get_full_variable(self, argv: list[str]) -> _Result:
        if len(argv) not in (4, 5):
            return _Result.USAGE
        target = self._host.find_channel(argv[4]) if len(argv) == 5 else self._channel
        if target is None:
            return self._ok("200 result=0")
        return self._ok(f"200 result=1 ({target.substitute(argv[3])})")

    async def _get_option(self, argv: list[str]) -> _Result:
        if not 4 <= len(argv) <= 5:
            return _Result.USAGE
        escape = argv[3]
        timeout_ms = atoi(argv[4]) if len(argv) == 5 else DIGIT_TIMEOUT_MS
        duration = self._host.sounds.duration_of(argv[2])
        if duration is None:
            self._send("200 result=-1 endpos=0\n")
            return _Result.FAILURE
        total = round(duration * SAMPLE_RATE_HZ)
        outcome = await self._listen(duration, escape, ctrl=True)
        if outcome.kind is OutcomeKind.COMMAND:
            return _Result.SUCCESS
        endpos = total if outcome.kind is OutcomeKind.TIMEOUT else _samples(outcome)
        code = _code(outcome)
        if code == 0:
            code = await self._wait_digit(timeout_ms)
            # res_agi keeps only an escape digit; anything else (even -1, 1) becomes 0.
            if code <= 1 or chr(code) not in escape:
                code = 0
        return self._ok(f"200 result={code} endpos={endpos}", code)

    async def _get_variable(self, argv: list[str]) -> _Result:
        if len(argv) != 3:
            return _Result.USAGE
        value = self._channel.get_var(argv[2])
        return self._ok("200 result=0" if value is None else f"200 result=1 ({value})")

    async def _hangup(self, argv: list[str]) -> _Result:
        if len(argv) == 1:
            self._channel.request_hangup(16, SoftHangup.EXPLICIT)
            return self._ok("200 result=1")
        if len(argv) == 2:
            other = self._host.find_channel(argv[1])
            if other is None:
                return self._ok("200 result=-1")
            other.request_hangup(16, SoftHangup.EXPLICIT)
            return self._ok("200 result=1")
        return _Result.USAGE

    async def _receive_char(self, argv: list[str]) -> _Result:
        if len(argv) != 3:
            return _Result.USAGE
        timeout_ms = atoi(argv[2])
        outcome = await self._listen(timeout_ms / 1000 if timeout_ms > 0 else None, "", ctrl=False)
        if outcome.kind is OutcomeKind.HANGUP:
            self._send("200 result=-1 (hangup)\n")
            return _Result.FAILURE
        return self._ok("200 result=0 (timeout)")  # simulated phones send no text

    async def _receive_text(self, argv: list[str]) -> _Result:
        if len(argv) != 3:
            return _Result.USAGE
        timeout_ms = atoi(argv[2])
        await self._listen(timeout_ms / 1000 if timeout_ms > 0 else None, "", ctrl=False)
        return self._ok("200 result=-1")

    async def _record_file(self, argv: list[str]) -> _Result:
        if len(argv) < 6:
            return _Result.USAGE
        limit_ms = leading_int(argv[5])
        if limit_ms is None:
            return _Result.USAGE
        escape = argv[4]
        silence_ms = 0
        for word in argv[6:9]:
            found = word.find("s")
            if found >= 0:
                tail = word[found:]
                if len(tail) > 2 and tail.startswith("s="):
                    silence_ms = max(0, atoi(tail[2:])) * 1000
                break
        offset = 0
        beep = False
        if len(argv) > 6:
            numeric = leading_int(argv[6])
            if numeric is None and "=" not in argv[6]:
                beep = True
            elif numeric is not None:
                offset = numeric
        if len(argv) > 7 and "=" not in argv[7]:
            beep = True
        if beep:
            code = await self._play(["beep"], escape, ctrl=False)
            if code != 0:
                return self._ok(f"200 result={code} (randomerror) endpos={offset}")
        path = Path(argv[2])
        if not path.is_absolute():
            path = self._host.sounds_dir / path
        audio_format = argv[3]
        target = path.with_name(f"{path.name}.{audio_format}")
        try:
            write_recording(target, audio_format, 0.0)
        except (OSError, ValueError) as exc:
            self._log("record", f"cannot write {target}: {exc}")
            self._send("200 result=-1 (writefile)\n")
            return _Result.FAILURE
        media = self._channel.has_media
        speech_s = self._channel.speech_s
        limit_s = None if limit_ms < 0 else limit_ms / 1000
        silence_end_s = speech_s + silence_ms / 1000 if silence_ms > 0 and media else None
        deadlines = [t for t in (limit_s, silence_end_s) if t is not None]
        timeout_s = min(deadlines) if deadlines else None
        outcome = await self._listen(timeout_s, escape, ctrl=False)
        recorded_s = outcome.elapsed_s
        if outcome.kind is OutcomeKind.DIGIT:
            recorded_s = max(0.0, recorded_s - 0.2)  # rewinds 200 ms of DTMF noise
        elif outcome.kind is OutcomeKind.TIMEOUT and timeout_s == silence_end_s:
            recorded_s = max(0.0, recorded_s - (silence_ms - 1000) / 1000)  # keeps 1 s
        try:
            samples = write_recording(target, audio_format, recorded_s, speech_s)
        except OSError as exc:
            # A full disk: Asterisk's frame write fails, it stops recording and says so,
            # keeping what the file already holds (res_agi's "Problem writing frame").
            self._log("record", f"cannot write {target}: {exc}")
            self._send("200 result=-1 (writefile) endpos=0\n")
            return _Result.FAILURE
        # Local channels carry no audio frames: Asterisk writes nothing, endpos stays 0
        # (001); the simulator still leaves a file of the recorded length, silence.
        endpos = samples if media else 0
        self._log("record", f"{target} {recorded_s:.2f} s")
        self._host.recorded(self._channel, str(target), recorded_s)
        if outcome.kind is OutcomeKind.DIGIT:
            return self._ok(f"200 result={ord(outcome.digit)} (dtmf) endpos={endpos}")
        if outcome.kind is OutcomeKind.HANGUP:
            self._send(f"200 result=-1 (hangup) endpos={endpos}\n")
            return _Result.FAILURE
        return self._ok(f"200 result=0 (timeout) endpos={endpos}")

    async def _say(self, files: list[str], escape: str, *, ctrl: bool = True) -> _Result:
        code = await self._play(files, escape, ctrl=ctrl)
        if code == 1:
            return _Result.SUCCESS  # a new command: no reply
        return self._ok(f"200 result={code}", code)

    async def _say_digits(self, argv: list[str]) -> _Result:
        if len(argv) != 4 or leading_int(argv[2]) is None:
            return _Result.USAGE
        return await self._say(digit_files(argv[2]), argv[3])

    async def _say_number(self, argv: list[str]) -> _Result:
        if not 4 <= len(argv) <= 5:
            return _Result.USAGE
        number = leading_int(argv[2])
        if number is None:
            return _Result.USAGE
        return await self._say(number_files(number), argv[3])

    async def _say_alpha(self, argv: list[str]) -> _Result:
        if len(argv) != 4:
            return _Result.USAGE
        return await self._say(alpha_files(argv[2]), argv[3])

    async def _say_clock(self, argv: list[str]) -> _Result:
        if len(argv) != 4 or leading_int(argv[2]) is None:
            return _Result.USAGE
        # ast_say_date/time do not watch the AGI socket; three words is a fair length.
        return await self._say(["digits/1", "digits/2", "digits/3"], argv[3], ctrl=False)

    async def _say_datetime(self, argv: list[str]) -> _Result:
        if len(argv) < 4 or leading_int(argv[2]) is None:
            return _Result.USAGE
        files = ["digits/1", "digits/2", "digits/3", "digits/4", "digits/5"]
        return await self._say(files, argv[3], ctrl=False)

    async def _send_something(self, argv: list[str]) -> _Result:
        if len(argv) != 3:
            return _Result.USAGE
        return self._ok("200 result=0")

    async def _set_autohangup(self, argv: list[str]) -> _Result:
        if len(argv) != 3:
            return _Result.USAGE
        seconds = leading_float(argv[2])
        if seconds is None:
            return _Result.USAGE
        if seconds > 0:
            channel = self._channel
            self._clock.callLater(seconds, channel.request_hangup, 16, SoftHangup.EXPLICIT)
        return self._ok("200 result=0")

    async def _set_callerid(self, argv: list[str]) -> _Result:
        if len(argv) > 2:
            name, number = parse_caller_id(argv[2])
            self._channel.caller_id_name = name
            self._channel.caller_id_num = number
        return self._ok("200 result=1")

    async def _set_context(self, argv: list[str]) -> _Result:
        if len(argv) != 3:
            return _Result.USAGE
        self._channel.context = argv[2]
        return self._ok("200 result=0")

    async def _set_extension(self, argv: list[str]) -> _Result:
        if len(argv) != 3:
            return _Result.USAGE
        self._channel.exten = argv[2]
        return self._ok("200 result=0")

    async def _set_priority(self, argv: list[str]) -> _Result:
        if len(argv) != 3:
            return _Result.USAGE
        priority = leading_int(argv[2])
        if priority is None or priority < 1:
            return _Result.USAGE  # labels are not modelled
        self._channel.priority = priority - 1  # explicit goto inside the PBX loop
        return self._ok("200 result=0")

    async def _set_music(self, argv: list[str]) -> _Result:
        if len(argv) < 3:
            return _Result.USAGE
        if argv[2].lower().startswith("on"):
            self._channel.moh_class = argv[3] if len(argv) > 3 else "default"
            self._log("moh", f"on ({self._channel.moh_class})")
        elif argv[2].lower().startswith("off"):
            self._channel.moh_class = None
            self._log("moh", "off")
        return self._ok("200 result=0")

    async def _set_variable(self, argv: list[str]) -> _Result:
        if len(argv) >= 4:
            self._channel.set_var(argv[2], argv[3])
        return self._ok("200 result=1")

    async def _stream_file(self, argv: list[str]) -> _Result:
        if not 4 <= len(argv) <= 5:
            return _Result.USAGE
        offset = 0
        if len(argv) == 5:
            parsed = leading_int(argv[4])
            if parsed is None:
                return _Result.USAGE
            offset = parsed
        duration = self._host.sounds.duration_of(argv[2])
        if duration is None:
            self._send(f"200 result=-1 endpos={offset}\n")
            return _Result.FAILURE
        self._channel.moh_class = None  # STREAM FILE stops music on hold for good
        total = round(duration * SAMPLE_RATE_HZ)
        start = min(max(0, offset), total)
        outcome = await self._listen((total - start) / SAMPLE_RATE_HZ, argv[3], ctrl=True)
        if outcome.kind is OutcomeKind.COMMAND:
            return _Result.SUCCESS
        endpos = total if outcome.kind is OutcomeKind.TIMEOUT else start + _samples(outcome)
        code = _code(outcome)
        return self._ok(f"200 result={code} endpos={endpos}", code)

    async def _control_stream_file(self, argv: list[str]) -> _Result:
        if not 5 <= len(argv) <= 9:
            return _Result.USAGE
        if len(argv) > 5 and leading_int(argv[5]) is None:
            return _Result.USAGE
        duration = self._host.sounds.duration_of(argv[3])
        if duration is None:
            return self._ok("200 result=-1", -1)
        outcome = await self._listen(duration, argv[4], ctrl=False)
        code = _code(outcome)
        return self._ok(f"200 result={code}", code)

    async def _tdd_mode(self, argv: list[str]) -> _Result:
        if len(argv) != 3:
            return _Result.USAGE
        return self._ok("200 result=0")  # no TDD on these channels: the option fails

    async def _verbose(self, argv: list[str]) -> _Result:
        if len(argv) < 2:
            return _Result.USAGE
        self._log("verbose", argv[1])
        return self._ok("200 result=1")

    async def _wait_for_digit(self, argv: list[str]) -> _Result:
        if len(argv) != 4:
            return _Result.USAGE
        timeout_ms = leading_int(argv[3])
        if timeout_ms is None:
            return _Result.USAGE
        code = await self._wait_digit(timeout_ms)
        return self._ok(f"200 result={code}", code)


def _code(outcome: Outcome) -> int:
    """The int Asterisk's wait functions return for an outcome."""
    if outcome.kind is OutcomeKind.DIGIT:
        return ord(outcome.digit)
    if outcome.kind is OutcomeKind.HANGUP:
        return -1
    if outcome.kind is OutcomeKind.COMMAND:
        return 1
    return 0


def _samples(outcome: Outcome) -> int:
    return round(outcome.elapsed_s * SAMPLE_RATE_HZ)
