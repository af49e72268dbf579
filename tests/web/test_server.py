"""The web site's limits over real loopback TCP (R-7.5, R-7.4, issue 11): bodies bounded
before they are read, half-sent requests and idle connections closed, connections capped,
the security headers on every answer, forwarded headers believed only from a trusted proxy.

The site is the real one (``WebRoot.site``) on the real reactor's sockets; its deadlines run
on the test's ``Clock``, so 30 s pass in no time and always the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor as _reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock, deferLater
from twisted.python.failure import Failure
from twisted.web.resource import Resource

from hotline.web import WebRoot
from tests.support.centre import PASSWORD, StaffCentre
from web.server import (
    HEADER_TIMEOUT_S,
    IDLE_TIMEOUT_S,
    MAX_BODY_BYTES,
    SECURITY_HEADERS,
    GuardedRequest,
    GuardedSite,
    connection_cap,
)

reactor: Any = _reactor
SAFETY_S = 20  # a test that would hang without its fix fails after this instead


class Client(Protocol):
    """One raw HTTP connection: the bytes that came back and whether it was closed."""

    def __init__(self) -> None:
        self.received = b""
        self.gone = False
        self._waiters: list[tuple[Callable[[], bool], Deferred[None]]] = []

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        self._check()

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.gone = True
        self._check()

    def _check(self) -> None:
        for predicate, waiter in list(self._waiters):
            if predicate():
                self._waiters.remove((predicate, waiter))
                waiter.callback(None)

    def until(self, predicate: Callable[[], bool]) -> Deferred[None]:
        waiter: Deferred[None] = Deferred()
        if predicate():
            waiter.callback(None)
        else:
            self._waiters.append((predicate, waiter))
            waiter.addTimeout(SAFETY_S, reactor)
        return waiter

    def closed(self) -> Deferred[None]:
        return self.until(lambda: self.gone)

    def answered(self) -> Deferred[None]:
        return self.until(lambda: self.gone or complete(self.received))

    def send(self, data: bytes) -> None:
        transport: Any = self.transport
        transport.write(data)

    def close(self) -> None:
        if not self.gone:
            transport: Any = self.transport
            transport.abortConnection()


def split(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    if headers.get("transfer-encoding") == "chunked":
        body = dechunk(body)
    return int(lines[0].split()[1]), headers, body


def dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, data = out + rest[:size], rest[size + 2 :]
    return out


def complete(raw: bytes) -> bool:
    """Whether ``raw`` holds one whole response."""
    if b"\r\n\r\n" not in raw:
        return False
    head, _, body = raw.partition(b"\r\n\r\n")
    lowered = head.lower()
    if b"transfer-encoding: chunked" in lowered:
        return body.endswith(b"0\r\n\r\n")
    for line in lowered.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


class Served:
    """A site listening on a loopback port, and the clients a test opened."""

    def __init__(self, site: GuardedSite) -> None:
        self.site = site
        self.port: Any = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.clients: list[Client] = []

    async def connect(self) -> Client:
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.port.getHost().port)
        client = await connectProtocol(endpoint, Client())
        self.clients.append(client)
        return client

    async def accepted(self, count: int) -> None:
        """Wait until the site has accepted ``count`` connections (reactor turns, no timing)."""
        for _ in range(1000):
            if self.site.connections_open >= count:
                return
            await deferLater(reactor, 0.001, lambda: None)
        raise AssertionError(f"{self.site.connections_open} connections, not {count}")

    async def request(self, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        client = await self.connect()
        client.send(raw)
        await client.answered()
        return split(client.received)

    async def stop(self) -> None:
        for client in self.clients:
            client.close()
        await self.port.stopListening()


@pytest.fixture
def served(web: WebRoot, clock: Clock) -> Iterator[Served]:
    serving = Served(web.site(clock))
    yield serving
    pytest_twisted.blockon(Deferred.fromCoroutine(serving.stop()))


def get(path: str, *headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: hotline.example", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def post_head(path: str, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: hotline.example", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def presign(headers: dict[str, str]) -> str:
    cookie = headers["set-cookie"]
    assert cookie.startswith("hotline_presign=")
    return cookie.split(";")[0].split("=", 1)[1]


def has_security_headers(headers: dict[str, str]) -> bool:
    wanted = {name.decode().lower(): value.decode() for name, value in SECURITY_HEADERS}
    return all(headers.get(name) == value for name, value in wanted.items())


# --------------------------------------------------------------------------- bodies


@pytest_twisted.ensureDeferred
async def test_a_body_announced_over_the_limit_gets_413_before_it_is_sent(
    served: Served,
) -> None:
    client = await served.connect()
    client.send(
        post_head(
            "/sign-in",
            "Content-Type: application/x-www-form-urlencoded",
            f"Content-Length: {10 * 1024**3}",
            "Accept: text/html",
            "Accept-Language: cs",
        )
    )
    await client.closed()  # not a byte of the 10 GB was sent
    status, headers, body = split(client.received)
    assert status == 413
    assert "více než 64 KiB" in body.decode("utf-8")  # the page in the browser's language
    assert has_security_headers(headers)


def test_only_the_admins_file_routes_take_large_bodies(web: WebRoot) -> None:
    """A catalog import and a prompt's recording (issue 15) are files; nothing else is."""
    site = web.site(Clock())
    assert site.body_limit(b"/sign-in") == MAX_BODY_BYTES
    assert site.body_limit(b"/admin/import") == 32 * 1024 * 1024
    assert site.body_limit(b"/admin/prompts/upload?x=1") == 17 * 1024 * 1024
    assert site.body_limit(b"/admin/prompts") == MAX_BODY_BYTES


