"""The back office's pages: "Calls in voicemail", the item page, playback (R-3.1 .. R-3.3, R-3.6).

Thin routes over ``voicemail.store`` (whose state machine ``voicemail.claims`` decides every
claim) and ``callbacks``; a refusal is answered by the guard, or shown on the item page when
it is about the action the person just tried (409):

- ``GET /backoffice`` -- the list of R-3.1, filtered by box and state, paged; the page
  follows the live ``backoffice`` events of ``/events`` and refreshes its table in place.
- ``GET /backoffice/items/<id>`` -- the item: its calls with playback (R-3.2), who holds it,
  its history, and for the holder the process form of R-3.3 (Done, Cancel, Play, Call back).
- ``POST .../claim`` opens the process form: it claims the item and takes a person who is
  logged in at a phone seat off-air (Activity BACKOFFICE, R-2.2). ``POST .../done`` and
  ``.../cancel`` end the work; ``.../release`` gives the item back without acting on it;
  ``.../call-back`` places the outbound call of R-1.13; when it ends the person is back on
  the item (its Done or Cancel is the call's after-call work, ``agent_state.CallBackEnded``).
- ``POST /backoffice/seat`` and ``.../seat/leave``: a phone seat for staff without a queue.
- ``GET .../recording`` and ``.../calls/<call>/recordings/<n>`` stream a recording with
  HTTP Range requests (an ``<audio>`` element seeks with them), only to staff with the
  right to the item's box (R-3.2), a conversation only with the right to its call's queue
  (R-7.4); playing is kept in the item's history, once a minute per person.

Claiming is a POST, not a side effect of showing the page: a GET must never change state
(another site could make a browser load it), and the Czech original opens the form with a
button too ("Zpracovat hovor").

Call back is ``callbacks.call_back.call_back``. When the call ends, the outbound flow
records the item's ``callback_connected`` / ``callback_not_connected`` (what lets a callback
request be done); ``callbacks.store.settle_call_backs`` repeats that, idempotently, when the
item page is shown and before Done, for a call whose server stopped before it could.

The recordings directory and the AMI client come from the web services (``rc.web``), which
``hotline serve`` fills from its settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent_desktop.store import agent_sessions
from callbacks import call_back as callbacks
from callbacks.store import settle_call_backs
from dialplan.store.outbound import OutboundError
from domain.call_labels import CALL_STATE_LABELS, DIRECTION_LABELS
from domain.enums import Role
from domain.refusals import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RefusedError,
)
from domain.texts import N_
from voicemail.claims import claim_minutes
from voicemail.store import queue as bq
from voicemail.store import work
from web.access import SIGNED_IN, RouteTable
from web.errors import GoneError
from web.files import file_inside, send_file
from web.request import RequestContext
from web.sessions import SignedInUser

HERE = Path(__file__).resolve().parent
LIST = "/backoffice"
PAGE_SIZE = 25
STATE_FILTERS = ("open", "done", "resolved_by_contact", "all")

# --------------------------------------------------------------------------- messages

NUMBER_LABEL = N_("Number")  # the label errors name the call back's number by
NOT_AVAILABLE = N_("The recording of this call is not available")  # the wording of
NO_QUEUE_RIGHT = N_("You have no right to the recordings of this call's queue.")
NO_BACKOFFICE = N_("Your account has no access to the back office.")
CALL_BACK_FAILED = N_("The call back could not be placed: %(reason)s")

STATE_LABELS = {
    "open": N_("Open"),
    "done": N_("Done"),
    "resolved_by_contact": N_("Resolved by a later call"),
    "all": N_("All"),
}
KIND_LABELS = {"message": N_("Message"), "callback": N_("Callback request")}
# What the list says after Done, Cancel or Release on an item's page (issue 16).
OUTCOMES = {
    "done": N_("Item %(item)s is done and has left the queue."),
    "cancelled": N_(
        "You stopped working on item %(item)s: it stays in the queue, open for anyone, and its"
        " history shows your attempt."
    ),
    "released": N_("You gave item %(item)s back untouched: it is free for anyone."),
}
HISTORY_LABELS = {
    "created": N_("Received"),
    "claimed": N_("Opened for work"),
    "released": N_("Released"),
    "cancelled": N_("Cancelled"),
    "done": N_("Done"),
    "callback_connected": N_("Called back, connected"),
    "callback_not_connected": N_("Called back, not reached"),
    "resolved_by_contact": N_("Resolved by a later call"),
    "emailed": N_("E-mailed"),
    "email_failed": N_("E-mail report failed"),
    "played": N_("Played"),
}
EXPIRED_CLAIM = N_("after the claim of %(who)s expired")

# --------------------------------------------------------------------------- helpers


def duration_text(seconds: int | None) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour); empty when unknown."""
    if seconds is None or seconds < 0:
        return ""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def _may_use_backoffice(user: SignedInUser) -> bool:
    """Supervisors and admins see every box (R-7.4); others need a right to some box."""
    return user.role in (Role.SUPERVISOR, Role.ADMIN) or bool(user.box_ids)


