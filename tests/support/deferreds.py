"""Synchronous looks at Deferreds that a test drove to the end itself (a StubTreq flush, a
Clock step, a StringTransport): their result or failure, or that they have not fired yet."""

from __future__ import annotations

from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

T = TypeVar("T")


def result_of(d: Deferred[T]) -> T:
    """The result of a Deferred that must have fired already; its failure is raised."""
    results: list[Any] = []
    d.addBoth(results.append)
    assert results, "the Deferred has not fired"
    if isinstance(results[0], Failure):
        results[0].raiseException()
    return results[0]  # type: ignore[no-any-return]


def failure_of(d: Deferred[Any], *types: type[BaseException]) -> Failure:
    """The failure of a Deferred that must have failed already, with one of ``types``."""
    results: list[Any] = []
    d.addBoth(results.append)
    assert results, "the Deferred has not fired"
    failure = results[0]
    assert isinstance(failure, Failure), f"expected a failure, got {failure!r}"
    assert failure.check(*types), f"expected {types}, got {failure.value!r}"
    return failure


def has_not_fired(d: Deferred[Any]) -> bool:
    """Whether the Deferred is still waiting (it is left as it was)."""
    results: list[Any] = []

    def look(result: Any) -> Any:
        results.append(result)
        return result

    d.addBoth(look)
    return not results
