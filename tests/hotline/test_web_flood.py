"""A web flood from one address against a real ``hotline serve`` (R-7.5, issue 11): the
connection over the per-address cap is closed at accept, the ones held stay served, and a
call's FastAGI session on the same process is answered all the while."""

from __future__ import annotations

import socket
from contextlib import ExitStack
from pathlib import Path

from sqlalchemy import Engine

from tests.support.processes import free_port, hotline_env, serving
from web.server import PER_ADDRESS_CONNECTIONS


def test_connections_over_the_cap_are_closed_and_fastagi_is_still_served(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    web_port, agi_port = free_port(), free_port()
    env = hotline_env(
        HOTLINE_DATABASE_URL=db_url,
        HOTLINE_WEB_LISTEN=f"tcp:{web_port}:interface=127.0.0.1",
        HOTLINE_AGI_LISTEN=f"tcp:{agi_port}:interface=127.0.0.1",
    )
    with serving(env, tmp_path), ExitStack() as held:
        flood = [
            held.enter_context(socket.create_connection(("127.0.0.1", web_port), timeout=10))
            for _ in range(PER_ADDRESS_CONNECTIONS)
        ]
        for connection in flood:  # half-sent requests, held open
            connection.sendall(b"GET /static/hotline.css HTTP/1.1\r\nHost: hotline\r\n")
        with socket.create_connection(("127.0.0.1", web_port), timeout=10) as extra:
            try:
                assert extra.recv(1024) == b""  # closed at once, not a byte read or sent
            except ConnectionResetError:
                pass
        # FastAGI answers like a server while the web side is full: the unknown script is
        # named on the console (VERBOSE) and refused with FAILURE.
        with socket.create_connection(("127.0.0.1", agi_port), timeout=10) as agi:
            agi.sendall(b"agi_network: yes\nagi_network_script: nope\nagi_uniqueid: 1.1\n\n")
            stream = agi.makefile("rb")
            assert stream.readline().startswith(b"VERBOSE ")
            agi.sendall(b"200 result=1\n")
            assert stream.readline() == b"FAILURE\n"
        # The connections held are still served once their requests are complete.
        flood[-1].sendall(b"\r\n")
        assert flood[-1].recv(1024).startswith(b"HTTP/1.1 200 ")
