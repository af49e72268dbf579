"""``hotline prompts`` (R-6.4): every prompt a caller can hear, spoken by the real espeak-ng
and sox into 8 kHz mono 16-bit WAV files in English and Czech; recordings kept unless
``--force``; what has no words listed; a missing tool or an unwritable directory is one
clear line.

The demo centre's sounds are made once per module (a few seconds); the tests that need
the tools call ``require_speech`` (skipped without them, failing with
``HOTLINE_REQUIRE_SPEECH=1``).
"""

from __future__ import annotations

import os
import shutil
import wave
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.catalog import load_catalog
from db.demo_data import load_demo
from db.engine import make_engine
from db.migrate import upgrade
from db.models import IvrMenu, Queue, VoicemailBox
from dialplan.flows.context import FlowSettings
from dialplan.menu import Menu
from domain.prompts import PRODUCT_PROMPTS, PROMPT_LANGUAGES
from hotline.cli import main
from hotline.prompts import NO_TEXT
from tests.support.speech import require_speech
from web.i18n import Catalogues

MIN_SPEECH_S = 0.5  # the shortest prompt ("Goodbye" and thanks) lasts well over a second


def default_prompts() -> set[str]:
    """Every prompt the code plays unless the catalog names another."""
    settings = FlowSettings()
    names = {getattr(settings, f.name) for f in fields(settings) if f.name.endswith("_prompt")}
    names.add(Menu(code="M", prompt="x").invalid_prompt)
    for column in (
        VoicemailBox.__table__.c.greeting_prompt,
        Queue.__table__.c.hours_prompt,
        IvrMenu.__table__.c.invalid_prompt,
    ):
        names.add(str(column.default.arg))  # type: ignore[union-attr]
    return names


def catalog_prompts(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            columns = (
                VoicemailBox.greeting_prompt,
                Queue.hours_prompt,
                IvrMenu.prompt,
                IvrMenu.invalid_prompt,
            )
            return {name for c in columns for name in session.scalars(select(c))}
    finally:
        engine.dispose()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["prompts", *args])
    out, err = capsys.readouterr()
    return code, out, err


@dataclass(frozen=True)
class Demo:
    url: str
    sounds: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The demo centre in a real SQLite database, its prompts generated once."""
    require_speech()
    root = tmp_path_factory.mktemp("prompts")
    url = f"sqlite:///{root / 'demo.db'}"
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        load_demo(session)
    engine.dispose()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOTLINE_DATABASE_URL", url)
        sounds = root / "sounds"
        assert main(["prompts", "--dir", str(sounds)]) == 0
        yield Demo(url, sounds)


def assert_phone_wav(path: Path) -> None:
    assert path.is_file(), f"{path} was not generated"
    with wave.open(str(path), "rb") as sound:
        assert sound.getframerate() == 8000
        assert sound.getnchannels() == 1
        assert sound.getsampwidth() == 2
        assert sound.getcomptype() == "NONE"
        assert sound.getnframes() / 8000 > MIN_SPEECH_S, f"{path} is too short"
        frames = sound.readframes(sound.getnframes())
    assert any(frames), f"{path} is silence"


def test_every_prompt_the_code_and_the_demo_can_play_is_a_phone_wav_in_both_languages(
    demo: Demo,
) -> None:
    """R-6.4: nothing the flows play by default or the demo names is left silent."""
    names = default_prompts() | catalog_prompts(demo.url)
    assert {"hotline/goodbye", "demo/main-menu", "demo/tech-hours"} <= names
    for name in sorted(names):
        for language in PROMPT_LANGUAGES:
            assert_phone_wav(demo.sounds / language / f"{name}.wav")


def test_the_czech_prompt_is_not_the_english_one(demo: Demo) -> None:
    for name in ("hotline/goodbye", "demo/main-menu"):
        english = (demo.sounds / "en" / f"{name}.wav").read_bytes()
        assert (demo.sounds / "cs" / f"{name}.wav").read_bytes() != english


def test_every_default_the_code_plays_is_a_product_prompt() -> None:
    """R-6.4: a default name without product words would be silence on a real Asterisk."""
    assert default_prompts() <= set(PRODUCT_PROMPTS)


def test_every_product_prompt_has_its_own_czech_words_in_the_catalogue() -> None:
    czech = Catalogues("UTC").language("cs")
    for name, english in PRODUCT_PROMPTS.items():
        translated = czech.gettext(english)
        assert translated and translated != english, f"{name} has no Czech translation"


def test_the_list_names_each_prompt_language_file_and_words(
    demo: Demo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOTLINE_DATABASE_URL", demo.url)
    code, out, _ = run(capsys, "--dir", str(demo.sounds), "--list")
    assert code == 0
    rows = [line.split("\t") for line in out.splitlines()]
    assert {(r[0], r[1]) for r in rows} == {
        (name, language)
        for name in default_prompts() | catalog_prompts(demo.url)
        for language in PROMPT_LANGUAGES
    }
    assert {r[2] for r in rows} == {"exists"}
    words = {(r[0], r[1]): r[3] for r in rows}
    assert words[("hotline/goodbye", "en")] == "Thank you for calling. Goodbye."
    assert words[("hotline/goodbye", "cs")] == "Děkujeme za zavolání. Na shledanou."
    assert words[("demo/main-menu", "cs")].startswith("Vítá vás NetMorava.")


def test_a_name_the_catalog_uses_without_words_is_listed_and_reported(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    engine = make_engine(db_url)
    with Session(engine) as session, session.begin():
        load_catalog(
            session,
            "ivr_menus:\n  - {code: M, name: M, prompt: custom/welcome}\n"
            "prompts:\n  - {name: custom/hours, cs: Máme zavřeno.}\n",
        )
    engine.dispose()
    monkeypatch.setenv("HOTLINE_DATABASE_URL", db_url)
    code, out, _ = run(capsys, "--dir", str(tmp_path), "--list", "--language", "en")
    assert code == 0
    assert f"custom/welcome\ten\tmissing\t{NO_TEXT}" in out.splitlines()
    assert f"custom/hours\ten\tmissing\t{NO_TEXT}" in out.splitlines()
    assert "\tcs\t" not in out  # --language en
    require_speech()
    code, out, _ = run(capsys, "--dir", str(tmp_path))
    assert code == 0
    assert f"custom/welcome (en): {NO_TEXT}" in out
    assert f"custom/welcome (cs): {NO_TEXT}" in out
    assert "custom/hours (cs)" not in out  # it has Czech words
    assert_phone_wav(tmp_path / "cs" / "custom" / "hours.wav")


def _recording(path: Path) -> bytes:
    """What an admin's recording looks like: a second of an 8 kHz mono tone, not speech."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(b"\x00\x10\xff\x7f" * 4000)
    return path.read_bytes()


