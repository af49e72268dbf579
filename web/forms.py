"""Reading form and query fields: wrong fields become a 400 with a message (R-7.2).

Twisted hands a route its fields as ``{bytes: [bytes, ...]}``. :class:`FormData` decodes them
once (UTF-8, else 400) and offers typed getters that raise ``BadInputError`` naming the
field, so a route never sees a half-valid value and the user never sees a traceback. A field
a person fills in is named by its ``label`` (the gettext message id of the label the page
shows, translated with the refusal), never by its raw name such as ``q`` (issue 16); a
number out of range says its bounds.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from domain.refusals import BadInputError
from domain.texts import N_

MISSING = N_("Please fill in “%(field)s”.")
TWICE = N_("The field %(field)s was sent more than once.")
NOT_A_NUMBER = N_("“%(field)s” must be a whole number.")
OUT_OF_RANGE = N_("“%(field)s” is out of range.")
OUT_OF_BOUNDS = N_("“%(field)s” must be a whole number from %(low)s to %(high)s.")
TOO_LONG = N_("“%(field)s” may be at most %(limit)s characters long.")
ONE_LINE = N_("“%(field)s” must be a single line.")
FILE_FIELD = b"file"  # the name of a form's file input
NOT_A_CHOICE = N_("“%(field)s” has a value that is not offered.")
NOT_UTF8 = N_("The request is not valid UTF-8 text.")

# Far beyond any id and any sane count, still inside a 64-bit database integer.
_INT_LIMIT = 2**53


class FormData:
    """Decoded fields of a form body or a query string."""

    def __init__(self, fields: Mapping[str, list[str]]) -> None:
        self._fields = dict(fields)

    @classmethod
    def from_twisted(cls, args: Mapping[bytes, list[bytes]] | None) -> FormData:
        """The text fields; a file input (named ``file``) is bytes, which its route reads
        from the request itself (a recording is no UTF-8 text)."""
        decoded: dict[str, list[str]] = {}
        try:
            for key, values in (args or {}).items():
                if key == FILE_FIELD:
                    continue
                decoded[key.decode("utf-8")] = [v.decode("utf-8") for v in values]
        except UnicodeDecodeError:
            raise BadInputError(NOT_UTF8) from None
        return cls(decoded)

    def has(self, name: str) -> bool:
        return bool(self._fields.get(name))

    def raw(self, name: str) -> str | None:
        """The single value of ``name``, None when absent; 400 when sent twice."""
        values = self._fields.get(name) or []
        if len(values) > 1:
            raise BadInputError(TWICE, {"field": name})
        return values[0] if values else None

    def many(self, name: str, *, max_len: int = 200, max_count: int = 10_000) -> list[str]:
        """Every value of ``name`` (a list of check boxes), each one line of at most
        ``max_len`` characters, stripped; empty ones left out."""
        values = self._fields.get(name) or []
        if len(values) > max_count:
            raise BadInputError(OUT_OF_RANGE, {"field": name})
        out = []
        for value in values:
            text = value.strip()
            if len(text) > max_len:
                raise BadInputError(TOO_LONG, {"field": name, "limit": max_len})
            if "\n" in text or "\r" in text:
                raise BadInputError(ONE_LINE, {"field": name})
            if text:
                out.append(text)
        return out

    def text(
        self,
        name: str,
        *,
        required: bool = True,
        max_len: int = 200,
        multiline: bool = False,
        strip: bool = True,
        label: str | None = None,
    ) -> str:
        field = label or name
        value = self.raw(name)
        if value is not None and strip:
            value = value.strip()
        if not value:
            if required:
                raise BadInputError(MISSING, {"field": field})
            return ""
        if len(value) > max_len:
            raise BadInputError(TOO_LONG, {"field": field, "limit": max_len})
        if not multiline and ("\r" in value or "\n" in value):
            raise BadInputError(ONE_LINE, {"field": field})
        if "\x00" in value:
            raise BadInputError(NOT_UTF8)
        return value

    def integer(
        self,
        name: str,
        *,
        required: bool = True,
        minimum: int | None = None,
        maximum: int | None = None,
        label: str | None = None,
    ) -> int | None:
        field = label or name
        value = self.raw(name)
        if value is None or not value.strip():
            if required:
                raise BadInputError(MISSING, {"field": field})
            return None
        text = value.strip()
        # int() would accept "1_000", "+5", "٣" (Arabic-Indic digits): only plain digits here.
        digits = text[1:] if text.startswith("-") else text
        if not digits.isascii() or not digits.isdigit() or len(digits) > 16:
            raise BadInputError(NOT_A_NUMBER, {"field": field})
        number = int(text)
        low = -_INT_LIMIT if minimum is None else minimum
        high = _INT_LIMIT if maximum is None else maximum
        if not low <= number <= high:
            if minimum is not None and maximum is not None:
                raise BadInputError(OUT_OF_BOUNDS, {"field": field, "low": low, "high": high})
            raise BadInputError(OUT_OF_RANGE, {"field": field})
        return number

    def required_integer(
        self,
        name: str,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
        label: str | None = None,
    ) -> int:
        number = self.integer(name, required=True, minimum=minimum, maximum=maximum, label=label)
        assert number is not None
        return number

    def choice(
        self,
        name: str,
        options: Collection[str],
        *,
        required: bool = True,
        label: str | None = None,
    ) -> str:
        value = self.text(name, required=required, max_len=100, label=label)
        if value and value not in options:
            raise BadInputError(NOT_A_CHOICE, {"field": label or name})
        return value
