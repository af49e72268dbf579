"""The sign-in throttle on a fake clock: windows, locks, address limits, bounded memory
(R-7.4, R-7.5)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock

from web.sign_in_throttle import SignInThrottle


def test_failures_older_than_the_window_are_forgotten() -> None:
    clock = Clock()
    throttle = SignInThrottle(clock, login_limit=3, window_s=60, lock_s=30)
    throttle.failed("eva", "10.0.0.1")
    throttle.failed("eva", "10.0.0.1")
    clock.advance(61)
    throttle.failed("eva", "10.0.0.1")  # the first two are out of the window
    assert throttle.retry_after_s("eva", "10.0.0.1") == 0
    throttle.failed("eva", "10.0.0.1")
    throttle.failed("eva", "10.0.0.1")
    assert throttle.retry_after_s("eva", "10.0.0.1") == 30
    clock.advance(29.5)
    assert throttle.retry_after_s("eva", "10.0.0.1") == 1  # whole seconds, rounded up
    clock.advance(0.5)
    assert throttle.retry_after_s("eva", "10.0.0.1") == 0


def test_one_address_trying_many_logins_is_locked_at_its_own_limit() -> None:
    clock = Clock()
    throttle = SignInThrottle(clock, login_limit=3, address_limit=10, lock_s=60)
    for n in range(10):
        throttle.failed(f"user{n}", "203.0.113.9")
    assert throttle.retry_after_s("someone-new", "203.0.113.9") == 60
    assert throttle.retry_after_s("someone-new", "198.51.100.1") == 0


def test_a_success_clears_the_login_but_not_the_address() -> None:
    clock = Clock()
    throttle = SignInThrottle(clock, login_limit=2, address_limit=3, lock_s=60)
    throttle.failed("eva", "a")
    throttle.succeeded("eva", "a")
    throttle.failed("eva", "a")
    assert throttle.retry_after_s("eva", "a") == 0  # one failure since the success
    throttle.failed("bob", "a")
    assert throttle.retry_after_s("carl", "a") == 60  # three from address a


@given(st.lists(st.text(max_size=12), min_size=1, max_size=200))
def test_memory_stays_bounded_whatever_logins_are_tried(logins: list[str]) -> None:
    throttle = SignInThrottle(Clock(), max_keys=16)
    for login in logins:
        throttle.failed(login, "192.0.2.1")
        assert throttle.tracked() <= 16
