"""The FastAGI server protocol on a StringTransport: routing, the flow wrapper, limits (R-7.5)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import ITCPTransport
from twisted.internet.testing import StringTransport
from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher
from zope.interface import implementer, provider

from fastagi.channel import AGIChannel
from fastagi.errors import AGIProtocolError, ChannelHungUp
from fastagi.limits import AGILimits
from fastagi.server import FastAGIFactory, SessionOutcome, with_backlog
from tests.fastagi.harness import Session, environment


@pytest.fixture
def log_events() -> Iterator[list[LogEvent]]:
    events: list[LogEvent] = []

    @provider(ILogObserver)
    def observe(event: LogEvent) -> None:
        events.append(event)

    globalLogPublisher.addObserver(observe)
    yield events
    globalLogPublisher.removeObserver(observe)


def _texts(events: list[LogEvent]) -> list[str]:
    return [
        formatEvent(event)
        for event in events
        if str(event.get("log_namespace", "")).startswith("fastagi")
    ]


async def answer_then_return(ch: AGIChannel) -> None:
    await ch.answer()


# -- routing and the flow wrapper ----------------------------------------------------------------


def test_unknown_script_says_why_then_fails_the_agi_and_closes() -> None:
    session = Session(None)
    session.feed(environment(script="nosuch"))
    assert session.written() == b"VERBOSE \"Hotline: no AGI flow for script 'nosuch'\" 1\n"
    assert not session.transport.disconnecting
    session.feed(b"200 result=1\n")
    assert session.written() == b"FAILURE\n"
    assert session.transport.disconnecting
    assert session.outcome is SessionOutcome.NO_ROUTE


def test_a_router_that_raises_fails_the_session(log_events: list[LogEvent]) -> None:
    def router(request: Any) -> None:
        raise KeyError("boom")

    session = Session(answer_then_return)
    session.factory.router = router
    session.feed(environment())
    assert session.transport.disconnecting
    assert session.outcome is SessionOutcome.FAILED
    assert any("router failed" in text for text in _texts(log_events))


def test_a_failing_flow_is_logged_with_the_uniqueid_and_closed(log_events: list[LogEvent]) -> None:
    async def flow(ch: AGIChannel) -> None:
        await ch.answer()
        raise RuntimeError("bug in the flow")

    session = Session(flow)
    session.feed(environment(uniqueid="1795313168.77"))
    assert session.written() == b"ANSWER\n"
    session.feed(b"200 result=0\n")
    assert session.transport.disconnecting
    assert session.outcome is SessionOutcome.FAILED
    failures = [
        e for e in log_events if "log_failure" in e and e.get("uniqueid") == "1795313168.77"
    ]
    assert len(failures) == 1
    assert isinstance(failures[0]["log_failure"].value, RuntimeError)


def test_a_flow_returning_a_deferred_works() -> None:
    def flow(ch: AGIChannel) -> Deferred[None]:
        return ch.answer()

    session = Session(answer_then_return)
    session.factory.router = lambda request: flow
    session.feed(environment())
    session.feed(b"200 result=0\n")
    assert session.outcome is SessionOutcome.COMPLETED
    assert session.transport.disconnecting


def test_the_hook_runs_once_and_its_failure_is_only_logged(log_events: list[LogEvent]) -> None:
    calls: list[SessionOutcome] = []

    def hook(request: Any, outcome: SessionOutcome) -> None:
        calls.append(outcome)
        raise ValueError("database down")

    session = Session(answer_then_return)
    session.factory.on_session_end = hook
    session.feed(environment())
    session.feed(b"200 result=0\n")
    session.lose_connection()
    assert calls == [SessionOutcome.COMPLETED]
    assert any("on_session_end failed" in text for text in _texts(log_events))


def test_asterisk_closing_mid_command_ends_the_flow_as_hung_up() -> None:
    session = Session(answer_then_return)
    session.feed(environment())
    assert session.written() == b"ANSWER\n"
    session.lose_connection()
    assert isinstance(session.flow_error, ChannelHungUp)
    assert session.outcome is SessionOutcome.HUNG_UP
    assert session.written() == b""  # no classification on a closed socket


def test_hangup_arriving_with_the_environment_is_known_before_the_first_command() -> None:
    seen: list[bool] = []

    async def flow(ch: AGIChannel) -> None:
        seen.append(ch.hung_up)
        assert await ch.get_variable("CALLERID(num)") == "777"

    session = Session(flow)
    session.feed(environment() + b"HANGUP\n")
    assert seen == [True]
    session.feed(b"200 result=1 (777)\n")
    assert session.outcome is SessionOutcome.COMPLETED


def test_classification_can_be_turned_off() -> None:
    async def flow(ch: AGIChannel) -> None:
        await ch.wait_for_digit(1000)

    session = Session(flow, classify_hangups=False)
    session.feed(environment())
    session.written()
    session.feed(b"200 result=-1\n")
    assert session.written() == b""
    assert session.outcome is SessionOutcome.HUNG_UP


def test_the_environment_deadline_is_cancelled_once_the_block_is_complete() -> None:
    async def flow(ch: AGIChannel) -> None:
        assert await ch.exec_app("Dial", "Local/a@agents/n", 20) == 0

    session = Session(flow, limits=AGILimits(environment_timeout_s=10))
    session.feed(environment())
    session.clock.advance(60)
    assert not session.transport.disconnecting
    session.feed(b"200 result=0\n")
    assert session.outcome is SessionOutcome.COMPLETED


def test_data_after_the_close_is_ignored() -> None:
    session = Session(answer_then_return)
    session.feed(environment())
    session.feed(b"200 result=0\n")
    session.feed(b"HANGUP\n200 result=0\ngarbage\n" + b"x" * 100000)
    assert session.outcome is SessionOutcome.COMPLETED


# -- limits and hostile input -------------------------------------------------------------------


def test_environment_deadline_closes_a_silent_peer() -> None:
    session = Session(answer_then_return, limits=AGILimits(environment_timeout_s=10))
    session.feed(b"agi_network: yes\nagi_network_script: basic\n")
    session.clock.advance(9.9)
    assert not session.transport.disconnecting
    session.clock.advance(0.2)
    assert session.transport.disconnecting
    assert session.routed == [] and session.outcomes == []


@pytest.mark.parametrize(
    "data",
    [
        b"agi_network: " + b"y" * 9000,  # no line end yet, already too long
        b"agi_network: " + b"y" * 9000 + b"\n",
        b"".join(b"agi_k%d: v\n" % i for i in range(AGILimits().max_environment_keys + 1)),
        b"".join(b"agi_k%d: %s\n" % (i, b"v" * 1000) for i in range(40)),  # too many bytes
    ],
)
def test_oversized_input_before_the_environment_ends_closes(data: bytes) -> None:
    session = Session(answer_then_return)
    session.feed(data)
    assert session.transport.disconnecting
    assert session.routed == []
    assert session.written() == b""


@pytest.mark.parametrize(
    "reply",
    [b"garbage\n", b"\x00\x01\x02\n", b"200 result=1 (" + b"v" * 9000, b"\n", b"200 foo\n"],
)
def test_garbage_instead_of_a_reply_is_a_protocol_error(reply: bytes) -> None:
    session = Session(answer_then_return)
    session.feed(environment())
    session.feed(reply)
    assert session.transport.disconnecting
    assert isinstance(session.flow_error, AGIProtocolError)
    assert session.outcome is SessionOutcome.PROTOCOL_ERROR


def test_a_reply_nobody_asked_for_is_a_protocol_error() -> None:
    gate: Deferred[None] = Deferred()

    async def flow(ch: AGIChannel) -> None:
        await gate  # e.g. waiting for the database
        await ch.answer()

    session = Session(flow)
    session.feed(environment())
    session.feed(b"200 result=0\n")
    assert session.transport.disconnecting
    assert session.outcome is None  # the flow is still busy elsewhere
    gate.callback(None)
    assert isinstance(session.flow_error, AGIProtocolError)
    assert session.outcome is SessionOutcome.PROTOCOL_ERROR


def test_garbage_in_the_same_chunk_as_the_environment_end() -> None:
    session = Session(answer_then_return)
    session.feed(environment() + b"200 result=0\n")
    assert session.transport.disconnecting
    assert session.flow_error is None  # the flow never started
    assert session.outcome is SessionOutcome.PROTOCOL_ERROR


# -- allow-list and listening --------------------------------------------------------------------


def _factory(**options: Any) -> FastAGIFactory:
    from twisted.internet.task import Clock

    return FastAGIFactory(lambda request: None, Clock(), **options)


def test_default_allow_list_is_loopback() -> None:
    factory = _factory()
    assert factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1)) is not None
    assert factory.buildProtocol(IPv4Address("TCP", "127.8.9.10", 1)) is not None
    assert factory.buildProtocol(IPv6Address("TCP", "::1", 1)) is not None
    assert factory.buildProtocol(IPv6Address("TCP", "::ffff:127.0.0.1", 1)) is not None
    assert factory.buildProtocol(IPv4Address("TCP", "10.0.0.5", 1)) is None
    assert factory.buildProtocol(IPv6Address("TCP", "2001:db8::1", 1)) is None
    assert factory.buildProtocol(UNIXAddress(b"/tmp/agi.sock")) is None


def test_configured_allow_list(log_events: list[LogEvent]) -> None:
    factory = _factory(allow=["10.0.0.0/8", "192.168.1.7"])
    assert factory.buildProtocol(IPv4Address("TCP", "10.1.2.3", 1)) is not None
    assert factory.buildProtocol(IPv4Address("TCP", "192.168.1.7", 1)) is not None
    assert factory.buildProtocol(IPv4Address("TCP", "192.168.1.8", 1)) is None
    assert factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1)) is None
    assert sum("refused" in text for text in _texts(log_events)) == 2


@pytest.mark.parametrize(
    ("endpoint", "result"),
    [
        ("tcp:4573:interface=127.0.0.1", "tcp:4573:interface=127.0.0.1:backlog=1024"),
        ("tcp:4573:backlog=50:interface=127.0.0.1", "tcp:4573:backlog=1024:interface=127.0.0.1"),
        ("tcp:4573:backlog=4096", "tcp:4573:backlog=4096"),
        ("tcp6:4573:interface=\\:\\:1", "tcp6:4573:interface=\\:\\:1:backlog=1024"),
    ],
)
def test_with_backlog(endpoint: str, result: str) -> None:
    assert with_backlog(endpoint) == result


def test_limits_refuse_nonsense() -> None:
    with pytest.raises(ValueError):
        AGILimits(max_line_bytes=0)
    with pytest.raises(ValueError):
        AGILimits(command_timeout_s=-1)


def test_session_hook_may_return_a_deferred() -> None:
    session = Session(answer_then_return)
    results: list[SessionOutcome] = []

    def hook(request: Any, outcome: SessionOutcome) -> Deferred[None]:
        results.append(outcome)
        return succeed(None)

    session.factory.on_session_end = hook
    session.feed(environment())
    session.feed(b"200 result=0\n")
    assert results == [SessionOutcome.COMPLETED]


# -- writing straight to the socket ---------------------------------------------------------------


class FakeSocket:
    """Takes ``plan[i]`` bytes on the i-th send (or raises it)."""

    def __init__(self, *plan: int | OSError) -> None:
        self.plan = list(plan)
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> int:
        step = self.plan.pop(0) if self.plan else len(data)
        if isinstance(step, OSError):
            raise step
        self.sent.append(data[:step])
        return min(step, len(data))


@implementer(ITCPTransport)
class SocketTransport(StringTransport):
    """A StringTransport that also hands out a socket, as Twisted's TCP transport does."""

    def __init__(self, sock: FakeSocket) -> None:
        super().__init__(peerAddress=IPv4Address("TCP", "127.0.0.1", 4000))
        self.sock = sock

    def getHandle(self) -> FakeSocket:
        return self.sock


