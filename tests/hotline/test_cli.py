"""The ``hotline`` command as a user runs it: one-line errors, db upgrade, serve and stop."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import Engine

from db.engine import make_engine
from db.migrate import current_revision, upgrade
from db.runner import DBRunner
from hotline.app import head_revision
from hotline.cli import main
from tests.support.centre import PASSWORD, build_staff_centre
from tests.support.processes import (
    WebUser,
    free_port,
    hotline_env,
    serve_env,
    serving,
    start_serve,
    wait_for_line,
)
from tests.support.time import T0

# The newest revision of migrations/ (a new migration moves it on).
HEAD = head_revision("sqlite://")


def test_db_upgrade_creates_the_database(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HOTLINE_DATABASE_URL", raising=False)
    assert main(["db", "upgrade"]) == 0
    assert "is at the current schema" in capsys.readouterr().out
    engine = make_engine(f"sqlite:///{tmp_path / 'hotline.db'}")
    assert current_revision(engine) == HEAD
    engine.dispose()


def test_a_wrong_setting_stops_with_one_line_and_no_traceback(monkeypatch, capsys) -> None:
    monkeypatch.setenv("HOTLINE_WEB_LISTEN", "tcp:http")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hotline: HOTLINE_WEB_LISTEN: ")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_an_unreachable_database_is_one_line(monkeypatch, capsys) -> None:
    monkeypatch.setenv("HOTLINE_DATABASE_URL", f"postgresql://nobody@127.0.0.1:{free_port()}/x")
    assert main(["db", "upgrade"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hotline: database unavailable: ")
    assert err.count("\n") == 1


def test_serve_answers_on_the_web_and_stops_cleanly_on_sigterm(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    web_port, agi_port = free_port(), free_port()
    env = hotline_env(
        HOTLINE_DATABASE_URL=db_url,
        HOTLINE_WEB_LISTEN=f"tcp:{web_port}:interface=127.0.0.1",
        HOTLINE_AGI_LISTEN=f"tcp:{agi_port}:interface=127.0.0.1",
    )
    proc = start_serve(env, tmp_path)
    try:
        wait_for_line(proc, "Hotline is serving")
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/healthz", timeout=10) as resp:
            health = json.load(resp)
        # A stranger learns that it serves, nothing of what runs where.
        assert health == {"status": "ok", "telephony": "not configured"}  # no HOTLINE_AMI_URL
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/status", timeout=10) as resp:
            page = resp.read().decode()
        assert "Database reachable" in page
        assert str(agi_port) not in page and str(web_port) not in page
        # FastAGI answers like a server: an unknown script is named on the Asterisk console
        # (VERBOSE) and refused with FAILURE, so the dialplan takes its fallback.
        with socket.create_connection(("127.0.0.1", agi_port), timeout=10) as agi:
            agi.sendall(b"agi_network: yes\nagi_network_script: nope\nagi_uniqueid: 1.1\n\n")
            stream = agi.makefile("rb")
            assert stream.readline().startswith(b"VERBOSE ")
            agi.sendall(b"200 result=1\n")
            assert stream.readline() == b"FAILURE\n"
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0
        assert "Main loop terminated" in output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(
    ("present", "says"),
    [
        (True, "hotline: HOTLINE_DATABASE_URL: the database is at schema none"),
        # Never made anew by serving (issue 11, item 4): `hotline db upgrade` creates it.
        (False, "hotline: HOTLINE_DATABASE_URL: cannot open the database"),
    ],
)
def test_serve_refuses_a_database_without_the_schema(
    tmp_path: Path, present: bool, says: str
) -> None:
    path = tmp_path / "empty.db"
    if present:
        path.touch()
    env = hotline_env(
        HOTLINE_DATABASE_URL=f"sqlite:///{path}",
        HOTLINE_WEB_LISTEN=f"tcp:{free_port()}:interface=127.0.0.1",
    )
    proc = start_serve(env, tmp_path)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert says in output
    assert "`hotline db upgrade`" in output
    assert path.exists() is present


@pytest.mark.parametrize("busy", ["web", "agi"])
def test_serve_says_which_port_is_taken(db_url: str, tmp_path: Path, busy: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        setting = f"HOTLINE_{busy.upper()}_LISTEN"
        env = hotline_env(
            HOTLINE_DATABASE_URL=db_url,
            HOTLINE_WEB_LISTEN=f"tcp:{free_port()}:interface=127.0.0.1",
            HOTLINE_AGI_LISTEN=f"tcp:{free_port()}:interface=127.0.0.1",
        )
        env[setting] = f"tcp:{port}:interface=127.0.0.1"
        proc = start_serve(env, tmp_path)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert f"hotline: {setting}: cannot listen on tcp:{port}" in output


def test_a_database_file_deleted_while_serving_is_reported_not_made_anew(
    tmp_path: Path,
) -> None:
    """Issue 11, item 4: the health check says the database cannot be opened; the file is
    not re-created empty behind the admin's back. (An SQLite file whatever the suite's
    database: only a file can be deleted.)"""
    path = tmp_path / "hotline.db"
    db_url = f"sqlite:///{path}"
    upgrade(db_url)
    web_port = free_port()
    env = serve_env(tmp_path, web_port=web_port, HOTLINE_DATABASE_URL=db_url)
    with serving(env, tmp_path):
        assert _get(web_port, "/healthz")[0] == 200
        path.unlink()
        status, body = _get(web_port, "/healthz")
        assert status == 503
        assert json.loads(body)["status"] == "unavailable"
        assert "not reachable" in json.loads(body)["error"]
        assert not path.exists()


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_demo_starts_with_a_clean_log(tmp_path: Path) -> None:
    """Issue 16, first run: no "Starting factory" line per connection or simulated call, and
    no alarming "AMI connection failed" because the demo's own switch starts a moment after
    Hotline, nor its "Connection refused"; the simulated calls are logged."""
    env = serve_env(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hotline", "demo", "--database", str(tmp_path / "demo.db")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        # Up to the second simulated call (15 s): past the AMI client's first attempts.
        log = wait_for_line(proc, " started: from ", timeout_s=90)
        while log.count(" started: from ") < 2:
            log += wait_for_line(proc, " started: from ", timeout_s=90)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "Hotline is serving" in log
    assert "Starting factory" not in log
    assert "AMI connection failed" not in log and "Connection refused" not in log


def test_serve_signs_people_in_and_stops_cleanly(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    """The running process checks sign-ins' passwords in threads of its own (R-7.4, R-7.5):
    a right password opens a session, a wrong one is refused, and the process still stops
    at once on SIGTERM."""
    DBRunner(engine, None).run_sync(build_staff_centre, T0)
    web_port = free_port()
    env = hotline_env(
        HOTLINE_DATABASE_URL=db_url,
        HOTLINE_WEB_LISTEN=f"tcp:{web_port}:interface=127.0.0.1",
        HOTLINE_AGI_LISTEN=f"tcp:{free_port()}:interface=127.0.0.1",
    )
    proc = start_serve(env, tmp_path)
    try:
        wait_for_line(proc, "Hotline is serving")
        answers = [_sign_in(web_port, "eva", password) for password in (PASSWORD, "wrong")]
        assert answers[0][0] == 303 and answers[0][1] == "/desktop"
        assert answers[0][2]  # the session cookie
        assert answers[1][0] == 401 and not answers[1][2]
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0
        assert "Main loop terminated" in output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _sign_in(port: int, login: str, password: str) -> tuple[int, str, bool]:
    """Sign in as a browser does: the form, then its post; the status, where it leads, and
    whether a session cookie came."""
    user = WebUser(f"http://127.0.0.1:{port}")
    status, location = user.sign_in(login, password)
    return status, location, user.has_session
