"""What a call flow needs to know about the centre, as the pure core's dataclasses.

DIDs and IVR menus (R-1.1), a queue's policy, schedule and boxes (R-1.2 .. R-1.11), the
support-turn rota (R-1.11). Read fresh for every call so admin changes apply at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from db.models import (
    Agent,
    AgentSession,
    BusinessHours,
    ClosedRule,
    Did,
    Holiday,
    IvrMenu,
    PauseType,
    PhoneSeat,
    Queue,
    Setting,
    SupportTurnDay,
    VoicemailBox,
)
from dialplan.escalation import QueuePolicy
from dialplan.menu import Menu, Target, ToMenu, ToQueue
from dialplan.schedule import ClosedRule as ClosedRuleCore
from dialplan.schedule import OpenWindow, Schedule
from dialplan.support_turns import TurnDay, TurnMember
from domain.prompts import PROMPT_LANGUAGE_SETTING, prompt_language

MISSED_CALL_PAUSE_NAME = "missed call"


@dataclass(frozen=True)
class BoxConfig:
    id: int
    name: str
    kind: str
    greeting_prompt: str
    max_message_s: int
    silence_s: int


@dataclass(frozen=True)
class QueueConfig:
    id: int
    code: str
    name: str
    policy: QueuePolicy
    schedule: Schedule
    moh_class: str
    hours_prompt: str
    recording_enabled: bool
    voicemail_box: BoxConfig | None
    callback_box: BoxConfig | None
    missed_call_pause_type_id: int | None
    support_turns: tuple[TurnDay, ...]
    caller_id_number: str
    country_prefix: str


@dataclass(frozen=True)
class DidTarget:
    menu_code: str | None
    queue_code: str | None
    # The language its callers hear: the DID's, else the centre's, else English.
    language: str = "en"


def did_target(session: Session, number: str) -> DidTarget | None:
    did = session.scalars(select(Did).where(Did.number == number)).one_or_none()
    if did is None:
        return None
    menu_code = queue_code = None
    if did.ivr_menu_id is not None:
        menu_code = session.scalar(select(IvrMenu.code).where(IvrMenu.id == did.ivr_menu_id))
    if did.queue_id is not None:
        queue_code = session.scalar(select(Queue.code).where(Queue.id == did.queue_id))
    centre = session.scalar(select(Setting.value).where(Setting.key == PROMPT_LANGUAGE_SETTING))
    return DidTarget(menu_code, queue_code, prompt_language(did.language, centre))


@dataclass(frozen=True)
class DidRoute:
    """A DID's target and, when that is a queue, the queue's configuration."""

    target: DidTarget
    queue: QueueConfig | None


def did_route(session: Session, number: str, *, time_zone: str) -> DidRoute | None:
    """:func:`did_target` with its queue's :func:`load_queue` in one transaction, a read (a
    new call's first look at the centre costs one round of reads, issue 12)."""
    target = did_target(session, number)
    if target is None:
        return None
    queue = None
    if target.queue_code is not None:
        queue = load_queue(session, time_zone=time_zone, code=target.queue_code)
    return DidRoute(target, queue)


def load_menu(session: Session, code: str) -> tuple[int, Menu] | None:
    menu = session.scalars(select(IvrMenu).where(IvrMenu.code == code)).one_or_none()
    if menu is None:
        return None
    queue_codes = {qid: code for qid, code in session.execute(select(Queue.id, Queue.code))}
    menu_codes = {mid: code for mid, code in session.execute(select(IvrMenu.id, IvrMenu.code))}

    def target(queue_id: int | None, menu_id: int | None) -> Target | None:
        if queue_id is not None:
            return ToQueue(queue_codes[queue_id])
        if menu_id is not None:
            return ToMenu(menu_codes[menu_id])
        return None

    options = {}
    for option in menu.options:
        found = target(option.queue_id, option.submenu_id)
        if found is not None:
            options[option.digit] = found
    return menu.id, Menu(
        code=menu.code,
        prompt=menu.prompt,
        invalid_prompt=menu.invalid_prompt,
        timeout_s=menu.timeout_s,
        max_retries=menu.max_retries,
        options=options,
        default=target(menu.default_queue_id, menu.default_menu_id),
    )