def _require_backoffice(rc: RequestContext) -> SignedInUser:
    user = rc.signed_in
    if not _may_use_backoffice(user):
        raise ForbiddenError(NO_BACKOFFICE)
    return user


def _item_url(item_id: int) -> str:
    return f"{LIST}/items/{item_id}"


def _history_text(rc: RequestContext, entry: bq.HistoryEntry) -> tuple[str, str, int | None]:
    """(action, detail, call id to link) of a history row, in the user's language."""
    action = rc.lang.gettext(HISTORY_LABELS.get(entry.action, entry.action))
    detail = ""
    if "previous_holder" in entry.params:
        detail = rc.lang.gettext(EXPIRED_CLAIM) % {"who": entry.params["previous_holder"]}
    elif "to" in entry.params:
        detail = ", ".join(str(address) for address in entry.params["to"])
    return action, detail, entry.call_id


def _labels(rc: RequestContext) -> dict[str, Any]:
    def label(table: dict[str, str], value: str) -> str:
        return rc.lang.gettext(table[value]) if value in table else value

    return {
        "state_label": lambda v: label(STATE_LABELS, v),
        "kind_label": lambda v: label(KIND_LABELS, v),
        "direction_label": lambda v: label(DIRECTION_LABELS, v),
        "call_state_label": lambda v: label(CALL_STATE_LABELS, v),
        "mmss": duration_text,
    }


def _row_json(row: bq.ItemRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "box_id": row.box_id,
        "box_name": row.box_name,
        "kind": row.kind,
        "state": row.state,
        "shown_as": row.shown_as,
        "customer_name": row.customer_name,
        "caller_number": row.caller_number,
        "call_count": row.call_count,
        "last_call_at": row.last_call_at.isoformat() if row.last_call_at else None,
        "created_at": row.created_at.isoformat(),
        "claimed_by_id": row.claimed_by_id,
        "claimed_by_name": row.claimed_by_name,
        "resolved_by_call_id": row.resolved_by_call_id,
    }


routes = RouteTable("backoffice", templates=HERE / "templates", static=HERE / "static")


@routes.route(LIST, methods=["GET"], access=SIGNED_IN)
async def item_list(rc: RequestContext) -> bytes:
    """R-3.1: the items of the boxes this person may work, filtered and paged."""
    user = _require_backoffice(rc)
    query = rc.query()
    state = query.choice("state", STATE_FILTERS, required=False) or "open"
    box_id = query.integer("box", required=False, minimum=1)
    page = query.integer("page", required=False, minimum=1, maximum=100_000) or 1
    states = (
        None
        if state == "open"
        else ([s for s in STATE_FILTERS if s != "all"] if state == "all" else [state])
    )
    # Open items oldest first (the order to work them in), closed ones newest first.
    found = await rc.db(
        bq.list_items,
        user.agent_id,
        [box_id] if box_id else None,
        states,
        page,
        PAGE_SIZE,
        now=rc.now(),
        newest_first=state != "open",
    )
    if not rc.wants_html:
        return rc.json(
            {
                "rows": [_row_json(r) for r in found.rows],
                "total": found.total,
                "page": found.page,
                "pages": found.pages,
            }
        )
    boxes = await rc.db(work.backoffice_boxes, user.agent_id)
    # Back-office staff without a queue sit at a phone seat here (a call back rings it);
    # call-centre people do it on the desktop.
    seats = (
        await rc.db(agent_sessions.seat_choices, user.agent_id)
        if not user.call_centre_user and user.desk is None
        else []
    )

    def page_url(number: int) -> str:
        parts = [f"state={state}"]
        if box_id:
            parts.append(f"box={box_id}")
        parts.append(f"page={number}")
        return f"{LIST}?" + "&".join(parts)

    outcome = OUTCOMES.get(query.raw("outcome") or "")
    item_id = query.integer("item", required=False, minimum=1)
    return rc.render(
        "backoffice_list.html",
        outcome=rc.lang.gettext(outcome) % {"item": item_id} if outcome and item_id else None,
        found=found,
        boxes=boxes,
        state=state,
        box_id=box_id,
        states=STATE_FILTERS,
        page_url=page_url,
        now=rc.now(),
        seats=seats,
        **_labels(rc),
    )


@routes.route(LIST + "/seat", methods=["POST"], access=SIGNED_IN)
async def log_in_at_seat(rc: RequestContext) -> bytes:
    """R-2.1 for back-office staff: a seat to call back from (never on air: no queue)."""
    user = _require_backoffice(rc)
    seat_id = rc.form().required_integer("seat_id", minimum=1)
    await rc.db(agent_sessions.log_in, user.agent_id, seat_id, rc.now())
    return _after_seat_change(rc)