@pytest_twisted.ensureDeferred
async def test_a_chunked_body_over_the_limit_is_cut(served: Served) -> None:
    client = await served.connect()
    client.send(
        post_head(
            "/sign-in",
            "Content-Type: application/x-www-form-urlencoded",
            "Transfer-Encoding: chunked",
            "Accept: application/json",
        )
    )
    chunk = b"a=" + b"x" * 16382
    for _ in range(MAX_BODY_BYTES // len(chunk) + 1):
        client.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    # The body never ends (no last chunk): only the cut closes the connection.
    await client.closed()
    status, headers, body = split(client.received)
    assert status == 413
    assert b"64 KiB" in body and headers["content-type"] == "application/json"


@pytest_twisted.ensureDeferred
async def test_a_normal_sign_in_still_works_and_a_body_at_the_limit_is_read(
    served: Served, centre: StaffCentre
) -> None:
    status, headers, _ = await served.request(get("/sign-in", "Accept: text/html"))
    assert status == 200
    token = presign(headers)
    fields = f"csrf_token={token}&login=eva&password={PASSWORD.replace(' ', '+')}".encode()
    status, headers, _ = await served.request(
        post_head(
            "/sign-in",
            "Content-Type: application/x-www-form-urlencoded",
            f"Content-Length: {len(fields)}",
            f"Cookie: hotline_presign={token}",
            "Accept: text/html",
        )
        + fields
    )
    assert status == 303 and headers["location"] == "/desktop"
    # A body of exactly the limit reaches the sign-in (a wrong password), not a 413.
    wrong = f"csrf_token={token}&login=eva&password=wrong&pad=".encode()
    wrong += b"x" * (MAX_BODY_BYTES - len(wrong))
    status, _, _ = await served.request(
        post_head(
            "/sign-in",
            "Content-Type: application/x-www-form-urlencoded",
            f"Content-Length: {len(wrong)}",
            f"Cookie: hotline_presign={token}",
            "Accept: text/html",
        )
        + wrong
    )
    assert status == 401


# --------------------------------------------------------------------------- time


@pytest_twisted.ensureDeferred
async def test_a_half_sent_request_is_closed_after_the_header_timeout(
    served: Served, clock: Clock
) -> None:
    client = await served.connect()
    await served.accepted(1)
    client.send(b"GET /sign-in HTTP/1.1\r\nHost: hotline.example\r\nAccept: text/")
    clock.advance(HEADER_TIMEOUT_S - 1)
    await deferLater(reactor, 0.05, lambda: None)  # give a wrong close the chance to show
    assert not client.gone
    clock.advance(1)
    await client.closed()
    assert client.received.startswith(b"HTTP/1.1 408 ")


@pytest_twisted.ensureDeferred
async def test_an_idle_keep_alive_connection_is_closed(served: Served, clock: Clock) -> None:
    client = await served.connect()
    client.send(get("/static/hotline.css"))
    await client.answered()
    assert split(client.received)[0] == 200
    clock.advance(IDLE_TIMEOUT_S - 1)
    await deferLater(reactor, 0.05, lambda: None)
    assert not client.gone
    clock.advance(1)
    await client.closed()


# --------------------------------------------------------------------------- connections


@pytest_twisted.ensureDeferred
async def test_connections_over_the_cap_are_closed_at_once(web: WebRoot, clock: Clock) -> None:
    served = Served(web.site(clock, max_connections=3, per_address=2))
    try:
        first, second = await served.connect(), await served.connect()
        await served.accepted(2)
        third = await served.connect()  # a third from the same address
        await third.closed()
        assert third.received == b""
        first.close()
        await first.closed()
        fourth = await served.connect()  # room again once one went
        fourth.send(get("/static/hotline.css"))
        await fourth.answered()
        assert split(fourth.received)[0] == 200
        second.send(get("/static/hotline.css"))
        await second.answered()
        assert split(second.received)[0] == 200
    finally:
        await served.stop()


def test_a_thousand_live_streams_leave_room_for_more_connections() -> None:
    # Issue 13: one process holds 1,000 signed-in live streams; the same people's page
    # loads and clicks (and a supervisor opening the screen) must still be taken.
    site = GuardedSite(
        Resource(), reactor=Clock(), max_connections=connection_cap(open_files_limit=20000)
    )
    for n in range(1000):  # one browser's stream each, from addresses of their own
        assert site.buildProtocol(IPv4Address("TCP", f"10.0.{n // 250}.{n % 250}", 5000))
    assert site.buildProtocol(IPv4Address("TCP", "10.1.0.1", 5000)) is not None
    assert site.buildProtocol(IPv4Address("TCP", "10.0.0.0", 5001)) is not None


# --------------------------------------------------------------------------- headers


@pytest_twisted.ensureDeferred
async def test_every_answer_carries_the_security_headers(served: Served) -> None:
    page = await served.request(get("/sign-in", "Accept: text/html"))
    redirect = await served.request(get("/desktop", "Accept: text/html"))
    error = await served.request(get("/no/such/page", "Accept: text/html"))
    static = await served.request(get("/static/hotline.css"))
    assert [page[0], redirect[0], error[0], static[0]] == [200, 303, 404, 200]
    for _status, headers, _body in (page, redirect, error, static):
        assert has_security_headers(headers), headers
    assert "frame-ancestors 'none'" in page[1]["content-security-policy"]


# --------------------------------------------------------------------------- proxies


class Echo(Resource):
    isLeaf = True

    def render_GET(self, request: Any) -> bytes:
        return f"{request.getClientAddress().host} {request.isSecure()}".encode()


@pytest.mark.parametrize(
    ("trusted", "seen"),
    [((), "127.0.0.1 False"), (("127.0.0.1",), "203.0.113.7 True")],
    ids=["untrusted-peer", "trusted-proxy"],
)
@pytest_twisted.ensureDeferred
async def test_forwarded_headers_count_only_from_a_trusted_proxy(
    clock: Clock, trusted: tuple[str, ...], seen: str
) -> None:
    served = Served(GuardedSite(Echo(), reactor=clock, trusted_proxies=trusted))
    try:
        forwarded = ("X-Forwarded-For: 198.51.100.1, 203.0.113.7", "X-Forwarded-Proto: https")
        _, _, body = await served.request(get("/", *forwarded))
        assert body.decode() == seen
    finally:
        await served.stop()


@pytest.mark.parametrize(("trusted", "secure"), [((), False), (("127.0.0.0/8",), True)])
@pytest_twisted.ensureDeferred
async def test_cookies_are_secure_behind_a_trusted_tls_proxy(
    web: WebRoot, clock: Clock, trusted: tuple[str, ...], secure: bool
) -> None:
    served = Served(web.site(clock, trusted_proxies=trusted))
    try:
        _, headers, _ = await served.request(
            get("/sign-in", "Accept: text/html", "X-Forwarded-Proto: https")
        )
        assert ("; Secure" in headers["set-cookie"]) is secure
    finally:
        await served.stop()


@pytest.mark.parametrize(
    ("trusted", "status"), [((), 403), (("127.0.0.1",), 303)], ids=["stranger", "proxy"]
)
@pytest_twisted.ensureDeferred
async def test_a_forwarded_host_is_believed_only_from_a_trusted_proxy(
    web: WebRoot, clock: Clock, centre: StaffCentre, trusted: tuple[str, ...], status: int
) -> None:
    """The Origin check of a form post matches X-Forwarded-Host only when a trusted proxy
    sent it: anyone else could name any host there (issue 11, item 11)."""
    served = Served(web.site(clock, trusted_proxies=trusted))
    try:
        _, headers, _ = await served.request(get("/sign-in", "Accept: text/html"))
        token = presign(headers)
        fields = f"csrf_token={token}&login=eva&password={PASSWORD.replace(' ', '+')}".encode()
        answer, _, _ = await served.request(
            post_head(
                "/sign-in",
                "Content-Type: application/x-www-form-urlencoded",
                f"Content-Length: {len(fields)}",
                f"Cookie: hotline_presign={token}",
                "Accept: text/html",
                "Origin: https://elsewhere.example",
                "X-Forwarded-Host: elsewhere.example",
            )
            + fields
        )
        assert answer == status
    finally:
        await served.stop()


@pytest.mark.parametrize("status", [422, 429])
def test_every_status_has_its_reason_phrase(status: int) -> None:
    """Issue 16: Twisted knows no phrase for 422 and 429 and wrote "Unknown Status" in the
    status line the browser shows; the standard table names them."""
    from twisted.web.test.requesthelper import DummyChannel

    request = GuardedRequest(DummyChannel(), False)
    request.setResponseCode(status)
    assert request.code_message == HTTPStatus(status).phrase.encode()
    assert request.code_message != b"Unknown Status"
    request.setResponseCode(409)
    assert request.code_message == b"Conflict"
