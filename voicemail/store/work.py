"""Working a back-office item from its page, one transaction per action (R-3.3, R-2.2):
claiming it takes a person at a phone seat off-air for the back office, ending the work
(Done, Release, Cancel) puts them back; leaving the seat; the page's data beside the item's
detail.

A call back placed from an item returns its caller to the item when it ends
(``agent_state.CallBackEnded``): the item's Done or Cancel is its after-call work, not the
Active call form, which back-office staff do not have. A person whom an older Hotline left
processing a call back is brought back the same way by every action here, so that nobody
stays stranded off-air at a held seat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent_desktop import agent_state as core
from agent_desktop.store import agent_sessions
from db.models import Call, VoicemailBox, VoicemailItem
from domain.enums import Activity
from voicemail.store import queue
from voicemail.store.call_backs import call_back_item


@dataclass(frozen=True)
class BoxOption:
    box_id: int
    name: str
    kind: str


@dataclass(frozen=True)
class ItemPageData:
    """What the item page shows besides ``ItemDetail``."""

    detail: queue.ItemDetail
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
        if queue.may_work_box(session, agent_id, box_id)
    )


def item_page(session: Session, item_id: int, agent_id: int, now: datetime) -> ItemPageData:
    """The item's detail (rights checked there) and what the page needs around it.

    ``calls_in_progress`` is left empty: the page fills it from
    ``callbacks.store.settle_call_backs``, which it runs first."""
    detail = queue.item_detail(session, item_id, agent_id, now=now)
    other_items = {c.item_id for c in detail.calls if c.item_id is not None} | {item_id}
    boxes = dict(
        session.execute(
            select(VoicemailItem.id, VoicemailItem.box_id).where(VoicemailItem.id.in_(other_items))
        ).all()
    )
    playable = frozenset(
        i for i, box in boxes.items() if queue.may_work_box(session, agent_id, box)
    )
    queue_id = session.scalar(
        select(Call.queue_id)
        .join(VoicemailItem, VoicemailItem.call_id == Call.id)
        .where(VoicemailItem.id == item_id)
    )
    desk = agent_sessions.open_session_row(session, agent_id, lock=False)
    return ItemPageData(detail, playable, queue_id, desk.activity if desk else None, ())


def _back_from_call_back(session: Session, agent_id: int, now: datetime) -> Activity | None:
    """The person's activity at their seat (None at none), after ending the processing of a
    call back they were left in (R-3.3: its after-call work is the item's)."""
    desk = agent_sessions.open_session_row(session, agent_id)
    if desk is None:
        return None
    call_id = desk.current_call_id
    if (
        desk.activity is Activity.PROCESSING
        and call_id is not None
        and call_back_item(session, call_id) is not None
    ):
        agent_sessions.apply_event(
            session, agent_id, core.CallBackEnded(), now, f"call back {call_id} processed"
        )
        desk.current_call_id = None
    return desk.activity


def _start_backoffice_work(session: Session, agent_id: int, item_id: int, now: datetime) -> None:
    """R-2.2: working a back-office item takes a person logged in at a seat off-air.

    Only from idle or a pause: someone in a call, processing one, or calling out already is
    off-air, and their activity says why; one already working items stays as they are.
    """
    if _back_from_call_back(session, agent_id, now) not in (Activity.IDLE, Activity.PAUSED):
        return
    agent_sessions.apply_event(
        session,
        agent_id,
        core.StartWork(Activity.BACKOFFICE),
        now,
        f"back-office item {item_id}",
    )


def _end_backoffice_work(session: Session, agent_id: int, item_id: int, now: datetime) -> None:
    if _back_from_call_back(session, agent_id, now) is not Activity.BACKOFFICE:
        return
    agent_sessions.apply_event(
        session, agent_id, core.EndWork(), now, f"back-office item {item_id} left"
    )


def leave_seat(session: Session, agent_id: int, now: datetime, reason: str = "logout") -> None:
    """Log out of the phone seat (R-2.1), the seat free for a colleague. Refused
    (``agent_state.AgentStateError``) while a call is ringing, going on or waits for the
    Active call form; a call back's processing is the item's, so it does not hold the seat."""
    _back_from_call_back(session, agent_id, now)
    agent_sessions.apply_event(session, agent_id, core.LogOut(), now, reason)


def leave_seat_at_sign_out(session: Session, agent_id: int, now: datetime) -> bool:
    """Signing out frees the person's seat unless a call holds them there (the call goes on,
    and the Active call form waits for them); True if the seat was left."""
    activity = _back_from_call_back(session, agent_id, now)
    if activity is None or activity in core.BUSY_WITH_A_CALL or activity is Activity.OUTBOUND:
        return False
    agent_sessions.apply_event(session, agent_id, core.LogOut(), now, "signed out")
    return True


def open_for_work(session: Session, item_id: int, agent_id: int, now: datetime) -> queue.ClaimView:
    """Claim the item (R-3.3) and go off-air for the back office, in one transaction."""
    view = queue.claim(session, item_id, agent_id, now)
    _start_backoffice_work(session, agent_id, item_id, now)
    return view


def finish_item(session: Session, item_id: int, agent_id: int, now: datetime) -> queue.ClaimView:
    """Done (R-3.3): the item leaves the queue; the back-office work ends. (The page
    settles the item's call backs first, so that one that just connected counts.)"""
    view = queue.mark_done(session, item_id, agent_id, now)
    _end_backoffice_work(session, agent_id, item_id, now)
    return view


def release_item(session: Session, item_id: int, agent_id: int, now: datetime) -> queue.ClaimView:
    """Release: give the item back without acting on it; free for anyone, work ends."""
    view = queue.release(session, item_id, agent_id, now)
    _end_backoffice_work(session, agent_id, item_id, now)
    return view


def cancel_item(session: Session, item_id: int, agent_id: int, now: datetime) -> queue.ClaimView:
    """Cancel (R-3.3): the item stays in the queue for anyone; the back-office work ends."""
    view = queue.cancel(session, item_id, agent_id, now)
    _end_backoffice_work(session, agent_id, item_id, now)
    return view
