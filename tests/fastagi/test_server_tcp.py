"""The FastAGI server on real loopback TCP sockets.

Deadlines still run on an injected ``Clock``; only the bytes travel through the kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest_twisted
from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred, DeferredQueue
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from fastagi.channel import AGIChannel
from fastagi.limits import AGILimits
from fastagi.protocol import AGIRequest
from fastagi.server import FastAGIFactory, FastAGIProtocol, SessionOutcome, listen_agi
from tests.fastagi.harness import environment

reactor: Any = _reactor


#: What ``FakeAsterisk.lines`` yields once the server has closed the connection.
CLOSED = "<connection closed>"


class FakeAsterisk(Protocol):
    """The Asterisk side of one connection: lines in a queue, a Deferred for the close."""

    def __init__(self) -> None:
        self.lines: DeferredQueue[str] = DeferredQueue()
        self.received = b""
        self.closed: Deferred[None] = Deferred()
        self._buffer = b""

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        self._buffer += data
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            self.lines.put(line.decode())

    def connectionLost(self, reason: Failure | None = None) -> None:
        # A test waiting for a command then sees the close instead of waiting forever.
        self.lines.put(CLOSED)
        self.closed.callback(None)

    def send(self, data: bytes) -> None:
        transport: Any = self.transport
        transport.write(data)


class Recorder:
    """Collects on_session_end calls and lets a test wait for them."""

    def __init__(self) -> None:
        self.ended: list[tuple[AGIRequest, SessionOutcome]] = []
        self._waiters: list[tuple[int, Deferred[None]]] = []

    def __call__(self, request: AGIRequest, outcome: SessionOutcome) -> None:
        self.ended.append((request, outcome))
        for count, waiter in list(self._waiters):
            if len(self.ended) >= count and not waiter.called:
                waiter.callback(None)

    def wait_for(self, count: int) -> Deferred[None]:
        waiter: Deferred[None] = Deferred()
        if len(self.ended) >= count:
            waiter.callback(None)
        else:
            self._waiters.append((count, waiter))
        return waiter


async def start(factory: FastAGIFactory) -> tuple[Any, int]:
    port: Any = await listen_agi(reactor, "tcp:0:interface=127.0.0.1", factory)
    return port, port.getHost().port


async def connect(port_number: int) -> FakeAsterisk:
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port_number)
    return await connectProtocol(endpoint, FakeAsterisk())


@pytest_twisted.ensureDeferred
async def test_two_concurrent_sessions_do_not_mix() -> None:
    async def flow(ch: AGIChannel) -> None:
        number = await ch.get_variable("CALLERID(num)")
        assert number is not None
        await ch.set_variable("ECHO", number)

    recorder = Recorder()
    factory = FastAGIFactory(lambda request: flow, reactor, on_session_end=recorder)
    port, number = await start(factory)
    try:
        first, second = await connect(number), await connect(number)
        first.send(environment(uniqueid="1.1"))
        second.send(environment(uniqueid="2.2"))
        assert await first.lines.get() == "GET VARIABLE CALLERID(num)"
        assert await second.lines.get() == "GET VARIABLE CALLERID(num)"
        second.send(b"200 result=1 (222)\n")  # answered in the other order
        first.send(b"200 result=1 (111)\n")
        assert await second.lines.get() == "SET VARIABLE ECHO 222"
        assert await first.lines.get() == "SET VARIABLE ECHO 111"
        first.send(b"200 result=1\n")
        second.send(b"200 result=1\n")
        await first.closed
        await second.closed
        await recorder.wait_for(2)
        outcomes = {request.uniqueid: outcome for request, outcome in recorder.ended}
        assert outcomes == {"1.1": SessionOutcome.COMPLETED, "2.2": SessionOutcome.COMPLETED}
    finally:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_a_peer_outside_the_allow_list_is_refused() -> None:
    routed: list[AGIRequest] = []

    def router(request: AGIRequest) -> None:
        routed.append(request)

    factory = FastAGIFactory(router, reactor, allow=["10.99.0.0/16"])
    port, number = await start(factory)
    try:
        peer = await connect(number)
        peer.send(environment())
        await peer.closed
        assert peer.received == b""
        assert routed == []
    finally:
        await port.stopListening()


class Observed(FastAGIFactory):
    """Tells the test when the server side has taken in a chunk of data."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.data_seen: DeferredQueue[None] = DeferredQueue()

    def buildProtocol(self, addr: Any) -> FastAGIProtocol | None:
        protocol = super().buildProtocol(addr)
        if protocol is not None:
            original: Callable[[bytes], None] = protocol.dataReceived

            def data_received(data: bytes) -> None:
                original(data)
                self.data_seen.put(None)

            protocol.dataReceived = data_received  # type: ignore[method-assign]
        return protocol


