"""``N_``: the mark of a text a person reads, for extraction into the gettext catalogues.

Pure cores and stores say their messages in English and mark them with ``N_``; the web
layer translates them into the reader's language when it shows them (R-2.17).
"""

from __future__ import annotations


def N_(msgid: str) -> str:
    """Marks a message for extraction into the gettext catalogue; translated later."""
    return msgid
