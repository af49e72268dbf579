"""The sign-in throttle on a fake clock (R-7.4, R-7.5): a wait that grows with the misses of
one login at one address and ends, per-minute limits per address and for the whole process,
and bounded memory. Nobody's misses lock anyone else out."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock

from web.sign_in_throttle import UNLOCK_CHECK_S, SignInThrottle

HOME = "192.0.2.10"  # the supervisor's own address
ELSEWHERE = "203.0.113.66"


def test_a_strangers_misses_never_lock_the_supervisor_out_at_her_own_address() -> None:
    throttle = SignInThrottle(Clock(), address_limit=1000, global_limit=1000)
    for _ in range(100):
        throttle.failed("supervisor", ELSEWHERE)
    assert throttle.retry_after_s("supervisor", ELSEWHERE) > 0
    assert throttle.retry_after_s("supervisor", HOME) == 0
    assert throttle.retry_after_s("SUPERVISOR ", ELSEWHERE) > 0  # the same login


def test_the_wait_grows_with_the_misses_and_ends() -> None:
    clock = Clock()
    throttle = SignInThrottle(clock, free_misses=3, first_delay_s=5, max_delay_s=60)
    waits = []
    for _ in range(8):
        throttle.failed("eva", HOME)
        waits.append(throttle.retry_after_s("eva", HOME))
        clock.advance(waits[-1])  # the guesser waits each time, as told
        assert throttle.retry_after_s("eva", HOME) == 0
    assert waits == [0, 0, 0, 5, 10, 20, 40, 60]


def test_the_wait_is_in_whole_seconds_rounded_up() -> None:
    clock = Clock()
    throttle = SignInThrottle(clock, free_misses=0, first_delay_s=30)
    throttle.failed("eva", HOME)
    clock.advance(29.5)
    assert throttle.retry_after_s("eva", HOME) == 1
    clock.advance(0.5)
    assert throttle.retry_after_s("eva", HOME) == 0


def test_a_success_clears_the_count_of_its_login_at_its_address_only() -> None:
    throttle = SignInThrottle(Clock(), free_misses=2, first_delay_s=10)
    for _ in range(3):
        throttle.failed("eva", HOME)
        throttle.failed("eva", ELSEWHERE)
    throttle.succeeded("eva", HOME)
    assert throttle.retry_after_s("eva", HOME) == 0
    throttle.failed("eva", HOME)
    assert throttle.retry_after_s("eva", HOME) == 0  # one miss since the success
    assert throttle.retry_after_s("eva", ELSEWHERE) == 10


def test_an_admin_sees_how_long_a_login_is_held_back_and_forgives_it_everywhere() -> None:
    clock = Clock()
    throttle = SignInThrottle(clock, free_misses=2, first_delay_s=10, max_delay_s=600)
    for _ in range(5):
        throttle.failed("eva", HOME)
    for _ in range(3):
        throttle.failed("Eva", ELSEWHERE)
    throttle.failed("jan", HOME)
    assert throttle.held_back_s("EVA") == 40  # the longer of her two waits
    assert throttle.held_back_s("jan") == 0
    assert throttle.forgive("eva") == 2
    assert throttle.held_back_s("eva") == 0
    assert throttle.retry_after_s("eva", HOME) == throttle.retry_after_s("eva", ELSEWHERE) == 0
    throttle.failed("eva", HOME)  # her count starts again from nothing
    assert throttle.retry_after_s("eva", HOME) == 0


def test_misses_are_forgotten_a_while_after_the_last() -> None:
    clock = Clock()
    throttle = SignInThrottle(clock, free_misses=2, first_delay_s=10, max_delay_s=60, forget_s=600)
    for _ in range(3):
        throttle.failed("eva", HOME)
    clock.advance(600)
    throttle.failed("eva", HOME)  # counts as the first again
    assert throttle.retry_after_s("eva", HOME) == 0


def test_one_address_is_limited_per_minute_whatever_the_logins_then_may_go_on() -> None:
    clock = Clock()
    throttle = SignInThrottle(clock, address_limit=10, global_limit=1000, window_s=60)
    for n in range(10):
        throttle.failed(f"user{n}", ELSEWHERE)
        clock.advance(1)
    assert throttle.retry_after_s("someone-new", ELSEWHERE) == 50  # the first, at 0 s, ages out
    assert throttle.retry_after_s("someone-new", HOME) == 0
    clock.advance(50)
    assert throttle.retry_after_s("someone-new", ELSEWHERE) == 0


def test_a_rotating_attack_is_slowed_for_the_whole_process_but_not_at_the_office() -> None:
    clock = Clock()
    throttle = SignInThrottle(clock, address_limit=10, global_limit=20, window_s=60)
    throttle.succeeded("supervisor", HOME)  # the office, where the staff sign in
    for n in range(20):
        throttle.failed(f"user{n}", f"198.51.100.{n}")
    assert throttle.retry_after_s("user99", "198.51.100.99") == 60
    assert throttle.retry_after_s("anyone", "198.51.100.3") == 60
    assert throttle.retry_after_s("supervisor", HOME) == 0
    assert throttle.retry_after_s("eva", HOME) == 0
    clock.advance(60)
    assert throttle.retry_after_s("user99", "198.51.100.99") == 0


@given(
    st.lists(
        st.tuples(st.text(max_size=12), st.text(max_size=8), st.booleans(), st.floats(0, 3600)),
        min_size=1,
        max_size=200,
    )
)
def test_memory_stays_bounded_whatever_is_tried(
    tries: list[tuple[str, str, bool, float]],
) -> None:
    clock = Clock()
    throttle = SignInThrottle(clock, max_keys=16)
    for login, address, right, later_s in tries:
        if right:
            throttle.succeeded(login, address)
        else:
            throttle.failed(login, address)
        clock.advance(later_s)
        assert throttle.tracked() <= 3 * 16


def test_an_unlock_elsewhere_is_asked_for_now_and_then_and_forgives_the_misses_before_it() -> None:
    clock = Clock()
    throttle = SignInThrottle(clock, free_misses=0, first_delay_s=60, max_delay_s=60)
    assert throttle.unlock_check("eva", HOME) is None  # nothing held back: nothing to ask
    throttle.failed("eva", HOME)
    missed_at = clock.seconds()
    assert throttle.unlock_check("eva", HOME) == missed_at
    assert throttle.unlock_check("eva", HOME) is None  # asked lately
    assert throttle.unlock_check("eva", at_once=True) == missed_at  # an admin's page
    clock.advance(UNLOCK_CHECK_S)
    assert throttle.unlock_check("eva", HOME) == missed_at
    throttle.failed("eva", ELSEWHERE)  # a miss after the unlock below: it still counts
    assert throttle.forgive_until("EVA", missed_at + 1) == 1
    assert throttle.retry_after_s("eva", HOME) == 0
    assert throttle.retry_after_s("eva", ELSEWHERE) > 0
