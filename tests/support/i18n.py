"""The messages marked for translation in the product's code and templates, as Babel
extracts them: the web, agent-desktop and back-office tests check their pages' words and
refusals against them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from babel.messages.extract import extract_from_dir

REPO = Path(__file__).resolve().parents[2]
# The product's own extraction rules (every package: a message marked anywhere -- a page, a
# store's refusal, a pure core's rule -- is one a person may read), as ``pybabel extract``
# uses them to refresh the Czech catalogue.
BABEL_CFG = REPO / "web" / "locale" / "babel.cfg"


def babel_methods() -> list[tuple[str, str]]:
    """The ``[method: pattern]`` sections of web/locale/babel.cfg, as (pattern, method)."""
    sections = re.findall(r"^\[(\w+): ([^\]]+)\]$", BABEL_CFG.read_text(), re.MULTILINE)
    return [(pattern, method) for method, pattern in sections]


METHODS = babel_methods()


def extracted_messages(methods: Sequence[tuple[str, str]] = METHODS) -> set[str]:
    """The messages Babel finds under the repository with ``methods`` (every package by
    default)."""
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(str(REPO), methods):
        found.add(message if isinstance(message, str) else message[0])
    return found
