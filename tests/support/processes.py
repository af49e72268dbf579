"""``hotline serve`` and ``hotline simulate`` as real subprocesses on loopback ports, and a
person using the web pages over real HTTP (:class:`WebUser`): what the
CLI, two-server, killed-server and real-browser tests share.

The processes run on the real clock, so a centre they serve keeps its queues open around the
clock (:data:`ALL_WEEK_HOURS`): the tests run whenever CI does. Their settings come only from
the environment a test gives them (:func:`hotline_env`), never from the developer's own
``HOTLINE_*`` variables. No sleeping: a test waits for the line a process prints.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import selectors
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

AMI_USER, AMI_SECRET = "hotline", "sim-secret"  # the simulated switch's AMI login
# Catalog YAML hours (under a queue's "hours:") open around the clock every day.
ALL_WEEK_HOURS = "".join(
    f"      - {{weekday: {day}, opens: '00:00', closes: '23:59:59'}}\n"
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hotline_env(**values: str) -> dict[str, str]:
    """This process's environment without any HOTLINE_* setting of the developer's, plus
    ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(values)
    return env


def serve_env(
    tmp_path: Path, *, web_port: int | None = None, agi_port: int | None = None, **values: str
) -> dict[str, str]:
    """:func:`hotline_env` for a ``hotline serve`` of a test: loopback web and FastAGI ports
    (free ones unless given), spool and recordings under ``tmp_path``, plus ``values``."""
    return hotline_env(
        HOTLINE_WEB_LISTEN=f"tcp:{web_port or free_port()}:interface=127.0.0.1",
        HOTLINE_AGI_LISTEN=f"tcp:{agi_port or free_port()}:interface=127.0.0.1",
        HOTLINE_SPOOL_DIR=str(tmp_path / "spool"),
        HOTLINE_RECORDINGS_DIR=str(tmp_path / "recordings"),
        **values,
    )


def start_serve(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """``hotline serve`` with ``env``, its output (text) on a pipe the test reads."""
    return subprocess.Popen(
        [sys.executable, "-m", "hotline", "serve"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_line(proc: subprocess.Popen[Any], needle: str, timeout_s: float = 30) -> str:
    """Read the process's output until it contains ``needle`` (or the process exits); what
    was read.

    Reads the pipe's file descriptor directly: a buffered readline() after select() would
    leave lines in Python's buffer where select() cannot see them.
    """
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    seen = b""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while needle.encode() not in seen:
            if not sel.select(timeout_s):
                raise AssertionError(f"no {needle!r} within {timeout_s}s: {_text(seen)}")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"process ended before {needle!r}: {_text(seen)}")
            seen += chunk
    return _text(seen)


def _text(output: bytes) -> str:
    return output.decode("utf-8", "replace")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def serving(env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``hotline serve`` with ``env``, from the moment it says it serves until stopped."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hotline", "serve"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        bufsize=0,
    )
    try:
        wait_for_line(proc, "Hotline is serving", timeout_s=60)
        assert proc.stdout is not None  # keep reading: never a full pipe
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield proc
    finally:
        stop(proc)


def simulate(
    args: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``hotline simulate ARGS`` in the background, its output in ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "hotline", "simulate", *args],
            cwd=cwd,
            env=env if env is not None else hotline_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def ami_url(ami_port: int) -> str:
    """HOTLINE_AMI_URL for the switch of :func:`switch_args`."""
    return f"ami://{AMI_USER}:{AMI_SECRET}@127.0.0.1:{ami_port}"


def switch_args(agi_port: int, spool_dir: Path, ami_port: int | None = None) -> list[str]:
    """``hotline simulate`` options: dial Hotline's FastAGI port and, with ``ami_port``,
    serve the fake AMI that Hotline's client logs in to (:func:`ami_url`)."""
    args = ["--agi", f"tcp:127.0.0.1:{agi_port}", "--spool-dir", str(spool_dir)]
    if ami_port is not None:
        args += ["--ami-listen", f"tcp:{ami_port}:interface=127.0.0.1"]
        args += ["--ami-user", AMI_USER, "--ami-secret", AMI_SECRET]
    return args


class WebUser:
    """A person using ``hotline serve``'s web pages over real HTTP, as a browser does: a
    cookie jar, redirects not followed, the session's CSRF token; posts ask for JSON, as
    the desktop's scripts do."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self._jar = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self._jar), _NoRedirect()
        )
        self.token = ""

    def sign_in(self, login: str, password: str) -> tuple[int, str]:
        """The form, then its post: the status and where it leads."""
        token = self._csrf(self._request("GET", "/sign-in")[1])
        form = {"login": login, "password": password, "csrf_token": token}
        status, _, location = self._request("POST", "/sign-in", form)
        return status, location

    @property
    def has_session(self) -> bool:
        return any(cookie.name == "hotline_session" for cookie in self._jar)

    @staticmethod
    def _csrf(page: str) -> str:
        match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
        assert match, f"no CSRF token on the page: {page[:300]}"
        return match.group(1)

    def _request(
        self, method: str, path: str, form: dict[str, str] | None = None, accept: str = "text/html"
    ) -> tuple[int, str, str]:
        body = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.base + path, data=body, method=method)
        request.add_header("Accept", accept)
        if body is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with self._opener.open(request, timeout=30) as response:
                return response.status, response.read().decode(), ""
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), error.headers.get("Location", "")

    def get(self, path: str) -> tuple[int, str]:
        """GET ``path`` as a page."""
        status, body, _ = self._request("GET", path)
        return status, body

    def post(self, path: str, form: dict[str, str]) -> tuple[int, str]:
        """POST ``form`` (with the session's CSRF token), asking for JSON."""
        if not self.token:
            self.token = self._csrf(self._request("GET", "/desktop")[1])
        status, body, _ = self._request(
            "POST", path, {**form, "csrf_token": self.token}, accept="application/json"
        )
        return status, body


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None
