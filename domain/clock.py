"""The one ``Clock``: the part of Twisted's ``IReactorTime`` that Hotline's code uses.

Everything below the composition root gets its time from a ``Clock`` passed in: the reactor
in a running process, ``twisted.internet.task.Clock`` in tests, so that minutes of calls run
in milliseconds and every run is the same. A typing Protocol rather than the zope interface,
so that mypy checks the calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class DelayedCall(Protocol):
    """What ``callLater`` returns (Twisted's ``IDelayedCall``)."""

    def active(self) -> bool: ...

    def cancel(self) -> None: ...

    def getTime(self) -> float: ...


class Clock(Protocol):
    """``seconds()`` and ``callLater()``: the reactor, or ``task.Clock`` in tests."""

    def seconds(self) -> float: ...

    def callLater(
        self, delay: float, callable: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> DelayedCall: ...
