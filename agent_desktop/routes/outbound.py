"""The outbound dialog (R-2.15, R-1.13): search and pick a customer, call one of their
numbers or a contact person, save a new or corrected number; then the ringing dialog that
closes itself when the call connects and whose Cancel ends it.

- ``GET /outbound``: the dialog; query ``q`` (search), ``customer_id``, ``contact_id``,
  ``queue_id``, ``number`` keep what was chosen;
- ``POST /outbound``: place the call (``customer_id`` required: "First search for the
  customer"; the pseudo-customer "OUTBOUND CALL" stands for people who are no customers);
- ``POST /outbound/number``: "save number" (``phone_id`` corrects that number);
- ``GET /outbound/<call_id>``: the ringing dialog (JSON for fetch: the call's state);
- ``POST /outbound/<call_id>/cancel``: Cancel.

Thin routes over ``dialplan.services.outbound_calls`` (placing, cancelling) and the database
functions of ``dialplan.store.outbound``. Without an AMI client the dialog says telephony is
not configured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from agent_desktop.routes.transfer import NO_TELEPHONY
from agent_desktop.store import call_form as call_form_store
from dialplan.services import outbound_calls
from dialplan.store import outbound as calls_out
from domain.texts import N_
from web.access import CALL_CENTRE, RouteTable
from web.request import RequestContext

HERE = Path(__file__).resolve().parent.parent
routes = RouteTable("outbound", templates=HERE / "templates")

DIALOG = "/outbound"
SEARCH_LIMIT = 20
SEARCH_LABEL = N_("Search for the customer")  # the labels errors name the fields by
NUMBER_LABEL = N_("Number to call")
NUMBER_SAVED = N_("The number was saved.")
# What the ringing dialog says, by the call's state (and step while it rings).
PROGRESS = {
    "originate": N_("Your phone is ringing: pick it up to place the call."),
    "dialling": N_("Calling %(number)s…"),
    "talking": N_("Connected."),
    "answered": N_("The call has ended."),
    "no_answer": N_("Nobody answered."),
    "busy": N_("The line was busy."),
    "failed": N_("The call could not be made."),
}


def _progress_text(rc: RequestContext, state: calls_out.OutboundState) -> str:
    key = state.flow_step if state.state == "ringing" else state.state
    return rc.lang.gettext(PROGRESS.get(key, PROGRESS["failed"])) % {"number": state.number}


async def _dialog(
    rc: RequestContext,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
    chosen: dict[str, Any] | None = None,
) -> bytes:
    """The dialog with what the query (or ``chosen``, after a POST) says was picked."""
    query = rc.query()
    chosen = chosen or {
        "customer_id": query.integer("customer_id", required=False, minimum=1),
        "contact_id": query.integer("contact_id", required=False, minimum=1),
        "queue_id": query.integer("queue_id", required=False, minimum=1),
        "number": query.text("number", required=False, max_len=40, label=NUMBER_LABEL),
    }
    search = query.text("q", required=False, max_len=100, label=SEARCH_LABEL)
    agent_id = rc.signed_in.agent_id
    customer = None
    if chosen["customer_id"] is not None:
        customer = await rc.db(calls_out.customer_for_dialog, chosen["customer_id"])
    number = chosen["number"]
    if customer is not None and not number:
        contact = next((c for c in customer.contacts if c.contact_id == chosen["contact_id"]), None)
        if contact is not None and contact.phone:
            number = contact.phone
        elif customer.phones:
            number = customer.phones[0].number  # the main number
    hits = (
        await rc.db(call_form_store.search_customers, search, None, SEARCH_LIMIT + 1)
        if search
        else []
    )
    # One more than is shown was asked for: its presence means the list was cut (issue 16).
    search_more = (
        rc.lang.gettext(call_form_store.SEARCH_CUT_OFF) % {"shown": SEARCH_LIMIT}
        if len(hits) > SEARCH_LIMIT
        else ""
    )
    message = rc.lang.gettext(error) if error else None
    if not rc.wants_html and message:
        return rc.json({"error": message}, status=status)
    return rc.render(
        "outbound.html",
        status=status,
        error=message,
        notice=rc.lang.gettext(notice) if notice else None,
        telephony=rc.web.ami is not None,
        desk=rc.signed_in.desk,
        search=search,
        hits=hits[:SEARCH_LIMIT],
        search_more=search_more,
        customer=customer,
        contact_id=chosen["contact_id"],
        queue_id=chosen["queue_id"],
        number=number,
        queues=await rc.db(calls_out.queue_choices, agent_id),
        pseudo_id=await rc.db(calls_out.pseudo_customer_id),
    )


@routes.route(DIALOG, methods=["GET"], access=CALL_CENTRE)
async def outbound_dialog(rc: RequestContext) -> bytes:
    return await _dialog(rc, notice=NUMBER_SAVED if rc.query().raw("saved") else None)


def _chosen(rc: RequestContext) -> dict[str, Any]:
    form = rc.form()
    return {
        "customer_id": form.integer("customer_id", required=False, minimum=1),
        "contact_id": form.integer("contact_id", required=False, minimum=1),
        "queue_id": form.integer("queue_id", required=False, minimum=1),
        "number": form.text("number", required=False, max_len=40, label=NUMBER_LABEL),
    }


@routes.route(DIALOG, methods=["POST"], access=CALL_CENTRE)
async def place_call(rc: RequestContext) -> bytes:
    chosen = _chosen(rc)
    if chosen["customer_id"] is None:
        return await _dialog(rc, error=calls_out.FIRST_SEARCH, status=409, chosen=chosen)
    ami = rc.web.ami
    if ami is None:
        return await _dialog(rc, error=NO_TELEPHONY, status=409, chosen=chosen)
    try:
        placed = await outbound_calls.start_outbound_call(
            ami,
            rc.web.db,
            rc.web.clock,
            agent_id=rc.signed_in.agent_id,
            number=chosen["number"],
            customer_id=chosen["customer_id"],
            contact_id=chosen["contact_id"],
            queue_id=chosen["queue_id"],
        )
    except outbound_calls.OutboundError as refusal:
        return await _dialog(rc, error=refusal.message, status=409, chosen=chosen)
    if not rc.wants_html:
        return rc.json({"ok": True, "call_id": placed.call_id, "dial_number": placed.dial_number})
    return rc.redirect(f"{DIALOG}/{placed.call_id}")


@routes.route(f"{DIALOG}/number", methods=["POST"], access=CALL_CENTRE)
async def save_number(rc: RequestContext) -> bytes:
    """ "Save number" (R-2.15): a new number for the customer, or a corrected one."""
    chosen = _chosen(rc)
    form = rc.form()
    customer_id = form.required_integer("customer_id", minimum=1)
    phone_id = form.integer("phone_id", required=False, minimum=1)
    try:
        saved = await rc.db(
            calls_out.save_customer_number,
            rc.signed_in.agent_id,
            customer_id,
            chosen["number"],
            rc.now(),
            phone_id=phone_id,
            queue_id=chosen["queue_id"],
        )
    except calls_out.OutboundError as refusal:
        return await _dialog(rc, error=refusal.message, status=409, chosen=chosen)
    if not rc.wants_html:
        return rc.json({"ok": True, "phone_id": saved.phone_id, "number": saved.number})
    keep = {k: v for k, v in {**chosen, "number": saved.number}.items() if v is not None}
    return rc.redirect(f"{DIALOG}?{urlencode(keep)}&saved=1")


async def _state(rc: RequestContext, call_id: int) -> calls_out.OutboundState:
    return await rc.db(calls_out.outbound_state, rc.signed_in.agent_id, call_id)


def _state_json(rc: RequestContext, state: calls_out.OutboundState) -> dict[str, Any]:
    return {
        "call_id": state.call_id,
        "state": state.state,
        "step": state.flow_step,
        "final": state.final,
        "connected": state.state == "talking",
        "text": _progress_text(rc, state),
    }


@routes.route(f"{DIALOG}/<int:call_id>", methods=["GET"], access=CALL_CENTRE)
async def ringing_dialog(rc: RequestContext, call_id: int) -> bytes:
    state = await _state(rc, call_id)
    if not rc.wants_html:
        return rc.json(_state_json(rc, state))
    return rc.render("outbound_ringing.html", call=state, text=_progress_text(rc, state))


@routes.route(f"{DIALOG}/<int:call_id>/cancel", methods=["POST"], access=CALL_CENTRE)
async def cancel_call(rc: RequestContext, call_id: int) -> bytes:
    await _state(rc, call_id)  # 404 for a call that is not this agent's
    state = await outbound_calls.cancel_outbound_call(
        rc.web.ami, rc.web.db, rc.web.clock, agent_id=rc.signed_in.agent_id, call_id=call_id
    )
    if not rc.wants_html:
        return rc.json(_state_json(rc, state))
    return rc.redirect(f"{DIALOG}/{call_id}")
