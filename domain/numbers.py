"""Phone numbers: read by ``phonenumbers`` (the port of Google's libphonenumber), stored as
international digits, shown one way (R-2.6, R-1.13, issue 16).

Pure: no I/O, no framework imports. A number is stored as the person wrote it and, next to
it, as international digits without ``+`` (``420777123456``, E.164 without its ``+``): the
form customer matching compares. A number is read in the country of the line it came in on
(a queue's or the centre's country, named by its calling code such as ``420``), so every
form a caller ID or a person may write comes to the same digits: ``+420 777 123 456``,
``00420777123456``, ``420777123456`` and ``777 123 456`` in the Czech Republic, ``0903 123
456`` in Slovakia, ``030 1234567`` in Germany. A number that is no valid number of that
country but a valid one with its digits read as international (``421903123456``, a Slovak
caller ID without ``+``) is taken as international; one valid once a stray leading ``0`` goes
(``0777 123 456`` on a Czech line) is taken so.

Pages show a number one way (:func:`display_number`): a number of the centre's own country
in its national format (``777 123 456``), any other in the international format with ``+``
(``+421 903 123 456``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat

from domain.texts import N_

# E.164: an international number has at most fifteen digits.
INTERNATIONAL_DIGITS_MAX = 15


class NumberError(ValueError):
    """A number that cannot be read: ``template`` (marked with ``N_``) and its ``params``, so
    that a page can say it in the reader's language (R-2.17)."""

    def __init__(self, template: str, **params: Any) -> None:
        super().__init__(template % params)
        self.template = template
        self.params = params


def is_country_prefix(value: str) -> bool:
    """True for a country calling code that a country uses (``420``, ``49``, ``1``)."""
    if not value.isascii() or not value.isdigit() or value.startswith("0") or len(value) > 3:
        return False
    return phonenumbers.region_code_for_country_code(int(value)) != phonenumbers.UNKNOWN_REGION


def region_of(country_prefix: str) -> str:
    """The country (ISO 3166 code, ``CZ``) whose numbers the calling code starts; for a code
    several countries share, the main one (``1``: ``US``)."""
    if not is_country_prefix(country_prefix):
        raise NumberError(
            N_("country prefix %(value)r is not a country's calling code"), value=country_prefix
        )
    return phonenumbers.region_code_for_country_code(int(country_prefix))


def _parse(text: str, region: str | None) -> PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except NumberParseException:
        return None


def parse_number(raw: str, country_prefix: str) -> PhoneNumber:
    """``raw`` read in the country of ``country_prefix``; ``NumberError`` when it is no number."""
    region = region_of(country_prefix)
    text = raw.strip()
    digits = "".join(ch for ch in text if "0" <= ch <= "9")
    if not digits:
        raise NumberError(N_("phone number %(value)r has no digits"), value=raw)
    if text.startswith("+"):
        found = _parse(text, None)
        if found is None:
            raise NumberError(N_("phone number %(value)r has no country code"), value=raw)
        return _checked(found, raw)
    national = _parse(text, region)
    if national is not None and phonenumbers.is_valid_number(national):
        return _checked(national, raw)
    # Not a number of this country as written: a caller ID without its "+", or a national
    # number with a stray trunk "0" in a country that dials none.
    readings = [_parse("+" + digits, None)]
    if digits.startswith("0") and not digits.startswith("00"):
        readings.append(_parse(digits[1:], region))
    for reading in readings:
        if reading is not None and phonenumbers.is_valid_number(reading):
            return _checked(reading, raw)
    # No valid reading (a short internal number, an unallocated range): the country's own.
    if national is None:
        raise NumberError(N_("phone number %(value)r is not a phone number"), value=raw)
    return _checked(national, raw)


def _checked(number: PhoneNumber, raw: str) -> PhoneNumber:
    if len(_digits(number)) > INTERNATIONAL_DIGITS_MAX:
        raise NumberError(
            N_("phone number %(value)r has more than %(max)s digits"),
            value=raw,
            max=INTERNATIONAL_DIGITS_MAX,
        )
    return number


def _digits(number: PhoneNumber) -> str:
    return phonenumbers.format_number(number, PhoneNumberFormat.E164).lstrip("+")


# Parsing a number costs tens of microseconds; reports and the live screens read the same
# callers' numbers again and again (a month's lost callers, today's on every refresh).
_REMEMBERED = 65536


@lru_cache(maxsize=_REMEMBERED)
def normalise_number(raw: str, country_prefix: str) -> str:
    """``raw`` as international digits without ``+``; ``NumberError`` (a ``ValueError``) when
    it has no digits or is no phone number, or when ``country_prefix`` is no calling code."""
    return _digits(parse_number(raw, country_prefix))


def national_forms(digits: str) -> set[str]:
    """The national digits a caller ID in the number's own country may carry for these
    international digits: the national significant number and, where the country dials one,
    with its trunk prefix (``030…`` for ``4930…``, also ``0``-prefixed for any country)."""
    return set(_national_forms(digits))


@lru_cache(maxsize=_REMEMBERED)
def _national_forms(digits: str) -> frozenset[str]:
    number = _parse("+" + digits, None)
    if number is None:
        return frozenset()
    significant = phonenumbers.national_significant_number(number)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    forms = {significant, "0" + significant}
    forms.add("".join(ch for ch in national if "0" <= ch <= "9"))
    return frozenset(f for f in forms if f)


def display_number(raw: str, centre_prefix: str) -> str:
    """``raw`` as a page shows it: the national format for a number of the centre's country,
    the international one with ``+`` for any other; as written when it is no phone number
    (a hidden caller, an internal extension)."""
    text = (raw or "").strip()
    if not text:
        return ""
    try:
        number = parse_number(text, centre_prefix)
    except NumberError:
        return text
    if not phonenumbers.is_possible_number(number):
        return text
    own = str(number.country_code) == centre_prefix
    style = PhoneNumberFormat.NATIONAL if own else PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(number, style)
