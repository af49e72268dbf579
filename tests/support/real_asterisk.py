"""A real Asterisk 22 for the tests of ``tests/real_asterisk/``: Hotline's shipped
configuration loaded as an admin loads it, Local channels for the callers, the agents' phones
and the trunk, and a small blocking AMI client to place calls and press keys.

The build is the one beside the repository (``shared/asterisk-22``, or the folder
``HOTLINE_ASTERISK_BUILD`` names). Without it the tier skips, unless
``HOTLINE_REQUIRE_ASTERISK=1`` (CI) makes that a failure. Asterisk's sounds and music on hold
come from Debian's ``asterisk-core-sounds-en-gsm`` and ``asterisk-moh-opsound-gsm``.

What the tests add to the shipped files, and only that: the ports (a free FastAGI and AMI
port of their own), the trunk and fallback pointed at test contexts, and the contexts
:data:`TEST_CONTEXTS` of Local "phones" whose extension says how they behave.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "asterisk-conf"
BUILD = Path(
    os.environ.get("HOTLINE_ASTERISK_BUILD") or REPO.parent / "shared" / "asterisk-22"
).resolve()
REQUIRED = os.environ.get("HOTLINE_REQUIRE_ASTERISK") == "1"
DEBIAN_SOUNDS = Path("/usr/share/asterisk/sounds")
DEBIAN_MOH = Path("/usr/share/asterisk/moh")
AMI_USER, AMI_SECRET = "hotline", "tier-secret"
T = TypeVar("T")

# Phones: `talk-R-T` rings R s, answers, talks T s (music, so a recording has sound) and
# hangs up; `never` rings until the caller gives up; `busy` is busy. The trunk answers a
# Czech (420) number after a second and talks 3 s; it has no way to any other number.
TEST_CONTEXTS = """
[hotline-test-phones]
exten => _talk-X.,1,Wait(${CUT(EXTEN,-,2)})
 same => n,Answer()
 same => n,MusicOnHold(default,${CUT(EXTEN,-,3)})
 same => n,Hangup()
exten => never,1,Wait(600)
exten => busy,1,Busy(10)
exten => fallback,1,Answer()
 same => n,NoOp(TIER: fallback phone answered ${CALLERID(num)})
 same => n,Wait(2)
 same => n,Hangup()

[hotline-test-trunk]
; Czech numbers only: any other number cannot be dialled (CHANUNAVAIL).
exten => _420X.,1,NoOp(TIER: trunk dialled ${EXTEN})
 same => n,Wait(1)
 same => n,Answer()
 same => n,Wait(3)
 same => n,Hangup()
"""

LOGGER_CONF = """[general]
dateformat = %F %T.%3q
[logfiles]
full => notice,warning,error,verbose,dtmf
"""


# What a shell reports for a program killed by SIGILL (128 + 4).
_SIGILL_EXIT = 132


class BuildCannotRunHereError(Exception):
    """The build's binary stopped on an illegal instruction: it was compiled for a CPU with
    instructions this machine lacks (the shared build uses AVX-512), so no Asterisk can run
    here at all."""


def cannot_run_here_reason(error: BuildCannotRunHereError) -> str:
    return (
        "real Asterisk tier: the Asterisk build stops on an illegal instruction on this CPU "
        f"(it was compiled for AVX-512, which this machine lacks): {error}"
    )


def build_or_skip() -> Path:
    """The Asterisk build folder; skip (or fail, when required) if it or its sounds are
    missing."""
    missing = [
        str(p)
        for p in (BUILD / "asterisk-22-linux-x86_64.tar.xz", DEBIAN_SOUNDS / "en", DEBIAN_MOH)
        if not p.exists()
    ]
    if missing:
        reason = "real Asterisk tier: not installed: " + ", ".join(missing)
        if REQUIRED:
            pytest.fail(reason + " (HOTLINE_REQUIRE_ASTERISK=1)")
        pytest.skip(reason)
    return BUILD


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    what: str, probe: Callable[[], T | None], timeout_s: float, step_s: float = 0.1
) -> T:
    """Poll ``probe`` on the real clock until it gives something (this tier runs real
    processes; every wait is bounded)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what}")
        time.sleep(step_s)


