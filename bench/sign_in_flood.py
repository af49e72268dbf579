"""Sign-ins under load against the calls (issue 11, item 9; R-7.5): how long FastAGI takes to
answer while browsers flood ``/sign-in``.

Starts ``hotline serve`` on a fresh SQLite file (or ``--database-url``) with one account,
then runs ``--threads`` browsers that sign in with the right password as fast as they can
(the form, then its post, over real loopback TCP), and meanwhile opens FastAGI sessions one
after the other and times each from the environment block sent to the server's first
command back. Prints the FastAGI turnaround (median, p95, max) without and with the flood,
and how the sign-ins were answered (303 signed in, 503 "busy, try again", errors).

Run from the repository root::

    .venv/bin/python bench/sign_in_flood.py --threads 16 --seconds 10
    .venv/bin/python bench/sign_in_flood.py --database-url postgresql://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import collections
import http.cookiejar
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from db.engine import make_engine  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.models import Agent  # noqa: E402
from db.passwords import hash_password  # noqa: E402
from db.runner import DBRunner  # noqa: E402

PASSWORD = "bench password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def sign_in(base: str) -> int:
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirects())
    with browser.open(f"{base}/sign-in", timeout=60) as form:
        found = re.search(r'name="csrf_token" value="([^"]+)"', form.read().decode())
    assert found
    body = urllib.parse.urlencode(
        {"login": "bench", "password": PASSWORD, "csrf_token": found.group(1)}
    ).encode()
    try:
        with browser.open(f"{base}/sign-in", data=body, timeout=60) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def agi_turnaround_s(port: int) -> float:
    """One FastAGI session for an unknown script: the time to the server's first command."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as agi:
        stream = agi.makefile("rb")
        started = time.perf_counter()
        agi.sendall(b"agi_network: yes\nagi_network_script: nope\nagi_uniqueid: 1.1\n\n")
        stream.readline()
        took = time.perf_counter() - started
        agi.sendall(b"200 result=1\n")
        stream.readline()
        return took


def measure_agi(port: int, seconds: float) -> list[float]:
    times = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        times.append(agi_turnaround_s(port))
        time.sleep(0.05)
    return times


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return (
        f"n={len(times)} median={statistics.median(times) * 1000:.1f} ms "
        f"p95={p95 * 1000:.1f} ms max={ordered[-1] * 1000:.1f} ms"
    )


def percentile_ms(times: list[float], fraction: float) -> float:
    ordered = sorted(times)
    return ordered[int(fraction * (len(ordered) - 1))] * 1000


def add_bench_account(url: str) -> None:
    """A migrated database at ``url`` with the account the browsers sign in with."""
    upgrade(url)
    engine = make_engine(url)
    hashed = hash_password(PASSWORD)

    def add_account(session: object) -> None:
        session.add(Agent(login="bench", name="Bench", password_hash=hashed))  # type: ignore[attr-defined]

    DBRunner(engine, None).run_sync(add_account)
    engine.dispose()


def start_serve(url: str, work: Path, web_port: int, agi_port: int) -> subprocess.Popen[bytes]:
    """``hotline serve`` on ``url``, once it says it is serving. Its output goes to
    ``work/serve.log``, a file, as to a journal: a pipe drained by a thread of this process
    fills up while the attackers' threads hold the interpreter, and the server would then
    wait on its own log lines, which no production server does."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(
        HOTLINE_DATABASE_URL=url,
        HOTLINE_WEB_LISTEN=f"tcp:{web_port}:interface=127.0.0.1",
        HOTLINE_AGI_LISTEN=f"tcp:{agi_port}:interface=127.0.0.1",
        HOTLINE_SPOOL_DIR=str(work / "spool"),
        PYTHONPATH=str(ROOT),
    )
    log = work / "serve.log"
    with open(log, "wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "hotline", "serve"],
            cwd=work,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while b"Hotline is serving" not in log.read_bytes():
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"hotline serve did not start; see {log}")
        time.sleep(0.1)
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    url = args.database_url or f"sqlite:///{work / 'hotline.db'}"
    add_bench_account(url)
    web_port, agi_port = free_port(), free_port()
    server = start_serve(url, work, web_port, agi_port)
    try:
        print("FastAGI, quiet:        ", summary(measure_agi(agi_port, 3)))
        answers: collections.Counter[str] = collections.Counter()
        stop = threading.Event()

        def browser() -> None:
            while not stop.is_set():
                try:
                    answers[str(sign_in(f"http://127.0.0.1:{web_port}"))] += 1
                except OSError as error:
                    answers[type(error).__name__] += 1

        browsers = [threading.Thread(target=browser) for _ in range(args.threads)]
        started = time.monotonic()
        for b in browsers:
            b.start()
        flooded = measure_agi(agi_port, args.seconds)
        stop.set()
        for b in browsers:
            b.join()
        took = time.monotonic() - started
        print(f"FastAGI, {args.threads} sign-in threads:", summary(flooded))
        total = sum(answers.values())
        print(f"sign-ins: {total / took:.1f}/s, answers {dict(sorted(answers.items()))}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
