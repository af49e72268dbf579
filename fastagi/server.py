"""The FastAGI server: a Twisted protocol per Asterisk connection, a factory, ``listen_agi``.

One connection is one AGI session: Asterisk sends the environment block, the router picks the
flow for ``request.script``, the flow drives the call through an :class:`AGIChannel`, and the
server closes the socket when the flow ends (Asterisk then continues at the next priority with
``AGISTATUS=SUCCESS``, transcript 008).

Every flow is wrapped ONCE here (ARCHITECTURE "Hang-up is an exception"): its exception is
logged with the call's uniqueid, the transport is ALWAYS closed, and ``on_session_end(request,
outcome)`` is called exactly once so the caller can close the call record.

Decisions:

* Unknown script (the router returns ``None``): the server sends ``VERBOSE`` naming the script
  (visible on the Asterisk console), then the line ``FAILURE`` and closes. res_agi.c treats a
  line starting with "failure" as the end of the script with ``AGISTATUS=FAILURE``, so the
  dialplan takes its fallback (R-1.16) as when no server listens. That behaviour is in
  res_agi.c's source but NOT in the recorded transcripts; if an Asterisk ignored it, it would
  answer ``510`` and the close still yields ``AGISTATUS=SUCCESS`` -- no harm either way.
* A flow that ends with a plain :class:`ChannelHungUp` while the socket is still open is
  classified with ``GET VARIABLE CONTEXT`` (redirect-001) so the outcome says ``redirected``
  for a transferred call; ``classify_hangups=False`` turns that off.
* Peers outside the allow-list (loopback by default, R-7.4) are refused before any byte is read.
* Limits (:class:`AGILimits`): an over-long line, an oversized environment, an environment not
  complete within its deadline (injected clock), a reply nobody asked for, or garbage where a
  reply should be -> the connection is closed and the flow (if any) gets
  :class:`AGIProtocolError`. Other connections are never affected.
* When Asterisk closes the socket, the flow is NOT cancelled: its waiting command (and any
  later one) raises :class:`ChannelHungUp`, so it can still finish database work; the outcome is
  reported when the flow returns.
* Commands are written straight to the TCP socket when it takes them whole (see
  :meth:`FastAGIProtocol._write`); anything else goes through Twisted's buffered write.
"""

from __future__ import annotations

import enum
import inspect
import ipaddress
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import ISSLTransport, ITCPTransport
from twisted.internet.protocol import Protocol, ServerFactory, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure

from domain.clock import Clock, DelayedCall
from fastagi.channel import AGIChannel, HangupKind
from fastagi.errors import (
    AGIError,
    AGIProtocolError,
    AGITimeoutError,
    ChannelHungUp,
    ChannelRedirected,
)
from fastagi.limits import AGILimits
from fastagi.protocol import AGIRequest, EnvironmentParser, OutOfBand, ReplyAssembler

if TYPE_CHECKING:
    from twisted.internet.interfaces import IListeningPort

__all__ = [
    "AGILimits",
    "FastAGIFactory",
    "FastAGIProtocol",
    "Flow",
    "Router",
    "SessionOutcome",
    "listen_agi",
]

_log = Logger(namespace="fastagi.server")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: ``async def flow(channel: AGIChannel) -> None`` (a Deferred-returning callable works too).
Flow = Callable[[AGIChannel], Awaitable[None] | Deferred[Any] | None]
#: Picks the flow for a request; ``None`` for an unknown script.
Router = Callable[[AGIRequest], Flow | None]
SessionEndHook = Callable[[AGIRequest, "SessionOutcome"], object]

LOOPBACK: tuple[Network, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)


class SessionOutcome(enum.StrEnum):
    """How an AGI session ended, for ``on_session_end``."""

    COMPLETED = "completed"  # the flow returned
    HUNG_UP = "hung_up"  # the flow ended with ChannelHungUp (or the connection closed)
    REDIRECTED = "redirected"  # ... and the channel had been moved elsewhere (transfer)
    FAILED = "failed"  # the flow raised anything else, incl. AGITimeoutError
    PROTOCOL_ERROR = "protocol_error"  # the peer broke the wire protocol
    NO_ROUTE = "no_route"  # the router had no flow for the script


class _State(enum.Enum):
    ENVIRONMENT = 1
    RUNNING = 2
    CLOSED = 3


