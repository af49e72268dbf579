"""Who follows a state the AMI client keeps (phones' device states, supervisors' spy calls):
each listener is told of every change, and one listener's fault never stops the others."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from twisted.logger import Logger

T = TypeVar("T")

_log = Logger()


class Listeners(Generic[T]):
    """Listeners told ``listener(what)`` of each change, in the order they came."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._listeners: list[Callable[[T], object]] = []

    def add(self, listener: Callable[[T], object]) -> Callable[[], None]:
        """Tell ``listener`` of each change from now on; returns the way to stop."""
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop

    def tell(self, what: T) -> None:
        for listener in list(self._listeners):
            try:
                listener(what)
            except Exception:  # one screen's fault must not stop the others
                _log.failure("{name} listener failed", name=self._name)
