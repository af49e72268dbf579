"""The administration pages' database side (R-6.2): read and change the catalog's records,
audited, through the catalog's own loader.

A change made on a page is a one-record document loaded by :func:`db.catalog.load_nodes`,
so it is checked by the very reader and checker ``hotline load`` uses, and a refused record
writes nothing (:class:`RecordRefusedError`, its problems by key). Every change is written
to ``audit_log`` in the same transaction: who, when, the action (``admin.queues.update``),
the record (``queues:TECH``) and ``{"before": ..., "after": ..., "changed": [...]}``.

Nothing is kept in a process between two calls: every page and every call flow reads the
database, so a change is seen at once by every ``hotline serve`` sharing it.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import yaml
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from admin.sections import (
    BY_NAME,
    PAGE_SIZE,
    PICK_LIMIT,
    SEARCHED,
    Section,
    audit_target,
    changed_keys,
    record_key,
    without_secrets,
)
from db.catalog import (
    CatalogError,
    Reason,
    SectionPlan,
    export_catalog,
    import_catalog,
    load_nodes,
)
from db.catalog import preview_catalog as catalog_preview
from db.catalog.exporter import Exporter
from db.catalog.records import (
    SECTION_SLOTS,
    SETTING_LINES,
    key_lines,
    page_record,
    page_settings,
    problems_by_key,
)
from db.models import (
    Agent,
    AgentSession,
    AuditLog,
    BoxRight,
    Call,
    Customer,
    CustomerPhone,
    Department,
    Did,
    Holiday,
    IvrKeyPress,
    IvrMenu,
    IvrOption,
    Location,
    PauseRecord,
    PauseType,
    PhoneSeat,
    PromptText,
    Queue,
    QueueLocation,
    QueueRight,
    ReasonNode,
    ReportSchedule,
    ReportSending,
    SeatRight,
    SupervisorDepartment,
    VoicemailBox,
    VoicemailItem,
)
from domain.enums import ReasonDirection
from domain.prompts import PRODUCT_PROMPTS, is_prompt_name
from domain.search import fold
from domain.texts import N_
from web.sign_in_throttle import UNLOCK_ACTION, unlock_target

NOT_FOUND = N_("There is no such record (any more).")
IN_USE = N_("This record is in use and cannot be deleted.")


class RecordRefusedError(Exception):
    """A record the catalog's rules refuse: the reasons by key (``""``: the whole record)."""

    def __init__(
        self,
        problems: Mapping[str, list[Reason]],
        lines: Sequence[tuple[int, Reason]] = (),
    ) -> None:
        super().__init__("; ".join(str(r) for rs in problems.values() for r in rs))
        self.problems = dict(problems)
        self.lines = tuple(lines)  # each problem on its line of the record (records.key_lines)


@dataclass(frozen=True)
class RecordList:
    records: tuple[Mapping[str, Any], ...]
    total: int


@dataclass(frozen=True)
class Saved:
    key: str
    created: bool
    changed: tuple[str, ...]  # the keys that changed (none: the record was as typed)


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str  # the actor's login ("" when unknown)
    action: str
    target: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    changed: tuple[str, ...]
    detail: str  # the detail as stored when it is not a before/after record


