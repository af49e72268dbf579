"""The shipped Asterisk configuration loads cleanly and agrees with Hotline (R-6.1)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dialplan.flows.context import FlowSettings
from dialplan.flows.router import SCRIPTS

CONF = Path(__file__).resolve().parents[2] / "asterisk-conf"


def asterisklint() -> str:
    found = shutil.which("asterisklint") or str(Path(sys.executable).parent / "asterisklint")
    assert Path(found).exists(), "asterisklint is a test dependency (setup.cfg extra 'test')"
    return found


def test_dialplan_passes_asterisklint_with_no_findings() -> None:
    result = subprocess.run(
        [asterisklint(), "dialplan-check", "extensions.conf"],
        cwd=CONF,
        capture_output=True,
        text=True,
        timeout=120,
    )
    findings = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and findings == "", findings


def test_every_agi_script_of_the_dialplan_is_routed_or_announced() -> None:
    dialplan = (CONF / "extensions.conf").read_text(encoding="utf-8")
    used = set(re.findall(r"AGI\(\$\{HOTLINE_AGI_\d\}/([a-z]+)", dialplan))
    # transfer and outbound arrive with the desktop (issue 5); everything else must route.
    assert used - {"transfer", "outbound"} <= set(SCRIPTS)
    assert {"inbound", "resume", "answered"} <= used


def test_the_contexts_the_flows_name_exist() -> None:
    dialplan = (CONF / "extensions.conf").read_text(encoding="utf-8")
    contexts = set(re.findall(r"^\[([\w-]+)\]", dialplan, flags=re.MULTILINE))
    settings = FlowSettings()
    assert {settings.exit_context, settings.answered_context, "hotline-resume"} <= contexts
    # EXITCONTEXT only ends a Dial for keys that exist there: # and 0.
    exit_block = dialplan.split(f"[{settings.exit_context}]")[1].split("\n[")[0]
    assert "exten => #," in exit_block and "exten => 0," in exit_block


@pytest.mark.parametrize("name", ["manager.conf", "pjsip.conf"])
def test_no_real_secret_is_shipped(name: str) -> None:
    text = (CONF / name).read_text(encoding="utf-8")
    for key, value in re.findall(r"^\s*(secret|password)\s*=\s*(\S+)", text, flags=re.MULTILINE):
        assert value.startswith("CHANGE-ME"), f"{name}: {key} = {value}"


def test_ami_is_bound_to_loopback_with_least_privilege() -> None:
    text = (CONF / "manager.conf").read_text(encoding="utf-8")
    assert re.search(r"^bindaddr = 127\.0\.0\.1$", text, flags=re.MULTILINE)
    write = re.search(r"^write = (.*)$", text, flags=re.MULTILINE)
    assert write is not None
    assert set(write.group(1).split(",")) == {"call", "originate", "reporting"}
