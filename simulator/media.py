"""Sound files as the fake Asterisk knows them: how long each prompt plays, and real WAV output.

The simulator never decodes audio. A prompt is a name with a duration (``beep`` plays 0.44 s,
the 3520 samples of ``endpos=3520`` in transcript 001). Recordings (RECORD FILE, MixMonitor,
VoiceMail) are written as REAL files: a valid RIFF WAV, 8 kHz, 16-bit, mono, holding a quiet
tone while the caller "speaks" and digital silence otherwise, so that Hotline's voicemail and
recording pages have something playable of the right length.
"""

from __future__ import annotations

import functools
import math
import struct
import wave
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

SAMPLE_RATE_HZ = 8000
"""Asterisk's narrow-band rate; ``endpos`` values in AGI replies count samples at this rate."""

_TONE_HZ = 425.0
_TONE_AMPLITUDE = 600  # quiet: about -35 dBFS, clearly "a voice" yet harmless to listen to

_DIGIT_S = 0.84  # SAY DIGITS 123 took 2.522 s in transcript 001: three files of ~0.84 s


def _default_durations() -> dict[str, float]:
    durations: dict[str, float] = {"beep": 0.44}
    for digit in range(10):
        durations[f"digits/{digit}"] = _DIGIT_S
    for teen in range(10, 20):
        durations[f"digits/{teen}"] = 0.9
    for tens in range(20, 100, 10):
        durations[f"digits/{tens}"] = 0.8
    for word in ("hundred", "thousand", "million", "star", "pound", "minus"):
        durations[f"digits/{word}"] = 0.7
    for letter in "abcdefghijklmnopqrstuvwxyz":
        durations[f"letters/{letter}"] = 0.6
    return durations


@dataclass(frozen=True)
class SoundCatalogue:
    """Which prompts exist and how long they play.

    ``durations_s`` names known files; a name that is not listed plays ``default_duration_s``
    (Hotline's own prompts need not be listed one by one) unless ``default_duration_s`` is
    None or the name is in ``missing``: then it does not exist, as ``no-such-file`` in 001.
    An absolute path whose ``.wav`` exists on disk (a voicemail the simulator recorded) plays
    for the length of that file.
    """

    durations_s: Mapping[str, float] = field(default_factory=_default_durations)
    default_duration_s: float | None = 2.0
    missing: frozenset[str] = frozenset()

    def duration_of(self, name: str) -> float | None:
        """Seconds the file plays, or None when Asterisk would not find it."""
        if not name or name in self.missing:
            return None
        if name in self.durations_s:
            return self.durations_s[name]
        if name.startswith("/"):
            return wav_duration_s(Path(name + ".wav"))
        return self.default_duration_s


def wav_duration_s(path: Path) -> float | None:
    """The length of a WAV file on disk, or None when there is no readable one."""
    try:
        with wave.open(str(path), "rb") as reader:
            return reader.getnframes() / reader.getframerate()
    except (OSError, EOFError, wave.Error):
        return None


def pcm_samples(duration_s: float, speech_s: float = 0.0, rate_hz: int = SAMPLE_RATE_HZ) -> bytes:
    """16-bit little-endian mono PCM: a quiet tone for ``speech_s``, then silence.

    The tone repeats after a whole number of samples (:func:`_tone_cycle`): it is that
    cycle repeated, not a sine computed sample by sample, so that writing a recording costs
    the simulator next to nothing and a load test is never limited by it (issue 12)."""
    total = max(0, round(duration_s * rate_hz))
    voiced = min(total, max(0, round(speech_s * rate_hz)))
    cycle = _tone_cycle(rate_hz)
    repeats = -(-2 * voiced // len(cycle))  # rounded up
    return (cycle * repeats)[: 2 * voiced] + b"\x00\x00" * (total - voiced)


@functools.lru_cache(maxsize=8)
def _tone_cycle(rate_hz: int) -> bytes:
    """The tone's samples up to where they start over: ``n`` samples with ``n`` times the
    tone's frequency a whole number of ``rate_hz`` (320 samples for 425 Hz at 8 kHz)."""
    samples = (Fraction(_TONE_HZ) / rate_hz).denominator
    step = 2 * math.pi * _TONE_HZ / rate_hz
    return struct.pack(
        f"<{samples}h", *(round(_TONE_AMPLITUDE * math.sin(step * n)) for n in range(samples))
    )


# Formats RECORD FILE / MixMonitor can write. Others are refused the way Asterisk refuses a
# format it has no module for (RECORD FILE answers "(writefile)").
_ULAW_SILENCE = b"\xff"
_ALAW_SILENCE = b"\xd5"
RECORDABLE_FORMATS = frozenset({"wav", "wav16", "sln", "raw", "ulaw", "alaw"})


def write_recording(path: Path, audio_format: str, duration_s: float, speech_s: float = 0.0) -> int:
    """Write ``duration_s`` of audio to ``path`` in ``audio_format``; returns samples written.

    ``wav`` is a RIFF WAV at 8 kHz, ``wav16`` at 16 kHz (Asterisk's names); ``sln``/``raw``
    are bare 16-bit PCM; ``ulaw``/``alaw`` one byte per sample. Raises ValueError for any
    other format and OSError when the file cannot be created (Asterisk does not create
    missing directories for RECORD FILE either).
    """
    audio_format = audio_format.lower()
    if audio_format not in RECORDABLE_FORMATS:
        raise ValueError(f"no format module for {audio_format!r}")
    rate = 16000 if audio_format == "wav16" else SAMPLE_RATE_HZ
    samples = max(0, round(duration_s * rate))
    if audio_format in ("wav", "wav16"):
        with path.open("wb") as file, wave.open(file, "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(rate)
            writer.writeframes(pcm_samples(duration_s, speech_s, rate))
    elif audio_format in ("sln", "raw"):
        path.write_bytes(pcm_samples(duration_s, speech_s, rate))
    else:
        silence = _ULAW_SILENCE if audio_format == "ulaw" else _ALAW_SILENCE
        path.write_bytes(silence * samples)
    return samples


def digit_files(text: str) -> list[str]:
    """The files SAY DIGITS plays for ``text`` (digits, ``*``, ``#``, ``-``)."""
    names = {"*": "digits/star", "#": "digits/pound", "-": "digits/minus"}
    files = []
    for char in text:
        if char.isdigit():
            files.append(f"digits/{char}")
        elif char in names:
            files.append(names[char])
    return files


def alpha_files(text: str) -> list[str]:
    """The files SAY ALPHA plays: letters, digits and a few symbols, one file each."""
    files = []
    for char in text.lower():
        if char.isdigit():
            files.append(f"digits/{char}")
        elif "a" <= char <= "z":
            files.append(f"letters/{char}")
    return files


def number_files(number: int) -> list[str]:
    """The English files SAY NUMBER plays for ``number`` (``123`` -> 1, hundred, 20, 3)."""
    if number < 0:
        return ["digits/minus", *number_files(-number)]
    if number == 0:
        return ["digits/0"]
    files: list[str] = []
    for size, word in ((1_000_000, "million"), (1000, "thousand"), (100, "hundred")):
        if number >= size:
            files += [*number_files(number // size), f"digits/{word}"]
            number %= size
    if number >= 20:
        files.append(f"digits/{number - number % 10}")
        number %= 10
    if number:
        files.append(f"digits/{number}")
    return files