async def two_commands(ch: AGIChannel) -> None:
    await ch.answer()
    await ch.get_variable("X")


def _socket_session(sock: FakeSocket) -> tuple[SocketTransport, Any]:
    from twisted.internet.task import Clock

    factory = FastAGIFactory(lambda request: two_commands, Clock())
    protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 4000))
    assert protocol is not None
    transport = SocketTransport(sock)
    protocol.makeConnection(transport)
    return transport, protocol


def test_commands_go_straight_to_the_socket_when_it_takes_them() -> None:
    sock = FakeSocket()
    transport, protocol = _socket_session(sock)
    protocol.dataReceived(environment())
    protocol.dataReceived(b"200 result=0\n")
    assert sock.sent == [b"ANSWER\n", b"GET VARIABLE X\n"]
    assert transport.value() == b""


@pytest.mark.parametrize("first", [3, BlockingIOError(), ConnectionResetError()])
def test_after_a_short_send_every_byte_goes_through_twisted_in_order(first: Any) -> None:
    sock = FakeSocket(first)
    transport, protocol = _socket_session(sock)
    protocol.dataReceived(environment())
    protocol.dataReceived(b"200 result=0\n")
    direct = b"".join(sock.sent)
    assert direct + transport.value() == b"ANSWER\nGET VARIABLE X\n"
    assert direct == (b"ANS" if first == 3 else b"")
