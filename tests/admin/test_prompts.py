"""Prompts on ``/admin/prompts`` (issue 15, R-6.2, R-6.4): every prompt callers may hear, per
language, with who names it (queues, menus, boxes, Hotline), its words and whether its file
is there; an admin plays one and replaces it with a recording in a common format, which sox
turns into what Asterisk plays (8 kHz mono 16-bit WAV); anything else is refused, in the
reader's language. Supervisors listen, agents see nothing, the upload needs the CSRF token."""

from __future__ import annotations

import html
import io
import math
import struct
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from twisted.internet.task import Clock

from db.catalog import load_catalog
from db.models import AuditLog
from hotline.web import WebRoot
from tests.support.centre import StaffCentre
from tests.support.db import InlineDBRunner
from tests.support.speech import require_speech
from tests.support.web import Browser
from web.request import ProcessInfo

CENTRE = """
voicemail_boxes:
  - {code: VM2, name: Second box, greeting_prompt: custom/greeting}
queues:
  - {code: HELP, name: Help, hours_prompt: custom/hours}
ivr_menus:
  - {code: MAIN, name: Main, prompt: custom/main}
prompts:
  - {name: custom/main, en: Press one for help., cs: Pro pomoc stiskněte jedničku.}
"""


@pytest.fixture
def sounds(tmp_path: Path) -> Path:
    return tmp_path / "sounds"


@pytest.fixture
def web(db: InlineDBRunner, clock: Clock, sounds: Path) -> Iterator[WebRoot]:
    """The web root with a sounds directory (the shared fixture has none)."""
    root = WebRoot(db, ProcessInfo(web_listen="tcp:0"), clock=clock, sounds_dir=sounds)
    yield root
    root.stop()


@pytest.fixture
def catalog(db: InlineDBRunner) -> None:
    db.run_sync(lambda s: load_catalog(s, CENTRE))


