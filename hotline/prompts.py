"""``hotline prompts``: every prompt a caller can hear, spoken into Asterisk's sounds (R-6.4).

The prompts are the product's own (``domain.prompts``, their Czech from the gettext
catalogue) and every one the centre's catalog names, with the words its ``prompts:``
section gives (those win over the product's). Each is spoken by ``espeak-ng`` and turned
by ``sox`` into what Asterisk plays without transcoding effort: 8 kHz, mono, 16-bit signed
PCM WAV, at ``<sounds dir>/<language>/<name>.wav`` (Asterisk's layout, where the channel's
``CHANNEL(language)`` picks the directory).

A file that is there already is kept unless ``force``: an admin's recording replaces a
generated prompt simply by being there. A name nobody gave words cannot be spoken; the
listing shows it, so the admin records it or gives it a text.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from dialplan.store.prompts import CatalogPrompts
from domain.prompts import PHONE_WAV_SOX, PRODUCT_PROMPTS, is_prompt_name, prompt_file
from web.i18n import Catalogues

# The tools and the Debian packages that bring them.
TOOLS = {"espeak-ng": "espeak-ng", "sox": "sox"}
# espeak-ng's voice per language; a little slower than its default 175 words a minute,
# which is hard to follow on a narrow-band phone line.
VOICES = {"en": "en", "cs": "cs"}
WORDS_PER_MINUTE = 150
NO_TEXT = "(no text: record it, or give it words in the catalog's prompts: section)"


class PromptError(Exception):
    """Prompts could not be made; ``str()`` is one line that says what to do."""


@dataclass(frozen=True)
class Prompt:
    """One prompt in one language: its words (None when nobody gave any) and its file."""

    name: str
    language: str
    text: str | None

    def path(self, sounds_dir: Path) -> Path:
        return sounds_dir / prompt_file(self.language, self.name)


@dataclass(frozen=True)
class Outcome:
    generated: int
    kept: int
    without_text: tuple[Prompt, ...]  # names nobody gave words and whose file is missing


def all_prompts(catalog: CatalogPrompts, languages: Sequence[str]) -> list[Prompt]:
    """Every prompt in each of ``languages``, by name; unsafe names (from an old database)
    are left out: they would lead out of the sounds directory."""
    translations = Catalogues("UTC")
    names = sorted(set(PRODUCT_PROMPTS) | catalog.used | set(catalog.texts))
    out: list[Prompt] = []
    for name in filter(is_prompt_name, names):
        for language in languages:
            text = catalog.texts.get(name, {}).get(language)
            if text is None and name in PRODUCT_PROMPTS:
                text = translations.language(language).gettext(PRODUCT_PROMPTS[name])
            out.append(Prompt(name, language, text))
    return out


def listing(prompts: Iterable[Prompt], sounds_dir: Path) -> list[str]:
    """One line per prompt: name, language, whether its file exists, its words."""
    return [
        "\t".join(
            (
                p.name,
                p.language,
                "exists" if p.path(sounds_dir).exists() else "missing",
                p.text or NO_TEXT,
            )
        )
        for p in prompts
    ]


def generate(prompts: Sequence[Prompt], sounds_dir: Path, *, force: bool = False) -> Outcome:
    """Speak every prompt with words whose file is missing (every one with ``force``)."""
    _check_tools()
    _check_writable(sounds_dir, {p.language for p in prompts})
    todo = [p for p in prompts if p.text and (force or not p.path(sounds_dir).exists())]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        list(pool.map(lambda p: speak(p, sounds_dir), todo))
    without = tuple(p for p in prompts if not p.text and not p.path(sounds_dir).exists())
    kept = sum(1 for p in prompts if p.text) - len(todo)
    return Outcome(len(todo), kept, without)


def speak(prompt: Prompt, sounds_dir: Path) -> None:
    """espeak-ng into a temporary WAV, sox into the phone format; the file appears whole."""
    assert prompt.text
    target = prompt.path(sounds_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.stem}.partial.wav")
    with tempfile.TemporaryDirectory(prefix="hotline-prompt-") as scratch:
        spoken = Path(scratch) / "spoken.wav"
        voice = VOICES.get(prompt.language, prompt.language)
        speech = ["espeak-ng", "-v", voice, "-s", str(WORDS_PER_MINUTE), "-b", "1"]
        _run([*speech, "-w", str(spoken), "--stdin"], prompt, stdin=prompt.text)
        _run(["sox", "-G", str(spoken), *PHONE_WAV_SOX, str(partial)], prompt)
    os.replace(partial, target)


def _run(argv: list[str], prompt: Prompt, *, stdin: str | None = None) -> None:
    try:
        subprocess.run(
            argv,
            input=None if stdin is None else stdin.encode("utf-8"),
            capture_output=True,
            check=True,
            timeout=60,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        reason = detail.decode("utf-8", "replace").strip().splitlines()[:1] or [str(exc)]
        raise PromptError(
            f"{argv[0]} failed for {prompt.name} ({prompt.language}): {reason[0]}"
        ) from None


def _check_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        packages = " ".join(TOOLS[tool] for tool in missing)
        raise PromptError(
            f"{' and '.join(missing)} not found: install the Debian package(s) "
            f"(apt install {packages})"
        )


def _check_writable(sounds_dir: Path, languages: Iterable[str]) -> None:
    for directory in (sounds_dir, *(sounds_dir / language for language in languages)):
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PromptError(f"cannot write to {directory}: {exc.strerror}") from None
        if not os.access(directory, os.W_OK | os.X_OK):
            raise PromptError(f"cannot write to {directory}: permission denied")
