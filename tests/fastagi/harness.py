"""A FastAGI session on a ``StringTransport`` with a ``Clock``, for protocol-level tests.

:class:`Session` builds a :class:`FastAGIFactory` around one test flow, connects one protocol
to a ``StringTransport`` and records what the server reports: the outcome passed to
``on_session_end``, the request, and the exception the flow ended with (so a failed assertion
inside a flow surfaces in the test instead of only becoming outcome ``failed``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from fastagi.channel import AGIChannel
from fastagi.limits import AGILimits
from fastagi.protocol import AGIRequest
from fastagi.server import FastAGIFactory, FastAGIProtocol, SessionOutcome
from tests.fastagi.transcripts import Replayer

TestFlow = Callable[[AGIChannel], Awaitable[None]]

LOCAL_PEER = IPv4Address("TCP", "127.0.0.1", 40001)


def environment(script: str = "basic", uniqueid: str = "1795313168.1", **extra: str) -> bytes:
    """An environment block like Asterisk's (transcript 001), for hand-written tests."""
    env = {
        "agi_network": "yes",
        "agi_network_script": script,
        "agi_request": f"agi://127.0.0.1:4573/{script}",
        "agi_channel": "Local/basic@probe-00000000;2",
        "agi_language": "en",
        "agi_uniqueid": uniqueid,
        "agi_callerid": "777123456",
        "agi_calleridname": "Jan Novak",
        "agi_context": "probe",
        "agi_extension": "basic",
        "agi_priority": "1",
        "agi_accountcode": "",
    }
    env.update(extra)
    return "".join(f"{key}: {value}\n" for key, value in env.items()).encode() + b"\n"


class Session:
    """One server-side AGI session driven by a test."""

    def __init__(
        self,
        flow: TestFlow | None,
        limits: AGILimits | None = None,
        clock: Clock | None = None,
        peer: IPv4Address = LOCAL_PEER,
        **factory_options: Any,
    ) -> None:
        self.clock = clock or Clock()
        self.outcomes: list[SessionOutcome] = []
        self.ended_requests: list[AGIRequest] = []
        self.routed: list[AGIRequest] = []
        self.flow_error: BaseException | None = None
        self.flow_returned = False
        self._flow = flow

        def router(request: AGIRequest) -> TestFlow | None:
            self.routed.append(request)
            return None if self._flow is None else self._wrapped

        def on_end(request: AGIRequest, outcome: SessionOutcome) -> None:
            self.ended_requests.append(request)
            self.outcomes.append(outcome)

        self.factory = FastAGIFactory(
            router, self.clock, limits=limits, on_session_end=on_end, **factory_options
        )
        protocol = self.factory.buildProtocol(peer)
        assert isinstance(protocol, FastAGIProtocol)
        self.protocol = protocol
        self.transport = StringTransport(peerAddress=peer)
        self.protocol.makeConnection(self.transport)
        self.replayer = Replayer(self.protocol, self.transport, self.clock)

    async def _wrapped(self, channel: AGIChannel) -> None:
        assert self._flow is not None
        try:
            await self._flow(channel)
        except BaseException as exc:
            self.flow_error = exc
            raise
        self.flow_returned = True

    @property
    def outcome(self) -> SessionOutcome | None:
        """The single outcome reported so far (asserts there was at most one)."""
        assert len(self.outcomes) <= 1, f"on_session_end called {len(self.outcomes)} times"
        return self.outcomes[0] if self.outcomes else None

    def feed(self, data: bytes | Iterable[bytes]) -> None:
        """Deliver bytes from "Asterisk"."""
        for chunk in [data] if isinstance(data, bytes) else data:
            self.protocol.dataReceived(chunk)

    def written(self) -> bytes:
        """What the server wrote since the last call; clears it."""
        value = self.transport.value()
        self.transport.clear()
        return value

    def lose_connection(self) -> None:
        """Asterisk closes the socket."""
        from twisted.internet.error import ConnectionDone
        from twisted.python.failure import Failure

        self.protocol.connectionLost(Failure(ConnectionDone()))

    def raise_flow_error_unless(self, *expected: type[BaseException]) -> None:
        """Re-raise the flow's exception unless it is one of ``expected`` (an assertion that
        failed inside the flow thus fails the test with its own message)."""
        if self.flow_error is not None and not isinstance(self.flow_error, expected):
            raise self.flow_error
