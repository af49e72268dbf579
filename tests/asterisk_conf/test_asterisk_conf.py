"""The shipped Asterisk configuration loads cleanly and agrees with Hotline (R-6.1)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dialplan.channel_vars import SCRIPTS
from dialplan.flows.context import FlowSettings

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
    assert used <= set(SCRIPTS)
    assert {"inbound", "resume", "answered", "transfer", "outbound"} <= used


def test_the_contexts_the_flows_name_exist() -> None:
    dialplan = (CONF / "extensions.conf").read_text(encoding="utf-8")
    contexts = set(re.findall(r"^\[([\w-]+)\]", dialplan, flags=re.MULTILINE))
    settings = FlowSettings()
    assert {settings.exit_context, settings.answered_context, "hotline-resume"} <= contexts
    # EXITCONTEXT only ends a Dial for keys that exist there: # and 0 (R-1.7, R-1.8).
    exit_block = dialplan.split(f"[{settings.exit_context}]")[1].split("\n[")[0]
    assert "exten => #," in exit_block and "exten => 0," in exit_block


@pytest.mark.parametrize("name", ["manager.conf", "pjsip.conf"])
def test_no_real_secret_is_shipped(name: str) -> None:
    text = (CONF / name).read_text(encoding="utf-8")
    for key, value in re.findall(r"^\s*(secret|password)\s*=\s*(\S+)", text, flags=re.MULTILINE):
        assert value.startswith("CHANGE-ME"), f"{name}: {key} = {value}"


def test_the_fallback_mailbox_exists_in_the_shipped_voicemail_conf() -> None:
    """modules.conf requires app_voicemail; the fallback's VoiceMail() needs its box."""
    dialplan = (CONF / "extensions.conf").read_text(encoding="utf-8")
    modules = (CONF / "modules.conf").read_text(encoding="utf-8")
    assert re.search(r"^require = app_voicemail\.so", modules, flags=re.MULTILINE)
    found = re.search(r"^HOTLINE_FALLBACK_MAILBOX=(\w+)@(\w+)$", dialplan, flags=re.MULTILINE)
    assert found is not None
    mailbox, context = found.groups()
    text = (CONF / "voicemail.conf").read_text(encoding="utf-8")
    section = text.split(f"[{context}]", 1)[1].split("\n[", 1)[0]
    boxes = dict(re.findall(r"^(\w+) => ([^,\n]*)", section, flags=re.MULTILINE))
    assert mailbox in boxes
    assert boxes[mailbox].startswith("CHANGE-ME")  # no real PIN is shipped


def test_the_readme_names_every_prompt_hotline_plays() -> None:
    from db.models import IvrMenu, Queue, VoicemailBox

    readme = (CONF / "README.md").read_text(encoding="utf-8")
    settings = FlowSettings()
    prompts = {value for name, value in vars(settings).items() if name.endswith("_prompt")} | {
        str(column.default.arg)  # type: ignore[union-attr]
        for column in (
            VoicemailBox.__table__.c.greeting_prompt,
            Queue.__table__.c.hours_prompt,
            IvrMenu.__table__.c.invalid_prompt,
        )
    }
    assert len(prompts) >= 8
    missing = sorted(p for p in prompts if f"`{p}`" not in readme)
    assert not missing, f"asterisk-conf/README.md does not list {missing}"


# The class Asterisk 20/22 sends each event in ("Class" on docs.asterisk.org, AMI_Events).
EVENT_CLASS = {
    "VarSet": "dialplan",
    "Newexten": "dialplan",
    "OriginateResponse": "call",
    "Newchannel": "call",
    "Newstate": "call",
    "Hangup": "call",
    "DialBegin": "call",
    "DialEnd": "call",
    "BridgeEnter": "call",
    "BridgeLeave": "call",
    "DeviceStateChange": "call",
}
# The privileges an action is registered with in Asterisk (manager.c and the modules); the
# user needs ANY one of them. No entry (empty set): every logged-in user may send it.
ACTION_PRIVILEGES: dict[str, set[str]] = {
    "Login": set(),
    "Logoff": set(),
    "Ping": set(),
    "Originate": {"originate"},
    "Redirect": {"call"},
    "Hangup": {"system", "call"},
    "PlayDTMF": {"call"},
    "Setvar": {"call"},
    "Getvar": {"call", "reporting"},
    "CoreShowChannels": {"system", "reporting"},
    "DeviceStateList": {"call", "reporting"},  # as a real Asterisk 22's CLI shows it
}
PRODUCT_PACKAGES = ("ami", "dialplan", "agent_desktop", "supervisor", "callbacks", "hotline")


def _product_source() -> str:
    root = CONF.parent
    return "\n".join(
        path.read_text(encoding="utf-8")
        for package in PRODUCT_PACKAGES
        for path in sorted((root / package).rglob("*.py"))
    )


def events_hotline_uses() -> set[str]:
    """The events some code subscribes to, and OriginateResponse that ``originate`` awaits."""
    source = _product_source()
    events = set(re.findall(r"\.subscribe\(\s*\"(\w+)\"", source))
    if '"originateresponse"' in source:
        events.add("OriginateResponse")
    return events


def actions_hotline_sends() -> set[str]:
    source = "\n".join(
        path.read_text(encoding="utf-8") for path in sorted((CONF.parent / "ami").glob("*.py"))
    )
    sent = set(re.findall(r"(?:send_action|send_list_action|_send)\(\s*\"(\w+)\"", source))
    return sent | set(re.findall(r"^\s+\"(Login|Logoff)\",$", source, flags=re.MULTILINE))


def manager_classes(key: str) -> set[str]:
    text = (CONF / "manager.conf").read_text(encoding="utf-8")
    found = re.search(rf"^{key} = (.*)$", text, flags=re.MULTILINE)
    assert found is not None, f"manager.conf has no {key} line"
    return set(found.group(1).split(","))


def test_ami_is_bound_to_loopback() -> None:
    text = (CONF / "manager.conf").read_text(encoding="utf-8")
    assert re.search(r"^bindaddr = 127\.0\.0\.1$", text, flags=re.MULTILINE)


def test_manager_conf_grants_the_class_of_every_event_hotline_listens_to_and_no_more() -> None:
    events = events_hotline_uses()
    assert {"VarSet", "OriginateResponse"} <= events  # the scan still finds them
    unknown = events - EVENT_CLASS.keys()
    assert not unknown, f"look up the AMI class of {sorted(unknown)} and add it above"
    needed = {EVENT_CLASS[name] for name in events}
    assert manager_classes("read") == needed


def test_manager_conf_permits_every_action_hotline_sends_with_least_privilege() -> None:
    actions = actions_hotline_sends()
    assert {"Originate", "Redirect", "CoreShowChannels", "Login"} <= actions
    unknown = actions - ACTION_PRIVILEGES.keys()
    assert not unknown, f"look up the AMI privilege of {sorted(unknown)} and add it above"
    write = manager_classes("write")
    refused = [
        name for name in actions if ACTION_PRIVILEGES[name] and not ACTION_PRIVILEGES[name] & write
    ]
    assert not refused, f"manager.conf write = {sorted(write)} refuses {sorted(refused)}"
    assert "system" not in write  # would allow shell commands through Originate/System
    for spare in write:
        # Least privilege: every class granted is the only way for some action to pass.
        without = write - {spare}
        assert any(
            ACTION_PRIVILEGES[name] and not ACTION_PRIVILEGES[name] & without for name in actions
        ), f"write class {spare!r} is not needed"
