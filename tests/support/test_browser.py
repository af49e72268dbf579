"""The real-browser tests cannot pass in CI by skipping (tests/support/browser.py).

A developer without Chromium gets the browser test modules skipped; with
``HOTLINE_REQUIRE_BROWSER=1``, as ``.ci/run`` sets it, a missing Chromium, chromedriver or
selenium makes them fail with a message that says what is missing. Screenshots go to
``HOTLINE_TEST_ARTIFACTS``, never into the repository.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support import browser

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_chromium(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-such-chromium")


@pytest.fixture
def no_selenium(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "selenium" else real(name, *args)

    monkeypatch.setattr(browser.importlib.util, "find_spec", find_spec)


def test_without_chromium_a_developer_gets_the_module_skipped(
    no_chromium: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOTLINE_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-chromium"):
        browser.browser_tests()


def test_without_chromium_ci_fails_each_browser_test_saying_what_is_missing(
    no_chromium: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOTLINE_REQUIRE_BROWSER", "1")
    assert browser.browser_tests() == []  # collected and run, not skipped ...
    with pytest.raises(pytest.fail.Exception) as failed:  # ... and failed
        with browser.chromium(tmp_path):
            pass
    assert "HOTLINE_REQUIRE_BROWSER=1" in str(failed.value)
    assert "no-such-chromium" in str(failed.value)


def test_without_selenium_ci_cannot_even_collect_the_browser_tests(
    no_selenium: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOTLINE_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="selenium"):
        browser.browser_tests()
    monkeypatch.setenv("HOTLINE_REQUIRE_BROWSER", "0")
    with pytest.raises(pytest.skip.Exception, match="selenium"):
        browser.browser_tests()


def test_screenshots_go_to_hotline_test_artifacts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    chosen = tmp_path / "ci-artifacts" / "run-1"
    monkeypatch.setenv("HOTLINE_TEST_ARTIFACTS", str(chosen))
    assert browser.artifacts_dir(tmp_path / "test") == chosen and chosen.is_dir()
    monkeypatch.delenv("HOTLINE_TEST_ARTIFACTS")
    own = browser.artifacts_dir(tmp_path / "test")
    assert own == tmp_path / "test" and REPO not in own.parents


def test_every_browser_test_module_uses_the_shared_guard_and_artifacts_folder() -> None:
    """A module that skipped by itself (its own skipif/importorskip) would bypass the CI
    rule; a screenshot saved anywhere but artifacts_dir could land in the repository."""
    modules = [
        p
        for p in (REPO / "tests").rglob("test_*.py")
        if re.search(r"^from selenium", p.read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert len(modules) >= 4, modules
    for module in modules:
        text = module.read_text(encoding="utf-8")
        assert "pytestmark = browser_tests()" in text, module
        assert "importorskip" not in text and "HAVE_CHROMIUM" not in text, module
        for line in text.splitlines():
            if "save_screenshot(" in line:
                assert "artifacts_dir(" in line or "shots /" in line, (module, line)