def _replace_global(text: str, name: str, value: str) -> str:
    pattern = re.compile(rf"^{name}=.*$", re.MULTILINE)
    new, count = pattern.subn(f"{name}={value}", text)
    assert count == 1, f"{name} is not set once in the shipped [globals]"
    return new


def tier_extensions(agi_port: int) -> str:
    """The shipped extensions.conf with the tier's port, trunk and fallback, plus the test
    contexts."""
    text = (SHIPPED / "extensions.conf").read_text()
    for name, value in {
        "HOTLINE_AGI_1": f"agi://127.0.0.1:{agi_port}",
        "HOTLINE_AGI_2": f"agi://127.0.0.1:{agi_port}",
        "HOTLINE_TRUNK_TECH": "Local",
        "HOTLINE_TRUNK": "hotline-test-trunk",
        "HOTLINE_FALLBACK_GROUP": "Local/fallback@hotline-test-phones",
        "HOTLINE_FALLBACK_RING_S": "10",
    }.items():
        text = _replace_global(text, name, value)
    return text + TEST_CONTEXTS


def tier_manager(ami_port: int) -> str:
    text = (SHIPPED / "manager.conf").read_text()
    text = re.sub(r"^port = \d+$", f"port = {ami_port}", text, count=1, flags=re.MULTILINE)
    text = re.sub(r"^secret = .*$", f"secret = {AMI_SECRET}", text, count=1, flags=re.MULTILINE)
    assert f"port = {ami_port}" in text and f"secret = {AMI_SECRET}" in text
    return text


def tier_modules() -> str:
    """The shipped modules.conf without PJSIP, which this build has not (Local channels
    stand in for phones and the trunk)."""
    lines = (SHIPPED / "modules.conf").read_text().splitlines()
    return "\n".join(line for line in lines if "pjsip" not in line) + "\n"


def _link_sounds(lib: Path) -> Path:
    """Asterisk's sounds folder as a folder of the run (Debian's English sounds linked in),
    so that Hotline's prompts can be written into it; its path."""
    sounds = lib / "sounds"
    if sounds.is_symlink():
        sounds.unlink()
    (sounds / "en").mkdir(parents=True, exist_ok=True)
    for entry in (DEBIAN_SOUNDS / "en").iterdir():
        link = sounds / "en" / entry.name
        if not link.exists():
            link.symlink_to(entry)
    if not (lib / "moh").exists():
        (lib / "moh").symlink_to(DEBIAN_MOH)
    return sounds


