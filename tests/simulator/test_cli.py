"""``hotline simulate`` argument handling (the runs themselves: test_real_tcp)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from simulator.cli import agi_server, main


@pytest.mark.parametrize(
    ("text", "server"),
    [
        ("tcp:127.0.0.1:4573", "127.0.0.1:4573"),
        ("tcp:host=10.0.0.5:port=4574", "10.0.0.5:4574"),
        ("localhost:4573", "localhost:4573"),
    ],
)
def test_agi_endpoints(text: str, server: str) -> None:
    assert agi_server(text) == server


@pytest.mark.parametrize("text", ["tcp:127.0.0.1", "4573", "tcp:h:99999", "unix:/tmp/x"])
def test_bad_agi_endpoints(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        agi_server(text)


def test_a_malformed_scenario_is_refused_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("callers:\n  - did: '1'\n    talk_s: forever\n", encoding="utf-8")
    assert main([str(scenario)]) == 2
    assert f"{scenario}:3: talk_s must be a number" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give a scenario file"),
        (["x.yaml", "--calls-per-second", "1"], "not both"),
        (["--calls-per-second", "1", "--mix", "talk=1"], "--mix"),
        (["--calls-per-second", "0"], "must be > 0"),
        (["--calls-per-second", "1", "--ami-listen", "tcp:5038"], "needs --ami-user"),
        (["--agi", "nonsense", "--calls-per-second", "1"], "is not tcp:HOST:PORT"),
        (["--calls-per-second", "1", "--phones", "ring=1"], "--phones: 'ring=1' is not"),
        (["--calls-per-second", "1", "--phones", "busy=-1"], "cannot be negative"),
        (["x.yaml", "--phones", "busy=1"], "a scenario names its phones"),
    ],
)
def test_bad_arguments_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "--calls-per-second" in capsys.readouterr().out
