"""Jinja2 templates for every page, one environment per language (autoescape on).

Templates are looked up in ``web/templates`` first (the layout, sign-in, error and start
pages) and then in each route table's own folder, so a capability's page extends the shared
layout with ``{% extends "layout.html" %}``. Messages in templates are ``{{ _("...") }}``
(the i18n extension, new-style gettext: placeholders are ``%(name)s`` and are escaped).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    pass_context,
    pass_eval_context,
    select_autoescape,
)
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from markupsafe import Markup

from domain.centre import DEFAULT_COUNTRY_PREFIX
from domain.numbers import display_number
from web.i18n import LANGUAGES, Catalogues, Language

SHARED_TEMPLATES = Path(__file__).resolve().parent / "templates"


@pass_context
def phone_text(context: Context, value: str | None, digits: bool = False) -> str:
    """``{{ number|phone }}``: a phone number shown one way (issue 16), by the centre's
    country that the page's context names (``country_prefix``, see ``RequestContext``).
    ``digits=True``: the value is stored international digits without ``+`` (the number an
    outbound call dialled), not a number as someone wrote it."""
    prefix = context.get("country_prefix") or DEFAULT_COUNTRY_PREFIX
    text = value or ""
    if digits and text.isdigit():
        text = "+" + text
    return display_number(text, str(prefix))


# How many messages without placeholders each language keeps translated (every message id of
# the templates, with room); a message id from data beyond it is translated each time.
_KEPT_MESSAGES = 4096


def cached_gettext(translate: Callable[[str], str]) -> Callable[..., str]:
    """Jinja's new-style ``gettext`` (``jinja2.ext``: the translation is markup, its
    ``%(name)s`` placeholders are filled escaped), keeping each message without placeholders
    once translated: a page says some thirty of them, and translating and wrapping each
    again was a third of a page's rendering (issue 12). The catalogues never change while
    the process runs (``web.i18n.Catalogues``)."""
    kept: dict[str, Markup] = {}

    @pass_eval_context
    def gettext(eval_ctx: EvalContext, message: str, **variables: Any) -> str:
        if not eval_ctx.autoescape:
            return translate(message) % variables
        if variables:
            return Markup(translate(message)) % variables
        found = kept.get(message)
        if found is None:
            found = Markup(translate(message)) % {}
            if len(kept) < _KEPT_MESSAGES:
                kept[message] = found
        return found

    return gettext


class Templates:
    """Renders a named template in a language."""

    def __init__(self, catalogues: Catalogues, folders: Iterable[Path]) -> None:
        loader = ChoiceLoader(
            [FileSystemLoader(str(folder)) for folder in [SHARED_TEMPLATES, *folders]]
        )
        self._environments: dict[str, Environment] = {}
        for code in LANGUAGES:
            language = catalogues.language(code)
            env = Environment(
                loader=loader,
                autoescape=select_autoescape(["html"], default_for_string=True),
                extensions=["jinja2.ext.i18n"],
                undefined=StrictUndefined,
                auto_reload=False,
                trim_blocks=True,
                lstrip_blocks=True,
            )
            env.install_gettext_callables(  # type: ignore[attr-defined]
                language.gettext, language.ngettext, newstyle=True
            )
            # ``_`` straight to the kept translations, not through the extension's alias.
            env.globals["_"] = env.globals["gettext"] = cached_gettext(language.gettext)
            env.filters["datetime"] = language.datetime_text
            env.filters["time"] = language.time_text
            env.filters["date"] = language.date_text
            env.filters["phone"] = phone_text
            self._environments[code] = env

    def render(self, name: str, language: Language, **context: Any) -> str:
        env = self._environments[language.code]
        return env.get_template(name).render(lang=language, languages=LANGUAGES, **context)