async def _answer(ch: AGIChannel) -> None:
    await ch.answer()


@pytest_twisted.ensureDeferred
async def test_a_peer_that_never_finishes_the_environment_is_closed_at_the_deadline() -> None:
    clock = Clock()
    factory = Observed(lambda request: _answer, clock, limits=AGILimits(environment_timeout_s=10))
    port, number = await start(factory)
    try:
        peer = await connect(number)
        peer.send(b"agi_network: yes\nagi_network_script: basic\n")
        await factory.data_seen.get()
        clock.advance(9.5)
        assert not peer.closed.called
        clock.advance(1)
        await peer.closed
        assert peer.received == b""
    finally:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_an_over_long_line_disconnects_only_that_peer() -> None:
    recorder = Recorder()
    factory = Observed(lambda request: _answer, reactor, on_session_end=recorder)
    port, number = await start(factory)
    try:
        good, bad = await connect(number), await connect(number)
        good.send(environment(uniqueid="good"))
        assert await good.lines.get() == "ANSWER"
        bad.send(b"agi_network: " + b"y" * 20000)
        await bad.closed
        assert bad.received == b""
        good.send(b"200 result=0\n")
        await good.closed
        await recorder.wait_for(1)
        assert [(r.uniqueid, o) for r, o in recorder.ended] == [("good", SessionOutcome.COMPLETED)]
    finally:
        await port.stopListening()


def _environment_with_arguments(count: int, uniqueid: str) -> bytes:
    """The environment Asterisk sends for ``AGI(agi://.../basic,arg 1,...,arg N)``: its own
    keys of transcript 001 (22 lines), then ``agi_arg_1`` ... ``agi_arg_N``, the blank line."""
    arguments = {f"agi_arg_{n}": f"arg {n}" for n in range(1, count + 1)}
    return environment(
        uniqueid=uniqueid,
        agi_type="Local",
        agi_version="GIT-22-69535d4",
        agi_callingpres="0",
        agi_callingani2="0",
        agi_callington="0",
        agi_callingtns="0",
        agi_dnid="unknown",
        agi_rdnis="unknown",
        agi_enhanced="0.0",
        agi_threadid="140515063908032",
        **arguments,
    )


@pytest_twisted.ensureDeferred
async def test_a_call_with_the_127_arguments_asterisk_allows_is_served() -> None:
    seen: list[tuple[str, ...]] = []

    async def flow(ch: AGIChannel) -> None:
        seen.append(ch.request.args)
        await ch.answer()

    recorder = Recorder()
    factory = FastAGIFactory(lambda request: flow, reactor, on_session_end=recorder)
    port, number = await start(factory)
    try:
        peer = await connect(number)
        block = _environment_with_arguments(127, "args.127")
        assert block.count(b"\n") == 22 + 127 + 1  # Asterisk's keys, the arguments, blank line
        peer.send(block)
        assert await peer.lines.get() == "ANSWER"
        peer.send(b"200 result=0\n")
        await peer.closed
        await recorder.wait_for(1)
        assert seen == [tuple(f"arg {n}" for n in range(1, 128))]
        assert [(r.uniqueid, o) for r, o in recorder.ended] == [
            ("args.127", SessionOutcome.COMPLETED)
        ]
    finally:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_one_environment_line_over_the_limit_is_refused_and_others_go_on() -> None:
    recorder = Recorder()
    routed: list[str] = []

    def router(request: AGIRequest) -> Callable[[AGIChannel], Any]:
        routed.append(request.uniqueid)
        return _answer

    factory = FastAGIFactory(router, reactor, on_session_end=recorder)
    port, number = await start(factory)
    limit = factory.limits.max_environment_keys
    try:
        good, bad = await connect(number), await connect(number)
        good.send(environment(uniqueid="good"))
        assert await good.lines.get() == "ANSWER"
        block = _environment_with_arguments(limit + 1 - 22, "bad")
        assert block.count(b"\n") == limit + 1 + 1  # one line over the limit, then the blank
        bad.send(block)
        await bad.closed
        assert bad.received == b""  # refused before any command was sent to it
        good.send(b"200 result=0\n")
        await good.closed
        await recorder.wait_for(1)
        assert routed == ["good"]
        assert [(r.uniqueid, o) for r, o in recorder.ended] == [("good", SessionOutcome.COMPLETED)]
    finally:
        await port.stopListening()
