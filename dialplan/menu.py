"""IVR menu steps (R-1.1): a digit leads to a queue or a sub-menu; invalid input and silence
are retried, then the menu's default applies. Pure; every step says what to record for the
IVR report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.enums import IvrOutcome


@dataclass(frozen=True)
class ToQueue:
    queue_code: str


@dataclass(frozen=True)
class ToMenu:
    menu_code: str


@dataclass(frozen=True)
class Retry:
    """Play the invalid-option prompt (when the input was wrong), then the menu again."""

    play_invalid: bool


@dataclass(frozen=True)
class GiveUp:
    """No default target: thank the caller and end the call (abandoned in IVR)."""


Target = ToQueue | ToMenu
Next = ToQueue | ToMenu | Retry | GiveUp


@dataclass(frozen=True)
class Menu:
    code: str
    prompt: str
    invalid_prompt: str = "hotline/invalid-option"
    timeout_s: int = 5
    max_retries: int = 2
    options: Mapping[str, Target] = field(default_factory=dict)
    default: Target | None = None

    @property
    def digits(self) -> str:
        """The keys that end the prompt early (``STREAM FILE``'s escape digits)."""
        return "".join(sorted(self.options))


def step(menu: Menu, pressed: str, attempt: int) -> tuple[IvrOutcome, Next]:
    """What follows when the caller pressed ``pressed`` ('' = silence) on ``attempt`` (0-based)."""
    if pressed and pressed[0] in menu.options:
        return IvrOutcome.OPTION, menu.options[pressed[0]]
    outcome = IvrOutcome.INVALID if pressed else IvrOutcome.TIMEOUT
    if attempt < menu.max_retries:
        return outcome, Retry(play_invalid=bool(pressed))
    return outcome, menu.default if menu.default is not None else GiveUp()


# A caller bounced between menus more often than this is ended rather than looped forever
# (a configuration with a cycle of defaults must not keep a line busy).
MAX_MENU_VISITS = 12
