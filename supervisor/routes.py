"""The supervisor's "Message an agent" page (R-2.16, R-4.1).

- ``GET /supervisor/messages``: the form (people of the watched departments) and the
  messages sent lately, with whether they were read;
- ``POST /supervisor/messages``: send; a refusal shows the form again with the reason
  and what was typed (409), a malformed field is a 400.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from domain.enums import Role, Severity
from domain.texts import N_
from supervisor import store as notes
from web.access import RouteTable, roles
from web.request import RequestContext

HERE = Path(__file__).resolve().parent
PAGE = "/supervisor/messages"
routes = RouteTable("supervisor", templates=HERE / "templates")
SUPERVISORS = roles(Role.SUPERVISOR, Role.ADMIN)
SEVERITIES = tuple(s.value for s in Severity)
SEVERITY_LABELS = {"info": N_("Information"), "warning": N_("Warning"), "critical": N_("Critical")}


async def _page(
    rc: RequestContext,
    *,
    status: int = 200,
    error: str | None = None,
    entered: dict[str, Any] | None = None,
    sent: bool = False,
) -> bytes:
    sender = rc.signed_in.agent_id
    people = await rc.db(notes.recipients, sender)
    latest = await rc.db(notes.sent_by, sender)
    return rc.render(
        "supervisor_messages.html",
        status=status,
        people=people,
        latest=latest,
        error=rc.lang.gettext(error) if error else None,
        entered=entered or {"severity": "info", "minutes": notes.DEFAULT_MINUTES},
        sent=sent,
        severities=SEVERITIES,
        severity_label=lambda value: rc.lang.gettext(SEVERITY_LABELS.get(value) or value),
        minutes_max=notes.MINUTES_MAX,
    )


@routes.route(PAGE, methods=["GET"], access=SUPERVISORS)
async def messages_page(rc: RequestContext) -> bytes:
    return await _page(rc, sent=rc.query().raw("sent") == "1")


@routes.route(PAGE, methods=["POST"], access=SUPERVISORS)
async def send_message(rc: RequestContext) -> bytes:
    form = rc.form()
    agent_id = form.required_integer("agent_id", minimum=1, label=N_("To"))
    severity = Severity(form.choice("severity", SEVERITIES, label=N_("Severity")))
    minutes = form.required_integer(
        "minutes", minimum=1, maximum=notes.MINUTES_MAX, label=N_("Show for (minutes)")
    )
    text = form.text(
        "message",
        required=False,
        max_len=4 * notes.MESSAGE_MAX_CHARS,
        multiline=True,
        label=N_("Message"),
    )
    try:
        await rc.db(notes.send, rc.signed_in.agent_id, agent_id, severity, text, minutes, rc.now())
    except notes.NotificationError as refusal:
        entered = {"agent_id": agent_id, "severity": severity.value, "minutes": minutes}
        entered["message"] = text
        return await _page(rc, status=409, error=refusal.message, entered=entered)
    if not rc.wants_html:
        return rc.json({"ok": True})
    return rc.redirect(PAGE + "?sent=1")
