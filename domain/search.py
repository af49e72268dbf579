"""How search text is compared: without accents and case (issue 16, R-2.7).

An agent types "kotlarska" and means "Kotlářská"; "NOVAK" means "Novák". Both sides of a
comparison are folded the same way: Unicode compatibility decomposition, combining marks
dropped, case folded. The folded text of a customer is stored beside it
(``customers.search_text``), so SQLite and PostgreSQL compare the same plain strings with
LIKE and need neither ICU nor the ``unaccent`` extension.
"""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """``text`` without accents, in case-folded form: "Kotlářská" -> "kotlarska"."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return plain.casefold()


def searchable(*fields: str) -> str:
    """The folded fields of one record, one per line (a word never matches across two)."""
    return "\n".join(fold(field) for field in fields)
