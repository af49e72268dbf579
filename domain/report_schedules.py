"""What a report schedule may hold (R-5.5), said once for the page of scheduled reports and
for the YAML catalog (R-6.2), so that a bad value is refused with the same words in both.

Each check raises :class:`~domain.refusals.BadInputError` naming the field by ``label``: the
page gives the field's label in the reader's language, the catalog the YAML key.
"""

from __future__ import annotations

import re
from datetime import date, time

from domain.enums import Role
from domain.refusals import BadInputError
from domain.texts import N_

MAX_RECIPIENTS = 10
RECIPIENTS_MAX_CHARS = 300  # the stored list, ", "-joined (report_schedules.email_to)
# The languages a report is written in (web.i18n.LANGUAGES has their names).
REPORT_LANGUAGES = ("en", "cs")
# Who may own a schedule: its report is made with the owner's rights.
OWNER_ROLES = (Role.ADMIN, Role.SUPERVISOR)

NOT_AN_ADDRESS = N_("“%(field)s”: “%(value)s” is not an e-mail address.")
TOO_MANY_RECIPIENTS = N_("“%(field)s” takes at most %(limit)s addresses.")
RECIPIENTS_TOO_LONG = N_("“%(field)s” may be at most %(limit)s characters long.")
FILL_IN = N_("Please fill in “%(field)s”.")
NOT_OFFERED = N_("“%(field)s” has a value that is not offered.")
BAD_TIME = N_("“%(field)s” must be a time of day such as 06:30.")
BAD_DATE = N_("“%(field)s” must be a date such as 2026-03-31.")
LAST_BEFORE_FIRST = N_("“%(field)s” must not be before the first day.")
SENT_TOO_EARLY = N_("“%(field)s” must be after the last day of the report.")
ONLY_ONE_OFF = N_("“%(field)s” is only for a one-off report.")
NOT_YOUR_QUEUE = N_("You have no right to this queue.")
NOT_THE_OWNERS_QUEUE = N_("The schedule's owner has no right to this queue.")
OWNER_MAY_NOT_READ = N_("The schedule's owner must be a supervisor or an admin.")

_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::00)?")


def parse_recipients(text: str, label: str) -> tuple[str, ...]:
    """The addresses of a recipients' field (one a line, or commas or semicolons between
    them), each once; a clear refusal naming the field by ``label``."""
    found: list[str] = []
    for part in re.split(r"[,;\r\n]+", text):
        address = part.strip()
        if not address:
            continue
        if not _ADDRESS.fullmatch(address):
            raise BadInputError(NOT_AN_ADDRESS, {"field": label, "value": address[:80]})
        if address.lower() not in (a.lower() for a in found):
            found.append(address)
    if not found:
        raise BadInputError(FILL_IN, {"field": label})
    if len(found) > MAX_RECIPIENTS:
        raise BadInputError(TOO_MANY_RECIPIENTS, {"field": label, "limit": MAX_RECIPIENTS})
    if len(", ".join(found)) > RECIPIENTS_MAX_CHARS:
        raise BadInputError(RECIPIENTS_TOO_LONG, {"field": label, "limit": RECIPIENTS_MAX_CHARS})
    return tuple(found)


def stored_recipients(email_to: str) -> tuple[str, ...]:
    """The addresses of a stored ``email_to`` (older catalogs wrote them comma-separated)."""
    return tuple(a for a in (part.strip() for part in re.split(r"[,;\s]+", email_to)) if a)


def time_of_day(text: str, label: str) -> time:
    """``06:30`` (or ``6:30``, ``06:30:00``) as a time; whole minutes only."""
    match = _TIME.fullmatch(text.strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise BadInputError(BAD_TIME, {"field": label})
    return time(int(match[1]), int(match[2]))


def day(text: str, label: str) -> date:
    """``2026-03-31`` as a date."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise BadInputError(BAD_DATE, {"field": label}) from None


def report_language(code: str | None, label: str) -> str:
    if code not in REPORT_LANGUAGES:
        raise BadInputError(NOT_OFFERED, {"field": label})
    return code


def check_one_off(
    first_day: date, last_day: date, send_on: date | None, labels: tuple[str, str]
) -> None:
    """A one-off report's period runs forwards, and it is not sent before the period is
    over (it would miss the period's end). ``labels``: the last day's and the sending
    day's."""
    if last_day < first_day:
        raise BadInputError(LAST_BEFORE_FIRST, {"field": labels[0]})
    if send_on is not None and send_on <= last_day:
        raise BadInputError(SENT_TOO_EARLY, {"field": labels[1]})
