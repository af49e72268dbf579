"""``hotline serve`` and ``hotline simulate`` as real subprocesses on loopback ports: what the
CLI, two-server, killed-server and real-browser tests share.

The processes run on the real clock, so a centre they serve keeps its queues open around the
clock (:data:`ALL_WEEK_HOURS`): the tests run whenever CI does. Their settings come only from
the environment a test gives them (:func:`hotline_env`), never from the developer's own
``HOTLINE_*`` variables. No sleeping: a test waits for the line a process prints.
"""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import sys
import threading
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
