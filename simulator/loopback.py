"""Real loopback TCP for runs whose time is a Clock: the reactor moves the bytes, the Clock
keeps the time, and :meth:`LoopbackNetwork.settle` says when the wire is quiet.

``LoopbackNetwork`` offers ``listenTCP``/``connectTCP`` like :class:`~simulator.memnet.
MemoryNetwork`, but every connection is a real socket of the installed reactor. It wraps both
ends of every connection and counts, per connection, the bytes each side wrote (through
``transport.write`` or straight into the socket, as Hotline's FastAGI server does) and the
bytes each side was handed in ``dataReceived``; it also counts connection attempts not yet
decided and listening ports still closing. The wire is quiet when none is pending and every
connection is either closed on both sides or has delivered everything written on it. That
test is exact, not a guess from idle time, so a driver can alternate "advance the Clock one
step" and "await ``settle()``" and get the same run every time, with no sleeps.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IAddress, IConnector
from twisted.internet.protocol import ClientFactory, Factory
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure

SETTLE_TIMEOUT_S = 15.0  # real seconds: loopback traffic settles in milliseconds


@dataclass
class _Side:
    """What one end of a connection wrote and was given."""

    written: int = 0
    received: int = 0
    closing: bool = False  # asked to close: connectionLost is on its way
    lost: bool = False


@dataclass
class _Connection:
    """Both ends of one connection, keyed by (client port, server port)."""

    client: _Side | None = None
    server: _Side | None = None

    def finished(self) -> bool:
        client_gone = self.client is not None and self.client.lost
        # A refused or never-accepted connection has no server end: the client's loss ends it.
        server_gone = self.server is None or self.server.lost
        return client_gone and server_gone

    def busy(self) -> str | None:
        """Why this connection still has something in flight, or None."""
        if self.finished():
            return None
        if self.client is None or self.server is None:
            return "accepted on one end only"
        if self.client.lost or self.server.lost:
            return "closed on one end only"
        if self.client.closing or self.server.closing:
            return "closing"
        if self.client.written != self.server.received:
            return f"{self.client.written - self.server.received} bytes toward the server"
        if self.server.written != self.client.received:
            return f"{self.server.written - self.client.received} bytes toward the client"
        return None


class _CountingSocket:
    """A socket whose ``send`` counts what the kernel took (the rest is the real socket)."""

    def __init__(self, sock: Any, side: _Side) -> None:
        self._sock = sock
        self._side = side

    def send(self, data: bytes, *flags: int) -> int:
        sent: int = self._sock.send(data, *flags)
        self._side.written += sent
        return sent

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _CountingProtocol(ProtocolWrapper):
    """Stands between a real transport and the protocol, counting bytes both ways."""

    def __init__(
        self, factory: _CountingFactory, wrapped: Any, network: LoopbackNetwork, client: bool
    ) -> None:
        super().__init__(cast(Any, factory), wrapped)
        self._network = network
        self._client = client
        self.side = _Side()

    def _real(self) -> Any:
        """The reactor's transport under this wrapper."""
        return self.transport

    def makeConnection(self, transport: Any) -> None:
        host, peer = transport.getHost(), transport.getPeer()
        key = (host.port, peer.port) if self._client else (peer.port, host.port)
        self._network._attach(key, self.side, self._client, self)
        try:
            # The wrapped protocol's connectionMade may write at once: counted by write().
            super().makeConnection(transport)
        finally:
            self._network._changed()

    def write(self, data: bytes) -> None:
        self.side.written += len(data)
        self._real().write(data)

    def writeSequence(self, data: Iterable[bytes]) -> None:
        chunks = list(data)
        self.side.written += sum(len(chunk) for chunk in chunks)
        self._real().writeSequence(chunks)

    def getHandle(self) -> _CountingSocket:
        return _CountingSocket(self._real().getHandle(), self.side)

    def loseConnection(self) -> None:
        self.side.closing = True
        super().loseConnection()

    def abortConnection(self) -> None:
        self.side.closing = True
        self.disconnecting = 1
        self._real().abortConnection()

    def dataReceived(self, data: bytes) -> None:
        self.side.received += len(data)
        try:
            super().dataReceived(data)
        finally:
            self._network._changed()

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        self.side.lost = True
        try:
            super().connectionLost(reason)
        finally:
            self._network._detach(self)


class _CountingFactory(WrappingFactory):
    """Wraps a listening factory, or the client factory of one ``connectTCP``."""

    def __init__(self, wrapped: Factory, network: LoopbackNetwork, client: bool) -> None:
        super().__init__(wrapped)
        self._network = network
        self._client = client
        self._decided = not client  # a client attempt is pending until connected or failed

    def buildProtocol(self, addr: IAddress | None) -> _CountingProtocol | None:  # type: ignore[override]
        wrapped = self.wrappedFactory.buildProtocol(addr)
        if wrapped is None:  # refused (e.g. an address outside the FastAGI allow-list)
            return None
        if not self._decided:
            self._decided = True
            self._network._pending_connects -= 1
        return _CountingProtocol(self, wrapped, self._network, self._client)

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        if not self._decided:
            self._decided = True
            self._network._pending_connects -= 1
        self._network.connections_refused += 1
        try:
            super().clientConnectionFailed(connector, reason)
        finally:
            self._network._changed()