def _wav(rate_hz: int = 44100, channels: int = 2, seconds: float = 0.5) -> bytes:
    """A tone as a CD-quality WAV, as a recorder would save it."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate_hz)
        frames = int(rate_hz * seconds)
        sample = [int(8000 * math.sin(2 * math.pi * 440 * i / rate_hz)) for i in range(frames)]
        w.writeframes(
            b"".join(struct.pack("<" + "h" * channels, *([s] * channels)) for s in sample)
        )
    return out.getvalue()


def _format(path: Path) -> tuple[int, int, int, float]:
    with wave.open(str(path), "rb") as w:
        rate = w.getframerate()
        return rate, w.getnchannels(), w.getsampwidth(), w.getnframes() / rate


def _row(page: str, name: str, language: str) -> str:
    start = page.index(f'data-name="{name}" data-language="{language}"')
    return page[start : page.index("</tr>", start)]


def test_the_list_shows_each_prompt_who_names_it_its_words_and_what_is_missing(
    browser: Browser, admin: int, catalog: None, sounds: Path
) -> None:
    (sounds / "en" / "custom").mkdir(parents=True)
    (sounds / "en" / "custom" / "main.wav").write_bytes(_wav(8000, 1))
    browser.signed_in("ada")
    page = html.unescape(browser.get("/admin/prompts").text)
    main_en = _row(page, "custom/main", "en")
    assert "ivr_menus:MAIN prompt" in main_en and "Press one for help." in main_en
    assert "<audio" in main_en and "missing" not in main_en
    main_cs = _row(page, "custom/main", "cs")
    assert "Pro pomoc stiskněte jedničku." in main_cs and 'data-state="missing"' in main_cs
    hours = _row(page, "custom/hours", "en")
    assert "queues:HELP hours_prompt" in hours and "No words: record it" in hours
    assert "voicemail_boxes:VM2 greeting_prompt" in _row(page, "custom/greeting", "cs")
    goodbye = _row(page, "hotline/goodbye", "cs")  # Hotline's own, its Czech words
    assert "Hotline's own" in goodbye and "Děkujeme" in goodbye
    missing = html.unescape(browser.get("/admin/prompts?missing=1").text)
    assert 'data-name="custom/main" data-language="cs"' in missing
    assert 'data-name="custom/main" data-language="en"' not in missing
    played = browser.get("/admin/prompts/play?name=custom/main&language=en")
    assert played.status == 200 and played.header("Content-Type") == "audio/wav"
    assert browser.get("/admin/prompts/play?name=custom/main&language=cs").status == 404
    assert browser.get("/admin/prompts/play?name=../secret&language=en").status == 404


@pytest.mark.parametrize("kind", ["wav", "flac", "ogg"])
def test_an_admin_replaces_a_prompt_with_a_recording_made_into_the_phone_format(
    browser: Browser,
    db: InlineDBRunner,
    admin: int,
    catalog: None,
    sounds: Path,
    tmp_path: Path,
    kind: str,
) -> None:
    require_speech()  # sox
    source = tmp_path / "recording.wav"
    source.write_bytes(_wav())
    if kind != "wav":
        subprocess.run(["sox", str(source), str(tmp_path / f"recording.{kind}")], check=True)
    data = (tmp_path / f"recording.{kind}").read_bytes()
    browser.signed_in("ada")
    form = {"name": "custom/hours", "language": "cs"}
    done = browser.post_files("/admin/prompts/upload", form, {"file": ("rec.bin", data)})
    assert done.status == 303, done.text
    assert done.location == "/admin/prompts?done=recorded#prompt-custom--hours-cs"
    rate, channels, width, seconds = _format(sounds / "cs" / "custom" / "hours.wav")
    assert (rate, channels, width) == (8000, 1, 2) and 0.4 < seconds < 0.6
    assert not list((sounds / "cs" / "custom").glob(".*"))  # no partial file left
    page = browser.get(done.location)
    assert "The recording replaces the prompt from the next call on." in page.text
    assert "<audio" in _row(html.unescape(page.text), "custom/hours", "cs")

    def audit(session: object) -> list[tuple[str, str]]:
        rows = session.scalars(select(AuditLog))  # type: ignore[attr-defined]
        return [(r.action, r.target) for r in rows]

    assert db.run_sync(audit) == [("admin.prompts.record", "prompts:custom/hours")]


def test_what_is_no_recording_is_refused_next_to_its_prompt_in_the_readers_language(
    browser: Browser, admin: int, catalog: None, sounds: Path
) -> None:
    browser.signed_in("ada")
    form = {"name": "custom/hours", "language": "en"}
    refused = browser.post_files("/admin/prompts/upload", form, {"file": ("x.wav", b"hello")})
    assert refused.status == 409
    row = _row(html.unescape(refused.text), "custom/hours", "en")
    assert "This file is not a recording Hotline can read" in row
    broken = b"RIFF" + b"\x00" * 40  # looks like a WAV, is not one
    refused = browser.post_files("/admin/prompts/upload", form, {"file": ("x.wav", broken)})
    assert refused.status == 409 and "sox could not read this recording" in refused.text
    assert not (sounds / "en" / "custom" / "hours.wav").exists()
    browser.post("/account/language", {"language": "cs"})
    refused = browser.post_files("/admin/prompts/upload", form, {"file": ("x.wav", b"hello")})
    assert "Tento soubor není nahrávka, kterou Hotline umí přečíst" in html.unescape(refused.text)
    bad_name = {"name": "../../etc/passwd", "language": "en"}
    refused = browser.post_files("/admin/prompts/upload", bad_name, {"file": ("x", _wav())})
    assert refused.status == 409


def test_supervisors_listen_agents_see_nothing_and_the_upload_needs_the_token(
    browser: Browser, centre: StaffCentre, admin: int, catalog: None, sounds: Path
) -> None:
    browser.signed_in("eva")
    assert browser.get("/admin/prompts").status == 403
    browser.signed_in("sue")
    page = browser.get("/admin/prompts")
    assert page.status == 200 and "/admin/prompts/upload" not in page.text
    form = {"name": "custom/hours", "language": "en"}
    assert browser.post_files("/admin/prompts/upload", form, {"file": ("r", _wav())}).status == 403
    browser.signed_in("ada")
    browser.token = "forged"
    assert browser.post_files("/admin/prompts/upload", form, {"file": ("r", _wav())}).status == 403
    assert not (sounds / "en" / "custom" / "hours.wav").exists()
