"""Test helpers for the AMI client: an in-memory endpoint and the wire's line ends (the
synchronous Deferred checks are tests/support/deferreds.py)."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.protocol import Factory
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

GREETING = b"Asterisk Call Manager/11.0.0\r\n"


def wire(text: str) -> bytes:
    """Test text with \\n line ends -> AMI bytes with \\r\\n."""
    return text.replace("\n", "\r\n").encode()


class MemoryEndpoint:
    """An endpoint whose connections are StringTransports; can be told to refuse."""

    def __init__(self) -> None:
        self.refuse = False
        self.attempts = 0
        self.protocols: list[Any] = []
        self.transports: list[StringTransport] = []

    def connect(self, factory: Factory) -> Deferred[Any]:
        self.attempts += 1
        if self.refuse:
            return fail(ConnectionRefusedError("refused"))
        protocol: Any = factory.buildProtocol(None)
        assert protocol is not None
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.protocols.append(protocol)
        self.transports.append(transport)
        return succeed(protocol)

    @property
    def protocol(self) -> Any:
        return self.protocols[-1]

    @property
    def transport(self) -> StringTransport:
        return self.transports[-1]

    def feed(self, text: str) -> None:
        self.protocol.dataReceived(wire(text))

    def take(self) -> bytes:
        """What the client wrote since the last take()."""
        data = self.transport.value()
        self.transport.clear()
        return data

    def drop(self) -> None:
        """The server side closes the connection."""
        from twisted.internet.error import ConnectionDone

        self.protocol.connectionLost(Failure(ConnectionDone("server closed")))
