"""The web's own errors: no session, a method a page does not take, a database that is
down, a forged request, a request too large or too slow (``web.server``). Refusals of the
rules (``domain.refusals``) are not here: the guard answers both, each with its status, in
one place (``web.guard``). Titles and messages are gettext message ids; ``params`` fill
their ``%(name)s`` placeholders after translation.
"""

from __future__ import annotations

from collections.abc import Mapping

from domain.texts import N_


class HTTPError(Exception):
    """An answer other than success; ``message`` is shown to the user."""

    status = 500
    title = N_("Something went wrong")

    def __init__(self, message: str, params: Mapping[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.params = dict(params or {})


class NotSignedInError(HTTPError):
    """No valid session: fetch and Server-Sent Events get 401, pages a redirect to sign-in."""

    status = 401
    title = N_("Please sign in")


class MethodNotAllowedError(HTTPError):
    status = 405
    title = N_("Not possible this way")


class ForgedError(HTTPError):
    """A state-changing request from another site, or without the session's CSRF token."""

    status = 403
    title = N_("Not allowed")


class GoneError(HTTPError):
    """What was asked for is gone for good, its record kept (a deleted recording, R-5.2)."""

    status = 410
    title = N_("Deleted")


class RequestTooLargeError(HTTPError):
    """A body over the limit of its route, refused before it is read (``web.server``)."""

    status = 413
    title = N_("Too much data")


class RequestTimeoutError(HTTPError):
    """A request whose headers or body did not arrive in time (``web.server``)."""

    status = 408
    title = N_("Too slow")


class DatabaseDownError(HTTPError):
    status = 503
    title = N_("The database is not available")


FORGED = N_(
    "This request was refused because it did not come from a page of this Hotline or the page"
    " was too old. Go back, reload the page and try again."
)
NO_RIGHT = N_("Your account does not have the right to use this page.")
SIGN_IN_FIRST = N_("Please sign in first.")
DATABASE_DOWN = N_(
    "Hotline cannot reach its database at the moment. Nothing was changed; please try again"
    " in a minute."
)
TOO_LARGE = N_(
    "This request carried more than %(kib)s KiB, more than any page of Hotline takes."
    " Nothing was saved."
)
TOO_SLOW = N_("The request did not arrive in time. Please try again.")
