"""The back office's pages: "Calls in voicemail", the item page, playback (R-3.1 .. R-3.3, R-3.6).

Thin routes (ARCHITECTURE.md) over ``db.backoffice_queue``, whose state machine
(``voicemail.claims``) decides every claim; this module only composes its functions into one
transaction per request, turns its refusals into responses and renders the pages:

- ``GET /backoffice`` -- the list of R-3.1, filtered by box and state, paged; the page
  follows the live ``backoffice`` events of ``/events`` and refreshes its table in place.
- ``GET /backoffice/items/<id>`` -- the item: its calls with playback (R-3.2), who holds it,
  its history, and for the holder the process form of R-3.3 (Done, Cancel, Play, Call back).
- ``POST .../claim`` opens the process form: it claims the item and takes a person who is
  logged in at a phone seat off-air (Activity BACKOFFICE, R-2.2). ``POST .../done`` and
  ``.../cancel`` end the work; ``.../release`` gives the item back without acting on it;
  ``.../call-back`` places the outbound call of R-1.13.
- ``GET .../recording`` and ``.../calls/<call>/recordings/<n>`` stream a recording with
  HTTP Range requests (an ``<audio>`` element seeks with them), only to staff with the
  right to the item's box (R-3.2), a conversation only with the right to its call's queue
  (R-7.4); playing is kept in the item's history, once a minute per person.

Claiming is a POST, not a side effect of showing the page: a GET must never change state
(another site could make a browser load it), and the Czech original opens the form with a
button too ("Zpracovat hovor").

Call back uses ``dialplan.outbound_calls.start_outbound_call``, which names the item in
the call's ``call.outbound`` event. When the call ends, the outbound flow records the
item's ``callback_connected`` / ``callback_not_connected`` (what lets a callback request be
done); :func:`settle_call_backs` repeats that, idempotently, when the item page is shown
and before Done, for a call whose server stopped before it could.

The routes need two ports besides the database: the recordings directory and the AMI
client. A test passes them to :func:`make_routes`; the table served by ``hotline serve``
takes ``rc.web.ami`` and ``rc.web.recordings_dir``, which ``hotline serve`` fills from
its settings.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from agent_desktop import agent_state as core
from db import agent_sessions
from db import backoffice_queue as bq
from db.agent_sessions import SeatError
from db.models import Call, Event, VoicemailBox, VoicemailItem
from dialplan.outbound_calls import start_outbound_call
from domain.enums import FINAL_STATES, Activity, Role
from domain.refusals import (
    BadInputError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RefusedError,
)
from domain.texts import N_
from voicemail.claims import ItemActionError, ItemClaimedError
from web.access import SIGNED_IN, RouteTable
from web.errors import HTTPError
from web.request import RequestContext
from web.sessions import SignedInUser, desk_view

HERE = Path(__file__).resolve().parent
LIST = "/backoffice"
PAGE_SIZE = 25
STATE_FILTERS = ("open", "done", "resolved_by_contact", "all")
# Recordings are sent in pieces of this size, each when the connection can take it.
CHUNK_BYTES = 64 * 1024
# The event ``dialplan.outbound_calls`` writes for a placed call, naming the item it serves.

# --------------------------------------------------------------------------- messages

NOT_AVAILABLE = N_("The recording of this call is not available")  # the wording of
NO_QUEUE_RIGHT = N_("You have no right to the recordings of this call's queue.")
NO_SUCH_ITEM = N_("There is no such item in the back office.")
NO_BACKOFFICE = N_("Your account has no access to the back office.")
HELD_BY = N_(
    "%(who)s is working on this item. It becomes free in %(minutes)s min unless %(who)s carries on."
)
NO_TELEPHONY = N_("Calling back is not possible: telephony (AMI) is not configured.")
NEEDS_SEAT = N_("Log in to a phone seat first: the call back rings your phone.")
CALL_BACK_FAILED = N_("The call back could not be placed: %(reason)s")
NO_NUMBER = N_("There is no number to call.")
BAD_FILTER = N_("The filter of the list is not valid.")
# Refusals that come from db.backoffice_queue and voicemail.claims as plain English text:
# listed so that the catalogue translates them (rc.lang.message looks them up).
DOMAIN_MESSAGES = (
    N_(
        "Call the customer back first. If you could not reach them, use Cancel: "
        "the request stays in the queue."
    ),
    N_("This callback request was resolved by a later call with the customer."),
    N_("This item is already done."),
    N_("This item was changed by someone else meanwhile; try again."),
    N_("You have no right to this box."),
    N_("You have no access to the back office."),
)

STATE_LABELS = {
    "open": N_("Open"),
    "done": N_("Done"),
    "resolved_by_contact": N_("Resolved by a later call"),
    "all": N_("All"),
}
KIND_LABELS = {"message": N_("Message"), "callback": N_("Callback request")}
DIRECTION_LABELS = {"in": N_("Inbound"), "out": N_("Outbound"), "internal": N_("Internal")}
CALL_STATE_LABELS = {
    "ivr": N_("In the IVR"),
    "waiting": N_("Waiting"),
    "ringing": N_("Ringing"),
    "talking": N_("Talking"),
    "answered": N_("Answered"),
    "voicemail": N_("Left a message"),
    "callback": N_("Asked for a callback"),
    "abandoned_ivr": N_("Hung up in the IVR"),
    "abandoned_queue": N_("Hung up while waiting"),
    "abandoned_ringing": N_("Hung up while ringing"),
    "closed": N_("Outside business hours"),
    "transferred": N_("Transferred"),
    "fallback": N_("Fallback"),
    "no_answer": N_("Not answered"),
    "busy": N_("Busy"),
    "failed": N_("Failed"),
}
HISTORY_LABELS = {
    "created": N_("Taken"),
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
_EXPIRED_DETAIL = re.compile(r"^after the claim of (?P<who>.+) expired$")
_CALL_DETAIL = re.compile(r"^call (?P<call_id>\d+)$")

_AUDIO_TYPES = {
    ".wav": b"audio/wav",
    ".wav16": b"audio/wav",
    ".gsm": b"audio/x-gsm",
    ".mp3": b"audio/mpeg",
    ".ogg": b"audio/ogg",
}


# --------------------------------------------------------------------------- pure helpers


class RecordingGoneError(HTTPError):
    """The recording was deleted (R-5.2): its record is kept, its sound is gone for good."""

    status = 410
    title = N_("Deleted")


class RangeNotSatisfiableError(ValueError):
    """The Range header asks for bytes the file does not have, or is malformed (416)."""


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``first`` .. ``last`` of a file, both included (HTTP's byte-range positions)."""

    first: int
    last: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1


