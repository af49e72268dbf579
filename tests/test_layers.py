"""The layout rules hold (docs/architecture.md): the import-linter contracts of .importlinter,
and what a contract cannot say.

- every product module sits in a layer of the contracts, so none escapes them;
- the pure cores of the layers contract are the ones the pure-core contract checks;
- each enum is defined once (no core mirrors a stored enum), one ``Clock`` protocol;
- routes and flows define no function that takes a ``Session`` (that is a store's job).
"""

from __future__ import annotations

import ast
import enum
import importlib
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from importlinter import api

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".importlinter"
PACKAGES = (
    "hotline",
    "simulator",
    "web",
    "agent_desktop",
    "dialplan",
    "voicemail",
    "callbacks",
    "reports",
    "supervisor",
    "admin",
    "fastagi",
    "ami",
    "db",
    "domain",
)
# A capability package's own __init__ holds only its docstring.
CAPABILITIES = (
    "agent_desktop",
    "dialplan",
    "voicemail",
    "callbacks",
    "reports",
    "supervisor",
    "admin",
)


def product_modules() -> Iterator[str]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name == "__main__.py":
                continue  # running it is the CLI
            parts = path.relative_to(ROOT).with_suffix("").parts
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def contracts() -> dict[str, dict[str, object]]:
    found = api.read_configuration(str(CONFIG))["contracts_options"]
    return {c["id"] if "id" in c else c["name"]: c for c in found}


def contract(name: str) -> dict[str, object]:
    return next(c for c in contracts().values() if c["name"].startswith(name))  # type: ignore[union-attr]


def layer_entries() -> list[str]:
    lines = contract("Layers")["layers"]
    assert isinstance(lines, list)
    return [entry.strip() for line in lines for entry in re.split(r"[|:]", line)]


def test_the_contracts_hold() -> None:
    # In a process of its own: import-linter trips over zope.interface's class attributes,
    # which Twisted's pytest plugin has loaded here.
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--config", str(CONFIG), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_every_module_is_in_a_layer() -> None:
    entries = layer_entries()
    outside = [
        module
        for module in product_modules()
        if module not in CAPABILITIES
        and module != "web"
        and not any(module == e or module.startswith(e + ".") for e in entries)
    ]
    assert outside == [], "add these to a layer of .importlinter"


def test_the_pure_cores_of_the_layers_are_the_checked_ones() -> None:
    entries = set(layer_entries())
    pure = set(contract("Pure cores")["source_modules"])  # type: ignore[arg-type]
    capability_cores = {
        e
        for e in entries
        if e.split(".")[0] in CAPABILITIES
        and e.count(".") == 1
        and e.rsplit(".", 1)[1] not in ("store", "routes", "flows", "services")
        and not e.endswith("_routes")  # a capability's second route table (reports)
    }
    # Service modules directly in a package (an intake, a mailer, a call back, the prompt
    # recordings, the supervisor screens' shared refresh) are not pure.
    services = {
        "voicemail.intake",
        "voicemail.mailer",
        "callbacks.call_back",
        "callbacks.intake",
        "reports.report_files",
        "reports.report_mailing",
        "admin.prompt_files",
        "supervisor.live_screens",
    }
    assert capability_cores - services <= pure
    assert "domain" in pure


def _classes() -> Iterator[type]:
    for module_name in product_modules():
        module = importlib.import_module(module_name)
        for _name, value in vars(module).items():
            if inspect.isclass(value) and value.__module__ == module_name:
                yield value


def test_each_enum_is_defined_once() -> None:
    by_values: dict[frozenset[str], list[str]] = {}
    for cls in _classes():
        if issubclass(cls, enum.Enum) and len(cls) > 1:
            values = frozenset(str(member.value) for member in cls)
            by_values.setdefault(values, []).append(f"{cls.__module__}.{cls.__qualname__}")
    twins = {tuple(names) for names in by_values.values() if len(names) > 1}
    # Nor a subset that mirrors a stored enum's values (an outcome that is a call state).
    stored = [
        frozenset(str(m.value) for m in cls)
        for cls in _classes()
        if issubclass(cls, enum.Enum) and cls.__module__ == "domain.enums"
    ]
    mirrors = sorted(
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _classes()
        if issubclass(cls, enum.Enum)
        and cls.__module__ != "domain.enums"
        and any(frozenset(str(m.value) for m in cls) <= values for values in stored)
    )
    assert twins == set() and mirrors == []


def test_one_clock_protocol() -> None:
    clocks = sorted(
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _classes()
        if getattr(cls, "_is_protocol", False) and {"seconds", "callLater"} <= set(vars(cls))
    )
    assert clocks == ["domain.clock.Clock"]


def _takes_a_session(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(
        isinstance(arg.annotation, ast.Name | ast.Constant | ast.Attribute)
        and "Session" in ast.unparse(arg.annotation)
        for arg in [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]
    )


@pytest.mark.parametrize("folder", ["agent_desktop/routes", "dialplan/flows", "dialplan/services"])
def test_routes_flows_and_services_define_no_session_function(folder: str) -> None:
    paths = sorted((ROOT / folder).glob("*.py"))
    paths += [ROOT / f for f in ("voicemail/routes.py", "supervisor/routes.py", "web/routes.py")]
    paths.append(ROOT / "reports/report_routes.py")
    found = [
        f"{path.relative_to(ROOT)}:{node.name}"
        for path in paths
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _takes_a_session(node)
    ]
    assert paths and found == []


def test_the_ci_runs_the_contracts() -> None:
    assert "lint-imports" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert os.access(ROOT / ".ci" / "run", os.X_OK)
