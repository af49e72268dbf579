"""English and Czech for the web desktop (R-2.17): gettext catalogues, locale formats, zones.

The Czech catalogue is ``web/locale/cs/LC_MESSAGES/hotline.po``. It is read with Babel at
start-up and compiled in memory, so no ``.mo`` file is ever written or committed. English is
the source language (the message ids). The agent's ``language`` column picks the language;
before sign-in the browser's Accept-Language does.

To refresh the catalogue after adding messages::

    pybabel extract --add-location=file --sort-output -F web/locale/babel.cfg -o /tmp/hotline.pot .
    pybabel update --ignore-obsolete -i /tmp/hotline.pot -d web/locale -D hotline

Dates and times are shown in the contact centre's time zone (``HOTLINE_TIME_ZONE``), the
same way in both languages (issue 16): day first, a four-digit year and a 24-hour clock,
``07.12.2026 13:05``, as R-2.13 writes them and a European contact centre expects.
"""

from __future__ import annotations

import gettext as gettext_module
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from twisted.logger import Logger

_log = Logger()

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "hotline"
DEFAULT_LANGUAGE = "en"
LANGUAGES: dict[str, str] = {"en": "English", "cs": "Čeština"}
# Babel locale used for formats, per language.
_FORMAT_LOCALES = {"en": "en_GB", "cs": "cs_CZ"}
# One pattern for both languages (Babel's short formats differ: "07/12/2026" against
# "07.12.26"); a four-digit year everywhere.
DATE_PATTERN = "dd.MM.yyyy"
TIME_PATTERN = "HH:mm"
# A call's timeline tells its steps apart by the second.
TIME_WITH_SECONDS_PATTERN = "HH:mm:ss"
DATETIME_PATTERN = f"{DATE_PATTERN} {TIME_PATTERN}"
_ACCEPT_ITEM = re.compile(r"^\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q=([0-9.]+))?\s*$")


def load_po(path: Path) -> gettext_module.GNUTranslations:
    """Compile a ``.po`` file in memory into translations (no ``.mo`` on disk)."""
    with path.open("rb") as po:
        catalog = read_po(po, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext_module.GNUTranslations(buffer)


def normalise_language(value: str | None) -> str:
    """A supported language code for ``value`` (``cs_CZ``, ``cs-cz``, ``CS`` -> ``cs``)."""
    code = (value or "").replace("_", "-").split("-")[0].strip().lower()
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def negotiate(accept_language: str | None) -> str:
    """The best supported language for an Accept-Language header."""
    choices: list[tuple[float, int, str]] = []
    for index, item in enumerate((accept_language or "").split(",")[:20]):
        match = _ACCEPT_ITEM.match(item)
        if not match:
            continue
        try:
            quality = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
        code = match.group(1).lower()
        if code in LANGUAGES and quality > 0:
            choices.append((-quality, index, code))
    return min(choices)[2] if choices else DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Language:
    """One language's translation functions and formats, bound to the centre's time zone."""

    code: str
    translations: gettext_module.NullTranslations
    time_zone: ZoneInfo
    format_locale: str = field(init=False)
    # Parsed once: babel parses a locale given by name at every date it formats (issue 12).
    _babel_locale: Locale = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "format_locale", _FORMAT_LOCALES.get(self.code, "en_GB"))
        object.__setattr__(self, "_babel_locale", Locale.parse(self.format_locale))

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations.ngettext(singular, plural, n)

    def refusal(self, message: str, params: Mapping[str, object] | None = None) -> str:
        """A refusal's message (a gettext message id) translated, its placeholders filled."""
        translated = self.translations.gettext(message)
        if not params:
            return translated
        if isinstance(params.get("field"), str):
            # A field is named by its label's message id (web.forms): in the reader's language.
            params = {**params, "field": self.translations.gettext(str(params["field"]))}
        try:
            return translated % params
        except (KeyError, ValueError, TypeError):
            return translated

    def datetime_text(self, value: datetime | None) -> str:
        if value is None:
            return ""
        return format_datetime(
            value, DATETIME_PATTERN, tzinfo=self.time_zone, locale=self._babel_locale
        )

    def time_text(self, value: datetime | None, precision: str = "minutes") -> str:
        """The time of day; ``precision`` "seconds" adds the seconds (a call's timeline)."""
        if value is None:
            return ""
        pattern = TIME_WITH_SECONDS_PATTERN if precision == "seconds" else TIME_PATTERN
        return format_time(value, pattern, tzinfo=self.time_zone, locale=self._babel_locale)

    def date_text(self, value: datetime | None) -> str:
        if value is None:
            return ""
        local = value.astimezone(self.time_zone)
        return format_date(local.date(), DATE_PATTERN, locale=self._babel_locale)


class Catalogues:
    """The languages of one web process, loaded once at start-up."""

    def __init__(self, time_zone: str, locale_dir: Path = LOCALE_DIR) -> None:
        zone = ZoneInfo(time_zone)
        self._languages: dict[str, Language] = {}
        for code in LANGUAGES:
            translations: gettext_module.NullTranslations
            po = locale_dir / code / "LC_MESSAGES" / f"{DOMAIN}.po"
            if code == DEFAULT_LANGUAGE or not po.exists():
                if code != DEFAULT_LANGUAGE:
                    _log.warn("no catalogue {po}: {code} pages show English", po=po, code=code)
                translations = gettext_module.NullTranslations()
            else:
                translations = load_po(po)
            self._languages[code] = Language(code, translations, zone)

    def language(self, code: str | None) -> Language:
        return self._languages[normalise_language(code)]
