"""docs/requirements.md stays true: every requirement is listed once; a built one names the
modules that implement it and the tests that check it, each of which exists and cites the
requirement's id; one not built yet names the open issue that builds it, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INDEX = ROOT / "docs" / "requirements.md"
# How many requirements each section of the product has (R-1.1 .., ...).
SECTIONS = {1: 16, 2: 17, 3: 6, 4: 8, 5: 6, 6: 4, 7: 6}
ROW = re.compile(r"^\| (R-\d+\.\d+) \|(.+?)\|(.+?)\|(.*?)\|(.*?)\|$")


def rows() -> dict[str, tuple[str, list[str], list[str]]]:
    found: dict[str, tuple[str, list[str], list[str]]] = {}
    for line in INDEX.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match is None:
            continue
        rid, _what, status, modules, tests = (cell.strip() for cell in match.groups())
        assert rid not in found, f"{rid} is listed twice"
        found[rid] = (status, re.findall(r"`([^`]+)`", modules), re.findall(r"`([^`]+)`", tests))
    return found


def cites(path: Path, rid: str) -> bool:
    """Whether the file names ``rid`` itself or a range of its section that holds it
    ("R-1.3 .. R-1.9")."""
    text = path.read_text(encoding="utf-8")
    if re.search(rf"{re.escape(rid)}(?!\d)", text):
        return True
    section, number = map(int, rid[2:].split("."))
    for first, last in re.findall(rf"R-{section}\.(\d+) \.\. R-{section}\.(\d+)", text):
        if int(first) <= number <= int(last):
            return True
    return False


def test_every_requirement_is_listed_once() -> None:
    expected = {f"R-{s}.{n}" for s, count in SECTIONS.items() for n in range(1, count + 1)}
    assert set(rows()) == expected


@pytest.mark.parametrize("rid", sorted(rows(), key=lambda r: tuple(map(int, r[2:].split(".")))))
def test_a_requirement_names_where_it_is_built_and_checked(rid: str) -> None:
    status, modules, tests = rows()[rid]
    if status.startswith("not yet"):
        assert re.fullmatch(r"not yet \(issue \d+\)", status), status
        assert modules == [] and tests == [], "a requirement not built yet names nothing"
        return
    assert status.startswith(("built", "in part")), status
    if status.startswith("in part"):
        assert re.search(r"issue \d+", status), "say which issue builds the rest"
    assert modules and tests
    for name in modules + tests:
        path = ROOT / name
        assert path.is_file(), f"{rid}: {name} does not exist"
        assert cites(path, rid), f"{rid}: {name} does not cite {rid}"
    assert all(t.startswith("tests/") for t in tests) and not any(
        m.startswith("tests/") for m in modules
    )