def _plain(value: Any) -> Any:
    """A record's value as JSON and the pages keep it (dates as ISO text)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


# --------------------------------------------------------------------------- reading


def supervised_departments(session: Session, agent_id: int) -> frozenset[str]:
    """The names of the departments ``agent_id`` supervises (R-4.6)."""
    query = (
        select(Department.name)
        .join(SupervisorDepartment, SupervisorDepartment.department_id == Department.id)
        .where(SupervisorDepartment.agent_id == agent_id)
    )
    return frozenset(session.scalars(query))


def visible_keys(session: Session, departments: frozenset[str]) -> dict[str, frozenset[str]]:
    """What a supervisor of ``departments`` sees of the sections that belong to
    departments (R-4.6), by section, the records' keys (``docs/administration.md``):

    - ``departments``: the ones he supervises; ``agents``: theirs;
    - ``queues``: those their agents are members of (as the live screen counts them);
    - ``phone_seats``: those their agents have a right to or logged in at;
    - ``voicemail_boxes``: those their agents have a right to, and their queues' boxes;
    - ``ivr_menus``: those leading to their queues (through other menus too);
    - ``dids``: those leading to their queues or menus;
    - ``report_schedules``: those filtered to one of their queues or made with his rights.

    The other sections (pause types, locations, customers, holidays, prompts' words) are
    the whole centre's, the same for every department: a supervisor reads them whole.
    """
    agent_rows = session.execute(
        select(Agent.id, Agent.login)
        .join(Department, Department.id == Agent.department_id)
        .where(Department.name.in_(sorted(departments)))
    ).all()
    agent_ids = [i for i, _ in agent_rows]
    queue_rows = session.execute(
        select(Queue.id, Queue.code)
        .join(QueueRight, QueueRight.queue_id == Queue.id)
        .where(QueueRight.agent_id.in_(agent_ids))
    ).all()
    queue_ids = {i for i, _ in queue_rows}
    seats = set(
        session.scalars(
            select(PhoneSeat.name).where(
                or_(
                    PhoneSeat.id.in_(
                        select(SeatRight.seat_id).where(SeatRight.agent_id.in_(agent_ids))
                    ),
                    PhoneSeat.id.in_(
                        select(AgentSession.seat_id).where(AgentSession.agent_id.in_(agent_ids))
                    ),
                )
            )
        )
    )
    box_ids = set(session.scalars(select(BoxRight.box_id).where(BoxRight.agent_id.in_(agent_ids))))
    for vm, cb in session.execute(
        select(Queue.voicemail_box_id, Queue.callback_box_id).where(Queue.id.in_(queue_ids))
    ):
        box_ids |= {b for b in (vm, cb) if b is not None}
    boxes = set(session.scalars(select(VoicemailBox.code).where(VoicemailBox.id.in_(box_ids))))
    menus = session.execute(
        select(IvrMenu.id, IvrMenu.code, IvrMenu.default_queue_id, IvrMenu.default_menu_id)
    ).all()
    leads: dict[int, set[tuple[str, int]]] = {m.id: set() for m in menus}
    for m in menus:
        if m.default_queue_id is not None:
            leads[m.id].add(("queue", m.default_queue_id))
        if m.default_menu_id is not None:
            leads[m.id].add(("menu", m.default_menu_id))
    for menu_id, queue_id, submenu_id in session.execute(
        select(IvrOption.menu_id, IvrOption.queue_id, IvrOption.submenu_id)
    ):
        if queue_id is not None:
            leads[menu_id].add(("queue", queue_id))
        if submenu_id is not None:
            leads[menu_id].add(("menu", submenu_id))
    menu_ids: set[int] = set()
    grew = True
    while grew:  # a menu leading to a menu of theirs is theirs too
        before_count = len(menu_ids)
        for menu_id, targets in leads.items():
            if any(
                (kind == "queue" and target in queue_ids) or (kind == "menu" and target in menu_ids)
                for kind, target in targets
            ):
                menu_ids.add(menu_id)
        grew = len(menu_ids) > before_count
    dids = set(
        session.scalars(
            select(Did.number).where(
                or_(Did.queue_id.in_(queue_ids), Did.ivr_menu_id.in_(menu_ids))
            )
        )
    )
    supervisor_ids = select(SupervisorDepartment.agent_id).join(
        Department, Department.id == SupervisorDepartment.department_id
    )
    schedules = session.execute(
        select(ReportSchedule).where(
            or_(
                ReportSchedule.queue_id.in_(queue_ids),
                ReportSchedule.owner_id.in_(
                    supervisor_ids.where(Department.name.in_(sorted(departments)))
                ),
            )
        )
    ).scalars()
    section = BY_NAME["report_schedules"]
    return {
        "departments": departments,
        "agents": frozenset(login for _, login in agent_rows),
        "queues": frozenset(code for _, code in queue_rows),
        "phone_seats": frozenset(seats),
        "voicemail_boxes": frozenset(boxes),
        "ivr_menus": frozenset(m.code for m in menus if m.id in menu_ids),
        "dids": frozenset(dids),
        # Keyed as the section's list keys them: all of a schedule's keys, as exported.
        "report_schedules": frozenset(
            record_key(section, dict(Exporter(session).report_record(s))) for s in schedules
        ),
    }


def may_see(session: Session, name: str, key: str, departments: frozenset[str] | None) -> bool:
    """Whether a reader of ``departments`` (None: an admin, everything) sees the record
    ``key`` of section ``name`` (:func:`visible_keys`)."""
    if departments is None:
        return True
    visible = visible_keys(session, departments).get(name)
    return visible is None or key in visible


def section_records(
    session: Session,
    name: str,
    *,
    search: str = "",
    page: int = 1,
    departments: frozenset[str] | None = None,
) -> RecordList:
    """The records of a section as the catalog has them. ``departments``: only what
    belongs to these (a supervisor's view, :func:`visible_keys`). Customers come a page at
    a time, found by contract number, name or phone number (``search``)."""
    section = BY_NAME[name]
    exporter = Exporter(session)
    if section.searchable:
        return _customers(session, exporter, search, page)
    records = [_plain(r) for r in exporter.section(name)]
    visible = visible_keys(session, departments).get(name) if departments is not None else None
    if visible is not None:
        records = [r for r in records if record_key(section, r) in visible]
    if search:
        needle = search.casefold()
        records = [r for r in records if needle in json.dumps(r, ensure_ascii=False).casefold()]
    return RecordList(tuple(records), len(records))


def _customers(session: Session, exporter: Exporter, search: str, page: int) -> RecordList:
    query = select(Customer.id)
    if search:
        pattern = f"%{search.strip().lower()}%"
        digits = "".join(ch for ch in search if ch.isdigit())
        matches = [
            func.lower(Customer.contract_number).like(pattern),
            func.lower(Customer.name).like(pattern),
        ]
        if len(digits) >= 3:
            phones = select(CustomerPhone.customer_id).where(
                CustomerPhone.digits.like(f"%{digits}%")
            )
            matches.append(Customer.id.in_(phones))
        query = query.where(or_(*matches))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    ids = session.scalars(
        query.order_by(Customer.contract_number, Customer.id)
        .limit(PAGE_SIZE)
        .offset((max(page, 1) - 1) * PAGE_SIZE)
    ).all()
    return RecordList(tuple(_plain(r) for r in exporter.customers(ids)), total)


def find_record(session: Session, name: str, key: str) -> dict[str, Any] | None:
    """One record of a section by its natural key as text, or None."""
    section = BY_NAME[name]
    if section.searchable:
        ids = session.scalars(select(Customer.id).where(Customer.contract_number == key)).all()
        found = Exporter(session).customers(ids)
        return _plain(found[0]) if len(found) == 1 else None
    for record in Exporter(session).section(name):
        if record_key(section, _plain(record)) == key:
            return dict(_plain(record))
    return None


_MODELS: dict[str, Any] = {
    "queues": Queue,
    "agents": Agent,
    "phone_seats": PhoneSeat,
    "ivr_menus": IvrMenu,
    "dids": Did,
    "voicemail_boxes": VoicemailBox,
    "pause_types": PauseType,
    "customers": Customer,
}


def new_record(name: str) -> dict[str, Any]:
    """A new record's form as the loader would default it (the columns' defaults: a new
    queue overflows and records unless told otherwise)."""
    model = _MODELS.get(name)
    record: dict[str, Any] = {}
    if model is None:
        return record
    for slot in SECTION_SLOTS[name]:
        column = model.__table__.c.get(slot.field.attr) if slot.field is not None else None
        default = column.default if column is not None else None
        if default is not None and default.is_scalar:
            value = default.arg
            record[slot.key] = value.value if isinstance(value, enum.Enum) else value
    return record


_CHOICES: dict[str, tuple[Any, Any, Any]] = {
    # kind: (the model, the value a record names it by, what a person recognises it by)
    "seat": (PhoneSeat, PhoneSeat.name, PhoneSeat.dial_string),
    "box": (VoicemailBox, VoicemailBox.code, VoicemailBox.name),
    "department": (Department, Department.name, Department.name),
    "location": (Location, Location.code, Location.name),
    "agent": (Agent, Agent.login, Agent.name),
    "queue": (Queue, Queue.code, Queue.name),
    "menu": (IvrMenu, IvrMenu.code, IvrMenu.name),
    "pause_type": (PauseType, PauseType.position, PauseType.name),
    "customer": (Customer, Customer.contract_number, Customer.name),
}


@dataclass(frozen=True)
class Choices:
    """The records of each kind a form picks from: (the value, a label), in the value's
    order; ``more``: the kinds of which more records match than are offered
    (:data:`admin.sections.PICK_LIMIT`); ``unmatched``: those a search found none of."""

    offered: Mapping[str, list[tuple[str, str]]]
    more: frozenset[str]
    unmatched: frozenset[str]  # the kinds searched for in vain


def ref_choices(
    session: Session,
    kinds: Sequence[str],
    search: Mapping[str, str] | None = None,
    include: Mapping[str, Sequence[str]] | None = None,
) -> Choices:
    """The records of each kind a form picks from; the label is the value with what a
    person knows it by. Agents and customers (:data:`admin.sections.SEARCHED`: tens of
    thousands of customers) are not all offered: the first ``PICK_LIMIT`` whose value or
    label holds ``search[kind]``, and those in ``include[kind]`` (the ones the record
    already names)."""
    offered: dict[str, list[tuple[str, str]]] = {}
    more: set[str] = set()
    unmatched: set[str] = set()
    for kind in kinds:
        _model, value, shown = _CHOICES[kind]
        query = select(value, shown).order_by(value)
        if kind not in SEARCHED:
            rows = session.execute(query).all()
            offered[kind] = [(str(v), _choice_label(kind, str(v), str(s))) for v, s in rows]
            continue
        needle = (search or {}).get(kind, "").strip().lower()
        if needle and kind == "customer":  # accents and case aside, as the desktop finds
            query = query.where(Customer.search_text.like(f"%{fold(needle)}%"))
        elif needle:
            pattern = f"%{needle}%"
            query = query.where(
                or_(func.lower(value).like(pattern), func.lower(shown).like(pattern))
            )
        rows = session.execute(query.limit(PICK_LIMIT + 1)).all()
        if needle and not rows:
            unmatched.add(kind)
        if len(rows) > PICK_LIMIT:
            more.add(kind)
            rows = rows[:PICK_LIMIT]
        named = {str(v) for v in (include or {}).get(kind, ()) if v}
        missing = sorted(named - {str(v) for v, _ in rows})
        if missing:
            rows = [*rows, *session.execute(select(value, shown).where(value.in_(missing)))]
            rows.sort(key=lambda r: str(r[0]))
        offered[kind] = [(str(v), _choice_label(kind, str(v), str(s))) for v, s in rows]
    return Choices(offered, frozenset(more), frozenset(unmatched))


def _choice_label(kind: str, value: str, shown: str) -> str:
    if value == shown:
        return value
    if kind == "seat":  # a seat is known by its name, its dial string beside it
        return f"{value} ({shown})"
    return f"{shown} ({value})"


def settings(session: Session) -> dict[str, str]:
    return dict(Exporter(session).section("settings"))


# --------------------------------------------------------------------------- changing


def _audit(
    session: Session,
    actor_id: int,
    now: datetime,
    action: str,
    target: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> tuple[str, ...]:
    """Write one audit entry of a change (nothing when nothing changed); the changed keys."""
    before, after = without_secrets(before), without_secrets(after)
    changed = tuple(changed_keys(before, after))
    if changed:
        detail = json.dumps(
            {"before": before, "after": after, "changed": list(changed)},
            ensure_ascii=False,
            sort_keys=False,
        )
        session.add(
            AuditLog(at=now, actor_id=actor_id, action=action, target=target[:200], detail=detail)
        )
    return changed


def save_record(
    session: Session, actor_id: int, name: str, entered: Mapping[str, str], now: datetime
) -> Saved:
    """Create or update one record of section ``name`` from what was typed (key -> text).

    Refused (:class:`RecordRefusedError`) exactly as a file with this record would be; the
    caller's transaction then writes nothing.
    """
    section = BY_NAME[name]
    typed_key = record_key(section, entered)
    before = find_record(session, name, typed_key)
    try:
        load_nodes(session, page_record(name, entered), "page")
    except CatalogError as error:
        problems = problems_by_key(error, key_lines(name))
        raise RecordRefusedError(problems, error.reasons) from None
    after = find_record(session, name, typed_key)
    verb = "create" if before is None else "update"
    changed = _audit(
        session,
        actor_id,
        now,
        f"admin.{name}.{verb}",
        audit_target(section, typed_key),
        before,
        after,
    )
    return Saved(typed_key, before is None, changed)


def save_settings(
    session: Session, actor_id: int, entered: Mapping[str, str], now: datetime
) -> tuple[str, ...]:
    """Change the centre's settings (R-6.2), checked as a file's ``settings`` section."""
    before = settings(session)
    try:
        load_nodes(session, page_settings(entered), "page")
    except CatalogError as error:
        raise RecordRefusedError(problems_by_key(error, SETTING_LINES)) from None
    return _audit(
        session, actor_id, now, "admin.settings.update", "settings", before, settings(session)
    )


_DELETABLE: dict[str, Any] = {
    "dids": Did,
    "holidays": Holiday,
    "report_schedules": ReportSchedule,
    "phone_seats": PhoneSeat,
    "voicemail_boxes": VoicemailBox,
    "departments": Department,
    "locations": Location,
    "ivr_menus": IvrMenu,
}
_KEY_COLUMN: dict[str, Any] = {
    "phone_seats": PhoneSeat.name,
    "voicemail_boxes": VoicemailBox.code,
    "departments": Department.name,
    "locations": Location.code,
    "ivr_menus": IvrMenu.code,
}
IN_USE_BY = N_("Still in use, so not deleted: %(what)s (%(count)s).")
_USERS: dict[str, tuple[tuple[Any, str], ...]] = {
    # What refers to a record by its id, and how the refusal names it: a record
    # something needs or history keeps is never deleted under it.
    "phone_seats": (
        (SeatRight.seat_id, N_("agents with a right to this seat")),
        (AgentSession.seat_id, N_("logins at this seat, kept in the login history")),
    ),
    "voicemail_boxes": (
        (Queue.voicemail_box_id, N_("queues whose voicemail box it is")),
        (Queue.callback_box_id, N_("queues whose callback box it is")),
        (BoxRight.box_id, N_("agents with a right to this box")),
        (VoicemailItem.box_id, N_("messages and callback requests in this box")),
    ),
    "departments": (
        (Agent.department_id, N_("agents in this department")),
        (SupervisorDepartment.department_id, N_("supervisors of this department")),
    ),
    "locations": (
        (Customer.location_id, N_("customers at this location")),
        (QueueLocation.location_id, N_("queues serving this location")),
        (Agent.selected_location_id, N_("agents who selected this location")),
    ),
    "ivr_menus": (
        (Did.ivr_menu_id, N_("DIDs leading to this menu")),
        (IvrOption.submenu_id, N_("options of other menus leading to it")),
        (IvrMenu.default_menu_id, N_("menus that fall back to it")),
        (IvrKeyPress.menu_id, N_("keys pressed in it, kept for the IVR report")),
    ),
}


def _in_use(session: Session, name: str, record_id: int) -> list[Reason]:
    """Why the record ``record_id`` of section ``name`` cannot be deleted (nothing: it can)."""
    reasons = []
    for column, what in _USERS.get(name, ()):
        query = select(func.count()).where(column == record_id)
        if column is IvrMenu.default_menu_id:  # a menu falling back to itself does not count
            query = query.where(IvrMenu.id != record_id)
        count = session.scalar(query) or 0
        if count:
            reasons.append(Reason(IN_USE_BY, (("what", Reason(what)), ("count", count))))
    return reasons


def delete_record(session: Session, actor_id: int, name: str, key: str, now: datetime) -> None:
    """Delete a record: a DID, a centre-wide holiday, a report schedule; a seat, a box, a
    department, a location or an IVR menu only when nothing refers to it (the refusal says
    what still does, :data:`IN_USE_BY`). Queues, agents, pause types and customers are
    retired (``active: false``) instead: calls and history refer to them."""
    section: Section = BY_NAME[name]
    if not section.deletable:
        raise RecordRefusedError({"": [Reason(IN_USE)]})
    before = find_record(session, name, key)
    if before is None:
        raise RecordRefusedError({"": [Reason(NOT_FOUND)]})
    model = _DELETABLE[name]
    if name in _KEY_COLUMN:
        record_id: int = session.scalars(select(model.id).where(_KEY_COLUMN[name] == key)).one()
        reasons = _in_use(session, name, record_id)
        if reasons:
            raise RecordRefusedError({"": reasons})
        if name == "ivr_menus":  # its own options go with it
            session.execute(delete(IvrOption).where(IvrOption.menu_id == record_id))
        where: Sequence[Any] = [model.id == record_id]
    elif name == "dids":
        where = [Did.number == key]
    elif name == "holidays":
        where = [Holiday.queue_id.is_(None), Holiday.day == date.fromisoformat(key)]
    else:
        exporter = Exporter(session)
        alike = [
            s.id
            for s in session.scalars(select(ReportSchedule))
            if record_key(section, _plain(exporter.report_record(s))) == key
        ]
        session.execute(delete(ReportSending).where(ReportSending.schedule_id.in_(alike)))
        where = [ReportSchedule.id.in_(alike)]
    session.execute(delete(model).where(*where))
    _audit(session, actor_id, now, f"admin.{name}.delete", audit_target(section, key), before, None)


def audit_unlock(session: Session, actor_id: int, login: str, forgiven: int, now: datetime) -> None:
    """The audit entry of an agent unlocked (his sign-in misses forgiven at ``forgiven``
    addresses)."""
    session.add(
        AuditLog(
            at=now,
            actor_id=actor_id,
            action=UNLOCK_ACTION,  # every web process reads it (web.sign_in_throttle)
            target=unlock_target(login)[:200],
            detail=json.dumps({"addresses": forgiven}),
        )
    )


# --------------------------------------------------------------------------- import, export


def preview_import(session: Session, text: str) -> dict[str, SectionPlan]:
    """What importing ``text`` would change per section; nothing is written. Refused
    (:class:`RecordRefusedError`, problems under ``""`` with their lines) as the load is."""
    try:
        return catalog_preview(session, text, "upload.yaml")
    except CatalogError as error:
        raise RecordRefusedError({"": [_at_line(line, r) for line, r in error.reasons]}) from None


def apply_import(
    session: Session, actor_id: int, text: str, now: datetime
) -> dict[str, SectionPlan]:
    """Import ``text`` in the caller's one transaction, audited with what it changed."""
    try:
        plans = import_catalog(session, text, "upload.yaml")
    except CatalogError as error:
        raise RecordRefusedError({"": [_at_line(line, r) for line, r in error.reasons]}) from None
    summary = {
        kind: {"created": p.created, "updated": p.updated, "untouched": p.untouched}
        for kind, p in plans.items()
    }
    session.add(
        AuditLog(
            at=now,
            actor_id=actor_id,
            action="admin.import",
            target="catalog",
            detail=json.dumps({"after": summary}, ensure_ascii=False),
        )
    )
    return plans


LINE_REASON = N_("line %(line)s: %(reason)s")


def _at_line(line: int, reason: Reason) -> Reason:
    return Reason(LINE_REASON, (("line", line), ("reason", reason)))


def export_yaml(session: Session) -> str:
    """The same YAML as ``hotline export``."""
    return export_catalog(session)


# ------------------------------------------------------------------- pause and login history


@dataclass(frozen=True)
class PauseEntry:
    """One pause taken (R-2.4): who, which type, when, how long, paid as it was then."""

    agent: str
    department: str
    pause_type: str
    started_at: datetime
    ended_at: datetime | None
    duration_s: int | None
    paid: bool


@dataclass(frozen=True)
class LoginEntry:
    """One seat login of an agent (R-2.1): where, from when to when."""

    agent: str
    department: str
    seat: str
    logged_in_at: datetime
    logged_out_at: datetime | None
    duration_s: int | None


def _seconds(start: datetime, end: datetime | None) -> int | None:
    return None if end is None else int((end - start).total_seconds())


def pause_history(
    session: Session, since: datetime, until: datetime, departments: frozenset[str] | None
) -> tuple[PauseEntry, ...]:
    """The pauses begun in [since, until), newest first; ``departments``: only their agents
    (a supervisor's view, R-4.6)."""
    query = (
        select(PauseRecord, Agent.name, Department.name, PauseType.name)
        .join(Agent, Agent.id == PauseRecord.agent_id)
        .outerjoin(Department, Department.id == Agent.department_id)
        .join(PauseType, PauseType.id == PauseRecord.pause_type_id)
        .where(PauseRecord.started_at >= since, PauseRecord.started_at < until)
        .order_by(PauseRecord.started_at.desc(), PauseRecord.id.desc())
        .limit(HISTORY_LIMIT)
    )
    if departments is not None:
        query = query.where(Department.name.in_(departments))
    return tuple(
        PauseEntry(
            agent,
            department or "",
            pause_type,
            record.started_at,
            record.ended_at,
            _seconds(record.started_at, record.ended_at),
            record.paid,
        )
        for record, agent, department, pause_type in session.execute(query)
    )


def login_history(
    session: Session, since: datetime, until: datetime, departments: frozenset[str] | None
) -> tuple[LoginEntry, ...]:
    """The seat logins begun in [since, until), newest first; ``departments`` as above."""
    query = (
        select(AgentSession, Agent.name, Department.name, PhoneSeat.name)
        .join(Agent, Agent.id == AgentSession.agent_id)
        .outerjoin(Department, Department.id == Agent.department_id)
        .join(PhoneSeat, PhoneSeat.id == AgentSession.seat_id)
        .where(AgentSession.logged_in_at >= since, AgentSession.logged_in_at < until)
        .order_by(AgentSession.logged_in_at.desc(), AgentSession.id.desc())
        .limit(HISTORY_LIMIT)
    )
    if departments is not None:
        query = query.where(Department.name.in_(departments))
    return tuple(
        LoginEntry(
            agent,
            department or "",
            seat,
            row.logged_in_at,
            row.logged_out_at,
            _seconds(row.logged_in_at, row.logged_out_at),
        )
        for row, agent, department, seat in session.execute(query)
    )


HISTORY_LIMIT = 2000  # rows a history page shows at most; a narrower period shows the rest


# --------------------------------------------------------------------------- the audit trail


def audit_entries(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    actor: str = "",
    target: str = "",
    page: int = 1,
    departments: frozenset[str] | None = None,
) -> tuple[tuple[AuditEntry, ...], int]:
    """The audit trail, newest first, a page at a time: per period, actor login, and
    target (``queues:TECH``, or part of it); with the total found. ``departments``: a
    supervisor's view, the changes of the records he may read only (:func:`visible_keys`,
    and the sections of the whole centre)."""
    query = select(AuditLog, Agent.login).outerjoin(Agent, Agent.id == AuditLog.actor_id)
    if departments is not None:
        visible = visible_keys(session, departments)
        targets = sorted(
            audit_target(BY_NAME[name], key)[:200] for name, keys in visible.items() for key in keys
        )
        whole = [name for name in BY_NAME if name not in visible]
        query = query.where(
            or_(
                AuditLog.target.in_(targets),
                AuditLog.target == "settings",
                *(AuditLog.target.like(f"{name}:%") for name in whole),
            )
        )
    if since is not None:
        query = query.where(AuditLog.at >= since)
    if until is not None:
        query = query.where(AuditLog.at < until)
    if actor:
        query = query.where(Agent.login == actor)
    if target:
        query = query.where(func.lower(AuditLog.target).like(f"%{target.lower()}%"))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(AuditLog.at.desc(), AuditLog.id.desc())
        .limit(PAGE_SIZE)
        .offset((max(page, 1) - 1) * PAGE_SIZE)
    ).all()
    return tuple(_entry(log, login) for log, login in rows), total


