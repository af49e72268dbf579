"""The calls under attack (issue 11): FastAGI's turnaround while the web side is attacked and
hostile caller IDs arrive, each attack in turn against one ``hotline serve``.

Attacks, each for ``--seconds``:

- **large bodies**: browsers without a cookie post 50 MB form bodies to ``/sign-in``;
- **idle connections**: ``--idle`` connections to the web port that send half a request and
  then nothing;
- **sign-in flood**: ``--threads`` browsers signing in as fast as they can;
- **hostile caller IDs**: FastAGI sessions whose caller ID is invalid UTF-8 with a NUL, to a
  DID nobody configured, one after the other.

Meanwhile a probe opens FastAGI sessions one after the other and times each from the
environment block to the server's first command (``sign_in_flood.py``). The probe runs in
a process of its own: beside the attackers' threads it would wait for the interpreter's
lock, and time that instead of the server. Prints a row per
attack (p50, p99, max, and how the attackers were answered) and ends with
``attacks worst_p99_ms=X probe_limit_ms=100``.

Run from the repository root::

    .venv/bin/python bench/attacks.py --seconds 10
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sign_in_flood import (
    add_bench_account,
    free_port,
    measure_agi,
    percentile_ms,
    sign_in,
    start_serve,
)

BIG_BODY_BYTES = 50 * 1024 * 1024
PROBE_LIMIT_MS = 100.0
Attacker = Callable[[threading.Event, collections.Counter[str]], None]


def large_bodies(web_port: int) -> Attacker:
    def attack(stop: threading.Event, answers: collections.Counter[str]) -> None:
        chunk = b"a=" + b"x" * (1024 * 1024 - 2)
        while not stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", web_port), timeout=10) as s:
                    s.sendall(
                        b"POST /sign-in HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Type: application/x-www-form-urlencoded\r\n"
                        + f"Content-Length: {BIG_BODY_BYTES}\r\n\r\n".encode()
                    )
                    for _ in range(BIG_BODY_BYTES // len(chunk)):
                        s.sendall(chunk)
                    answers[s.recv(12).decode("latin-1")[9:12] or "closed"] += 1
            except OSError as error:
                answers[type(error).__name__] += 1

    return attack


def idle_connections(web_port: int, count: int) -> Attacker:
    def attack(stop: threading.Event, answers: collections.Counter[str]) -> None:
        held = []
        for _ in range(count):
            try:
                s = socket.create_connection(("127.0.0.1", web_port), timeout=10)
                s.sendall(b"GET /desktop HTTP/1.1\r\nHost: x\r\n")  # and never the end
                held.append(s)
                answers["held"] += 1
            except OSError as error:
                answers[type(error).__name__] += 1
        stop.wait()
        for s in held:
            s.close()

    return attack


def sign_in_flood(web_port: int) -> Attacker:
    def attack(stop: threading.Event, answers: collections.Counter[str]) -> None:
        while not stop.is_set():
            try:
                answers[str(sign_in(f"http://127.0.0.1:{web_port}"))] += 1
            except OSError as error:
                answers[type(error).__name__] += 1

    return attack


def hostile_caller_ids(agi_port: int) -> Attacker:
    def attack(stop: threading.Event, answers: collections.Counter[str]) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                with socket.create_connection(("127.0.0.1", agi_port), timeout=10) as s:
                    s.sendall(
                        b"agi_network: yes\nagi_network_script: inbound,999000999\n"
                        + f"agi_uniqueid: 9{n}.1\n".encode()
                        + b"agi_callerid: \xff\xfe7\x0077\nagi_calleridname: \xc3\x28\n\n"
                    )
                    stream = s.makefile("rb")
                    while line := stream.readline():  # answer every command: 200 result=0
                        if line.startswith(b"HANGUP"):
                            break
                        s.sendall(b"200 result=0\n")
                    answers["served"] += 1
            except OSError as error:
                answers[type(error).__name__] += 1

    return attack


def run_attack(
    name: str, agi_port: int, seconds: float, attackers: list[Attacker]
) -> tuple[str, float, str]:
    stop = threading.Event()
    answers: collections.Counter[str] = collections.Counter()
    threads = [threading.Thread(target=a, args=(stop, answers), daemon=True) for a in attackers]
    for t in threads:
        t.start()
    time.sleep(min(2.0, seconds / 5))  # let the attack build up
    with multiprocessing.get_context("spawn").Pool(1) as probe:
        times = probe.apply(measure_agi, (agi_port, seconds))
    stop.set()
    for t in threads:
        t.join(timeout=30)
    p99 = percentile_ms(times, 0.99)
    row = (
        f"| {name} | {len(times)} | {percentile_ms(times, 0.5):.1f} | {p99:.1f} "
        f"| {max(times) * 1000:.1f} | {dict(sorted(answers.items()))} |"
    )
    return name, p99, row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--idle", type=int, default=2000)
    parser.add_argument(
        "--only", default="", help="run only the attacks whose name contains this text"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hotline-attacks-"))
    url = f"sqlite:///{work / 'hotline.db'}"
    add_bench_account(url)
    web_port, agi_port = free_port(), free_port()
    server = start_serve(url, work, web_port, agi_port)
    try:
        with multiprocessing.get_context("spawn").Pool(1) as probe:
            quiet = probe.apply(measure_agi, (agi_port, 3))
        print("| attack | probes | p50 ms | p99 ms | max ms | attackers answered |")
        print("|---|---|---|---|---|---|")
        print(
            f"| none | {len(quiet)} | {percentile_ms(quiet, 0.5):.1f} "
            f"| {percentile_ms(quiet, 0.99):.1f} | {max(quiet) * 1000:.1f} | - |"
        )
        attacks = {
            "large bodies (4 browsers, 50 MB each)": [large_bodies(web_port)] * 4,
            f"{args.idle} idle half-sent requests": [idle_connections(web_port, args.idle)],
            f"sign-in flood ({args.threads} browsers)": [sign_in_flood(web_port)] * args.threads,
            "hostile caller IDs (4 at a time)": [hostile_caller_ids(agi_port)] * 4,
        }
        worst = 0.0
        for name, attackers in attacks.items():
            if args.only not in name:
                continue
            _, p99, row = run_attack(name, agi_port, args.seconds, attackers)
            worst = max(worst, p99)
            print(row, flush=True)
        print(f"attacks worst_p99_ms={worst:.1f} probe_limit_ms={PROBE_LIMIT_MS:.0f}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
