"""English and Czech (R-2.17): a complete catalogue, compiled in memory, locale formats in
the centre's time zone; and the typed form fields that turn wrong input into a 400."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2 import Environment

from agent_desktop import agent_state
from agent_desktop.store import agent_sessions, desk
from callbacks import call_back
from dialplan.store import outbound, transfers
from domain.refusals import BadInputError
from tests.support.i18n import extracted_messages
from voicemail import claims
from voicemail.store import queue
from web.forms import FormData
from web.guard import refusal_status
from web.i18n import LOCALE_DIR, Catalogues, load_po, negotiate
from web.rendering import cached_gettext

PO = LOCALE_DIR / "cs" / "LC_MESSAGES" / "hotline.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def test_every_message_of_the_pages_has_a_czech_translation() -> None:
    czech = load_po(PO)
    messages = extracted_messages()
    assert len(messages) > 60
    missing = sorted(m for m in messages if czech.gettext(m) == m and m != "OK")
    assert missing == []


def test_translations_keep_their_placeholders() -> None:
    czech = load_po(PO)
    for message in extracted_messages():
        translated = czech.gettext(message)
        assert sorted(PLACEHOLDER.findall(translated)) == sorted(PLACEHOLDER.findall(message)), (
            message
        )


def test_the_messages_the_rules_refuse_with_are_in_the_catalogue() -> None:
    """A refusal is marked where it is raised (``domain.texts.N_``), so extraction finds it."""
    messages = extracted_messages()
    assert agent_state.FINISH_FIRST in messages
    assert agent_state.NO_LOGOUT_IN_CALL in messages
    for store in (agent_sessions, desk, transfers, outbound, claims, queue, call_back):
        texts = {v for k, v in vars(store).items() if k.isupper() and isinstance(v, str)}
        refusals = {t for t in texts if t[:1].isupper() and t.rstrip().endswith((".", ":"))}
        assert refusals <= messages, store.__name__


def test_no_compiled_catalogue_is_kept_in_the_repository() -> None:
    assert list(LOCALE_DIR.rglob("*.mo")) == []


def test_a_seat_message_with_a_name_inside_is_translated() -> None:
    czech = Catalogues("Europe/Prague").language("cs")
    text = czech.refusal(agent_sessions.ALREADY_AT_SEAT, {"seat": "101"})
    assert text == "Už jste přihlášen(a) u telefonu 101; nejdříve se tam odhlaste."
    assert czech.refusal("Something nobody translated") == "Something nobody translated"


def test_without_a_catalogue_czech_falls_back_to_english(tmp_path: Path) -> None:
    language = Catalogues("Europe/Prague", locale_dir=tmp_path).language("cs")
    assert language.gettext("Sign out") == "Sign out"


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("cs-CZ,cs;q=0.9,en;q=0.8", "cs"),
        ("en-GB,en;q=0.9,cs;q=0.8", "en"),
        ("de-DE, cs;q=0.5", "cs"),
        ("cs;q=0, en", "en"),
        ("fr", "en"),
        ("", "en"),
        (None, "en"),
        ("cs;q=abc, en;q=0.1", "en"),
        ("*", "en"),
    ],
)
def test_the_browser_language_is_negotiated(header: str | None, language: str) -> None:
    assert negotiate(header) == language


def test_times_are_in_the_centre_zone_and_alike_in_both_languages() -> None:
    """Issue 16: a date and time looks the same in English and Czech, with a four-digit
    year (Babel's own short formats gave "15/01/2026, 08:05" and "15.01.26 8:05")."""
    catalogues = Catalogues("Europe/Prague")
    winter = datetime(2026, 1, 15, 7, 5, tzinfo=UTC)
    summer = datetime(2026, 7, 15, 7, 5, tzinfo=UTC)
    cs, en = catalogues.language("cs"), catalogues.language("en")
    assert cs.time_text(winter) == "08:05" and cs.time_text(summer) == "09:05"
    assert en.time_text(winter) == "08:05"
    assert cs.datetime_text(winter) == en.datetime_text(winter) == "15.01.2026 08:05"
    assert cs.date_text(summer) == en.date_text(summer) == "15.07.2026"
    assert Catalogues("America/New_York").language("en").time_text(winter) == "02:05"


# --------------------------------------------------------------------------- form fields


@given(st.integers(min_value=-(2**53), max_value=2**53))
def test_integers_read_back(number: int) -> None:
    assert FormData({"n": [str(number)]}).integer("n") == number


@given(st.text(max_size=20))
def test_an_integer_field_takes_plain_digits_or_says_why_not(raw: str) -> None:
    form = FormData({"n": [raw]})
    plain = raw.strip()
    digits = plain[1:] if plain.startswith("-") else plain
    try:
        value = form.integer("n", required=False)
    except BadInputError as error:
        assert refusal_status(error)[0] == 400 and error.params == {"field": "n"}
        return
    if plain:
        assert digits.isascii() and digits.isdigit() and value == int(plain)
    else:
        assert value is None


def test_text_fields_are_bounded_and_single_line() -> None:
    form = FormData({"a": ["x" * 11], "b": ["one\ntwo"], "c": ["  padded  "]})
    with pytest.raises(BadInputError):
        form.text("a", max_len=10)
    with pytest.raises(BadInputError):
        form.text("b")
    assert form.text("b", multiline=True) == "one\ntwo"
    assert form.text("c") == "padded"
    with pytest.raises(BadInputError):
        form.text("missing")
    assert form.text("missing", required=False) == ""


def test_a_page_translates_each_message_once_and_still_escapes_what_fills_it() -> None:
    """Templates keep a message without placeholders once translated (issue 12): the same
    markup as Jinja's new-style gettext, translated once, not at every page."""
    asked: list[str] = []

    def translate(message: str) -> str:
        asked.append(message)
        return {"Seat %(seat)s": "Místo %(seat)s", "100%% sure": "100%% jistě"}.get(
            message, message
        )

    env = Environment(autoescape=True, extensions=["jinja2.ext.i18n"])
    env.install_gettext_callables(  # type: ignore[attr-defined]
        translate, lambda s, p, n: s, newstyle=True
    )
    env.globals["_"] = env.globals["gettext"] = cached_gettext(translate)
    page = env.from_string('{{ _("100%% sure") }}|{{ _("Seat %(seat)s", seat=name) }}')
    for _ in range(3):
        assert page.render(name="<b>") == "100% jistě|Místo &lt;b&gt;"
    assert asked.count("100%% sure") == 1
    assert asked.count("Seat %(seat)s") == 3  # with its values: each time
    plain = Environment(autoescape=False, extensions=["jinja2.ext.i18n"])
    plain.globals["_"] = cached_gettext(translate)
    assert plain.from_string('{{ _("Seat %(seat)s", seat=name) }}').render(name="<b>") == (
        "Místo <b>"
    )