def _entry(log: AuditLog, login: str | None) -> AuditEntry:
    before = after = None
    changed: tuple[str, ...] = ()
    detail = log.detail
    try:
        data = json.loads(log.detail) if log.detail.startswith("{") else None
    except ValueError:
        data = None
    if isinstance(data, dict) and ("before" in data or "after" in data):
        before, after = data.get("before"), data.get("after")
        changed = tuple(data.get("changed") or changed_keys(before, after))
        detail = ""
    return AuditEntry(log.at, login or "", log.action, log.target, before, after, changed, detail)


# --------------------------------------------------------------------------- reason trees


@dataclass(frozen=True)
class TreeNode:
    """One node of a queue's reason tree as the editor shows it (R-2.8)."""

    id: int
    parent_id: int | None
    label: str
    code: str
    depth: int  # 0: the top level
    retired: bool  # kept for the calls that chose it, offered no more
    used: bool  # a call chose it or a node below it: retired, never deleted


NO_QUEUE = N_("There is no such queue.")
NO_NODE = N_("There is no such reason (any more).")
NOT_BELOW_ITSELF = N_("A reason cannot move below itself.")
RETIRED_PARENT = N_("A retired reason takes no new reasons below it.")
FIRST_ALREADY = N_("This reason is first already.")
LAST_ALREADY = N_("This reason is last already.")
REASON_ACTIONS = ("add", "rename", "move", "up", "down", "retire")


