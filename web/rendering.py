"""Jinja2 templates for every page, one environment per language (autoescape on).

Templates are looked up in ``web/templates`` first (the layout, sign-in, error and start
pages) and then in each route table's own folder, so a capability's page extends the shared
layout with ``{% extends "layout.html" %}``. Messages in templates are ``{{ _("...") }}``
(the i18n extension, new-style gettext: placeholders are ``%(name)s`` and are escaped).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from web.i18n import LANGUAGES, Catalogues, Language

SHARED_TEMPLATES = Path(__file__).resolve().parent / "templates"


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
            env.filters["datetime"] = language.datetime_text
            env.filters["time"] = language.time_text
            env.filters["date"] = language.date_text
            self._environments[code] = env

    def render(self, name: str, language: Language, **context: Any) -> str:
        env = self._environments[language.code]
        return env.get_template(name).render(lang=language, languages=LANGUAGES, **context)
