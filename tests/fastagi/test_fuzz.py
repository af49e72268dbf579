"""Hostile and random bytes into the FastAGI protocol (R-7.2).

Properties: nothing ever escapes ``dataReceived``; once the peer is gone the flow has ended
with a clear error (an ``AGIError`` or ``ChannelHungUp``, never a ``KeyError``-style bug),
``on_session_end`` ran exactly once for a session that had a request, the transport is closed,
no Deferred failure went unhandled, and a second session on the same factory is unaffected --
afterwards, and while a hostile connection keeps sending random bytes beside it. Out-of-band
``HANGUP`` lines between replies never shift which reply answers which command.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import ILogObserver, LogEvent, globalLogPublisher
from zope.interface import provider

from fastagi.channel import AGIChannel
from fastagi.errors import AGICommandError, AGIError, ChannelHungUp
from fastagi.protocol import AGIRequest
from fastagi.server import FastAGIFactory, FastAGIProtocol, SessionOutcome
from tests.fastagi.harness import LOCAL_PEER, Session, environment
from tests.fastagi.test_transcripts import flow_004
from tests.fastagi.transcripts import ASTERISK, Entry, Replayer, load


async def busy_flow(ch: AGIChannel) -> None:
    """Uses every kind of command; shrugs off command errors so more replies get parsed."""
    await ch.answer()
    for _ in range(30):
        for call in (
            lambda: ch.get_variable("X"),
            lambda: ch.stream_file("beep", "#0"),
            lambda: ch.wait_for_digit(100),
            lambda: ch.get_data("menu", 100, 3),
            lambda: ch.record_file("/tmp/x", "wav", "#", 1000, silence_s=1),
            lambda: ch.exec_app("Dial", "Local/a@agents/n", 20, "md"),
            lambda: ch.channel_status(),
            lambda: ch.database_get("f", "k"),
            lambda: ch.command("STREAM", "FILE"),
        ):
            try:
                await call()
            except AGICommandError:
                pass


VALID_REPLIES = [
    "200 result=0",
    "200 result=1 (value with spaces)",
    "200 result=1 ()",
    "200 result= (timeout)",
    "200 result=0 (timeout) endpos=0",
    "200 result=-1 endpos=0",
    "200 result=35",
    "200 result=-1",
    "200 result=35 (dtmf) endpos=800",
    "510 Invalid or unknown command",
    "511 Command Not Permitted on a dead channel or intercept routine",
    "520-Invalid command syntax.  Proper usage follows:",
    "Usage line",
    "520 End of proper usage.",
    "100 result=0 Trying...",
    "HANGUP",
]
HOSTILE_LINES = [
    "",
    "\x00",
    "HANGUP HANGUP",
    "200 result=1 (unclosed",
    "200 result=99999999999",
    "200 result=abc",
    "200",
    "999 result=0",
    "agi_uniqueid: 1.1",
]

_line = st.one_of(
    st.sampled_from(VALID_REPLIES),
    st.sampled_from(HOSTILE_LINES),
    st.text(max_size=40),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
)
_ending = st.sampled_from(["\n", "\r\n", "\r", ""])


@contextmanager
def unhandled_errors() -> Iterator[list[LogEvent]]:
    """Collects "Unhandled error in Deferred" reports."""
    events: list[LogEvent] = []

    @provider(ILogObserver)
    def observe(event: LogEvent) -> None:
        if "Unhandled error in Deferred" in str(event.get("log_format", "")):
            events.append(event)

    globalLogPublisher.addObserver(observe)
    try:
        yield events
        gc.collect(1)  # the example's own reference cycles are young
    finally:
        globalLogPublisher.removeObserver(observe)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, *(c % (len(data) + 1) for c in cuts), len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def _check_ended(session: Session) -> None:
    session.lose_connection()
    if session.protocol.request is None:
        assert session.outcomes == [] and session.routed == []
        return
    assert session.transport.disconnecting
    assert len(session.outcomes) == 1
    if session.routed:
        error = session.flow_error
        assert session.flow_returned or isinstance(error, AGIError | ChannelHungUp), repr(error)


def _second_session_is_unaffected(session: Session) -> None:
    protocol = session.factory.buildProtocol(LOCAL_PEER)
    assert isinstance(protocol, FastAGIProtocol)
    transport = StringTransport()
    protocol.makeConnection(transport)
    session._flow = flow_004  # the router of this factory now hands out 004's flow
    before = len(session.outcomes)
    Replayer(protocol, transport, session.clock).play(load("004-dialexit"))
    assert session.outcomes[before:] == [SessionOutcome.COMPLETED]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 3000), max_size=8))
def test_random_bytes_from_the_first_byte(data: bytes, cuts: list[int]) -> None:
    with unhandled_errors() as unhandled:
        session = Session(busy_flow)
        for chunk in _chunks(data, cuts):
            session.protocol.dataReceived(chunk)  # must never raise
        _check_ended(session)
        _second_session_is_unaffected(session)
        del session
    assert unhandled == []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(st.tuples(_line, _ending), max_size=60),
    cuts=st.lists(st.integers(0, 5000), max_size=10),
    blank_line=st.booleans(),
    hangup_first=st.booleans(),
)
def test_random_replies_after_a_valid_environment(
    lines: list[tuple[str, str]], cuts: list[int], blank_line: bool, hangup_first: bool
) -> None:
    env = environment()
    if not blank_line:
        env = env[:-1]  # the blank line is missing: replies are read as environment
    body = "".join(text + ending for text, ending in lines)
    data = env + (b"HANGUP\n" if hangup_first else b"") + body.encode("utf-8", "surrogateescape")
    with unhandled_errors() as unhandled:
        session = Session(busy_flow)
        for chunk in _chunks(data, cuts):
            session.protocol.dataReceived(chunk)
        _check_ended(session)
        _second_session_is_unaffected(session)
        del session
    assert unhandled == []


@settings(max_examples=40, deadline=None)
@given(size=st.integers(8193, 70000), newline=st.booleans(), in_env=st.booleans())
def test_huge_lines_close_the_connection(size: int, newline: bool, in_env: bool) -> None:
    session = Session(busy_flow)
    if not in_env:
        session.feed(environment())
    session.feed(b"2" * size + (b"\n" if newline else b""))
    assert session.transport.disconnecting
    _check_ended(session)
    if not in_env:
        assert session.outcome is SessionOutcome.PROTOCOL_ERROR


class _ReplayBesideHostile(Replayer):
    """Replays a transcript into one connection and, before each Asterisk line, hands the
    next hostile chunk to another connection of the same server."""

    def __init__(
        self,
        protocol: FastAGIProtocol,
        transport: StringTransport,
        clock: Clock,
        hostile: FastAGIProtocol,
        hostile_chunks: list[bytes],
    ) -> None:
        super().__init__(protocol, transport, clock)
        self.hostile = hostile
        self.hostile_chunks = hostile_chunks

    def _feed(self, run: list[Entry], cuts: Sequence[int] | None) -> None:
        for entry in run:
            if self.hostile_chunks:
                self.hostile.dataReceived(self.hostile_chunks.pop(0))  # must never raise
            self._advance_to(entry.seconds)
            self.protocol.dataReceived(entry.text.encode("utf-8"))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    with_environment=st.booleans(),
    garbage=st.binary(max_size=3000),
    cuts=st.lists(st.integers(0, 5000), max_size=30),
)
def test_a_hostile_connection_sending_all_along_does_not_disturb_a_call(
    with_environment: bool, garbage: bytes, cuts: list[int]
) -> None:
    entries = load("004-dialexit")
    good_uniqueid = next(
        e.text.split(": ", 1)[1].strip()
        for e in entries
        if e.direction == ASTERISK and e.text.startswith("agi_uniqueid: ")
    )
    ended: list[tuple[str, SessionOutcome]] = []
    errors: list[BaseException] = []

    async def good_flow(ch: AGIChannel) -> None:
        try:
            await flow_004(ch)
        except BaseException as exc:  # an assertion inside the flow fails the test below
            errors.append(exc)
            raise

    def router(request: AGIRequest) -> Callable[[AGIChannel], Awaitable[None]]:
        return good_flow if request.uniqueid == good_uniqueid else busy_flow

    clock = Clock()
    factory = FastAGIFactory(
        router, clock, on_session_end=lambda r, outcome: ended.append((r.uniqueid, outcome))
    )
    with unhandled_errors() as unhandled:
        hostile = factory.buildProtocol(LOCAL_PEER)
        good = factory.buildProtocol(LOCAL_PEER)
        assert isinstance(hostile, FastAGIProtocol) and isinstance(good, FastAGIProtocol)
        hostile_transport, good_transport = StringTransport(), StringTransport()
        hostile.makeConnection(hostile_transport)
        good.makeConnection(good_transport)
        prefix = environment(uniqueid="hostile.1") if with_environment else b""
        chunks = _chunks(prefix + garbage, cuts)
        # The good call's bytes must be exactly the transcript's, whatever the other sends.
        _ReplayBesideHostile(good, good_transport, clock, hostile, chunks).play(entries)
        for chunk in chunks:
            hostile.dataReceived(chunk)
        assert errors == []
        assert (good_uniqueid, SessionOutcome.COMPLETED) in ended
        assert good_transport.disconnecting
        from twisted.internet.error import ConnectionDone
        from twisted.python.failure import Failure

        hostile.connectionLost(Failure(ConnectionDone()))
        hostile_ends = [outcome for uniqueid, outcome in ended if uniqueid != good_uniqueid]
        assert len(hostile_ends) == (0 if hostile.request is None else 1)
        del hostile, good
    assert unhandled == []


_VALUE = st.text(
    alphabet=st.characters(
        whitelist_categories=("L", "N", "Zs"), whitelist_characters="-_.,;:#*@/+="
    ),
    max_size=20,
)
#: One command of a flow and what Asterisk answers: (kind, reply value).
_STEP = st.one_of(
    st.tuples(st.just("get"), _VALUE),
    st.tuples(st.just("exec"), st.integers(0, 255).map(str)),
    st.tuples(st.just("set"), st.just("")),
)


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(_STEP, min_size=1, max_size=15),
    hangups=st.lists(st.integers(0, 14), max_size=12),
    cuts=st.lists(st.integers(0, 300), max_size=6),
)
def test_out_of_band_hangup_lines_never_shift_replies(
    steps: list[tuple[str, str]], hangups: list[int], cuts: list[int]
) -> None:
    """Asterisk may send ``HANGUP`` before any reply (002, redirect-001): however many arrive,
    wherever TCP splits them, each command gets its own reply and the flow sees its values."""
    results: list[object] = []

    async def flow(ch: AGIChannel) -> None:
        for number, (kind, _) in enumerate(steps):
            if kind == "get":
                results.append(await ch.get_variable(f"V{number}"))
            elif kind == "exec":
                results.append(await ch.exec_app("NoOp", f"step {number}"))
            else:
                await ch.set_variable(f"V{number}", number)
                results.append(None)

    session = Session(flow)
    session.feed(environment())
    expected: list[object] = []
    for number, (kind, value) in enumerate(steps):
        command = {
            "get": f"GET VARIABLE V{number}\n",
            "exec": f'EXEC NoOp "step {number}"\n',
            "set": f"SET VARIABLE V{number} {number}\n",
        }[kind]
        assert session.written() == command.encode()  # one command on the wire, in order
        reply = {
            "get": f"200 result=1 ({value})\n",
            "exec": f"200 result={value}\n",
            "set": "200 result=1\n",
        }[kind]
        expected.append(value if kind == "get" else int(value) if kind == "exec" else None)
        data = b"HANGUP\n" * hangups.count(number) + reply.encode()
        for chunk in _chunks(data, cuts):
            session.feed(chunk)
    session.raise_flow_error_unless()
    assert results == expected
    assert session.outcome is SessionOutcome.COMPLETED
    channel = session.protocol.channel
    assert channel is not None
    assert channel.hung_up == any(n < len(steps) for n in hangups)
