"""A real call hears the prompts `hotline prompts` made (R-6.4, issue 10): Asterisk finds
each file in the caller's language and plays it (the AGI reply's ``endpos`` > 0), where it
used to answer ``result=-1 endpos=0`` for every one of them."""

from __future__ import annotations

import re

from tests.real_asterisk.conftest import CZECH_MENU_DID, SUPPORT_DID, Tier
from tests.support.real_asterisk import place_call, wait_until

# "Playing 'hotline/goodbye.slin' (escape_digits=) (sample_offset 0) (language 'cs')": a
# WAV file is read as signed linear (slin).
PLAYING = re.compile(r"Playing '([^']+)\.slin' .*\(language '([a-z]+)'\)")


def _streamed(log: str) -> list[tuple[str, int]]:
    """(prompt, endpos) of every STREAM FILE in the AGI debug log, in order."""
    out: list[tuple[str, int]] = []
    pending: dict[str, str] = {}
    for line in log.splitlines():
        match = re.search(r"<([^>]+)>AGI Rx << STREAM FILE (\S+)", line)
        if match:
            pending[match.group(1)] = match.group(2)
            continue
        match = re.search(r"<([^>]+)>AGI Tx >> 200 result=-?\d+ endpos=(\d+)", line)
        if match and match.group(1) in pending:
            out.append((pending.pop(match.group(1)), int(match.group(2))))
    return out


def test_a_czech_caller_hears_the_menu_the_greeting_and_the_confirmation_in_czech(
    tier: Tier,
) -> None:
    caller = place_call(tier.ami, tier.pbx, CZECH_MENU_DID)
    tier.pbx.wait_for_log("Playing 'tier/main-menu.slin'")
    caller.press("1")
    tier.call_where(lambda c: c.state.value == "waiting")
    caller.press("#")
    tier.pbx.wait_for_log("AGI Rx << RECORD FILE")
    caller.press("#")  # the message is over
    tier.call_where(lambda c: c.state.value == "voicemail")
    wait_until("the caller is let go", lambda: True if not caller.is_up() else None, 30)
    log = tier.pbx.new_log()
    played = _streamed(log)
    names = [name for name, _ in played]
    assert names[:1] == ["tier/main-menu"]
    assert {"hotline/leave-message", "hotline/message-saved"} <= set(names), played
    assert all(endpos > 0 for _, endpos in played), played  # heard, not skipped
    assert {language for _, language in PLAYING.findall(log)} == {"cs"}
    assert "does not exist in any format" not in log


def test_an_english_caller_hears_the_callback_confirmation_and_an_unknown_number(
    tier: Tier,
) -> None:
    caller = place_call(tier.ami, tier.pbx, SUPPORT_DID)
    tier.call_where(lambda c: c.state.value == "waiting")
    caller.press("0")
    tier.call_where(lambda c: c.state.value == "callback")
    wait_until("the caller is let go", lambda: True if not caller.is_up() else None, 30)
    stranger = place_call(tier.ami, tier.pbx, "999999999")
    wait_until("the stranger is let go", lambda: True if not stranger.is_up() else None, 30)
    log = tier.pbx.new_log()
    played = _streamed(log)
    assert {"hotline/callback-registered", "hotline/not-in-service"} <= {n for n, _ in played}
    assert all(endpos > 0 for _, endpos in played), played
    assert {language for _, language in PLAYING.findall(log)} == {"en"}
    assert "does not exist in any format" not in log