def test_an_existing_file_is_kept_unless_force(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """R-6.4: an admin's recording replaces a generated prompt simply by being there."""
    require_speech()
    monkeypatch.setenv("HOTLINE_DATABASE_URL", db_url)
    recorded = _recording(tmp_path / "en" / "hotline" / "goodbye.wav")
    code, out, _ = run(capsys, "--dir", str(tmp_path), "--language", "en")
    assert code == 0
    assert f"generated {len(PRODUCT_PROMPTS) - 1}, kept 1" in out
    assert (tmp_path / "en" / "hotline" / "goodbye.wav").read_bytes() == recorded
    assert not list(tmp_path.rglob(".*partial*"))
    code, out, _ = run(capsys, "--dir", str(tmp_path), "--language", "en", "--force")
    assert code == 0
    assert f"generated {len(PRODUCT_PROMPTS)}, kept 0" in out
    assert (tmp_path / "en" / "hotline" / "goodbye.wav").read_bytes() != recorded
    assert_phone_wav(tmp_path / "en" / "hotline" / "goodbye.wav")


def test_a_missing_tool_is_one_line_naming_its_debian_package(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    sox = shutil.which("sox")
    if sox is not None:  # only espeak-ng is missing then
        os.symlink(sox, tools / "sox")
    monkeypatch.setenv("PATH", str(tools))
    monkeypatch.setenv("HOTLINE_DATABASE_URL", db_url)
    code, _, err = run(capsys, "--dir", str(tmp_path / "sounds"))
    assert code == 1
    assert err.startswith("hotline: espeak-ng")
    assert "apt install espeak-ng" in err and err.count("\n") == 1
    assert not (tmp_path / "sounds").exists()


def test_a_directory_that_cannot_be_written_is_one_line(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    require_speech()
    (tmp_path / "a-file").write_text("not a directory")
    monkeypatch.setenv("HOTLINE_DATABASE_URL", db_url)
    code, _, err = run(capsys, "--dir", str(tmp_path / "a-file" / "sounds"))
    assert code == 1
    assert err.startswith(f"hotline: cannot write to {tmp_path / 'a-file' / 'sounds'}")
    assert err.count("\n") == 1


def test_the_sounds_directory_defaults_to_the_setting(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("HOTLINE_DATABASE_URL", db_url)
    monkeypatch.setenv("HOTLINE_SOUNDS_DIR", str(tmp_path / "asterisk-sounds"))
    code, out, _ = run(capsys, "--list")
    assert code == 0
    assert "hotline/goodbye\tcs\tmissing\tDěkujeme za zavolání. Na shledanou." in out.splitlines()
