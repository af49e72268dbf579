"""The catalog's prompts (R-6.4): the ``prompts:`` section's words per language, a DID's
language and the centre's, their round trip and their refusals; what the dialplan hears.

Every DB test runs on SQLite and, with HOTLINE_TEST_DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

import textwrap

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from db.catalog import CatalogError, LoadSummary, export_catalog, load_catalog
from db.models import PromptText
from dialplan.store.prompts import catalog_prompts
from dialplan.store.routing import did_target

CENTRE = textwrap.dedent(
    """\
    settings:
      prompt_language: cs
    voicemail_boxes:
      - {code: VM, name: Messages, greeting_prompt: centre/leave-a-message}
    queues:
      - {code: Q, name: Queue, voicemail_box: VM, hours_prompt: centre/closed}
    ivr_menus:
      - {code: M, name: Menu, prompt: centre/welcome, invalid_prompt: centre/say-again}
    dids:
      - {number: '100', name: Czech line, menu: M}
      - {number: '200', name: English line, queue: Q, language: en}
    prompts:
      - name: centre/welcome
        en: Welcome. For support, press one.
        cs: Vítejte. Podpora, stiskněte jedničku.
      - {name: centre/closed, cs: Máme zavřeno.}
      - {name: hotline/goodbye, en: 'Bye now, and thank you.'}
    """
)


def _load(engine: Engine, text: str, source: str = "centre.yaml") -> LoadSummary:
    with Session(engine) as session, session.begin():
        return load_catalog(session, text, source)


def _export(engine: Engine) -> str:
    with Session(engine) as session:
        return export_catalog(session)


def _texts(engine: Engine) -> dict[tuple[str, str], str]:
    with Session(engine) as session:
        rows = session.scalars(select(PromptText))
        return {(r.name, r.language): r.text for r in rows}


def test_prompts_load_export_and_load_back_to_the_same_text(engine: Engine) -> None:
    summary = _load(engine, CENTRE)
    assert summary.created["prompts"] == 3
    assert _texts(engine)[("centre/closed", "cs")] == "Máme zavřeno."
    first = _export(engine)
    assert "prompt_language: cs" in first
    assert "{number: '200', name: English line, menu: null, queue: Q, language: en}" in first
    assert "  - name: centre/welcome\n    en: Welcome. For support, press one.\n" in first
    assert _load(engine, first).updated["prompts"] == 0
    assert _export(engine) == first


def test_a_language_the_file_leaves_out_keeps_its_words(engine: Engine) -> None:
    _load(engine, CENTRE)
    summary = _load(engine, "prompts:\n  - {name: centre/welcome, en: Hello.}\n")
    assert summary.updated["prompts"] == 1 and summary.created["prompts"] == 0
    texts = _texts(engine)
    assert texts[("centre/welcome", "en")] == "Hello."
    assert texts[("centre/welcome", "cs")] == "Vítejte. Podpora, stiskněte jedničku."


def test_the_dialplan_hears_the_language_of_the_did_else_the_centre_else_english(
    engine: Engine,
) -> None:
    _load(engine, CENTRE)
    with Session(engine) as session:
        czech, english = did_target(session, "100"), did_target(session, "200")
    assert czech is not None and czech.language == "cs"  # the centre's prompt_language
    assert english is not None and english.language == "en"
    _load(engine, "settings:\n  prompt_language: en\n")
    with Session(engine) as session:
        target = did_target(session, "100")
    assert target is not None and target.language == "en"


def test_the_catalog_names_its_prompts_and_their_words(engine: Engine) -> None:
    _load(engine, CENTRE)
    with Session(engine) as session:
        found = catalog_prompts(session)
    assert {
        "centre/leave-a-message",
        "centre/closed",
        "centre/welcome",
        "centre/say-again",
    } <= found.used
    assert found.texts["hotline/goodbye"] == {"en": "Bye now, and thank you."}


REFUSALS: dict[str, tuple[str, str]] = {
    "a way out of the sounds directory": (
        "prompts:\n  - {name: ../../etc/passwd, en: x}  # <-\n",
        "name: '../../etc/passwd' is not a prompt name",
    ),
    "an absolute name": ("prompts:\n  - {name: /tmp/x, en: x}  # <-\n", "name: '/tmp/x' is not"),
    "capitals and dots": (
        "prompts:\n  - {name: Centre/Welcome.wav, en: x}  # <-\n",
        "name: 'Centre/Welcome.wav' is not a prompt name",
    ),
    "an empty part": ("prompts:\n  - {name: centre//x, en: x}  # <-\n", "name: 'centre//x' is"),
    "no words": ("prompts:\n  - {name: centre/x}  # <-\n", "a prompt needs its text in en or cs"),
    "empty words": ("prompts:\n  - {name: centre/x, cs: ''}  # <-\n", "cs: must not be empty"),
    "too many words": (
        "prompts:\n  - {name: centre/x, en: " + "x" * 501 + "}  # <-\n",
        "en: longer than 500 characters",
    ),
    "another language": (
        "prompts:\n  - {name: centre/x, de: Hallo}  # <-\n",
        "unknown key 'de' in a prompt; allowed keys: name, en, cs",
    ),
    "a prompt twice": (
        "prompts:\n  - {name: centre/x, en: a}\n  - {name: centre/x, cs: b}  # <-\n",
        "duplicate prompt 'centre/x' (first at line 2)",
    ),
    "a menu's prompt out of the directory": (
        "ivr_menus:\n  - {code: M, name: M, prompt: ../x}  # <-\n",
        "prompt: '../x' is not a prompt name",
    ),
    "a DID's language": (
        "queues:\n  - {code: Q, name: Q}\n"
        "dids:\n  - {number: '1', name: D, queue: Q, language: de}  # <-\n",
        "language: the text 'de' is not a prompt language (en, cs)",
    ),
    "the centre's language": (
        "settings:\n  prompt_language: english  # <-\n",
        "the text 'english' is not a prompt language (en, cs)",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_bad_prompt_is_refused_naming_the_line(engine: Engine, case: str) -> None:
    text, reason = REFUSALS[case]
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if "# <-" in row)
    with pytest.raises(CatalogError) as info:
        _load(engine, text)
    assert str(info.value).startswith(f"centre.yaml:{line}: {reason}"), str(info.value)
    assert _texts(engine) == {}