def _queue_id(session: Session, code: str) -> int:
    queue_id = session.scalar(select(Queue.id).where(Queue.code == code))
    if queue_id is None:
        raise RecordRefusedError({"": [Reason(NO_QUEUE)]})
    return queue_id


def _tree_rows(session: Session, queue_id: int, direction: ReasonDirection) -> list[ReasonNode]:
    return list(
        session.scalars(
            select(ReasonNode)
            .where(ReasonNode.queue_id == queue_id, ReasonNode.direction == direction)
            .order_by(ReasonNode.position, ReasonNode.id)
        )
    )


def reason_tree(
    session: Session, queue_code: str, direction: ReasonDirection
) -> tuple[TreeNode, ...]:
    """The tree of a queue for one direction, depth first; at each level the live nodes in
    their order, then the retired ones."""
    rows = _tree_rows(session, _queue_id(session, queue_code), direction)
    children: dict[int | None, list[ReasonNode]] = {}
    for row in sorted(rows, key=lambda r: (r.retired, r.position, r.id)):
        children.setdefault(row.parent_id, []).append(row)
    chosen = set(
        session.scalars(
            select(Call.reason_node_id).where(Call.reason_node_id.in_([r.id for r in rows]))
        )
    )
    out: list[TreeNode] = []

    def visit(parent_id: int | None, depth: int, retired: bool) -> bool:
        any_used = False
        for row in children.get(parent_id, []):
            index = len(out)
            out.append(TreeNode(row.id, parent_id, row.label, row.code, depth, False, False))
            below = visit(row.id, depth + 1, retired or row.retired)
            used = below or row.id in chosen
            out[index] = dataclasses.replace(out[index], retired=retired or row.retired, used=used)
            any_used |= used
        return any_used

    visit(None, 0, False)
    return tuple(out)


