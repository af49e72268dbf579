"""House rule: a pure core imports no Twisted, SQLAlchemy, Klein or Jinja2 (ARCHITECTURE.md).

The pure cores are every module directly in ``dialplan/`` (call flows, which are adapters,
live in ``dialplan/flows/``), plus the modules listed in EXTRA_PURE.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("twisted", "sqlalchemy", "klein", "jinja2", "treq", "alembic", "psycopg2")
EXTRA_PURE = (
    "fastagi/protocol.py",
    "ami/protocol.py",
    "agent_desktop/agent_state.py",
    "agent_desktop/call_form.py",
    "voicemail/claims.py",
    "agent_desktop/status_line.py",
    "web/badge.py",
)


def pure_modules() -> list[Path]:
    modules = sorted((ROOT / "dialplan").glob("*.py"))
    modules += [ROOT / m for m in EXTRA_PURE if (ROOT / m).exists()]
    return modules


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_there_are_pure_cores_to_check() -> None:
    assert len(pure_modules()) >= 5


@pytest.mark.parametrize("path", pure_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_core_imports_no_framework(path: Path) -> None:
    bad = imported_roots(path) & set(FORBIDDEN)
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
