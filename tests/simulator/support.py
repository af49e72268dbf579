"""Test helpers: the recorded transcripts, a FastAGI server that replays them, and a tiny
scripted FastAGI peer. Independent of Hotline's own fastagi package on purpose."""

from __future__ import annotations

import ast
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from domain.clock import Clock as TimeSource
from simulator.dialplan import FallbackDestination, HotlineDialplanSettings, load_hotline_dialplan
from simulator.media import SoundCatalogue
from simulator.memnet import MemoryNetwork, advance_to
from simulator.switch import CallerScript, PhoneBook, SimCall, Switch
from simulator.transcript import CallRecord

_LINE = re.compile(r"\s*(\d+\.\d+)\s+(<<|>>)\s+(.*)$")


@dataclass(frozen=True)
class WireLine:
    at_s: float
    direction: str  # "<<" sent by Asterisk, ">>" sent by the FastAGI server
    data: bytes


def load_transcript(path: Path) -> list[WireLine]:
    """``seconds  <<|>>  'python-repr'`` lines, as the facts README describes them."""
    lines = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        match = _LINE.match(text)
        if match is None:
            raise ValueError(f"{path.name}:{number}: not a transcript line: {text!r}")
        value = ast.literal_eval(match.group(3))
        lines.append(WireLine(float(match.group(1)), match.group(2), value.encode("utf-8")))
    return lines


def env_of(lines: list[WireLine]) -> dict[str, str]:
    """The environment block Asterisk sent first, as a dict."""
    env = {}
    for line in lines:
        if line.direction != "<<" or line.data == b"\n":
            break
        key, _, value = line.data.decode().rstrip("\n").partition(": ")
        env[key] = value
    return env