@routes.route(LIST + "/seat/leave", methods=["POST"], access=SIGNED_IN)
async def log_out_of_seat(rc: RequestContext) -> bytes:
    user = _require_backoffice(rc)
    await rc.db(work.leave_seat, user.agent_id, rc.now())
    return _after_seat_change(rc)


def _after_seat_change(rc: RequestContext) -> bytes:
    return rc.json({"ok": True}) if not rc.wants_html else rc.redirect(LIST)


async def show_item(
    rc: RequestContext, item_id: int, *, error: str | None = None, status: int = 200
) -> bytes:
    """The item page (or its JSON); ``error``: what the action just tried was refused."""
    user = _require_backoffice(rc)
    running = await rc.db(settle_call_backs, item_id, rc.now(), agent_id=user.agent_id)
    data = await rc.db(work.item_page, item_id, user.agent_id, rc.now())
    detail = data.detail
    item = detail.item
    recordings = rc.web.recordings_dir
    own_file = file_inside(recordings, _own_recording(detail))
    playable_calls: dict[int, bool] = {}
    for call in detail.calls:
        if call.item_id is not None and call.item_recording_path:
            playable_calls[call.call_id] = call.item_id in data.playable_items and (
                file_inside(recordings, call.item_recording_path) is not None
            )
    # Per recorded conversation: "play" (a player), "missing" (R-3.2's text: the file
    # is gone or the recording was deleted) or "refused" (no right to its queue, R-7.4).
    conversations = {
        call.call_id: [
            (
                "refused"
                if not call.may_play
                else "play"
                if file_inside(recordings, path) is not None
                else "missing"
            )
            for path in call.recording_paths
        ]
        for call in detail.calls
    }
    mine = item.claimed_by_id == user.agent_id
    if not rc.wants_html:
        if error:
            return rc.json({"error": error}, status=status)
        return rc.json(
            {
                "item": _row_json(item),
                "warning": detail.warning,
                "customer_reached": detail.customer_reached,
                "mine": mine,
                "history": [
                    {"at": h.at.isoformat(), "action": h.action, "agent": h.agent_name}
                    for h in detail.history
                ],
            },
            status=status,
        )
    return rc.render(
        "backoffice_item.html",
        status=status,
        data=replace(data, calls_in_progress=running),
        detail=detail,
        item=item,
        mine=mine,
        held_by_other=item.claimed_by_id is not None and not mine,
        claim_minutes=(
            claim_minutes(item.claim_expires_at, rc.now()) if item.claim_expires_at else 0
        ),
        free_in_ms=(
            int((item.claim_expires_at - rc.now()).total_seconds() * 1000)
            if item.claim_expires_at
            else -1
        ),
        own_recording=item.kind == "message",
        own_file=own_file is not None,
        playable_calls=playable_calls,
        conversations=conversations,
        history=[(h, *_history_text(rc, h)) for h in detail.history],
        error=error,
        telephony=rc.web.ami is not None,
        **_labels(rc),
    )


@routes.route(LIST + "/items/<int:item_id>", methods=["GET"], access=SIGNED_IN)
async def item(rc: RequestContext, item_id: int) -> bytes:
    """R-3.2, R-3.3: the item, its calls and history; the process form for its holder."""
    return await show_item(rc, item_id)


async def _act(
    rc: RequestContext, item_id: int, action: Callable[..., bq.ClaimView], after: str
) -> bytes:
    user = _require_backoffice(rc)
    try:
        view = await rc.db(action, item_id, user.agent_id, rc.now())
    except ConflictError as refusal:  # the claim, the item's state, the person's desk
        return await _refused(rc, item_id, refusal)
    if not rc.wants_html:
        return rc.json(
            {
                "ok": True,
                "state": view.state,
                "claimed_by_id": view.claimed_by_id,
                "customer_reached": view.customer_reached,
            }
        )
    return rc.redirect(after)


async def _refused(
    rc: RequestContext, item_id: int, refusal: RefusedError, **params: object
) -> bytes:
    """The item page again with the refusal of what the person just tried (409)."""
    text = rc.lang.refusal(refusal.message, {**refusal.params, **params})
    return await show_item(rc, item_id, error=text, status=409)


@routes.route(LIST + "/items/<int:item_id>/claim", methods=["POST"], access=SIGNED_IN)
async def claim(rc: RequestContext, item_id: int) -> bytes:
    """Open the process form: claim the item, off-air for back-office work (R-3.3)."""
    return await _act(rc, item_id, work.open_for_work, _item_url(item_id))