def reason_trees(session: Session, queue_code: str) -> dict[ReasonDirection, tuple[TreeNode, ...]]:
    """Both trees of a queue (:func:`reason_tree`); refused when there is no such queue."""
    return {d: reason_tree(session, queue_code, d) for d in ReasonDirection}


def _specs(rows: Sequence[ReasonNode]) -> list[dict[str, Any]]:
    """The live tree as the catalog's nested records, each with its node's ``id``."""
    children: dict[int | None, list[ReasonNode]] = {}
    for row in rows:  # ordered by position, id
        if not row.retired:
            children.setdefault(row.parent_id, []).append(row)

    def level(parent_id: int | None) -> list[dict[str, Any]]:
        return [
            {"id": r.id, "label": r.label, "code": r.code, "children": level(r.id)}
            for r in children.get(parent_id, [])
        ]

    return level(None)


def _without_ids(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for spec in specs:
        record: dict[str, Any] = {"label": spec["label"]}
        if spec["code"]:
            record["code"] = spec["code"]
        if spec["children"]:
            record["children"] = _without_ids(spec["children"])
        out.append(record)
    return out


def _located(specs: list[dict[str, Any]], node_id: int) -> tuple[list[dict[str, Any]], int] | None:
    """The list of ``specs`` (at any depth) that holds the live node ``node_id``, and where."""
    for index, spec in enumerate(specs):
        if spec["id"] == node_id:
            return specs, index
        found = _located(spec["children"], node_id)
        if found is not None:
            return found
    return None


def _place(specs: list[dict[str, Any]], node_id: int | None) -> tuple[list[dict[str, Any]], int]:
    """Where the live node ``node_id`` is; refused when it is not in the live tree."""
    found = _located(specs, node_id) if node_id is not None else None
    if found is None:
        raise RecordRefusedError({"": [Reason(NO_NODE)]})
    return found


def _below(specs: list[dict[str, Any]], parent_id: int | None) -> list[dict[str, Any]]:
    """The children of ``parent_id`` (None: the top level) in the live tree."""
    if parent_id is None:
        return specs
    found = _located(specs, parent_id)
    if found is None:
        raise RecordRefusedError({"": [Reason(RETIRED_PARENT)]})
    siblings, index = found
    children: list[dict[str, Any]] = siblings[index]["children"]
    return children


def edit_reason_tree(
    session: Session,
    actor_id: int,
    queue_code: str,
    direction: ReasonDirection,
    action: str,
    now: datetime,
    *,
    node_id: int | None = None,
    parent_id: int | None = None,
    label: str = "",
    code: str = "",
) -> str:
    """One change of a queue's reason tree by the editor (R-2.8): ``add`` a node (below
    ``parent_id``; None: at the top), ``rename`` one (label and code), ``move`` it below
    another (keeping its id, so the calls that chose it keep it), move it ``up`` or
    ``down`` among its siblings, or ``retire`` it with what is below it.

    The tree that results is loaded as the queue's ``reasons`` through the catalog's own
    loader, so it is checked by the rules of a file (labels unique per level, a leaf needs a
    code, the lengths) and retiring does what removing from a file does: a node no call
    chose is deleted, one a call chose stays, retired. Refused: :class:`RecordRefusedError`
    (and the caller's transaction writes nothing). Audited as an update of the queue.
    Returns ``"deleted"`` or ``"retired"`` for a retirement, else ``"saved"``.
    """
    queue_id = _queue_id(session, queue_code)
    before = find_record(session, "queues", queue_code)
    rows = _tree_rows(session, queue_id, direction)
    specs = _specs(rows)
    if action == "add":
        _below(specs, parent_id).append({"id": 0, "label": label, "code": code, "children": []})
    else:
        siblings, index = _place(specs, node_id)
        spec = siblings[index]
        node = next(r for r in rows if r.id == spec["id"])
        if action == "rename":
            node.label, node.code = label, code  # the same node: its calls keep it
            spec.update(label=label, code=code)
        elif action == "move":
            if parent_id == node.id or _located(spec["children"], parent_id or 0) is not None:
                raise RecordRefusedError({"": [Reason(NOT_BELOW_ITSELF)]})
            target = _below(specs, parent_id)
            del siblings[index]
            node.parent_id = parent_id  # the same node: its calls keep it
            target.append(spec)
        elif action in ("up", "down"):
            other = index - 1 if action == "up" else index + 1
            if not 0 <= other < len(siblings):
                first = action == "up"
                raise RecordRefusedError({"": [Reason(FIRST_ALREADY if first else LAST_ALREADY)]})
            siblings[index], siblings[other] = siblings[other], siblings[index]
        elif action == "retire":
            del siblings[index]
    session.flush()
    tree = yaml.safe_dump(
        {direction.value: _without_ids(specs)}, allow_unicode=True, sort_keys=False
    )
    entered = {"code": queue_code, "name": str((before or {}).get("name", "")), "reasons": tree}
    try:
        load_nodes(session, page_record("queues", entered), "page")
    except CatalogError as error:
        raise RecordRefusedError(problems_by_key(error, key_lines("queues"))) from None
    outcome = "saved"
    if action == "retire":
        outcome = "retired" if session.get(ReasonNode, node_id) is not None else "deleted"
    after = find_record(session, "queues", queue_code)
    section = BY_NAME["queues"]
    _audit(
        session,
        actor_id,
        now,
        "admin.queues.reasons",
        audit_target(section, queue_code),
        before,
        after,
    )
    return outcome


# --------------------------------------------------------------------------- prompts


@dataclass(frozen=True)
class PromptUse:
    """A prompt callers may hear (R-6.4): who names it, and the words the catalog gives it."""

    name: str
    used_by: tuple[str, ...]  # "queues:HELP hours_prompt", ...
    texts: Mapping[str, str]  # language -> the catalog's words
    product: bool  # one of Hotline's own (its words: the translations')


def prompt_uses(session: Session) -> tuple[PromptUse, ...]:
    """Every prompt by name: Hotline's own, each one a queue, a menu or a box names, each
    one the catalog gives words; with what names it."""
    named: dict[str, list[str]] = {}
    sources = (
        ("queues", Queue.code, Queue.hours_prompt, "hours_prompt"),
        ("ivr_menus", IvrMenu.code, IvrMenu.prompt, "prompt"),
        ("ivr_menus", IvrMenu.code, IvrMenu.invalid_prompt, "invalid_prompt"),
        ("voicemail_boxes", VoicemailBox.code, VoicemailBox.greeting_prompt, "greeting_prompt"),
    )
    for section, key, column, slot in sources:
        for code, name in session.execute(select(key, column).order_by(key)):
            if name:
                named.setdefault(name, []).append(f"{section}:{code} {slot}")
    texts: dict[str, dict[str, str]] = {}
    for row in session.scalars(select(PromptText)):
        texts.setdefault(row.name, {})[row.language] = row.text
    names = sorted(set(PRODUCT_PROMPTS) | set(named) | set(texts))
    return tuple(
        PromptUse(n, tuple(named.get(n, ())), texts.get(n, {}), n in PRODUCT_PROMPTS)
        for n in names
        if is_prompt_name(n)
    )


def seen_by(use: PromptUse, visible: Mapping[str, frozenset[str]]) -> PromptUse:
    """``use`` as a supervisor who sees ``visible`` (:func:`visible_keys`) reads it: named
    by his queues, menus and boxes only."""
    kept = []
    for user in use.used_by:
        section, _, rest = user.partition(":")
        key = rest.rsplit(" ", 1)[0]
        if section not in visible or key in visible[section]:
            kept.append(user)
    return dataclasses.replace(use, used_by=tuple(kept))


def audit_prompt_recording(
    session: Session, actor_id: int, name: str, language: str, size: int, now: datetime
) -> None:
    """The audit entry of a prompt recorded by an admin (the file replaced)."""
    session.add(
        AuditLog(
            at=now,
            actor_id=actor_id,
            action="admin.prompts.record",
            target=f"prompts:{name}"[:200],
            detail=json.dumps({"language": language, "bytes": size}),
        )
    )
