"""The HTTP server of the web pages: what no web client may do to the process (R-7.5, R-7.4).

One ``hotline serve`` runs the calls (FastAGI) and the pages on one reactor, so a web
client, signed in or not, must never hold the reactor, the memory or the file descriptors
the calls need (issue 11). :class:`GuardedSite` is the ``twisted.web`` site that serves the
Klein application under these rules:

- **Bodies** are at most :data:`MAX_BODY_BYTES`, decided from the headers before a byte of
  the body is read: a ``Content-Length`` over it is answered 413 at once, a chunked body is
  counted as it comes and cut with 413 when it passes the limit. No route takes uploads
  (the forms are a few fields, the largest a call form's note), so one small limit holds
  for every route; a route that ever takes files gets its own, larger limit in
  :meth:`GuardedSite.body_limit`, by its path. The body is kept in memory, never in a
  temporary file.
- **Time**: a request's headers must be complete within :data:`HEADER_TIMEOUT_S` of its
  first byte (of the connection, for its first request), its body within
  :data:`BODY_TIMEOUT_S` of the headers (408, closed); a keep-alive connection idle for
  :data:`IDLE_TIMEOUT_S` is closed. A request being answered (a live Server-Sent Events
  stream) is not timed out.
- **Connections**: at most :data:`PER_ADDRESS_CONNECTIONS` from one client address and
  ``max_connections`` in all (:func:`connection_cap`, well below the process's file
  descriptor limit, so FastAGI and the database always have theirs); one more is closed at
  accept, before a byte is read. A trusted proxy (below) speaks for many people: only the
  total cap holds for it.
- **Headers** of every answer, the refusals above included: :data:`SECURITY_HEADERS` (no
  framing, no sniffing, the referrer kept on the site, a Content-Security-Policy the pages
  satisfy: they have no inline script, style or event handler).
- **Behind a TLS proxy** (``HOTLINE_TRUSTED_PROXIES``): only when the connection comes from
  one of those networks are ``X-Forwarded-For`` (the client's address, e.g. for the sign-in
  throttle) and ``X-Forwarded-Proto`` (``https``: cookies are ``Secure``) believed.

The numbers are constants, not settings: they bound what a client may cost and no real
browser comes near them.
"""

from __future__ import annotations

import io
import ipaddress
import resource
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any, cast

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IAddress
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import RESPONSES, HTTPChannel
from twisted.web.http_headers import Headers
from twisted.web.server import Request, Site

from web.errors import (
    TOO_LARGE,
    TOO_SLOW,
    HTTPError,
    RequestTimeoutError,
    RequestTooLargeError,
)

_log = Logger()

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The largest request body any route takes: the forms are a few fields (64 KiB is a long
# call note many times over). Twisted would keep reading whatever a client announces.
MAX_BODY_BYTES = 64 * 1024
# The routes that take a file: an admin's catalog import and a prompt's recording;
# admins only, and the route's guard still refuses anyone else (the body is read before the
# route runs).
UPLOAD_PATH = b"/admin/import"
UPLOAD_BODY_BYTES = 32 * 1024 * 1024
UPLOAD_LIMITS = {UPLOAD_PATH: UPLOAD_BODY_BYTES, b"/admin/prompts/upload": 17 * 1024 * 1024}
# A browser sends its headers in one go; a client that dribbles them holds a connection.
HEADER_TIMEOUT_S = 30.0
# The body of at most MAX_BODY_BYTES, after the headers: 2 KiB/s is enough.
BODY_TIMEOUT_S = 30.0
# A keep-alive connection with no request in flight (browsers reuse them within seconds).
IDLE_TIMEOUT_S = 60.0
# After a refusal the client may still be sending: read and drop for this long so that it
# can read the answer (closing with unread data makes the kernel reset the connection).
LINGER_S = 2.0
# Connections from one address: a browser opens six per site, an agent a few tabs with a
# live stream each.
PER_ADDRESS_CONNECTIONS = 50
# Web connections in all, at most; connection_cap() lowers it to a quarter of the file
# descriptors, so that at least three quarters stay for calls, the database and the logs.
# A process holds 1,000 people's live streams (issue 13, bench/live_push.py) and still
# takes their page loads and clicks beside them.
MAX_CONNECTIONS = 4000

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"X-Frame-Options", b"DENY"),
    (b"X-Content-Type-Options", b"nosniff"),
    (b"Referrer-Policy", b"same-origin"),
    # Scripts, styles, recordings, fetch and EventSource only from this site; no plug-ins,
    # no <base>, forms post only here, no page of Hotline inside another site's frame.
    (
        b"Content-Security-Policy",
        b"default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        b"frame-ancestors 'none'",
    ),
)

