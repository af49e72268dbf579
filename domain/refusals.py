"""The kinds of "no" a rule can say, so that every refusal is answered in one place.

A store or a pure core that refuses something raises a subclass of one of these; its
``message`` is the text the person reads (an English gettext message id, marked with
``domain.texts.N_``) and ``params`` fill the message's ``%(name)s`` placeholders after
translation. The web guard answers each kind with its HTTP status and a page or JSON
(``web.guard.REFUSAL_STATUS``): a route only catches a refusal when it shows it somewhere
else than the error page, e.g. inside the dialog the person is in.
"""

from __future__ import annotations

from collections.abc import Mapping

from domain.texts import N_


class RefusedError(Exception):
    """Something a person asked for cannot be done; ``str()`` is the English message."""

    def __init__(self, message: str, params: Mapping[str, object] | None = None) -> None:
        self.message = message
        self.params = dict(params or {})
        try:
            text = message % self.params if self.params else message
        except (KeyError, ValueError, TypeError):
            text = message
        super().__init__(text)


class NotFoundError(RefusedError):
    """What the request names does not exist (or is not the person's to know of)."""


class ForbiddenError(RefusedError):
    """The person has not the role or the right for this (R-7.4)."""


class ConflictError(RefusedError):
    """Not possible now: the state of a call, an agent or an item does not allow it."""


class BadInputError(RefusedError):
    """A field or a value of the request is wrong (R-7.2)."""


NO_SUCH_CALL = N_("There is no such call.")


class CallNotFoundError(NotFoundError):
    """No call record with that id (or ring attempt, for the answer hook)."""

    def __init__(self, message: str = NO_SUCH_CALL, params: Mapping[str, object] | None = None):
        super().__init__(message, params)
