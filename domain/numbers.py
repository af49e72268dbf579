"""Phone numbers to international digits, the form customer matching compares (R-2.6, R-1.13).

Pure: no I/O, no framework imports. A number is stored as the person wrote it and, next to
it, as international digits without ``+`` (``420777123456``). The same rules read the number
formats an agent may dial out (R-1.13):

- ``+XXX…``  : already international, the ``+`` goes;
- ``00XXX…`` : the international call prefix ``00`` goes;
- ``0…``     : a national trunk prefix (Slovakia, Germany, ...) goes, the country prefix comes;
- ``XXX…``   : longer than a national number (nine digits, the Czech and Slovak length), so
  it already starts with a country prefix such as 420 or 421;
- anything shorter: a national number, the contact centre's country prefix is added.

Separators people write (spaces, ``-``, ``/``, ``.``, brackets) are ignored.
"""

from __future__ import annotations

import re
from typing import Any

from domain.texts import N_

# The longest national significant number without a country prefix: nine digits in the
# Czech and Slovak plans; anything longer is taken to carry its country prefix already.
NATIONAL_DIGITS_MAX = 9
# E.164: an international number has at most fifteen digits.
INTERNATIONAL_DIGITS_MAX = 15

_COUNTRY_PREFIX = re.compile(r"[1-9][0-9]{0,2}")


class NumberError(ValueError):
    """A number that cannot be read: ``template`` (marked with ``N_``) and its ``params``, so
    that a page can say it in the reader's language (R-2.17)."""

    def __init__(self, template: str, **params: Any) -> None:
        super().__init__(template % params)
        self.template = template
        self.params = params


def is_country_prefix(value: str) -> bool:
    """True for a country calling code: one to three digits, not starting with 0."""
    return _COUNTRY_PREFIX.fullmatch(value) is not None


def normalise_number(raw: str, country_prefix: str) -> str:
    """``raw`` as international digits without ``+``; ``ValueError`` when it has no digits.

    ``country_prefix`` (e.g. ``"420"``) is added to a national number. Also refused: a
    ``country_prefix`` that is not a calling code, and a result longer than E.164 allows.
    """
    if not is_country_prefix(country_prefix):
        raise NumberError(N_("country prefix %(value)r is not 1-3 digits"), value=country_prefix)
    text = raw.strip()
    digits = "".join(ch for ch in text if "0" <= ch <= "9")
    if not digits:
        raise NumberError(N_("phone number %(value)r has no digits"), value=raw)
    if text.startswith("+"):
        international = digits
    elif digits.startswith("00"):
        international = digits[2:]
    elif digits.startswith("0"):
        international = country_prefix + digits[1:] if digits[1:] else ""
    elif len(digits) > NATIONAL_DIGITS_MAX:
        international = digits
    else:
        international = country_prefix + digits
    if not international:
        raise NumberError(N_("phone number %(value)r has no digits after its prefix"), value=raw)
    if len(international) > INTERNATIONAL_DIGITS_MAX:
        raise NumberError(
            N_("phone number %(value)r has more than %(max)s digits"),
            value=raw,
            max=INTERNATIONAL_DIGITS_MAX,
        )
    return international
