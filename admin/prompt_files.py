"""An admin's recording of a prompt, made into what Asterisk plays (R-6.2, R-6.4).

The administration pages take a recording in any common audio format (WAV, FLAC, Ogg
Vorbis, AIFF, Sun AU; MP3 where sox has it) and ``sox`` turns it into the phone format
``hotline prompts`` writes (``domain.prompts.PHONE_WAV_SOX``: 8 kHz, mono, 16-bit PCM WAV)
at ``<sounds dir>/<language>/<name>.wav``. The file appears whole (written beside, then
renamed), so a call never plays half of it; ``hotline prompts`` keeps a file that is there,
so the recording stays until the admin replaces it.

The format is told by the file's first bytes, not by its name (an upload's name is the
sender's word); sox runs off the reactor's thread when the process has threads.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from twisted.internet.interfaces import IReactorFromThreads, IReactorThreads
from twisted.internet.threads import deferToThreadPool

from domain.prompts import PHONE_WAV_SOX, is_prompt_name, prompt_file
from domain.refusals import BadInputError
from domain.texts import N_

MAX_RECORDING_BYTES = 16 * 1024 * 1024  # minutes of CD-quality WAV; a prompt is seconds
NOT_AUDIO = N_(
    "This file is not a recording Hotline can read: send WAV, FLAC, Ogg Vorbis, AIFF or AU."
)
UNREADABLE = N_("sox could not read this recording: %(reason)s")
NO_SOUNDS_DIR = N_("This server has no sounds directory (HOTLINE_SOUNDS_DIR).")
BAD_NAME = N_("There is no such prompt.")
CANNOT_WRITE = N_("The prompt could not be written: %(reason)s")

# The first bytes of each format sox reads, and the type sox is told.
_MAGIC = (
    (b"RIFF", "wav"),
    (b"RIFX", "wav"),
    (b"fLaC", "flac"),
    (b"OggS", "ogg"),
    (b"FORM", "aiff"),
    (b".snd", "au"),
    (b"ID3", "mp3"),
    (b"\xff\xfb", "mp3"),
    (b"\xff\xf3", "mp3"),
    (b"\xff\xf2", "mp3"),
)


class PromptFileError(BadInputError):
    """A recording that cannot become a prompt; the message says why."""


def audio_type(data: bytes) -> str | None:
    """sox's name of the format ``data`` is in, from its first bytes; None: not audio."""
    return next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)


def prompt_path(sounds_dir: Path | None, language: str, name: str) -> Path:
    """Where a prompt's file is; refused for a name that could lead out of the directory."""
    if sounds_dir is None:
        raise PromptFileError(NO_SOUNDS_DIR)
    if not is_prompt_name(name):
        raise PromptFileError(BAD_NAME)
    return sounds_dir / prompt_file(language, name)


def store_recording(data: bytes, target: Path) -> None:
    """Convert ``data`` (an uploaded recording) into the phone format at ``target``."""
    kind = audio_type(data)
    if kind is None or len(data) > MAX_RECORDING_BYTES:
        raise PromptFileError(NOT_AUDIO)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PromptFileError(CANNOT_WRITE, {"reason": exc.strerror or str(exc)}) from None
    partial = target.with_name(f".{target.stem}.upload.wav")
    with tempfile.TemporaryDirectory(prefix="hotline-recording-") as scratch:
        source = Path(scratch) / f"upload.{kind}"
        source.write_bytes(data)
        argv = ["sox", "-G", "-t", kind, str(source), *PHONE_WAV_SOX, str(partial)]
        try:
            subprocess.run(argv, capture_output=True, check=True, timeout=60)
        except subprocess.CalledProcessError as exc:
            lines = exc.stderr.decode("utf-8", "replace").strip().splitlines()
            partial.unlink(missing_ok=True)
            raise PromptFileError(UNREADABLE, {"reason": lines[-1] if lines else "?"}) from None
        except (subprocess.TimeoutExpired, OSError) as exc:
            partial.unlink(missing_ok=True)
            raise PromptFileError(UNREADABLE, {"reason": str(exc)}) from None
    os.replace(partial, target)


async def save_recording(clock: Any, data: bytes, target: Path) -> None:
    """:func:`store_recording`, in a thread when the process has them (the running reactor),
    at once under a test's Clock."""
    if IReactorFromThreads.providedBy(clock) and IReactorThreads.providedBy(clock):
        await deferToThreadPool(clock, clock.getThreadPool(), store_recording, data, target)
    else:
        store_recording(data, target)
