"""How a catalog is refused: :class:`CatalogError` for the caller, :class:`Bad` inside.

A ``Bad`` is one problem at one YAML node (or line); the reader collects them per record and
raises them together as one ``CatalogError`` ``"<source>:<line>: <reason>"``.

Every reason is a :class:`Reason`: an English template marked with ``N_`` and its values,
so that the one set of rules speaks both to ``hotline load`` (English text) and to the
administration pages (R-6.2), which show the same reason in the user's language
(``Reason.render(gettext)``, R-2.17).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from domain.texts import N_

Node: TypeAlias = Any  # a yaml.Node; PyYAML ships no type hints


def _untranslated(text: str) -> str:
    return text


@dataclass(frozen=True)
class Reason:
    """A message template (``%(name)s`` placeholders) and its values, rendered on demand.

    A value that is itself a ``Reason`` (``the text 'x'``, a field's own reason) is rendered
    in the same language.
    """

    template: str
    params: tuple[tuple[str, Any], ...] = ()

    def render(self, translate: Callable[[str], str] = _untranslated) -> str:
        text = translate(self.template)
        if not self.params:
            return text
        values = {k: v.render(translate) if isinstance(v, Reason) else v for k, v in self.params}
        return text % values

    def __str__(self) -> str:
        return self.render()

    def param(self, name: str) -> Any:
        return dict(self.params).get(name)


def why(template: str, **params: Any) -> Reason:
    """A reason: ``why(N_("%(value)r is too long"), value=text)``."""
    return Reason(template, tuple(params.items()))


FIELD_REASON = N_("%(key)s: %(reason)s")
"""A problem of one key of a record: ``ring_timeout_s: 0 is out of range (must be at least 1)``.
The pages show the inner reason next to the field named by ``key``."""


def field_reason(key: str, reason: Reason) -> Reason:
    return why(FIELD_REASON, key=key, reason=reason)


class CatalogError(Exception):
    """A catalog that cannot be loaded, or a database that cannot be exported faithfully.

    ``str()`` is ``"<source>:<line>: <reason>"`` for the first problem by line; ``problems``
    holds every problem found as ``(line, reason)`` pairs, and ``reasons`` the same as
    ``(line, Reason)`` for a reader in another language.
    """

    def __init__(
        self,
        source: str,
        line: int,
        reason: str | Reason,
        problems: Sequence[tuple[int, Reason]] = (),
    ) -> None:
        first = reason if isinstance(reason, Reason) else Reason(reason)
        super().__init__(f"{source}:{line}: {first}")
        self.source = source
        self.line = line
        self.reason = str(first)
        self.reasons: tuple[tuple[int, Reason], ...] = tuple(problems) or ((line, first),)
        self.problems: tuple[tuple[int, str], ...] = tuple((n, str(r)) for n, r in self.reasons)


def line_of(node: Node) -> int:
    return int(node.start_mark.line) + 1


class Bad(Exception):
    """A problem at a node; caught per record so the reader goes on to the next one.

    ``Bad(node, N_("%(value)s is out of range"), value=5)``, or ``Bad(node, reason)`` with a
    :class:`Reason` already made.
    """

    def __init__(self, node_or_line: Node | int, reason: str | Reason, **params: Any) -> None:
        self.why = reason if isinstance(reason, Reason) else why(reason, **params)
        super().__init__(str(self.why))
        self.line = node_or_line if isinstance(node_or_line, int) else line_of(node_or_line)
        self.reason = str(self.why)
