"""Errors a route raises to answer with an HTTP status and a clear page (or JSON for fetch).

The guard (``agent_desktop.guard``) turns them into responses in one place (ARCHITECTURE.md:
"domain errors become responses in one place"). Titles and messages are gettext message
ids; ``params`` fill their ``%(name)s`` placeholders after translation.
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


class BadRequestError(HTTPError):
    """Wrong or missing form fields (R-7.2): 400 with what is wrong, never a traceback."""

    status = 400
    title = N_("The request was not understood")


class NotSignedInError(HTTPError):
    """No valid session: fetch and Server-Sent Events get 401, pages a redirect to sign-in."""

    status = 401
    title = N_("Please sign in")


class ForbiddenError(HTTPError):
    """Signed in, but the role or the right is missing, or the request is forged (R-7.4)."""

    status = 403
    title = N_("Not allowed")


class NotFoundError(HTTPError):
    status = 404
    title = N_("Not found")


class MethodNotAllowedError(HTTPError):
    status = 405
    title = N_("Not possible this way")


class ConflictError(HTTPError):
    """The agent may not do this now (a refusal from the state machine or seat rules)."""

    status = 409
    title = N_("Not possible now")


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