# (request headers, path, error) -> (content type, body) of the answer to a request that
# never reached a route: the page in the browser's language (hotline.web builds it).
EarlyPage = Callable[[Headers, str, HTTPError], tuple[bytes, bytes]]


def plain_page(headers: Headers, path: str, error: HTTPError) -> tuple[bytes, bytes]:
    """The early answer without templates: the message in English."""
    text = error.message % error.params if error.params else error.message
    return b"text/plain; charset=utf-8", text.encode("utf-8") + b"\n"


def connection_cap(open_files_limit: int | None = None) -> int:
    """How many web connections the process takes at once: :data:`MAX_CONNECTIONS`, or a
    quarter of the process's file descriptors (RLIMIT_NOFILE) when that is less."""
    if open_files_limit is None:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        open_files_limit = soft if soft != resource.RLIM_INFINITY else MAX_CONNECTIONS * 4
    return max(16, min(MAX_CONNECTIONS, open_files_limit // 4))


def parse_networks(items: Iterable[Network | str]) -> tuple[Network, ...]:
    return tuple(
        item if isinstance(item, Network) else ipaddress.ip_network(item, strict=True)
        for item in items
    )


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0].strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # "::ffff:10.0.0.1" on a dual-stack listener
    return address


def _in(host: str, networks: tuple[Network, ...]) -> bool:
    address = _ip(host)
    return address is not None and any(address in network for network in networks)


def _reason(status: int) -> bytes:
    return {408: b"Request Timeout", 413: b"Content Too Large"}.get(status, b"Error")


class GuardedRequest(Request):
    """A request whose body is bounded and whose forwarded headers count only from a
    trusted proxy; every answer carries :data:`SECURITY_HEADERS`."""

    channel: GuardedChannel
    _body_bytes = 0

    def gotLength(self, length: int | None) -> None:
        # At most MAX_BODY_BYTES (the channel refused more): memory, never a temporary file.
        self.content = io.BytesIO()

    def handleContentChunk(self, data: bytes) -> None:
        self._body_bytes += len(data)
        if self._body_bytes > self.channel.body_limit:
            self.channel.refuse_too_large()
            return
        content: Any = self.content
        content.write(data)

    def process(self) -> None:
        for name, value in SECURITY_HEADERS:
            self.responseHeaders.setRawHeaders(name, [value])
        super().process()

    def setResponseCode(self, code: int, message: bytes | None = None) -> None:
        # Twisted knows no phrase for 422 or 429 and sends "Unknown Status" (issue 16): the
        # standard library's table has every registered one.
        if message is None and code not in RESPONSES:
            try:
                message = HTTPStatus(code).phrase.encode("ascii")
            except ValueError:
                message = None
        super().setResponseCode(code, message)

    _trusted_proxy: bool | None = None

    def from_trusted_proxy(self) -> bool:
        # Asked several times a request (the URL's scheme, the client's address, the origin
        # check): the peer's address parsed once per request.
        if self._trusted_proxy is None:
            host = str(getattr(self.client, "host", ""))
            trusted = bool(host) and _in(host, self.channel.guarded_site.trusted_proxies)
            self._trusted_proxy = trusted
        return self._trusted_proxy

    def getClientAddress(self) -> IAddress:
        """The connection's peer, or, from a trusted proxy, the nearest address in
        ``X-Forwarded-For`` that is not a trusted proxy itself."""
        peer = self.client
        if not self.from_trusted_proxy():
            return peer
        forwarded = b",".join(self.requestHeaders.getRawHeaders(b"x-forwarded-for", []))
        hops = [hop.strip() for hop in forwarded.decode("latin-1").split(",") if hop.strip()]
        trusted = self.channel.guarded_site.trusted_proxies
        for hop in reversed(hops):
            address = _ip(hop)
            if address is None:
                break  # garbage: believe no further
            if not _in(hop, trusted):
                kind = IPv6Address if address.version == 6 else IPv4Address
                return cast(IAddress, kind("TCP", str(address), 0))
        return peer

    def isSecure(self) -> bool:
        """TLS here, or at a trusted proxy that says so in ``X-Forwarded-Proto``."""
        if super().isSecure():
            return True
        if not self.from_trusted_proxy():
            return False
        values = self.requestHeaders.getRawHeaders(b"x-forwarded-proto", [])
        last = values[-1].split(b",")[-1].strip().lower() if values else b""
        return last == b"https"


class GuardedChannel(HTTPChannel):
    """One web connection with deadlines for headers and body and a bounded body."""

    guarded_site: GuardedSite
    client_host = ""
    body_limit = MAX_BODY_BYTES
    # IDelayedCall of self.callLater (zope interfaces do not type-check as attributes)
    _deadline: Any = None
    _linger: Any = None
    _refused = False

    def connectionMade(self) -> None:
        super().connectionMade()
        self._start_deadline(self.guarded_site.header_timeout_s)

    def dataReceived(self, data: bytes) -> None:
        if self._refused:
            return  # lingering after a refusal: dropped
        if self._deadline is None and not self._handlingRequest:
            # The first byte of the next request on a kept-alive connection.
            self._start_deadline(self.guarded_site.header_timeout_s)
        super().dataReceived(data)

    def rawDataReceived(self, data: bytes) -> None:
        if not self._refused:
            super().rawDataReceived(data)

    def lineReceived(self, line: bytes) -> None:
        if not self._refused:
            super().lineReceived(line)

    def allHeadersReceived(self) -> None:
        self._cancel_deadline()
        path: bytes = getattr(self, "_path", b"/")
        self.body_limit = self.guarded_site.body_limit(path)
        if self.length is not None and self.length > self.body_limit:
            self.refuse_too_large()
            return
        super().allHeadersReceived()
        if self.length != 0:
            self._start_deadline(self.guarded_site.body_timeout_s)

    def allContentReceived(self) -> None:
        if self._refused:
            return  # the end of a chunked body that was cut: never served
        self._cancel_deadline()
        super().allContentReceived()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._cancel_deadline()
        if self._linger is not None and self._linger.active():
            self._linger.cancel()
        self._linger = None
        self.guarded_site.connection_closed(self)
        super().connectionLost(reason)

    # ------------------------------------------------------------------ refusing

    def _transport(self) -> Any:
        return self.transport

    def refuse_too_large(self) -> None:
        kib = self.body_limit // 1024
        self._refuse(RequestTooLargeError(TOO_LARGE, {"kib": kib}), linger=True)

    def _start_deadline(self, seconds: float) -> None:
        self._cancel_deadline()
        self._deadline = self.callLater(seconds, self._too_slow)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.requests:
            self._refuse(RequestTimeoutError(TOO_SLOW), linger=False)
        else:  # nothing sent at all: nothing to answer
            self._refused = True
            self.setTimeout(None)
            self._transport().abortConnection()

    def _refuse(self, error: HTTPError, *, linger: bool) -> None:
        """Answer ``error`` before any route ran and close the connection."""
        if self._refused:
            return
        self._refused = True
        self._cancel_deadline()
        self.setTimeout(None)
        request = self.requests[-1] if self.requests else None
        headers = request.requestHeaders if request is not None else Headers()
        path = getattr(self, "_path", b"/").decode("latin-1", "replace")
        try:
            content_type, body = self.guarded_site.early_page(headers, path, error)
        except Exception:
            _log.failure("the early error page failed")
            content_type, body = plain_page(headers, path, error)
        lines = [
            b"HTTP/1.1 %d %s" % (error.status, _reason(error.status)),
            b"Content-Type: " + content_type,
            b"Content-Length: %d" % len(body),
            b"Cache-Control: no-store",
            b"Connection: close",
            *(name + b": " + value for name, value in SECURITY_HEADERS),
        ]
        transport = self._transport()
        transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        _log.info(
            "web: refused a request from {peer}: {status}",
            peer=self.client_host,
            status=error.status,
        )
        half_close = getattr(transport, "loseWriteConnection", None)
        if linger and half_close is not None:
            # Our side is done; what the client still sends is read and dropped for a
            # moment, so that it sees the answer instead of a reset.
            half_close()
            self._linger = self.callLater(LINGER_S, transport.abortConnection)
        else:
            self.loseConnection()
            self._abortingCall = self.callLater(self.abortTimeout, self.forceAbortClient)


class GuardedSite(Site):
    """The web pages' site: the limits of this module on every connection and request.

    ``reactor`` times the deadlines (a ``Clock`` in tests); ``early_page`` renders the
    refusals sent before a route runs; ``trusted_proxies``: ``HOTLINE_TRUSTED_PROXIES``.
    """

    noisy = False  # no "Starting factory" lines: the log says what serves where

    def __init__(
        self,
        resource: Any,
        *,
        reactor: Any,
        early_page: EarlyPage = plain_page,
        trusted_proxies: Iterable[Network | str] = (),
        max_connections: int | None = None,
        per_address: int = PER_ADDRESS_CONNECTIONS,
        max_body_bytes: int = MAX_BODY_BYTES,
        header_timeout_s: float = HEADER_TIMEOUT_S,
        body_timeout_s: float = BODY_TIMEOUT_S,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
    ) -> None:
        super().__init__(
            resource, requestFactory=GuardedRequest, timeout=idle_timeout_s, reactor=reactor
        )
        self.early_page = early_page
        self.trusted_proxies = parse_networks(trusted_proxies)
        self.max_connections = connection_cap() if max_connections is None else max_connections
        self.per_address = per_address
        self.max_body_bytes = max_body_bytes
        self.header_timeout_s = header_timeout_s
        self.body_timeout_s = body_timeout_s
        self._open: dict[str, int] = {}
        self._total = 0
        self._refusing: set[str] = set()

    @property
    def connections_open(self) -> int:
        return self._total

    def body_limit(self, path: bytes) -> int:
        """The largest body a request to ``path`` may carry: an admin's catalog upload
        (``/admin/import``, tens of thousands of customers) or a prompt's recording may be
        large, nothing else."""
        upload = UPLOAD_LIMITS.get(path.split(b"?")[0], 0)
        return max(self.max_body_bytes, upload)

    def protocol(self) -> GuardedChannel:  # type: ignore[override]
        return GuardedChannel()

    def buildProtocol(self, addr: IAddress) -> GuardedChannel | None:  # type: ignore[override]
        host = str(getattr(addr, "host", ""))
        behind_proxy = _in(host, self.trusted_proxies)
        full = self._total >= self.max_connections or (
            not behind_proxy and self._open.get(host, 0) >= self.per_address
        )
        if full:
            # Closed at accept (Twisted closes the socket when no protocol is built).
            if host not in self._refusing:
                self._refusing.add(host)
                _log.warn(
                    "web: refusing connections from {host}: {mine} open from there, "
                    "{total} in all (at most {per_address} and {most})",
                    host=host,
                    mine=self._open.get(host, 0),
                    total=self._total,
                    per_address=self.per_address,
                    most=self.max_connections,
                )
            return None
        channel: GuardedChannel = super().buildProtocol(addr)  # type: ignore[assignment]
        channel.guarded_site = self
        channel.client_host = host
        self._open[host] = self._open.get(host, 0) + 1
        self._total += 1
        return channel

    def connection_closed(self, channel: GuardedChannel) -> None:
        host = channel.client_host
        left = self._open.get(host, 0) - 1
        if left > 0:
            self._open[host] = left
        else:
            self._open.pop(host, None)
        self._total -= 1
        self._refusing.discard(host)
