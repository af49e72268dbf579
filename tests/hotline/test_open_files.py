"""A serving process raises its open-file limit (issue 12: thousands of waiting callers,
issue 13: a thousand live streams): each caller holds a FastAGI socket and each open page
a stream, so the usual soft limit of 1,024 would turn callers away long before the CPU is
the limit. A real `hotline serve` started with a soft limit of 256."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

from tests.support.processes import free_port, hotline_env, wait_for_line


def _open_files_limit(pid: int) -> tuple[str, str]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return soft, hard
    raise AssertionError("no open-files line in /proc/<pid>/limits")


def test_hotline_serve_raises_its_open_file_limit_to_the_hard_limit(
    db_url: str, tmp_path: Path
) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(256, hard)

    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))

    env = hotline_env(
        HOTLINE_DATABASE_URL=db_url,
        HOTLINE_WEB_LISTEN=f"tcp:{free_port()}:interface=127.0.0.1",
        HOTLINE_AGI_LISTEN=f"tcp:{free_port()}:interface=127.0.0.1",
        HOTLINE_SPOOL_DIR=str(tmp_path / "spool"),
        HOTLINE_RECORDINGS_DIR=str(tmp_path / "recordings"),
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "hotline", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lower,
    )
    try:
        wait_for_line(server, "Hotline is serving")
        soft_now, hard_now = _open_files_limit(server.pid)
        expected = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
        assert hard_now == expected
        if hard > low:
            assert soft_now != str(low)  # raised from the 256 it was started with
        assert soft_now == hard_now or hard == resource.RLIM_INFINITY
    finally:
        server.terminate()
        server.communicate(timeout=30)
