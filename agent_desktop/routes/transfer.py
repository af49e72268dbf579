"""The transfer dialog (R-2.14, R-1.12): active queues and on-air agents; a pick moves the
call the agent is talking in.

- ``GET /calls/<call_id>/transfer``: the dialog (JSON for fetch: the same lists);
- ``POST /calls/<call_id>/transfer`` with ``target`` = ``queue-<id>`` or ``agent-<id>``.

Thin routes: ``dialplan.services.transfers`` checks and does the transfer. Without an AMI client
(``HOTLINE_AMI_URL`` not set) the dialog says that telephony is not configured. A refusal
shows the dialog again with the reason (409; JSON ``{"error": ...}`` for fetch). A colleague
who went off-air since the dialog listed them gets the call in their queue without preference
(R-1.12): the dialog says so (JSON ``notice``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dialplan.services import transfers as transfer_service
from dialplan.store import transfers as transfer
from domain.texts import N_
from web.access import CALL_CENTRE, RouteTable
from web.request import RequestContext

HERE = Path(__file__).resolve().parent.parent
routes = RouteTable("transfer", templates=HERE / "templates")

TARGET_LABEL = N_("Transfer to")  # the label errors name the field by
NO_TELEPHONY = N_("Telephony is not configured: calls cannot be transferred or placed.")
OFF_AIR_FALLBACK = N_(
    "%(agent)s is not on air any more: the call went to the queue %(queue)s, without preference."
)


def _targets_json(targets: transfer.TransferTargets) -> dict[str, Any]:
    return {
        "call_id": targets.call_id,
        "queues": [
            {"target": f"queue-{q.queue_id}", "name": q.name, "code": q.code, "waiting": q.waiting}
            for q in targets.queues
        ],
        "agents": [
            {"target": f"agent-{a.agent_id}", "name": a.name, "seat": a.seat_name}
            for a in targets.agents
        ],
    }


async def _dialog(
    rc: RequestContext, call_id: int, *, error: str | None = None, status: int = 200
) -> bytes:
    telephony = rc.web.ami is not None
    try:
        targets = await rc.db(transfer.transfer_targets, rc.signed_in.agent_id, call_id)
    except transfer.TransferError as refusal:
        targets, error, status = None, refusal.message, 409
    message = rc.lang.gettext(error) if error else None
    if not rc.wants_html:
        if message:
            return rc.json({"error": message}, status=status)
        assert targets is not None
        return rc.json({**_targets_json(targets), "telephony": telephony})
    return rc.render(
        "transfer.html",
        status=status,
        call_id=call_id,
        targets=targets,
        error=message,
        notice=None,
        telephony=telephony,
    )


@routes.route("/calls/<int:call_id>/transfer", methods=["GET"], access=CALL_CENTRE)
async def transfer_dialog(rc: RequestContext, call_id: int) -> bytes:
    return await _dialog(rc, call_id)


@routes.route("/calls/<int:call_id>/transfer", methods=["POST"], access=CALL_CENTRE)
async def transfer_call(rc: RequestContext, call_id: int) -> bytes:
    target = rc.form().text("target", max_len=40, label=TARGET_LABEL)
    ami = rc.web.ami
    if ami is None:
        return await _dialog(rc, call_id, error=NO_TELEPHONY, status=409)
    try:
        plan = await transfer_service.transfer_call(
            ami,
            rc.web.db,
            rc.web.clock,
            agent_id=rc.signed_in.agent_id,
            call_id=call_id,
            target=target,
        )
    except transfer.TransferError as refusal:
        return await _dialog(rc, call_id, error=refusal.message, status=409)
    if not plan.off_air_agent:
        if not rc.wants_html:
            return rc.json({"ok": True, "call_id": call_id, "target": plan.exten})
        # Issue 16: the call's form, saying where the call went (see call_form.call_desk).
        return rc.redirect(f"/desktop/call?transferred={target}")
    # the colleague went off-air meanwhile; the call went to their queue without
    # preference, and the agent must know it did not reach that person.
    notice = rc.lang.translations.gettext(OFF_AIR_FALLBACK) % {
        "agent": plan.off_air_agent,
        "queue": plan.to_queue,
    }
    if not rc.wants_html:
        return rc.json({"ok": True, "call_id": call_id, "target": plan.exten, "notice": notice})
    return rc.render(
        "transfer.html", call_id=call_id, targets=None, notice=notice, telephony=True, error=None
    )
