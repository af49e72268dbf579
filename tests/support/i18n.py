"""The messages marked for translation in the product's code and templates, as Babel
extracts them: the web, agent-desktop and back-office tests check their pages' words and
refusals against them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from babel.messages.extract import extract_from_dir

REPO = Path(__file__).resolve().parents[2]
# Every product package: a message marked anywhere (a page, a store's refusal, a pure core's
# rule) is one a person may read.
PACKAGES = (
    "agent_desktop",
    "callbacks",
    "dialplan",
    "domain",
    "hotline",
    "reports",
    "supervisor",
    "voicemail",
    "web",
)
METHODS = [(f"{package}/**.py", "python") for package in PACKAGES] + [
    (f"{package}/templates/**.html", "jinja2") for package in PACKAGES
]


def extracted_messages(methods: Sequence[tuple[str, str]] = METHODS) -> set[str]:
    """The messages Babel finds under the repository with ``methods`` (every package by
    default)."""
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(str(REPO), methods):
        found.add(message if isinstance(message, str) else message[0])
    return found
