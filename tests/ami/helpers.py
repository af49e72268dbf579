"""Test helpers for the AMI client: an in-memory endpoint and synchronous Deferred checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.protocol import Factory
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

GREETING = b"Asterisk Call Manager/11.0.0\r\n"
# The in-repo copy of shared/asterisk-facts/ami-originate-and-redirect-events.txt, beside the AGI
# transcripts (tests/fastagi/test_transcripts.py checks the copies against the originals).
RECORDING = (
    Path(__file__).resolve().parents[1]
    / "fastagi"
    / "asterisk-facts"
    / "ami-originate-and-redirect-events.txt"
)


def recorded_wire() -> bytes:
    """The recording as Asterisk sent it: the file has LF line ends, the wire has CRLF."""
    return RECORDING.read_bytes().replace(b"\n", b"\r\n")


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


def result_of(d: Deferred[Any]) -> Any:
    results: list[Any] = []
    d.addBoth(results.append)
    assert results, "the Deferred has not fired"
    if isinstance(results[0], Failure):
        results[0].raiseException()
    return results[0]


def failure_of(d: Deferred[Any], *types: type[BaseException]) -> Failure:
    results: list[Any] = []
    d.addBoth(results.append)
    assert results, "the Deferred has not fired"
    failure = results[0]
    assert isinstance(failure, Failure), f"expected a failure, got {failure!r}"
    assert failure.check(*types), f"expected {types}, got {failure.value!r}"
    return failure


def has_not_fired(d: Deferred[Any]) -> bool:
    results: list[Any] = []

    def look(result: Any) -> Any:
        results.append(result)
        return result

    d.addBoth(look)
    return not results
