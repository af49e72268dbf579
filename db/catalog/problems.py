"""How a catalog is refused: :class:`CatalogError` for the caller, :class:`Bad` inside.

A ``Bad`` is one problem at one YAML node (or line); the reader collects them per record and
raises them together as one ``CatalogError`` ``"<source>:<line>: <reason>"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

Node: TypeAlias = Any  # a yaml.Node; PyYAML ships no type hints


class CatalogError(Exception):
    """A catalog that cannot be loaded, or a database that cannot be exported faithfully.

    ``str()`` is ``"<source>:<line>: <reason>"`` for the first problem by line; ``problems``
    holds every problem found as ``(line, reason)`` pairs.
    """

    def __init__(
        self, source: str, line: int, reason: str, problems: Sequence[tuple[int, str]] = ()
    ) -> None:
        super().__init__(f"{source}:{line}: {reason}")
        self.source = source
        self.line = line
        self.reason = reason
        self.problems: tuple[tuple[int, str], ...] = tuple(problems) or ((line, reason),)


def line_of(node: Node) -> int:
    return int(node.start_mark.line) + 1


class Bad(Exception):
    """A problem at a node; caught per record so the reader goes on to the next one."""

    def __init__(self, node_or_line: Node | int, reason: str) -> None:
        super().__init__(reason)
        self.line = node_or_line if isinstance(node_or_line, int) else line_of(node_or_line)
        self.reason = reason
