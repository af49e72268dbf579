"""The web tests' helpers: a browser over ``StubTreq`` with a cookie jar, its pages and
Server-Sent Events streams, and telephony (the fake AMI) on an in-memory network."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import treq
from klein.resource import KleinResource
from treq.testing import StubTreq
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.task import Clock
from twisted.web.resource import IResource

from ami.client import AMIClient
from simulator.fake_ami import recording_server
from simulator.memnet import MemoryNetwork
from tests.support.centre import PASSWORD, StaffCentre
from tests.support.deferreds import result_of

BASE = "http://hotline.example"
HTML = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"


@dataclass
class Page:
    status: int
    headers: Any
    text: str

    def header(self, name: str) -> str | None:
        values = self.headers.getRawHeaders(name.encode())
        return values[0].decode("latin-1") if values else None

    @property
    def location(self) -> str | None:
        return self.header("location")

    def set_cookies(self) -> list[str]:
        return [v.decode("latin-1") for v in self.headers.getRawHeaders(b"set-cookie", [])]

    def csrf(self) -> str:
        match = re.search(r'<meta name="csrf-token" content="([^"]+)"', self.text)
        assert match, f"no CSRF token on the page: {self.text[:300]}"
        return match.group(1)


@dataclass
class Stream:
    """An open Server-Sent Events response; ``text`` grows as the server writes."""

    status: int
    headers: Any
    chunks: list[bytes] = field(default_factory=list)

    @property
    def text(self) -> str:
        return b"".join(self.chunks).decode("utf-8")

    def messages(self) -> list[dict[str, str]]:
        """Parsed SSE messages (comments and retry dropped), fields as strings."""
        found = []
        for block in self.text.split("\n\n"):
            fields: dict[str, str] = {}
            for line in block.split("\n"):
                if not line or line.startswith(":"):
                    continue
                name, _, value = line.partition(": ")
                fields[name] = value
            if "data" in fields:
                found.append(fields)
        return found


class Browser:
    """A browser with a cookie jar, talking to the real Klein resource in memory."""

    def __init__(self, resource: IResource | KleinResource) -> None:
        self.stub: Any = StubTreq(resource)  # its methods are set at run time
        self.token: str | None = None

    def _finish(self, d: Deferred[Any]) -> Page:
        self.stub.flush()
        response = result_of(d)
        body = result_of(treq.content(response))
        page = Page(response.code, response.headers, body.decode("utf-8", "replace"))
        if page.status == 200 and '<meta name="csrf-token"' in page.text:
            self.token = page.csrf()
        return page

    def get(self, path: str, *, accept: str = HTML, headers: Mapping[str, str] = {}) -> Page:
        all_headers = {"Accept": accept, **headers}
        return self._finish(self.stub.get(BASE + path, headers=all_headers, allow_redirects=False))

    def post(
        self,
        path: str,
        data: Mapping[str, Any] | None = None,
        *,
        csrf: str | bool | None = True,
        accept: str = HTML,
        headers: Mapping[str, str] = {},
    ) -> Page:
        return self._finish(self._send_post(path, data, csrf=csrf, accept=accept, headers=headers))

    def _send_post(
        self,
        path: str,
        data: Mapping[str, Any] | None = None,
        *,
        csrf: str | bool | None = True,
        accept: str = HTML,
        headers: Mapping[str, str] = {},
    ) -> Deferred[Any]:
        fields = dict(data or {})
        if csrf is True:
            assert self.token, "load a page first to get a CSRF token"
            fields["csrf_token"] = self.token
        elif isinstance(csrf, str):
            fields["csrf_token"] = csrf
        all_headers = {
            "Accept": accept,
            "Content-Type": "application/x-www-form-urlencoded",
            **headers,
        }
        body = urlencode(fields, doseq=True).encode()
        return self.stub.post(BASE + path, data=body, headers=all_headers, allow_redirects=False)

    def post_files(
        self, path: str, data: Mapping[str, str], files: Mapping[str, tuple[str, bytes]]
    ) -> Page:
        """POST a ``multipart/form-data`` form, as a browser sends a file input: ``data``
        (with the session's CSRF token) and ``files`` (field -> (file name, bytes))."""
        boundary = "hotline-test-boundary"
        parts: list[bytes] = []
        assert self.token, "load a page first to get a CSRF token"
        for name, value in {"csrf_token": self.token, **data}.items():
            head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            parts.append(head.encode() + value.encode() + b"\r\n")
        for name, (filename, content) in files.items():
            head = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            )
            parts.append(head.encode() + content + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        headers = {"Accept": HTML, "Content-Type": f"multipart/form-data; boundary={boundary}"}
        sent = self.stub.post(BASE + path, data=body, headers=headers, allow_redirects=False)
        return self._finish(sent)

    def sign_in(self, login: str, password: str = PASSWORD) -> Page:
        form = self.get("/sign-in")
        assert form.status == 200, form.text
        return self.post("/sign-in", {"login": login, "password": password}, csrf=form.csrf())

    def start_sign_in(self, login: str, password: str = PASSWORD) -> Deferred[Any]:
        """Send the sign-in form and leave its answer pending (the test holds the password
        check); :meth:`finish` reads the answer once the test let it come."""
        form = self.get("/sign-in")
        assert form.status == 200, form.text
        sent = self._send_post("/sign-in", {"login": login, "password": password}, csrf=True)
        self.stub.flush()
        return sent

    def finish(self, sent: Deferred[Any]) -> Page:
        return self._finish(sent)

    def signed_in(self, login: str) -> Page:
        """Sign in and load the start page (which carries the session's CSRF token)."""
        done = self.sign_in(login)
        assert done.status == 303, done.text
        assert done.location
        return self.get(done.location)

    def open_stream(self, path: str, headers: Mapping[str, str] = {}) -> Stream:
        d = self.stub.get(BASE + path, headers={"Accept": "text/event-stream", **headers})
        self.stub.flush()
        response = result_of(d)
        stream = Stream(response.code, response.headers)
        if response.code == 200:
            treq.collect(response, stream.chunks.append)
        else:
            stream.chunks.append(result_of(treq.content(response)))
        self.stub.flush()
        return stream


class PumpingBrowser(Browser):
    """A browser whose requests may wait for the AMI: the Clock runs the in-memory network
    until the answer is there."""

    def __init__(self, resource: Any, clock: Clock) -> None:
        super().__init__(resource)
        self.clock = clock

    def _finish(self, d: Deferred[Any]) -> Any:
        answered: list[bool] = []

        def seen(result: Any) -> Any:
            answered.append(True)
            return result

        d.addBoth(seen)
        for _ in range(200):
            self.stub.flush()
            if answered:
                break
            self.clock.advance(0)
        return super()._finish(d)


class Telephony:
    def __init__(self, clock: Clock, ring_s: float = 20) -> None:
        self.clock = clock
        self.net = MemoryNetwork(clock)
        # The agent's phone rings ``ring_s`` (20 s) before it answers an Originate.
        self.factory, self.backend = recording_server(
            "hotline", "s3cret", clock=clock, ring_s=ring_s, talk_s=None
        )
        self.net.listenTCP(5038, self.factory)
        self.client = self.another_client()

    def another_client(self) -> AMIClient:
        """An AMI client logged in to the same switch: another Hotline process's."""
        endpoint = TCP4ClientEndpoint(self.net, "127.0.0.1", 5038)  # type: ignore[arg-type]
        client = AMIClient(endpoint, "hotline", "s3cret", self.clock)
        client.start()
        for _ in range(20):
            self.clock.advance(0)
        assert client.ready
        return client

    def actions(self, name: str) -> list[tuple[Any, ...]]:
        return [args for action, args in self.backend.calls if action == name]


def tick(browser: Browser, clock: Clock, seconds: float = 0.5) -> None:
    """Let ``seconds`` pass and deliver what the server wrote meanwhile."""
    clock.advance(seconds)
    browser.stub.flush()


def open_desktop_stream(browser: Browser, centre: StaffCentre, login: str = "eva") -> Stream:
    """Sign ``login`` in and open the live events from where the desktop page left off."""
    page = browser.signed_in(login)
    last = page.text.split('data-last-event-id="', 1)[1].split('"', 1)[0]
    return browser.open_stream(f"/events?last_id={last}")
