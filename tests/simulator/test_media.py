"""Prompt durations and the audio files the simulator writes."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

import pytest

from simulator.media import (
    SoundCatalogue,
    digit_files,
    number_files,
    pcm_samples,
    write_recording,
)


def test_catalogue_knows_beep_and_treats_unknown_prompts_by_policy(tmp_path: Path) -> None:
    assert SoundCatalogue().duration_of("beep") == 0.44  # endpos=3520 in transcript 001
    assert SoundCatalogue().duration_of("hotline/welcome") == 2.0
    assert SoundCatalogue(default_duration_s=None).duration_of("hotline/welcome") is None
    assert SoundCatalogue(missing=frozenset({"gone"})).duration_of("gone") is None
    write_recording(tmp_path / "vm.wav", "wav", 1.25)
    assert SoundCatalogue().duration_of(str(tmp_path / "vm")) == 1.25
    assert SoundCatalogue().duration_of(str(tmp_path / "absent")) is None


def test_numbers_and_digits_are_said_with_asterisk_file_names() -> None:
    assert number_files(123) == ["digits/1", "digits/hundred", "digits/20", "digits/3"]
    assert number_files(2015) == ["digits/2", "digits/thousand", "digits/15"]
    assert number_files(0) == ["digits/0"]
    assert number_files(-7) == ["digits/minus", "digits/7"]
    assert digit_files("12*#") == ["digits/1", "digits/2", "digits/star", "digits/pound"]


@pytest.mark.parametrize(("audio_format", "rate"), [("wav", 8000), ("wav16", 16000)])
def test_wav_recordings_are_valid_and_of_the_right_length(
    tmp_path: Path, audio_format: str, rate: int
) -> None:
    path = tmp_path / f"r.{audio_format}"
    samples = write_recording(path, audio_format, 2.5, speech_s=1.0)
    with wave.open(str(path), "rb") as recording:
        assert recording.getframerate() == rate
        assert recording.getnframes() == samples == int(2.5 * rate)
        frames = recording.readframes(recording.getnframes())
    voiced, silent = frames[: rate * 2], frames[rate * 2 :]
    assert any(voiced) and not any(silent)  # a quiet tone while speaking, then silence


def test_raw_formats_and_refusals(tmp_path: Path) -> None:
    assert write_recording(tmp_path / "a.sln", "sln", 1.0) == 8000
    assert (tmp_path / "a.sln").stat().st_size == 16000
    write_recording(tmp_path / "a.ulaw", "ulaw", 0.5)
    assert (tmp_path / "a.ulaw").read_bytes() == b"\xff" * 4000
    with pytest.raises(ValueError):
        write_recording(tmp_path / "a.mp3", "mp3", 1.0)
    with pytest.raises(OSError):
        write_recording(tmp_path / "missing" / "a.wav", "wav", 1.0)
    assert pcm_samples(0.001) == b"\x00\x00" * 8


@pytest.mark.parametrize("rate_hz", [8000, 16000])
def test_the_recorded_tone_is_a_425_hz_sine_sample_for_sample(rate_hz: int) -> None:
    """The tone is built from one repeated cycle (issue 12); it is still exactly the quiet
    425 Hz sine a sample-by-sample computation gives, then silence."""
    samples = pcm_samples(3.7, 2.3, rate_hz)
    voiced = round(2.3 * rate_hz)
    values = struct.unpack(f"<{len(samples) // 2}h", samples)
    step = 2 * math.pi * 425.0 / rate_hz
    assert len(values) == round(3.7 * rate_hz)
    assert list(values[:voiced]) == [round(600 * math.sin(step * n)) for n in range(voiced)]
    assert set(values[voiced:]) == {0}