class _Listening:
    """A real listening port; ``stopListening`` is tracked until the socket is closed."""

    def __init__(self, network: LoopbackNetwork, port: Any) -> None:
        self._network = network
        self._port = port

    @property
    def port_number(self) -> int:
        return int(self._port.getHost().port)

    def getHost(self) -> Any:
        return self._port.getHost()

    def stopListening(self) -> Deferred[None]:
        return self._network._closing_port(self._port)


class LoopbackNetwork:
    """Listening ports and connections on 127.0.0.1 of ``reactor``, counted to know when
    the traffic has settled (see the module docstring)."""

    def __init__(self, reactor: Any, *, settle_timeout_s: float = SETTLE_TIMEOUT_S) -> None:
        self._reactor = reactor
        self._settle_timeout_s = settle_timeout_s
        self._connections: dict[tuple[int, int], _Connection] = {}
        self._live: set[_CountingProtocol] = set()
        self._listening: set[Any] = set()
        self._closing: set[Any] = set()
        self._pending_connects = 0
        self._waiters: list[Deferred[None]] = []
        self._confirm: Any = None
        self._guard: Any = None
        self.connections_made = 0
        self.connections_refused = 0

    # ------------------------------------------------------------------ reactor-like API
    def listenTCP(
        self, port: int, factory: Factory, backlog: int = 50, interface: str = "127.0.0.1"
    ) -> _Listening:
        """Listen for real on ``interface:port`` (0 picks a free port: read ``port_number``)."""
        real = self._reactor.listenTCP(
            port, _CountingFactory(factory, self, client=False), backlog, interface
        )
        self._listening.add(real)
        return _Listening(self, real)

    def connectTCP(
        self,
        host: str,
        port: int,
        factory: ClientFactory,
        timeout: float = 30,
        bindAddress: Any = None,
    ) -> IConnector:
        self._pending_connects += 1
        return self._reactor.connectTCP(  # type: ignore[no-any-return]
            host, port, _CountingFactory(factory, self, client=True), timeout, bindAddress
        )

    # ------------------------------------------------------------------ settling
    def busy(self) -> str | None:
        """What is still in flight (for a driver, or an error message), or None when quiet."""
        if self._pending_connects:
            return f"{self._pending_connects} connection attempt(s) pending"
        if self._closing:
            return f"{len(self._closing)} listening port(s) closing"
        for (client_port, server_port), connection in self._connections.items():
            reason = connection.busy()
            if reason is not None:
                return f"connection {client_port}->{server_port}: {reason}"
        return None

    def settle(self) -> Deferred[None]:
        """Fires once everything sent has been received and handled, every attempted
        connection decided and every close seen on both ends. Errbacks with TimeoutError
        (naming what is stuck) after ``settle_timeout_s`` real seconds."""
        if self.busy() is None:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._waiters.append(waiter)
        if self._guard is None:
            self._guard = self._reactor.callLater(self._settle_timeout_s, self._timed_out)
        return waiter

    def close(self) -> Deferred[None]:
        """Stop every listening port and abort every connection; fires when all are gone."""
        for port in list(self._listening):
            self._closing_port(port)
        for protocol in list(self._live):
            protocol.abortConnection()
        return self.settle()

    # ------------------------------------------------------------------ bookkeeping
    def _attach(
        self, key: tuple[int, int], side: _Side, client: bool, protocol: _CountingProtocol
    ) -> None:
        connection = self._connections.get(key)
        if connection is None or connection.finished():
            connection = self._connections[key] = _Connection()
        if client:
            connection.client = side
            self.connections_made += 1
        else:
            connection.server = side
        self._live.add(protocol)

    def _detach(self, protocol: _CountingProtocol) -> None:
        self._live.discard(protocol)
        for key, connection in list(self._connections.items()):
            if connection.finished():
                del self._connections[key]
        self._changed()

    def _closing_port(self, port: Any) -> Deferred[None]:
        self._listening.discard(port)
        self._closing.add(port)
        done: Deferred[None] = Deferred()

        def closed(result: object) -> object:
            self._closing.discard(port)
            self._changed()
            done.callback(None)
            return result

        stopped = port.stopListening()
        if isinstance(stopped, Deferred):
            stopped.addBoth(closed)
        else:
            closed(None)
        return done

    def _changed(self) -> None:
        if self._waiters and self._confirm is None and self.busy() is None:
            # Fire from the reactor's top level, never from inside a protocol's callback.
            self._confirm = self._reactor.callLater(0, self._fire)

    def _fire(self) -> None:
        self._confirm = None
        if self.busy() is not None:
            return  # something moved again; its event calls _changed()
        waiters, self._waiters = self._waiters, []
        self._cancel_guard()
        for waiter in waiters:
            waiter.callback(None)

    def _timed_out(self) -> None:
        self._guard = None
        waiters, self._waiters = self._waiters, []
        error = TimeoutError(
            f"loopback traffic did not settle in {self._settle_timeout_s:g} s: {self.busy()}"
        )
        for waiter in waiters:
            waiter.errback(Failure(error))

    def _cancel_guard(self) -> None:
        guard, self._guard = self._guard, None
        if guard is not None and guard.active():
            guard.cancel()
