"""An in-process stand-in for TCP, driven by a Clock: deterministic runs of the simulator.

``MemoryNetwork`` offers ``listenTCP``/``connectTCP`` like a reactor. Every write is
delivered on the clock (``callLater(0)``), in order, so a test or a virtual-time benchmark
steps through a whole conversation with :func:`advance_to`, never sleeping. Connecting to
an address nobody listens on fails with ConnectionRefusedError, as the real thing does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.protocol import ClientFactory, Factory, Protocol
from twisted.python.failure import Failure

from domain.clock import Clock


class _Endpoint:
    """One side of an in-memory connection, with the ITransport calls protocols use."""

    disconnecting = False

    def __init__(self, network: MemoryNetwork, host: IPv4Address, peer: IPv4Address) -> None:
        self._network = network
        self._host = host
        self._peer = peer
        self.protocol: Protocol | None = None
        self.other: _Endpoint | None = None
        self._closed = False

    def write(self, data: bytes) -> None:
        if self._closed or not data or self.other is None:
            return
        self._network._deliver(self.other, data)

    def writeSequence(self, data: list[bytes]) -> None:
        self.write(b"".join(data))

    def loseConnection(self) -> None:
        if self._closed:
            return
        self.disconnecting = True
        self._closed = True
        self._network._close(self)

    abortConnection = loseConnection

    def getPeer(self) -> IPv4Address:
        return self._peer

    def getHost(self) -> IPv4Address:
        return self._host

    def setTcpNoDelay(self, enabled: bool) -> None:
        pass

    def setTcpKeepAlive(self, enabled: bool) -> None:
        pass


class _Connector:
    """The IConnector handed to client factories."""

    def __init__(self, host: str, port: int) -> None:
        self._destination = IPv4Address("TCP", host, port)

    def getDestination(self) -> IPv4Address:
        return self._destination

    def stopConnecting(self) -> None:
        pass

    def disconnect(self) -> None:
        pass

    def connect(self) -> None:
        pass


class _Listening:
    def __init__(self, network: MemoryNetwork, key: tuple[str, int]) -> None:
        self._network = network
        self._key = key

    def stopListening(self) -> None:
        self._network._listeners.pop(self._key, None)

    def getHost(self) -> IPv4Address:
        return IPv4Address("TCP", *self._key)


class MemoryNetwork:
    """Listening factories by (host, port); connections between them and client factories."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._listeners: dict[tuple[str, int], Factory] = {}
        self._next_client_port = 40000
        self.connections_made = 0
        self.connections_refused = 0

    def listenTCP(
        self, port: int, factory: Factory, backlog: int = 50, interface: str = "127.0.0.1"
    ) -> _Listening:
        key = (interface, port)
        self._listeners[key] = factory
        return _Listening(self, key)

    def connectTCP(
        self,
        host: str,
        port: int,
        factory: ClientFactory,
        timeout: float = 30,
        bindAddress: Any = None,
    ) -> _Connector:
        connector = _Connector(host, port)
        self._clock.callLater(0, self._connect, host, port, factory, connector)
        return connector

    def _connect(self, host: str, port: int, factory: ClientFactory, connector: _Connector) -> None:
        factory.startedConnecting(connector)  # type: ignore[arg-type]
        server_factory = self._listeners.get((host, port))
        if server_factory is None:
            self.connections_refused += 1
            factory.clientConnectionFailed(connector, Failure(ConnectionRefusedError()))  # type: ignore[arg-type]
            return
        self._next_client_port += 1
        client_address = IPv4Address("TCP", "127.0.0.1", self._next_client_port)
        server_address = IPv4Address("TCP", host, port)
        server_side = _Endpoint(self, server_address, client_address)
        client_side = _Endpoint(self, client_address, server_address)
        server_side.other, client_side.other = client_side, server_side
        server_protocol: Any = server_factory.buildProtocol(cast(Any, client_address))
        client_protocol: Any = factory.buildProtocol(cast(Any, server_address))
        if server_protocol is None or client_protocol is None:
            self.connections_refused += 1
            factory.clientConnectionFailed(connector, Failure(ConnectionRefusedError()))  # type: ignore[arg-type]
            return
        self.connections_made += 1
        server_side.protocol, client_side.protocol = server_protocol, client_protocol
        server_protocol.makeConnection(server_side)  # type: ignore[arg-type]
        client_protocol.makeConnection(client_side)  # type: ignore[arg-type]

    def _deliver(self, target: _Endpoint, data: bytes) -> None:
        def receive() -> None:
            if target.protocol is not None and not target._closed:
                target.protocol.dataReceived(data)

        self._clock.callLater(0, receive)

    def _close(self, closing: _Endpoint) -> None:
        other = closing.other

        def lost(endpoint: _Endpoint | None) -> Callable[[], None]:
            def run() -> None:
                if endpoint is not None and endpoint.protocol is not None:
                    protocol, endpoint.protocol = endpoint.protocol, None
                    endpoint._closed = True
                    protocol.connectionLost(Failure(ConnectionDone()))

            return run

        # After the data already in flight, like a FIN behind the last segment.
        self._clock.callLater(0, lost(other))
        self._clock.callLater(0, lost(closing))


def advance_to(clock: Any, until_s: float) -> None:
    """Run a Clock up to ``until_s``, stopping at every scheduled call on the way so each
    one sees the right time (``Clock.advance(big)`` would run them all at the end)."""
    while True:
        pending = [call.getTime() for call in clock.getDelayedCalls()]
        due = [t for t in pending if t <= until_s]
        if not due:
            break
        clock.advance(max(0.0, min(due) - clock.seconds()))
    if clock.seconds() < until_s:
        clock.advance(until_s - clock.seconds())


def run_for(clock: Any, seconds: float) -> None:
    """:func:`advance_to` ``seconds`` from now."""
    advance_to(clock, clock.seconds() + seconds)
