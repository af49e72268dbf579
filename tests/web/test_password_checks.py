"""The gate of sign-ins and their password checks, driven by Deferreds the test fires
(R-7.4, R-7.5): a bounded number at once, a bounded queue, "busy" beyond it."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred

from db.passwords import hash_password
from tests.support.deferreds import failure_of, has_not_fired, result_of
from web.password_checks import CHECK_NICENESS, PasswordChecks, SignInsBusyError

STORED = hash_password("correct horse", n=2**4)


class Threads:
    """Stands in for the check threads: each check waits until the test finishes it."""

    def __init__(self) -> None:
        self.running: list[tuple[Callable[[], bool], Deferred[bool]]] = []

    def run(self, check: Callable[[], bool]) -> Deferred[bool]:
        d: Deferred[bool] = Deferred()
        self.running.append((check, d))
        return d

    def finish_one(self) -> None:
        check, d = self.running.pop(0)
        d.callback(check())


def sign_in(checks: PasswordChecks, password: str, address: str = "") -> Deferred[bool]:
    async def whole_sign_in() -> bool:
        return await checks.verify(password, STORED)

    return checks.take_turn(whole_sign_in, address)


def test_at_most_two_checks_run_at_once_and_the_waiting_ones_follow_in_order() -> None:
    threads = Threads()
    checks = PasswordChecks(threads.run, at_once=2, waiting=3)
    answers = [sign_in(checks, p) for p in ("correct horse", "wrong", "correct horse", "x", "y")]
    assert len(threads.running) == 2
    assert (checks.under_way, checks.queued) == (2, 3)
    threads.finish_one()
    assert not has_not_fired(answers[0]) and has_not_fired(answers[2])
    assert len(threads.running) == 2  # the first waiting one took the free turn
    while threads.running:
        threads.finish_one()
    assert [result_of(a) for a in answers] == [True, False, True, False, False]
    assert (checks.under_way, checks.queued) == (0, 0)


def test_beyond_the_queue_a_sign_in_is_refused_at_once_not_queued() -> None:
    threads = Threads()
    checks = PasswordChecks(threads.run, at_once=2, waiting=1)
    held = [sign_in(checks, "correct horse") for _ in range(3)]
    refused = sign_in(checks, "correct horse")
    failure_of(refused, SignInsBusyError)
    assert len(threads.running) == 2 and checks.queued == 1
    threads.finish_one()
    assert not has_not_fired(held[0])
    later = sign_in(checks, "correct horse")  # room again in the queue
    assert has_not_fired(later)
    while threads.running:
        threads.finish_one()
    assert result_of(later) is True


def test_a_sign_in_that_fails_gives_its_turn_back() -> None:
    threads = Threads()
    checks = PasswordChecks(threads.run, at_once=1, waiting=0)

    async def broken() -> bool:
        raise RuntimeError("the database is down")

    failure_of(checks.take_turn(broken), RuntimeError)
    assert checks.under_way == 0
    d = sign_in(checks, "correct horse")
    threads.finish_one()
    assert result_of(d) is True


@pytest.mark.parametrize(("password", "right"), [("correct horse", True), ("wrong", False)])
def test_inline_checks_give_the_answer_at_once(password: str, right: bool) -> None:
    assert result_of(sign_in(PasswordChecks.inline(), password)) is right


def test_one_address_cannot_fill_the_queue_and_turn_the_others_away() -> None:
    threads = Threads()
    checks = PasswordChecks(threads.run, at_once=2, waiting=8, per_address=3)
    burst = [sign_in(checks, "x", "203.0.113.9") for _ in range(3)]
    refused = sign_in(checks, "x", "203.0.113.9")
    failure_of(refused, SignInsBusyError)  # its fourth at once
    colleague = sign_in(checks, "correct horse", "10.0.0.5")  # still gets a place
    assert has_not_fired(colleague)
    while threads.running:
        threads.finish_one()
    assert result_of(colleague) is True
    assert [result_of(d) for d in burst] == [False, False, False]
    again = sign_in(checks, "correct horse", "203.0.113.9")  # its places are given back
    while threads.running:
        threads.finish_one()
    assert result_of(again) is True


@pytest_twisted.ensureDeferred
async def test_the_check_threads_yield_the_cpu_to_the_calls() -> None:
    """Under a sign-in flood the cores are busy; the reactor's thread, which serves the
    calls, must get them first: the check threads run at the lowest priority, and the
    reactor's own priority is left as it was."""
    before = os.getpriority(os.PRIO_PROCESS, 0)
    seen: list[tuple[int, int]] = []

    def verify(password: str, stored: str) -> bool:
        me = threading.get_native_id()
        seen.append((me, os.getpriority(os.PRIO_PROCESS, me)))
        return password == stored

    checks = PasswordChecks.in_threads(reactor, verify=verify)
    try:
        assert await checks.verify("secret", "secret") is True
        assert await checks.verify("guess", "secret") is False
    finally:
        checks.stop()
    assert [niceness for _, niceness in seen] == [CHECK_NICENESS, CHECK_NICENESS]
    assert all(thread != threading.get_native_id() for thread, _ in seen)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