@routes.route(LIST + "/items/<int:item_id>/done", methods=["POST"], access=SIGNED_IN)
async def done(rc: RequestContext, item_id: int) -> bytes:
    # A call back that just connected counts: its outcome is recorded first.
    await rc.db(settle_call_backs, item_id, rc.now(), agent_id=rc.signed_in.agent_id)
    return await _act(rc, item_id, work.finish_item, _outcome_url("done", item_id))


@routes.route(LIST + "/items/<int:item_id>/cancel", methods=["POST"], access=SIGNED_IN)
async def cancel(rc: RequestContext, item_id: int) -> bytes:
    """Tried and could not finish (nobody answered the call back): it stays in the queue."""
    return await _act(rc, item_id, work.cancel_item, _outcome_url("cancelled", item_id))


@routes.route(LIST + "/items/<int:item_id>/release", methods=["POST"], access=SIGNED_IN)
async def release(rc: RequestContext, item_id: int) -> bytes:
    """Give the item back untouched (opened by mistake, or for someone else to do)."""
    return await _act(rc, item_id, work.release_item, _outcome_url("released", item_id))


def _outcome_url(outcome: str, item_id: int) -> str:
    """The list, which then says what became of the item (issue 16: every action says what
    happened)."""
    return f"{LIST}?outcome={outcome}&item={item_id}"


@routes.route(LIST + "/items/<int:item_id>/call-back", methods=["POST"], access=SIGNED_IN)
async def call_back(rc: RequestContext, item_id: int) -> bytes:
    """Call the customer back (R-3.3, R-1.13) from the item the person holds."""
    user = _require_backoffice(rc)
    number = rc.form().text("number", required=False, max_len=40, label=NUMBER_LABEL)
    try:
        placed = await callbacks.call_back(
            rc.web.ami,
            rc.web.db,
            rc.web.clock,
            agent_id=user.agent_id,
            item_id=item_id,
            number=number,
        )
    except OutboundError as refusal:  # not off-air, a bad number, telephony down...
        reason = rc.lang.refusal(refusal.message, refusal.params)
        failed = ConflictError(CALL_BACK_FAILED, {"reason": reason})
        return await _refused(rc, item_id, failed)
    except ConflictError as refusal:
        return await _refused(rc, item_id, refusal)
    if not rc.wants_html:
        return rc.json({"ok": True, "call_id": placed.call_id, "number": placed.number})
    return rc.redirect(_item_url(item_id) + f"?calling={placed.call_id}")


@routes.route(LIST + "/items/<int:item_id>/recording", methods=["GET"], access=SIGNED_IN)
async def recording(rc: RequestContext, item_id: int) -> bytes:
    """The message left in the item (R-3.2), for staff with the right to its box."""
    user = _require_backoffice(rc)
    relative = await rc.db(bq.recording_for, item_id, user.agent_id)
    path = file_inside(rc.web.recordings_dir, relative or "")
    if path is not None:
        await _note_played(rc, item_id, user.agent_id)
    return await send_file(rc, path, missing=NOT_AVAILABLE)


@routes.route(
    LIST + "/items/<int:item_id>/calls/<int:call_id>/recordings/<int:index>",
    methods=["GET"],
    access=SIGNED_IN,
)
async def call_recording(rc: RequestContext, item_id: int, call_id: int, index: int) -> bytes:
    """A recorded conversation of one of the item's calls (R-1.14, R-3.2), for staff
    with the right to that call's queue (R-7.4, see ``bq.may_play_call``)."""
    user = _require_backoffice(rc)
    detail = await rc.db(bq.item_detail, item_id, user.agent_id, now=rc.now())
    entry = next((c for c in detail.calls if c.call_id == call_id), None)
    if entry is None or not 0 <= index < len(entry.recording_paths):
        raise NotFoundError(NOT_AVAILABLE)
    if not entry.may_play:
        raise ForbiddenError(NO_QUEUE_RIGHT)
    relative = entry.recording_paths[index]
    if not relative:
        raise GoneError(NOT_AVAILABLE)  # deleted, the record kept
    path = file_inside(rc.web.recordings_dir, relative)
    if path is not None:
        await _note_played(rc, item_id, user.agent_id, call_id)
    return await send_file(rc, path, missing=NOT_AVAILABLE)


async def _note_played(
    rc: RequestContext, item_id: int, agent_id: int, call_id: int | None = None
) -> None:
    """Play goes into the item's history (R-3.3: every action is kept); a HEAD request only
    asks the size."""
    if rc.request.method == b"HEAD":
        return
    await rc.db(bq.record_played, item_id, agent_id, rc.now(), call_id)


def _own_recording(detail: bq.ItemDetail) -> str:
    own = next((c for c in detail.calls if c.item_id == detail.item.id), None)
    return own.item_recording_path if own is not None else ""
