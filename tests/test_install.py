"""Installing prints no warning of our own (issue 16, first run).

``scripts/install`` installs Hotline editable. setuptools picks how: when every package
lies in one folder under its own name (``package_dir`` ``{"": "."}``), it adds that folder
to the path quietly; any other layout gets an import finder and, on every install, a
``BuildBackendWarning`` that folders named like the packages may take precedence. The
Asterisk configuration's folder ``asterisk-conf/`` is no Python name, so the package
``asterisk_conf`` is a link to it in the root.
"""

from __future__ import annotations

from distutils.core import run_setup
from pathlib import Path

import pytest
from setuptools import Distribution
from setuptools.discovery import find_package_path

ROOT = Path(__file__).resolve().parents[1]


def _distribution(monkeypatch: pytest.MonkeyPatch) -> Distribution:
    monkeypatch.chdir(ROOT)  # setup.py finds the packages from where it runs
    dist = run_setup(str(ROOT / "setup.py"), stop_after="init")
    assert isinstance(dist, Distribution)
    return dist


def test_every_package_lies_in_the_root_under_its_own_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dist = _distribution(monkeypatch)
    assert dist.package_dir == {"": "."}
    assert "asterisk_conf" in dist.packages
    for package in dist.packages:
        found = Path(find_package_path(package, dist.package_dir, str(ROOT)))
        assert found.resolve() == ROOT.joinpath(*package.split(".")).resolve(), package


def test_the_asterisk_configuration_ships_as_asterisk_conf() -> None:
    link = ROOT / "asterisk_conf"
    assert link.is_symlink() and link.resolve() == (ROOT / "asterisk-conf").resolve()
    assert (link / "extensions.conf").is_file()