class FastAGIProtocol(Protocol):
    """One FastAGI session. Built by :class:`FastAGIFactory`."""

    def __init__(self, factory: FastAGIFactory, peer: str) -> None:
        self.factory = factory
        self.peer = peer
        self.request: AGIRequest | None = None
        self.channel: AGIChannel | None = None
        self.outcome: SessionOutcome | None = None
        self._state = _State.ENVIRONMENT
        self._buffer = b""
        limits = factory.limits
        self._environment: EnvironmentParser | None = EnvironmentParser(
            limits.max_environment_keys, limits.max_environment_bytes
        )
        self._replies = ReplyAssembler(limits.max_reply_bytes)
        self._env_timer: DelayedCall | None = None
        self._start_pending = False
        self._flow_started = False
        self._socket: Any = None

    # -- Twisted -----------------------------------------------------------------------------

    def connectionMade(self) -> None:
        self._env_timer = self.factory.clock.callLater(
            self.factory.limits.environment_timeout_s, self._environment_deadline
        )

    def dataReceived(self, data: bytes) -> None:
        try:
            self._split_lines(data)
            if self._start_pending and self._state is _State.RUNNING:
                self._start_pending = False
                self._start_flow()
        except AGIProtocolError as exc:
            self._protocol_error(str(exc))
        except Exception:
            # A bug here must cost this connection only, never the reactor or other calls.
            _log.failure("FastAGI connection from {peer} failed", peer=self.peer)
            self._protocol_error("internal error")

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._cancel_env_timer()
        self._state = _State.CLOSED
        self._buffer = b""
        self._socket = None
        if self.channel is not None:
            # The flow's waiting command (and every later one) raises ChannelHungUp; the flow's
            # end then reports the outcome.
            self.channel.session_closed()

    # -- writing -----------------------------------------------------------------------------

    def makeConnection(self, transport: Any) -> None:
        # Plain TCP only: a TLS transport's handle is the raw socket, which must not be written.
        if ITCPTransport.providedBy(transport) and not ISSLTransport.providedBy(transport):
            self._socket = transport.getHandle()
        super().makeConnection(transport)

    def _write(self, data: bytes) -> None:
        """Send ``data`` now when the socket takes it all, as asyncio does.

        Twisted's ``transport.write`` only queues the bytes and asks the reactor for a
        writability event, which costs two epoll changes and a loop turn per AGI command
        (docs/performance.md). A command line is far
        smaller than the socket buffer, so a direct send nearly always takes it whole. On a
        partial send, EAGAIN or an error the rest goes to ``transport.write`` and every later
        write follows it there, so bytes never overtake each other.
        """
        sock = self._socket
        if sock is not None:
            try:
                sent = sock.send(data)
            except OSError:  # EAGAIN, or a broken socket the reactor will report
                sent = 0
            if sent == len(data):
                return
            self._socket = None
            data = data[sent:]
        transport: Any = self.transport
        transport.write(data)

    # -- lines -------------------------------------------------------------------------------

    def _split_lines(self, data: bytes) -> None:
        max_line = self.factory.limits.max_line_bytes
        buffer = self._buffer + data if self._buffer else data
        last = buffer.rfind(b"\n")
        if last < 0:
            self._buffer = buffer
        else:
            self._buffer = buffer[last + 1 :]
            block = buffer[:last]
            if len(block) > max_line and max(map(len, block.split(b"\n"))) > max_line:
                raise AGIProtocolError(f"line longer than {max_line} bytes")
            # One decode per chunk: LF never occurs inside a UTF-8 sequence, so complete
            # lines decode alike together or apart. surrogateescape keeps odd bytes intact.
            text = block.decode("utf-8", "surrogateescape")
            lines = text.split("\n")
            if "\r" in text:  # Asterisk sends "\n"; tolerate "\r\n"
                lines = [line[:-1] if line.endswith("\r") else line for line in lines]
            index = 0
            while index < len(lines):
                if self._environment is not None:
                    request, index = self._environment.feed_lines(lines, index)
                    if request is not None:
                        self._environment_complete(request)
                else:
                    self._reply_line(lines[index])
                    index += 1
                if self._state is _State.CLOSED:
                    self._buffer = b""
                    return
        if len(self._buffer) > max_line:
            raise AGIProtocolError(f"line longer than {max_line} bytes")

    def _reply_line(self, line: str) -> None:
        item = self._replies.feed(line)
        if item is None:
            return
        assert self.channel is not None
        if item is OutOfBand.HANGUP:
            self.channel.hangup_received()
        else:
            self.channel.reply_received(item)

    def _environment_complete(self, request: AGIRequest) -> None:
        self._cancel_env_timer()
        self._environment = None
        self.request = request
        factory = self.factory
        self.channel = AGIChannel(
            request,
            self._write,
            self._close_transport,
            factory.clock,
            factory.limits,
            transfer_variable=factory.transfer_variable,
        )
        self._state = _State.RUNNING
        # Start the flow once this chunk is consumed: a HANGUP that arrived with the
        # environment is then already known, and stray lines cannot pose as replies.
        self._start_pending = True

    # -- the flow ----------------------------------------------------------------------------

    def _start_flow(self) -> None:
        request, channel = self.request, self.channel
        assert request is not None and channel is not None
        self._flow_started = True
        try:
            flow = self.factory.router(request)
        except Exception:
            _log.failure(
                "AGI call {uniqueid}: router failed for script {script!r}",
                uniqueid=request.uniqueid,
                script=request.script,
            )
            self._finish(SessionOutcome.FAILED)
            return
        if flow is None:
            self._no_route(request, channel)
            return
        self.factory._running.add(self)
        done = maybeDeferred(_run_flow, flow, channel)
        done.addBoth(self._flow_ended)

    def _no_route(self, request: AGIRequest, channel: AGIChannel) -> None:
        _log.warn(
            "AGI call {uniqueid} from {peer}: no flow for script {script!r}; closing",
            uniqueid=request.uniqueid,
            peer=self.peer,
            script=request.script,
        )
        message = f"Hotline: no AGI flow for script {request.script[:80]!r}"

        def send_failure(_: object) -> None:
            if self._state is _State.RUNNING:
                self._write(b"FAILURE\n")
            self._finish(SessionOutcome.NO_ROUTE)

        try:
            sent = channel.verbose(message, 1)
        except AGIError:
            sent = succeed(None)
        sent.addBoth(send_failure)

    def _flow_ended(self, result: object) -> None:
        try:
            channel, request = self.channel, self.request
            assert channel is not None and request is not None
            if not isinstance(result, Failure):
                self._finish(SessionOutcome.COMPLETED)
                return
            error = result.value
            if isinstance(error, ChannelRedirected):
                self._finish(SessionOutcome.REDIRECTED)
            elif isinstance(error, ChannelHungUp):
                if self.factory.classify_hangups and not channel.closed:
                    channel.hangup_kind().addBoth(self._classified)
                else:
                    self._finish(SessionOutcome.HUNG_UP)
            elif isinstance(error, AGIProtocolError):
                _log.warn(
                    "AGI call {uniqueid} from {peer}: protocol error: {error}",
                    uniqueid=request.uniqueid,
                    peer=self.peer,
                    error=error,
                )
                self._finish(SessionOutcome.PROTOCOL_ERROR)
            elif isinstance(error, AGITimeoutError):
                self._finish(SessionOutcome.FAILED)  # the channel already logged it
            else:
                _log.failure(
                    "AGI call {uniqueid}: flow for script {script!r} failed",
                    result,
                    uniqueid=request.uniqueid,
                    script=request.script,
                )
                self._finish(SessionOutcome.FAILED)
        except Exception:
            _log.failure("FastAGI: ending the session failed")
            self._close_transport()

    def _classified(self, kind: object) -> None:
        self._finish(
            SessionOutcome.REDIRECTED if kind is HangupKind.REDIRECTED else SessionOutcome.HUNG_UP
        )

    def _finish(self, outcome: SessionOutcome) -> None:
        if self.outcome is not None:
            return
        self.outcome = outcome
        self.factory._running.discard(self)
        self._close_transport()
        if self.channel is not None:
            self.channel.session_closed(lambda: ChannelHungUp("the AGI session has ended"))
        hook, request = self.factory.on_session_end, self.request
        if hook is None or request is None:
            return

        def hook_failed(failure: Failure) -> None:
            _log.failure(
                "AGI call {uniqueid}: on_session_end failed",
                failure,
                uniqueid=request.uniqueid,
            )

        maybeDeferred(hook, request, outcome).addErrback(hook_failed)

    # -- closing -----------------------------------------------------------------------------

    def _close_transport(self) -> None:
        self._state = _State.CLOSED
        self._cancel_env_timer()
        transport: Any = self.transport
        if transport is not None:
            transport.loseConnection()

    def _protocol_error(self, message: str) -> None:
        uniqueid = self.request.uniqueid if self.request is not None else "-"
        _log.warn(
            "FastAGI connection from {peer} (call {uniqueid}): {message}; closing",
            peer=self.peer,
            uniqueid=uniqueid,
            message=message,
        )
        self._close_transport()
        if self.channel is not None:
            self.channel.session_closed(lambda: AGIProtocolError(message))
            if not self._flow_started:
                # The flow never ran (the error came with the environment's last chunk).
                self._flow_started = True
                self._start_pending = False
                self._finish(SessionOutcome.PROTOCOL_ERROR)

    def _environment_deadline(self) -> None:
        self._env_timer = None
        if self._state is _State.ENVIRONMENT:
            limit_s = self.factory.limits.environment_timeout_s
            self._protocol_error(f"no complete AGI environment within {limit_s:g} s")

    def _cancel_env_timer(self) -> None:
        timer, self._env_timer = self._env_timer, None
        if timer is not None and timer.active():
            timer.cancel()


