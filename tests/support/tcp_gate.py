"""A TCP forwarder a test can shut, standing between a real server process and its real
PostgreSQL: shut, it cuts every open connection and resets new ones, which is what the
server sees when the database host goes away; opened again, it forwards as before.

Threads, not the reactor: the process under test is another process, and the test
itself runs on the real clock (the real-Asterisk tier).
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress

_CHUNK = 65536


class TcpGate:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._open = True
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def shut(self) -> None:
        """The database host is gone: open connections are cut, new ones reset."""
        with self._lock:
            self._open = False
            conns, self._conns = self._conns, set()
        for conn in conns:
            _cut(conn)

    def reopen(self) -> None:
        with self._lock:
            self._open = True

    def close(self) -> None:
        self._closed = True
        self.shut()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                admitted = self._open
            if not admitted:
                _cut(client)
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _cut(client)
                continue
            with self._lock:
                self._conns.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(_CHUNK):
                sink.sendall(data)
        for conn in (source, sink):
            _cut(conn)
        with self._lock:
            self._conns.difference_update((source, sink))


def _cut(conn: socket.socket) -> None:
    with suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
    with suppress(OSError):
        conn.close()
