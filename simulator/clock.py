"""The time interface the simulator is written against (the reactor or a test Clock).

Structural types rather than Twisted's zope interfaces, so type checkers follow the calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class DelayedCall(Protocol):
    def active(self) -> bool: ...

    def cancel(self) -> None: ...

    def getTime(self) -> float: ...


class ReactorTime(Protocol):
    """``seconds()`` and ``callLater()``: what IReactorTime offers and Clock implements."""

    def seconds(self) -> float: ...

    def callLater(
        self, delay: float, callable: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> DelayedCall: ...