def _run_flow(flow: Flow, channel: AGIChannel) -> Deferred[Any]:
    result = flow(channel)
    if isinstance(result, Deferred):
        return result
    if inspect.iscoroutine(result):
        return Deferred.fromCoroutine(result)
    if inspect.isawaitable(result):

        async def wait() -> object:
            return await result

        return Deferred.fromCoroutine(wait())
    return succeed(result)


def _parse_networks(allow: Iterable[Network | str]) -> tuple[Network, ...]:
    return tuple(
        item
        if isinstance(item, ipaddress.IPv4Network | ipaddress.IPv6Network)
        # strict=False: "10.0.0.1/24" means the network around it, as in an admin's config.
        else ipaddress.ip_network(item, strict=False)
        for item in allow
    )


class FastAGIFactory(ServerFactory):
    """Builds one :class:`FastAGIProtocol` per allowed Asterisk connection.

    ``router(request)`` returns the flow for ``request.script`` or ``None``; ``clock`` times
    every deadline; ``allow`` lists the networks Asterisk may connect from (loopback by
    default); ``on_session_end(request, outcome)`` runs once per session that got as far as a
    complete environment (it may return a Deferred; its errors are logged);
    ``transfer_variable`` is the marker variable a transfer sets (see
    :meth:`AGIChannel.hangup_kind`).
    """

    noisy = False  # no "Starting factory" lines: the log says what serves where

    def __init__(
        self,
        router: Router,
        clock: Clock,
        limits: AGILimits | None = None,
        allow: Iterable[Network | str] = LOOPBACK,
        on_session_end: SessionEndHook | None = None,
        transfer_variable: str | None = None,
        classify_hangups: bool = True,
    ) -> None:
        self.router = router
        self.clock = clock
        self.limits = limits or AGILimits()
        self.allow = _parse_networks(allow)
        self.on_session_end = on_session_end
        self.transfer_variable = transfer_variable
        self.classify_hangups = classify_hangups
        self._verdicts: dict[str, bool] = {}
        self._running: set[FastAGIProtocol] = set()

    def running_uniqueids(self) -> list[str]:
        """The uniqueids of the calls whose flow runs here now (for their heartbeats)."""
        return [p.request.uniqueid for p in self._running if p.request is not None]

    def is_allowed(self, host: str) -> bool:
        """True when ``host`` (an IP address as text) is inside the allow-list."""
        # Asterisk connects from a handful of addresses: remember the verdicts (bounded).
        verdict = self._verdicts.get(host)
        if verdict is None:
            verdict = self._check_host(host)
            if len(self._verdicts) >= 1024:
                self._verdicts.clear()
            self._verdicts[host] = verdict
        return verdict

    def _check_host(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # "::ffff:127.0.0.1" on a dual-stack listener
        return any(address in network for network in self.allow)

    def buildProtocol(self, addr: object) -> FastAGIProtocol | None:
        if not isinstance(addr, IPv4Address | IPv6Address) or not self.is_allowed(addr.host):
            _log.warn("FastAGI: refused connection from {peer} (not in the allow-list)", peer=addr)
            return None
        protocol = FastAGIProtocol(self, f"{addr.host}:{addr.port}")
        return protocol


_BACKLOG_RE = re.compile(r"(?<!\\):backlog=(\d+)")


def with_backlog(endpoint: str, backlog: int = 1024) -> str:
    """``endpoint`` with a listen backlog of at least ``backlog`` (Twisted's default of 50
    drops connections when many calls arrive at once)."""
    match = _BACKLOG_RE.search(endpoint)
    if match is None:
        return f"{endpoint}:backlog={backlog}"
    if int(match.group(1)) >= backlog:
        return endpoint
    return endpoint[: match.start()] + f":backlog={backlog}" + endpoint[match.end() :]


def listen_agi(
    reactor: Any, endpoint: str, factory: FastAGIFactory, backlog: int = 1024
) -> Deferred[IListeningPort]:
    """Listen for Asterisk on a Twisted endpoint string (``tcp:4573:interface=127.0.0.1``) with
    a backlog of at least ``backlog``."""
    return serverFromString(reactor, with_backlog(endpoint, max(backlog, 1024))).listen(factory)
