"""Two `inbound` FastAGI sessions for one uniqueid (issue 11, item 6; R-7.2): the second
must not drive the call the first drives. A real `hotline serve`, raw FastAGI clients."""

from __future__ import annotations

import socket
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from db.catalog import load_catalog
from db.models import Call
from tests.support.e2e_world import CENTRE_YAML
from tests.support.processes import free_port, serve_env, serving


def _session(port: int, uniqueid: str) -> socket.socket:
    agi = socket.create_connection(("127.0.0.1", port), timeout=20)
    env = (
        "agi_network: yes\nagi_network_script: inbound\n"
        f"agi_request: agi://127.0.0.1:{port}/inbound\nagi_channel: PJSIP/trunk-0001\n"
        f"agi_uniqueid: {uniqueid}\nagi_callerid: 777123456\nagi_calleridname: Jan\n"
        "agi_context: hotline-inbound\nagi_extension: 222111001\nagi_priority: 4\n"
        "agi_arg_1: 222111001\n\n"
    )
    agi.sendall(env.encode())
    return agi


def _command(agi: socket.socket) -> str:
    line = b""
    while not line.endswith(b"\n"):
        chunk = agi.recv(1)
        assert chunk, "the server closed the session"
        line += chunk
    return line.decode().strip()


def test_a_second_inbound_session_for_a_call_does_not_take_it_over(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    with Session(engine) as s, s.begin():
        load_catalog(s, CENTRE_YAML, source="centre.yaml")
    agi_port = free_port()
    env = serve_env(tmp_path, agi_port=agi_port, HOTLINE_DATABASE_URL=db_url)
    with serving(env, tmp_path):
        first = _session(agi_port, "1700000000.7")
        assert _command(first) == "ANSWER"  # the call is open and this session drives it
        second = _session(agi_port, "1700000000.7")
        assert _command(second) == "SET VARIABLE HOTLINE_DONE fallback"
        second.sendall(b"200 result=1\n")
        with Session(engine) as s:
            [call] = s.scalars(select(Call)).all()
            driver = call.driven_by
        first.sendall(b"200 result=0\n")  # the first session goes on
        assert _command(first) != ""
        with Session(engine) as s:
            [call] = s.scalars(select(Call)).all()
            assert call.driven_by == driver and call.ended_at is None
        first.close()
        second.close()
