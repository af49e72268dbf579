"""A tiny SMTP server on a real loopback TCP socket, in a thread of its own: it keeps every
message it receives, so a test reads what a recipient would get. It serves the test's own
Twisted client (which runs on the reactor) and ``hotline serve`` subprocesses alike.

Only what a mail client needs: EHLO/HELO, MAIL, RCPT, DATA (dot-unstuffed), RSET, NOOP,
QUIT; no STARTTLS (the client is told ``starttls=0``). ``refuse_next`` makes the next
sessions answer 451 to every recipient, as a busy server does.
"""

from __future__ import annotations

import email
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import cast


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: tuple[str, ...]
    data: bytes

    def message(self) -> EmailMessage:
        return cast(EmailMessage, email.message_from_bytes(self.data, policy=default_policy))


class _Session(socketserver.StreamRequestHandler):
    server: _Server

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        with self.server.lock:
            refusing = self.server.refusals > 0
            if refusing:
                self.server.refusals -= 1
        self._say("220 mx.example.test ESMTP ready")
        sender, recipients = "", list[str]()
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode("ascii", "replace").rstrip("\r\n")
            verb = line[:4].upper()
            if verb == "EHLO":
                self._say("250-mx.example.test")
                self._say("250 8BITMIME")
            elif verb == "HELO":
                self._say("250 mx.example.test")
            elif verb == "MAIL":
                sender, recipients = line.split(":", 1)[1].strip().strip("<>"), []
                self._say("250 OK")
            elif verb == "RCPT":
                if refusing:
                    self._say("451 Mailbox busy, try again later")
                    continue
                recipients.append(line.split(":", 1)[1].strip().strip("<>"))
                self._say("250 OK")
            elif verb == "DATA":
                if not recipients:
                    self._say("503 No valid recipients")
                    continue
                self._say("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while True:
                    data = self.rfile.readline()
                    if not data or data in (b".\r\n", b".\n"):
                        break
                    lines.append(data[1:] if data.startswith(b"..") else data)
                with self.server.lock:
                    self.server.received.append(
                        Received(sender, tuple(recipients), b"".join(lines))
                    )
                self._say("250 OK: queued")
            elif verb == "RSET":
                sender, recipients = "", list[str]()
                self._say("250 OK")
            elif verb == "NOOP":
                self._say("250 OK")
            elif verb == "QUIT":
                self._say("221 Bye")
                return
            else:
                self._say("502 Command not implemented")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Session)
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.refusals = 0


class LoopbackSmtp:
    """The running server: its port, what it received."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        self.port = int(server.server_address[1])

    @property
    def url(self) -> str:
        """``HOTLINE_SMTP_URL`` for it."""
        return f"smtp://127.0.0.1:{self.port}?from=hotline@example.test&starttls=0"

    @property
    def received(self) -> list[Received]:
        with self._server.lock:
            return list(self._server.received)

    def refuse_next(self, sessions: int) -> None:
        with self._server.lock:
            self._server.refusals = sessions


@contextmanager
def loopback_smtp() -> Iterator[LoopbackSmtp]:
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LoopbackSmtp(server)
    finally:
        server.shutdown()
        server.server_close()