@dataclass
class RealAsterisk:
    """One booted Asterisk with the shipped configuration; see the module's docstring."""

    build: Path
    rundir: Path
    confdir: Path
    agi_port: int
    ami_port: int
    pid: int = 0
    _log_offset: int = field(default=0)

    @property
    def lib(self) -> Path:
        return self.rundir / "asterisk" / "var" / "lib" / "asterisk"

    @property
    def sounds(self) -> Path:
        return self.lib / "sounds"

    @property
    def log_path(self) -> Path:
        return self.rundir / "var" / "log" / "full"

    def prepare(self) -> None:
        """Unpack the build, write the configuration, make the sounds folder ours."""
        if not (self.rundir / "asterisk" / "sbin" / "asterisk").exists():
            self.rundir.mkdir(parents=True, exist_ok=True)
            with tarfile.open(self.build / "asterisk-22-linux-x86_64.tar.xz") as tar:
                tar.extractall(self.rundir, filter="fully_trusted")
        _link_sounds(self.lib)
        self.confdir.mkdir(parents=True, exist_ok=True)
        for name in ("musiconhold.conf", "voicemail.conf"):
            shutil.copy(SHIPPED / name, self.confdir / name)
        (self.confdir / "extensions.conf").write_text(tier_extensions(self.agi_port))
        (self.confdir / "manager.conf").write_text(tier_manager(self.ami_port))
        (self.confdir / "modules.conf").write_text(tier_modules())
        (self.confdir / "logger.conf").write_text(LOGGER_CONF)

    def start(self) -> None:
        out = subprocess.run(
            [str(self.build / "start-asterisk"), str(self.rundir), str(self.confdir)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if out.returncode == _SIGILL_EXIT:
            raise BuildCannotRunHereError(out.stderr.strip().splitlines()[-1] if out.stderr else "")
        out.check_returncode()
        self.pid = int(out.stdout.split()[-1])
        self.cli("agi set debug on")  # every AGI command and reply in the full log

    def cli(self, command: str) -> str:
        out = subprocess.run(
            [str(self.build / "asterisk-cli"), str(self.rundir), str(self.confdir), command],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return out.stdout

    def stop(self) -> None:
        if self.pid:
            self.cli("core stop now")
            self.pid = 0

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def mark_log(self) -> None:
        """Later :meth:`new_log` calls see only what was logged from now on."""
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0

    def new_log(self) -> str:
        with self.log_path.open("rb") as f:
            f.seek(self._log_offset)
            return f.read().decode(errors="replace")

    def wait_for_log(self, needle: str, timeout_s: float = 30) -> str:
        """Wait until the log since :meth:`mark_log` contains ``needle``; that log."""

        def probe() -> str | None:
            text = self.new_log()
            return text if needle in text else None

        return wait_until(f"Asterisk logs {needle!r}", probe, timeout_s)

    def channels(self) -> list[str]:
        """The names of the channels up now."""
        out = self.cli("core show channels concise")
        return [line.split("!")[0] for line in out.splitlines() if "!" in line]

    def hang_up_everything(self) -> None:
        self.cli("channel request hangup all")
        wait_until("no channel left", lambda: True if not self.channels() else None, 15)


class Ami:
    """A blocking AMI client for the tests: log in, send an action, read its response
    (events are switched off)."""

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self._buffer = b""
        self._next_id = 0
        self._read_message()  # the banner line ends with CRLF, not a blank line
        reply = self.action("Login", Username=AMI_USER, Secret=AMI_SECRET, Events="off")
        assert reply.get("Response") == "Success", reply

    def _read_message(self) -> dict[str, str]:
        while b"\r\n" not in self._buffer or (
            not self._buffer.startswith(b"Asterisk Call Manager")
            and b"\r\n\r\n" not in self._buffer
        ):
            chunk = self._sock.recv(65536)
            assert chunk, "Asterisk closed the AMI connection"
            self._buffer += chunk
        if self._buffer.startswith(b"Asterisk Call Manager"):
            _, self._buffer = self._buffer.split(b"\r\n", 1)
            return {}
        raw, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        message: dict[str, str] = {}
        for line in raw.decode(errors="replace").split("\r\n"):
            key, _, value = line.partition(": ")
            message.setdefault(key, value)
        return message

    def action(self, name: str, **fields: str) -> dict[str, str]:
        self._next_id += 1
        action_id = f"tier-{self._next_id}"
        lines = [f"Action: {name}", f"ActionID: {action_id}"]
        lines += [f"{key}: {value}" for key, value in fields.items()]
        self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while True:
            message = self._read_message()
            if message.get("ActionID") == action_id and "Response" in message:
                return message

    def close(self) -> None:
        self._sock.close()


@dataclass
class Caller:
    """A caller placed by AMI Originate: its Local channel's `;1` half, where keys are
    pressed."""

    ami: Ami
    pbx: RealAsterisk
    channel: str

    def press(self, digit: str) -> None:
        reply = self.ami.action("PlayDTMF", Channel=self.channel, Digit=digit, Duration="250")
        assert reply.get("Response") == "Success", reply

    def hang_up(self) -> None:
        self.ami.action("Hangup", Channel=self.channel)

    def is_up(self) -> bool:
        return self.channel in self.pbx.channels()


def place_call(ami: Ami, pbx: RealAsterisk, did: str, number: str = "777123456") -> Caller:
    """A caller from ``number`` dialling ``did`` through the shipped [hotline-inbound]; it
    stays on the line, speaking (music, so a message it leaves has sound), until hung up."""
    before = set(pbx.channels())
    reply = ami.action(
        "Originate",
        Channel=f"Local/{did}@hotline-inbound",
        Application="MusicOnHold",
        Data="default,600",
        CallerID=f'"Tier Caller" <{number}>',
        Async="true",
    )
    assert reply.get("Response") == "Success", reply

    def caller_channel() -> str | None:
        new = [c for c in pbx.channels() if c not in before and c.endswith(";1")]
        return next((c for c in new if c.startswith(f"Local/{did}@hotline-inbound")), None)

    return Caller(ami, pbx, wait_until("the caller's channel is up", caller_channel, 10))
