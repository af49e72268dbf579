"""Limits and deadlines of a FastAGI session, in one frozen dataclass (R-7.5).

A deadline is a safety net against a peer that stopped answering (a half-open TCP connection, a
stuck Asterisk); it is NOT how long a caller may wait -- flows decide that. So the defaults are
generous: media commands may play long announcements and ``EXEC Dial`` lasts the whole
conversation once an agent answers (transcript 006: the Dial returned after the talk ended).
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class AGILimits:
    """What one FastAGI connection may cost and how long replies may take."""

    # Longest line accepted from the peer, in bytes (environment, replies); longer -> disconnect.
    max_line_bytes: int = 8192
    # The environment block: at most this many lines / characters, complete within the deadline
    # measured from the TCP connect with the injected clock. Asterisk's AGI() takes up to 127
    # arguments (res_agi MAX_ARGS 128 less the script), each an agi_arg_N line, beside about 25
    # agi_* keys of its own: 192 serves every valid call and still bounds a hostile peer.
    max_environment_keys: int = 192
    max_environment_bytes: int = 32768
    environment_timeout_s: float = 10.0
    # Multi-line replies (520 usage text, a GET VARIABLE value with newlines).
    max_reply_bytes: int = 65536
    # Reply deadline of commands that return at once (ANSWER, GET/SET VARIABLE, DATABASE ...).
    command_timeout_s: float = 30.0
    # Commands whose length depends on a sound file (STREAM FILE, SAY *, the GET DATA prompt,
    # EXEC of applications other than Dial).
    media_timeout_s: float = 600.0
    # EXEC Dial: ringing plus the whole conversation when answered.
    dial_timeout_s: float = 4 * 3600.0
    # Added to a command's own timeout (WAIT FOR DIGIT, RECORD FILE, GET DATA).
    timeout_margin_s: float = 10.0

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"AGILimits.{item.name} must be a positive number, not {value!r}")