def split_lines(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Complete lines (with their LF) and the rest."""
    lines = []
    while b"\n" in buffer:
        line, _, buffer = buffer.partition(b"\n")
        lines.append(line + b"\n")
    return lines, buffer


class ReplaySession(Protocol):
    """Plays the ``>>`` side of one transcript: each command is sent as soon as every
    ``<<`` line before it in the transcript has arrived; closes when all is done."""

    def __init__(
        self,
        factory: ReplayFactory,
    ) -> None:
        self.factory = factory
        self.script_name = ""
        self.script: list[WireLine] = []
        self.received: list[tuple[float, bytes]] = []
        self.sent_at: list[float] = []
        self._buffer = b""
        self._sent = 0
        self._sends: list[tuple[int, bytes]] = []
        self._expected = 0
        self.started_at = 0.0
        self.closed = False

    def connectionMade(self) -> None:
        self.started_at = self.factory.clock.seconds()

    def dataReceived(self, data: bytes) -> None:
        lines, self._buffer = split_lines(self._buffer + data)
        now = self.factory.clock.seconds() - self.started_at
        for line in lines:
            self.received.append((now, line))
            if not self.script and line == b"\n":
                self._choose_script()
        if self.script:
            self._pump()

    def _choose_script(self) -> None:
        for _, line in self.received:
            if line.startswith(b"agi_network_script: "):
                self.script_name = line.decode().split(": ", 1)[1].strip()
        self.script = self.factory.scripts[self.script_name]
        self.factory.sessions[self.script_name] = self
        need = 0
        for entry in self.script:
            if entry.direction == "<<":
                need += 1
            else:
                self._sends.append((need, self.factory.rewrite(entry.data)))
        self._expected = need

    def _pump(self) -> None:
        transport: Any = self.transport
        while self._sent < len(self._sends) and len(self.received) >= self._sends[self._sent][0]:
            transport.write(self._sends[self._sent][1])
            self.sent_at.append(self.factory.clock.seconds() - self.started_at)
            self._sent += 1
        if (
            self._sent == len(self._sends)
            and len(self.received) >= self._expected
            and not self.closed
        ):
            self.closed = True
            transport.loseConnection()

    def expected_lines(self) -> list[tuple[float, bytes]]:
        return [(e.at_s, e.data) for e in self.script if e.direction == "<<"]

    def latencies(self) -> list[tuple[float, float, bytes]]:
        """(recorded, simulated) seconds from the last command sent to each ``<<`` line."""
        out = []
        recorded_send = 0.0
        sends = iter(self.sent_at)
        simulated_send = 0.0
        received = iter(self.received)
        for entry in self.script:
            if entry.direction == ">>":
                recorded_send = entry.at_s
                simulated_send = next(sends)
                continue
            at_s, line = next(received)
            out.append((entry.at_s - recorded_send, at_s - simulated_send, line))
        return out


@dataclass
class ReplayFactory(Factory):
    """Serves every transcript in ``scripts`` (by ``agi_network_script``)."""

    scripts: dict[str, list[WireLine]]
    clock: TimeSource
    replacements: dict[bytes, bytes] = field(default_factory=dict)
    sessions: dict[str, ReplaySession] = field(default_factory=dict)

    def buildProtocol(self, addr: IAddress | None) -> ReplaySession:
        return ReplaySession(self)

    def rewrite(self, data: bytes) -> bytes:
        for old, new in self.replacements.items():
            data = data.replace(old, new)
        return data


class ScriptedAGI(Protocol):
    """A few lines of FastAGI server: ``await agi.command("ANSWER")`` gives the reply line
    (a 520 block joined), ``agi.hangup_lines`` counts the out-of-band HANGUP lines."""

    def __init__(self, factory: ScriptedAGIFactory) -> None:
        self.factory = factory
        self.env: dict[str, str] = {}
        self.lines: list[tuple[float, str]] = []
        self.hangup_lines = 0
        self._buffer = b""
        self._env_done = False
        self._replies: list[str] = []
        self._waiting: Deferred[str] | None = None
        self._block: list[str] = []
        self.closed: Deferred[None] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        lines, self._buffer = split_lines(self._buffer + data)
        for raw in lines:
            line = raw.decode().rstrip("\n")
            self.lines.append((self.factory.clock.seconds(), line))
            if not self._env_done:
                if line == "":
                    self._env_done = True
                    self.factory.sessions.append(self)
                    Deferred.fromCoroutine(self.factory.script(self)).addBoth(self._script_done)
                else:
                    key, _, value = line.partition(": ")
                    self.env[key] = value
                continue
            if line == "HANGUP":
                self.hangup_lines += 1
                continue
            if line.startswith("520-") or self._block:
                self._block.append(line)
                if not line.startswith("520 "):
                    continue
                line, self._block = "\n".join(self._block), []
            self._replies.append(line)
            self._deliver()

    def _deliver(self) -> None:
        if self._waiting is not None and self._replies:
            waiting, self._waiting = self._waiting, None
            waiting.callback(self._replies.pop(0))

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (several commands at once, odd line ends)."""
        transport: Any = self.transport
        transport.write(data)

    def command(self, text: str) -> Deferred[str]:
        self.send_raw(text.encode() + b"\n")
        return self.reply()

    def reply(self) -> Deferred[str]:
        waiting: Deferred[str] = Deferred()
        self._waiting = waiting
        self._deliver()
        return waiting

    def pause(self, seconds: float) -> Deferred[None]:
        """Stay idle (no command running on the channel) for ``seconds``."""
        done: Deferred[None] = Deferred()
        self.factory.clock.callLater(seconds, done.callback, None)
        return done

    def _script_done(self, result: object) -> None:
        if isinstance(result, Failure):
            self.factory.errors.append(result)
        transport: Any = self.transport
        if self.factory.close_when_done and transport is not None:
            transport.loseConnection()

    def connectionLost(self, reason: Failure | None = None) -> None:
        if not self.closed.called:
            self.closed.callback(None)


@dataclass
class ScriptedAGIFactory(Factory):
    """Runs ``script(agi)`` for every connection; closes the socket when it returns."""

    script: Callable[[ScriptedAGI], Awaitable[None]]
    clock: TimeSource
    close_when_done: bool = True
    sessions: list[ScriptedAGI] = field(default_factory=list)
    errors: list[Failure] = field(default_factory=list)

    def buildProtocol(self, addr: IAddress | None) -> ScriptedAGI:
        return ScriptedAGI(self)


AgiScript = Callable[[ScriptedAGI], Awaitable[None]]


async def finish_call(agi: ScriptedAGI) -> None:
    """What Hotline does when it is done with a call."""
    await agi.command("SET VARIABLE HOTLINE_DONE 1")
    await agi.command("HANGUP")


class Harness:
    """A switch with Hotline's dialplan on a memory network, scripted FastAGI servers."""

    def __init__(
        self,
        tmp_path: Path,
        script: AgiScript | None = None,
        *,
        phones: PhoneBook | None = None,
        servers: tuple[str, ...] = ("127.0.0.1:4573",),
        fallback: FallbackDestination | None = None,
        sounds: SoundCatalogue | None = None,
    ) -> None:
        self.clock = Clock()
        self.network = MemoryNetwork(self.clock)
        self.events: list[dict[str, str]] = []
        self.servers: dict[str, ScriptedAGIFactory] = {}
        self._scripts: dict[str, dict[str | None, AgiScript]] = {}
        if script is not None:
            self.serve(servers[0], script)
        settings = HotlineDialplanSettings(servers, fallback or FallbackDestination())
        self.switch = Switch(
            clock=self.clock,
            connector=self.network,
            dialplan=load_hotline_dialplan(settings),
            phones=phones or PhoneBook(),
            sounds=sounds or SoundCatalogue(),
            spool_dir=tmp_path,
            emit=self.events.append,
        )

    def serve(
        self, server: str, script: AgiScript, only: str | None = "inbound"
    ) -> ScriptedAGIFactory:
        """Run ``script`` for sessions of the AGI script named ``only`` on ``server`` (None:
        any script without its own). Other sessions (the resume that follows when a test
        script closes without HOTLINE_DONE) finish the call: HOTLINE_DONE=1 and HANGUP."""
        if server not in self.servers:
            scripts: dict[str | None, AgiScript] = {}

            async def dispatch(agi: ScriptedAGI) -> None:
                chosen = scripts.get(agi.env.get("agi_network_script")) or scripts.get(None)
                await (chosen or finish_call)(agi)

            host, _, port = server.rpartition(":")
            factory = ScriptedAGIFactory(dispatch, self.clock)
            self.network.listenTCP(int(port), factory, interface=host)
            self.servers[server] = factory
            self._scripts[server] = scripts
        self._scripts[server][only] = script
        return self.servers[server]

    def call(self, **script: Any) -> SimCall:
        script.setdefault("did", "2222")
        return self.switch.place_call(CallerScript(**script))

    def run(self, seconds: float = 600.0) -> None:
        advance_to(self.clock, self.clock.seconds() + seconds)
        for factory in self.servers.values():
            for failure in factory.errors:
                failure.raiseException()

    def event_names(self) -> list[str]:
        return [event["Event"] for event in self.events]


T = TypeVar("T")


def result_of(deferred: Deferred[T]) -> T:
    """The result of a Deferred that has already fired (simulated time has run)."""
    assert deferred.called, "still waiting: run the clock further"
    outcome: list[T] = []

    def keep(value: T) -> T:
        outcome.append(value)
        return value

    deferred.addCallback(keep)
    return outcome[0]


def record_of(call: SimCall) -> CallRecord:
    """The finished record of a placed call."""
    return result_of(call.ended)