def _box(session: Session, box_id: int | None) -> BoxConfig | None:
    box = session.get(VoicemailBox, box_id) if box_id is not None else None
    if box is None:
        return None
    return BoxConfig(
        box.id, box.name, box.kind.value, box.greeting_prompt, box.max_message_s, box.silence_s
    )


def missed_call_pause(session: Session, queue: Queue) -> int | None:
    """The queue's own missed-call pause, else the active pause type named "Missed call"."""
    if queue.missed_call_pause_type_id is not None:
        return queue.missed_call_pause_type_id
    return session.scalar(
        select(PauseType.id).where(
            func.lower(PauseType.name) == MISSED_CALL_PAUSE_NAME, PauseType.active.is_(True)
        )
    )


def load_queue(
    session: Session, *, time_zone: str, code: str | None = None, queue_id: int | None = None
) -> QueueConfig | None:
    stmt = select(Queue).where(Queue.code == code if code is not None else Queue.id == queue_id)
    queue = session.scalars(stmt).one_or_none()
    if queue is None:
        return None
    hours = session.scalars(select(BusinessHours).where(BusinessHours.queue_id == queue.id)).all()
    rules = session.scalars(select(ClosedRule).where(ClosedRule.queue_id == queue.id)).all()
    holidays = session.scalars(
        select(Holiday.day).where(or_(Holiday.queue_id == queue.id, Holiday.queue_id.is_(None)))
    ).all()
    voicemail = _box(session, queue.voicemail_box_id)
    callback = _box(session, queue.callback_box_id)
    # A combined box takes both keys.
    if callback is None and voicemail is not None and voicemail.kind == "combined":
        callback = voicemail
    if voicemail is None and callback is not None and callback.kind == "combined":
        voicemail = callback
    schedule = Schedule(
        time_zone=time_zone,
        windows=tuple(OpenWindow(h.weekday, h.opens, h.closes) for h in hours),
        holidays=frozenset(holidays),
        closed_on_weekends=queue.closed_on_weekends,
        closed_action=queue.closed_action,
        closed_rules=tuple(ClosedRuleCore(r.weekday, r.starts, r.ends, r.action) for r in rules),
    )
    policy = QueuePolicy(
        ring_timeout_s=queue.ring_timeout_s,
        overflow_enabled=queue.overflow_enabled,
        overflow_after_s=queue.overflow_after_s,
        callback_offer_after_s=queue.callback_offer_after_s,
        callback_offer_repeat_s=queue.callback_offer_repeat_s,
        voicemail_box=voicemail.name if voicemail else None,
        callback_box=callback.name if callback else None,
    )
    days: Sequence[SupportTurnDay] = ()
    if queue.support_turns_enabled:  # else not even read (issue 12)
        days = session.scalars(
            select(SupportTurnDay).where(SupportTurnDay.queue_id == queue.id)
        ).all()
    turns = tuple(
        TurnDay(
            d.weekday,
            d.opens,
            d.closes,
            tuple(TurnMember(m.priority, m.agent_id, m.external_number) for m in d.members),
        )
        for d in days
    )
    return QueueConfig(
        id=queue.id,
        code=queue.code,
        name=queue.name,
        policy=policy,
        schedule=schedule,
        moh_class=queue.moh_class,
        hours_prompt=queue.hours_prompt,
        recording_enabled=queue.recording_enabled,
        voicemail_box=voicemail,
        callback_box=callback,
        missed_call_pause_type_id=missed_call_pause(session, queue),
        support_turns=turns if queue.support_turns_enabled else (),
        caller_id_number=queue.caller_id_number,
        country_prefix=queue.country_prefix,
    )


def logged_in_agent_ids(session: Session) -> set[int]:
    return set(
        session.scalars(select(AgentSession.agent_id).where(AgentSession.logged_out_at.is_(None)))
    )


def seat_dial_string(session: Session, agent_id: int) -> str | None:
    """The agent's phone: their current seat, else the seat they last used."""
    return session.scalar(
        select(PhoneSeat.dial_string)
        .join(AgentSession, AgentSession.seat_id == PhoneSeat.id)
        .where(AgentSession.agent_id == agent_id)
        .order_by(AgentSession.logged_out_at.is_not(None), AgentSession.logged_in_at.desc())
        .limit(1)
    )


def agent_name(session: Session, agent_id: int) -> str:
    return session.scalar(select(Agent.name).where(Agent.id == agent_id)) or f"agent {agent_id}"