_RANGE_SPEC = re.compile(r"^(\d*)-(\d*)$")


def parse_byte_range(header: str | None, size: int) -> ByteRange | None:
    """The one byte range of a ``Range`` header for a file of ``size`` bytes (RFC 9110 14.2).

    None: send the whole file (no header, another unit than ``bytes``, or several ranges,
    which a server may answer in full). Raises RangeNotSatisfiableError for a malformed
    ``bytes`` range or one that starts past the end: the answer is 416.
    """
    if header is None:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes":
        return None
    if "," in spec:
        return None
    match = _RANGE_SPEC.match(spec.strip())
    if not match or not (match.group(1) or match.group(2)):
        raise RangeNotSatisfiableError(header)
    first_text, last_text = match.groups()
    if len(first_text) > 18 or len(last_text) > 18:
        raise RangeNotSatisfiableError(header)
    if not first_text:  # "-N": the last N bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiableError(header)
        return ByteRange(max(0, size - suffix), size - 1)
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if last < first or first >= size:
        raise RangeNotSatisfiableError(header)
    return ByteRange(first, min(last, size - 1))


def duration_text(seconds: int | None) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour); empty when unknown."""
    if seconds is None or seconds < 0:
        return ""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def recording_file(recordings_dir: Path | None, relative: str) -> Path | None:
    """The recording's file if it exists inside ``recordings_dir`` (never outside: no ``..``
    or absolute path from the database reaches the disk), else None."""
    if recordings_dir is None or not relative:
        return None
    root = recordings_dir.resolve()
    try:
        path = (root / relative).resolve()
    except (OSError, RuntimeError):
        return None
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


def claim_minutes(expires_at: datetime, now: datetime) -> int:
    """Whole minutes, rounded up and at least 1, until a claim lapses (as ``claims`` says)."""
    return max(1, -(-int((expires_at - now).total_seconds()) // 60))


# --------------------------------------------------------------------------- database work


@dataclass(frozen=True)
class BoxOption:
    box_id: int
    name: str
    kind: str


@dataclass(frozen=True)
class ItemPageData:
    """What the item page shows besides ``ItemDetail``."""

    detail: bq.ItemDetail
    # Items (of the calls in the list) whose message this person may play.
    playable_items: frozenset[int]
    queue_id: int | None  # the queue the item's call came through (caller ID of a call back)
    desk_activity: str | None  # the person's activity at a phone seat, None when not at one
    calls_in_progress: tuple[int, ...]  # call backs placed from the item, not ended yet


def backoffice_boxes(session: Session, agent_id: int) -> tuple[BoxOption, ...]:
    """The boxes this person may see and work, by name (the list's box filter)."""
    rows = session.execute(
        select(VoicemailBox.id, VoicemailBox.name, VoicemailBox.kind).order_by(
            VoicemailBox.name, VoicemailBox.id
        )
    ).all()
    return tuple(
        BoxOption(box_id, name, kind.value)
        for box_id, name, kind in rows
        if bq.may_work_box(session, agent_id, box_id)
    )


def _call_backs(session: Session, item_id: int) -> list[int]:
    """The outbound calls placed from this item (R-3.3), oldest first.

    ``start_outbound_call`` names the item in the ``call.outbound`` event of the call, the
    one durable link between the two; only events since the item was taken are read.
    """
    created_at = session.scalar(select(VoicemailItem.created_at).where(VoicemailItem.id == item_id))
    if created_at is None:
        return []
    rows = session.execute(
        select(Event.call_id, Event.payload)
        .where(Event.kind == bq.OUTBOUND_EVENT, Event.at >= created_at, Event.call_id.is_not(None))
        .order_by(Event.id)
    ).all()
    found: list[int] = []
    for call_id, payload in rows:
        try:
            named = json.loads(payload).get("item_id")
        except (ValueError, AttributeError):
            continue
        if named == item_id and call_id is not None and call_id not in found:
            found.append(call_id)
    return found


def settle_call_backs(session: Session, item_id: int, now: datetime) -> tuple[int, ...]:
    """Make sure each ended call back from the item has its outcome recorded (R-3.3); the
    ones still running.

    The outbound flow records the outcome when the call ends
    (:func:`db.backoffice_queue.settle_call_back`); this safety net catches a call whose
    server stopped before it could, and is a no-op for calls known already.
    """
    placed = _call_backs(session, item_id)
    if not placed:
        return ()
    running: list[int] = []
    states = session.execute(select(Call.id, Call.state).where(Call.id.in_(placed))).all()
    for call_id, state in sorted(states):
        if state not in FINAL_STATES:
            running.append(call_id)
        else:
            bq.settle_call_back(session, item_id, call_id, now)
    return tuple(running)


def item_page(session: Session, item_id: int, agent_id: int, now: datetime) -> ItemPageData:
    """The item's detail (rights checked there) and what the page needs around it."""
    bq.item_detail(session, item_id, agent_id, now=now)  # the right first, before any write
    running = settle_call_backs(session, item_id, now)
    detail = bq.item_detail(session, item_id, agent_id, now=now)
    other_items = {c.item_id for c in detail.calls if c.item_id is not None} | {item_id}
    boxes = dict(
        session.execute(
            select(VoicemailItem.id, VoicemailItem.box_id).where(VoicemailItem.id.in_(other_items))
        ).all()
    )
    playable = frozenset(i for i, box in boxes.items() if bq.may_work_box(session, agent_id, box))
    queue_id = session.scalar(
        select(Call.queue_id)
        .join(VoicemailItem, VoicemailItem.call_id == Call.id)
        .where(VoicemailItem.id == item_id)
    )
    desk = desk_view(session, agent_id)
    return ItemPageData(detail, playable, queue_id, desk.activity if desk else None, running)


def _start_backoffice_work(session: Session, agent_id: int, item_id: int, now: datetime) -> None:
    """R-2.2: working a back-office item takes a person logged in at a seat off-air.

    Only from idle or a pause: someone in a call, processing one, or calling out already is
    off-air, and their activity says why; one already working items stays as they are.
    """
    desk = desk_view(session, agent_id)
    if desk is None or desk.activity not in (Activity.IDLE, Activity.PAUSED):
        return
    agent_sessions.apply_event(
        session,
        agent_id,
        core.StartWork(Activity.BACKOFFICE),
        now,
        f"back-office item {item_id}",
    )


def _end_backoffice_work(session: Session, agent_id: int, item_id: int, now: datetime) -> None:
    desk = desk_view(session, agent_id)
    if desk is None or desk.activity != Activity.BACKOFFICE:
        return
    agent_sessions.apply_event(
        session, agent_id, core.EndWork(), now, f"back-office item {item_id} left"
    )


def open_for_work(session: Session, item_id: int, agent_id: int, now: datetime) -> bq.ClaimView:
    """Claim the item (R-3.3) and go off-air for the back office, in one transaction."""
    view = bq.claim(session, item_id, agent_id, now)
    _start_backoffice_work(session, agent_id, item_id, now)
    return view


def finish_item(session: Session, item_id: int, agent_id: int, now: datetime) -> bq.ClaimView:
    """Done (R-3.3): the item leaves the queue; the back-office work ends."""
    settle_call_backs(session, item_id, now)  # a call back that just connected counts
    view = bq.mark_done(session, item_id, agent_id, now)
    _end_backoffice_work(session, agent_id, item_id, now)
    return view


def release_item(session: Session, item_id: int, agent_id: int, now: datetime) -> bq.ClaimView:
    """Release: give the item back without acting on it; free for anyone, work ends."""
    view = bq.release(session, item_id, agent_id, now)
    _end_backoffice_work(session, agent_id, item_id, now)
    return view


def cancel_item(session: Session, item_id: int, agent_id: int, now: datetime) -> bq.ClaimView:
    """Cancel (R-3.3): the item stays in the queue for anyone; the back-office work ends."""
    view = bq.cancel(session, item_id, agent_id, now)
    _end_backoffice_work(session, agent_id, item_id, now)
    return view


# --------------------------------------------------------------------------- ports


StartOutbound = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class BackofficePorts:
    """What the pages use besides the database.

    ``recordings_dir``: where recordings are (``HOTLINE_RECORDINGS_DIR``); None: nothing
    can be played. ``ami``: the AMI client; None: Call back says telephony is not
    configured. ``start_outbound``: places the call back; by default
    ``dialplan.outbound_calls.start_outbound_call`` (a test passes a stand-in).
    """

    recordings_dir: Path | None = None
    ami: Any = None
    start_outbound: StartOutbound | None = None


def _ports(rc: RequestContext, given: BackofficePorts | None) -> BackofficePorts:
    if given is not None:
        return given
    web: Any = rc.web  # hotline.web.HotlineWebServices carries both
    return BackofficePorts(
        recordings_dir=getattr(web, "recordings_dir", None), ami=getattr(web, "ami", None)
    )


# --------------------------------------------------------------------------- routes


def _may_use_backoffice(user: SignedInUser) -> bool:
    """Supervisors and admins see every box (R-7.4); others need a right to some box."""
    return user.role in (Role.SUPERVISOR, Role.ADMIN) or bool(user.box_ids)


def _require_backoffice(rc: RequestContext) -> SignedInUser:
    user = rc.signed_in
    if not _may_use_backoffice(user):
        raise ForbiddenError(NO_BACKOFFICE)
    return user


def _refusal(rc: RequestContext, error: Exception) -> RefusedError:
    """A refusal of the back-office core as the HTTP error to answer with."""
    if isinstance(error, bq.ItemNotFoundError):
        return NotFoundError(NO_SUCH_ITEM)
    if isinstance(error, bq.BoxAccessError):
        return ForbiddenError(str(error))
    if isinstance(error, ItemClaimedError):
        who = error.holder_name or str(error.holder_id)
        return ConflictError(
            HELD_BY, {"who": who, "minutes": claim_minutes(error.expires_at, rc.now())}
        )
    if isinstance(error, bq.ListFilterError):
        return BadInputError(BAD_FILTER)
    return ConflictError(str(error))


CORE_REFUSALS = (bq.ItemNotFoundError, bq.BoxAccessError, ItemActionError, bq.ListFilterError)


def _item_url(item_id: int) -> str:
    return f"{LIST}/items/{item_id}"


def _history_text(rc: RequestContext, entry: bq.HistoryEntry) -> tuple[str, str, int | None]:
    """(action, detail, call id to link) of a history row, in the user's language."""
    action = rc.lang.gettext(HISTORY_LABELS.get(entry.action, entry.action))
    expired = _EXPIRED_DETAIL.match(entry.detail)
    if expired:
        return action, rc.lang.gettext(EXPIRED_CLAIM) % {"who": expired.group("who")}, None
    call = _CALL_DETAIL.match(entry.detail)
    if call:
        return action, "", int(call.group("call_id"))
    return action, entry.detail, None


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


def make_routes(ports: BackofficePorts | None = None) -> RouteTable:
    """The back office's route table; ``ports`` None: from the web services (see module)."""
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
        newest_first = state != "open"
        try:
            found = await rc.db(
                bq.list_items,
                user.agent_id,
                [box_id] if box_id else None,
                states,
                page,
                PAGE_SIZE,
                now=rc.now(),
                newest_first=newest_first,
            )
        except CORE_REFUSALS as error:
            raise _refusal(rc, error) from None
        if not rc.wants_html:
            return rc.json(
                {
                    "rows": [_row_json(r) for r in found.rows],
                    "total": found.total,
                    "page": found.page,
                    "pages": found.pages,
                }
            )
        boxes = await rc.db(backoffice_boxes, user.agent_id)
        # Back-office staff without a queue sit at a phone seat here (a call back rings it);
        # call-centre people do it on the desktop.
        seats = (
            await rc.db(agent_sessions.seats_for, user.agent_id)
            if not user.call_centre_user and user.desk is None
            else []
        )

        def page_url(number: int) -> str:
            parts = [f"state={state}"]
            if box_id:
                parts.append(f"box={box_id}")
            parts.append(f"page={number}")
            return f"{LIST}?" + "&".join(parts)

        return rc.render(
            "backoffice_list.html",
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
        try:
            await rc.db(agent_sessions.log_in, user.agent_id, seat_id, rc.now())
        except SeatError as refusal:
            raise ConflictError(str(refusal)) from None
        return _after_seat_change(rc)

    @routes.route(LIST + "/seat/leave", methods=["POST"], access=SIGNED_IN)
    async def log_out_of_seat(rc: RequestContext) -> bytes:
        user = _require_backoffice(rc)
        try:
            await rc.db(
                agent_sessions.apply_event, user.agent_id, core.LogOut(), rc.now(), "logout"
            )
        except (SeatError, core.AgentStateError) as refusal:
            raise ConflictError(str(refusal)) from None
        return _after_seat_change(rc)

    def _after_seat_change(rc: RequestContext) -> bytes:
        return rc.json({"ok": True}) if not rc.wants_html else rc.redirect(LIST)

    async def show_item(
        rc: RequestContext, item_id: int, *, error: str | None = None, status: int = 200
    ) -> bytes:
        user = _require_backoffice(rc)
        try:
            data = await rc.db(item_page, item_id, user.agent_id, rc.now())
        except CORE_REFUSALS as refusal:
            raise _refusal(rc, refusal) from None
        detail = data.detail
        item = detail.item
        found = _ports(rc, ports)
        own_file = recording_file(found.recordings_dir, _own_recording(detail))
        playable_calls: dict[int, bool] = {}
        for call in detail.calls:
            if call.item_id is not None and call.item_recording_path:
                playable_calls[call.call_id] = call.item_id in data.playable_items and (
                    recording_file(found.recordings_dir, call.item_recording_path) is not None
                )
        # Per recorded conversation: "play" (a player), "missing" (R-3.2's text: the file
        # is gone or the recording was deleted) or "refused" (no right to its queue, R-7.4).
        conversations = {
            call.call_id: [
                (
                    "refused"
                    if not call.may_play
                    else "play"
                    if recording_file(found.recordings_dir, path) is not None
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
            data=data,
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
            telephony=found.ami is not None,
            **_labels(rc),
        )

    @routes.route(LIST + "/items/<int:item_id>", methods=["GET"], access=SIGNED_IN)
    async def item(rc: RequestContext, item_id: int) -> bytes:
        """R-3.2, R-3.3: the item, its calls and history; the process form for its holder."""
        return await show_item(rc, item_id)

    async def act(
        rc: RequestContext,
        item_id: int,
        action: Callable[..., bq.ClaimView],
        after: str,
    ) -> bytes:
        user = _require_backoffice(rc)
        try:
            view = await rc.db(action, item_id, user.agent_id, rc.now())
        except (SeatError, core.AgentStateError) as refusal:
            return await show_item(rc, item_id, error=rc.lang.message(str(refusal)), status=409)
        except CORE_REFUSALS as refusal:
            error = _refusal(rc, refusal)
            if isinstance(error, ConflictError):
                text = rc.lang.gettext(error.message) % error.params
                return await show_item(rc, item_id, error=text, status=409)
            raise error from None
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

    @routes.route(LIST + "/items/<int:item_id>/claim", methods=["POST"], access=SIGNED_IN)
    async def claim(rc: RequestContext, item_id: int) -> bytes:
        """Open the process form: claim the item, off-air for back-office work (R-3.3)."""
        return await act(rc, item_id, open_for_work, _item_url(item_id))

    @routes.route(LIST + "/items/<int:item_id>/done", methods=["POST"], access=SIGNED_IN)
    async def done(rc: RequestContext, item_id: int) -> bytes:
        return await act(rc, item_id, finish_item, LIST)

    @routes.route(LIST + "/items/<int:item_id>/cancel", methods=["POST"], access=SIGNED_IN)
    async def cancel(rc: RequestContext, item_id: int) -> bytes:
        return await act(rc, item_id, cancel_item, LIST)

    @routes.route(LIST + "/items/<int:item_id>/release", methods=["POST"], access=SIGNED_IN)
    async def release(rc: RequestContext, item_id: int) -> bytes:
        """Give the item back untouched (opened by mistake, or for someone else to do)."""
        return await act(rc, item_id, release_item, LIST)

    @routes.route(LIST + "/items/<int:item_id>/call-back", methods=["POST"], access=SIGNED_IN)
    async def call_back(rc: RequestContext, item_id: int) -> bytes:
        """Call the customer back (R-3.3, R-1.13) from the item the person holds."""
        user = _require_backoffice(rc)
        number = rc.form().text("number", required=False, max_len=40)
        found = _ports(rc, ports)

        async def refuse(message: str, params: dict[str, Any] | None = None) -> bytes:
            text = rc.lang.gettext(message) % (params or {})
            return await show_item(rc, item_id, error=text, status=409)

        # The claim is renewed first: someone else's running claim refuses the call back. An
        # on-air person goes off-air for it (outbound calls are placed from off-air, R-2.15).
        try:
            await rc.db(open_for_work, item_id, user.agent_id, rc.now())
            data = await rc.db(item_page, item_id, user.agent_id, rc.now())
        except (SeatError, core.AgentStateError) as refusal:
            return await show_item(rc, item_id, error=rc.lang.message(str(refusal)), status=409)
        except CORE_REFUSALS as refusal:
            error = _refusal(rc, refusal)
            if isinstance(error, ConflictError):
                return await refuse(error.message, error.params)
            raise error from None
        number = number or data.detail.caller_number
        if not number:
            return await refuse(NO_NUMBER)
        if found.ami is None:
            return await refuse(NO_TELEPHONY)
        if data.desk_activity is None:
            return await refuse(NEEDS_SEAT)
        start = found.start_outbound or start_outbound_call
        try:
            view = await start(
                found.ami,
                rc.web.db,
                rc.web.clock,
                agent_id=user.agent_id,
                number=number,
                customer_id=data.detail.item.customer_id,
                queue_id=data.queue_id,
                item_id=item_id,
            )
        except CancelledError:
            raise
        except Exception as failure:
            # The outbound service's refusals (OutboundError: not off-air, a bad number,
            # telephony down) carry the text to show; anything else is said, never a 500.
            reason = rc.lang.message(str(failure)) if str(failure) else type(failure).__name__
            return await refuse(CALL_BACK_FAILED, {"reason": reason})
        call_id = getattr(view, "call_id", None)
        if not rc.wants_html:
            return rc.json({"ok": True, "call_id": call_id, "number": number})
        return rc.redirect(_item_url(item_id) + (f"?calling={call_id}" if call_id else ""))

    @routes.route(LIST + "/items/<int:item_id>/recording", methods=["GET"], access=SIGNED_IN)
    async def recording(rc: RequestContext, item_id: int) -> bytes:
        """The message left in the item (R-3.2), for staff with the right to its box."""
        user = _require_backoffice(rc)
        try:
            relative = await rc.db(bq.recording_for, item_id, user.agent_id)
        except CORE_REFUSALS as refusal:
            raise _refusal(rc, refusal) from None
        path = recording_file(_ports(rc, ports).recordings_dir, relative or "")
        if path is not None:
            await _note_played(rc, item_id, user.agent_id, "")
        return await send_recording(rc, path)

    @routes.route(
        LIST + "/items/<int:item_id>/calls/<int:call_id>/recordings/<int:index>",
        methods=["GET"],
        access=SIGNED_IN,
    )
    async def call_recording(rc: RequestContext, item_id: int, call_id: int, index: int) -> bytes:
        """A recorded conversation of one of the item's calls (R-1.14, R-3.2), for staff
        with the right to that call's queue (R-7.4, see ``bq.may_play_call``)."""
        user = _require_backoffice(rc)
        try:
            detail = await rc.db(bq.item_detail, item_id, user.agent_id, now=rc.now())
        except CORE_REFUSALS as refusal:
            raise _refusal(rc, refusal) from None
        entry = next((c for c in detail.calls if c.call_id == call_id), None)
        if entry is None or not 0 <= index < len(entry.recording_paths):
            raise NotFoundError(NOT_AVAILABLE)
        if not entry.may_play:
            raise ForbiddenError(NO_QUEUE_RIGHT)
        relative = entry.recording_paths[index]
        if not relative:
            raise RecordingGoneError(NOT_AVAILABLE)  # deleted, the record kept
        path = recording_file(_ports(rc, ports).recordings_dir, relative)
        if path is not None:
            await _note_played(rc, item_id, user.agent_id, f"call {call_id}")
        return await send_recording(rc, path)

    return routes


async def _note_played(rc: RequestContext, item_id: int, agent_id: int, detail: str) -> None:
    """Play goes into the item's history (R-3.3: every action is kept); a HEAD request only
    asks the size."""
    if rc.request.method == b"HEAD":
        return
    try:
        await rc.db(bq.record_played, item_id, agent_id, rc.now(), detail)
    except CORE_REFUSALS as refusal:
        raise _refusal(rc, refusal) from None


def _own_recording(detail: bq.ItemDetail) -> str:
    own = next((c for c in detail.calls if c.item_id == detail.item.id), None)
    return own.item_recording_path if own is not None else ""


# --------------------------------------------------------------------------- streaming


@implementer(IPushProducer)
class _FileStreamer:
    """Writes ``length`` bytes of an open file to the request in chunks, pausing whenever the
    connection's buffer is full (a push producer: Twisted tells it when to pause and go on),
    so a long recording never sits in memory whole. ``done`` fires when the last byte is
    written; it fails when the browser went away first.
    """

    def __init__(self, handle: BinaryIO, length: int, request: Any) -> None:
        self._handle = handle
        self._left = length
        self._request = request
        self._paused = False
        self._producing = False
        self.done: Deferred[None] = Deferred()

    def start(self) -> Deferred[None]:
        self._request.registerProducer(self, True)
        self._produce()
        return self.done

    def _produce(self) -> None:
        if self._producing:
            return  # resumed from inside our own write: the loop below goes on
        self._producing = True
        try:
            while not self._paused and not self.done.called:
                chunk = self._handle.read(min(CHUNK_BYTES, self._left)) if self._left > 0 else b""
                if not chunk:
                    self._request.unregisterProducer()
                    self.done.callback(None)
                    return
                self._left -= len(chunk)
                self._request.write(chunk)
        finally:
            self._producing = False

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        self._produce()

    def stopProducing(self) -> None:
        if not self.done.called:
            self.done.errback(ConnectionDone("the browser stopped reading"))


async def send_recording(rc: RequestContext, path: Path | None) -> bytes:
    """Stream ``path`` with Range support (200, 206, 416); 404 with R-3.2's text if missing."""
    if path is None:
        raise NotFoundError(NOT_AVAILABLE)
    request = rc.request
    try:
        handle = path.open("rb")
    except OSError:
        raise NotFoundError(NOT_AVAILABLE) from None
    try:
        size = os.fstat(handle.fileno()).st_size
        request.setHeader(b"Accept-Ranges", b"bytes")
        request.setHeader(
            b"Content-Type", _AUDIO_TYPES.get(path.suffix.lower(), b"application/octet-stream")
        )
        request.setHeader(b"Cache-Control", b"private, no-store")
        request.setHeader(b"X-Content-Type-Options", b"nosniff")
        try:
            wanted = parse_byte_range(rc.header("range"), size)
        except RangeNotSatisfiableError:
            request.setResponseCode(416)
            request.setHeader(b"Content-Range", f"bytes */{size}".encode("ascii"))
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            return b""
        if wanted is None:
            wanted_length, first = size, 0
            request.setResponseCode(200)
        else:
            wanted_length, first = wanted.length, wanted.first
            request.setResponseCode(206)
            request.setHeader(
                b"Content-Range", f"bytes {wanted.first}-{wanted.last}/{size}".encode("ascii")
            )
        request.setHeader(b"Content-Length", str(wanted_length).encode("ascii"))
        if request.method == b"HEAD" or wanted_length == 0:
            return b""
        handle.seek(first)
        try:
            await _FileStreamer(handle, wanted_length, request).start()
        except ConnectionDone:
            pass  # the browser went away mid-file (it stopped, or seeked elsewhere)
        return b""
    finally:
        handle.close()


routes = make_routes()
