"""Export: the database as the catalog's data, natural keys instead of ids, in a stable
order, and the YAML dumper that writes it (block style, short records on one line).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.catalog.fields import (
    AGENT_FIELDS,
    BOX_FIELDS,
    CLOSED_RULE_FIELDS,
    CONTACT_FIELDS,
    CUSTOMER_FIELDS,
    DEPARTMENT_FIELDS,
    DID_FIELDS,
    HOLIDAY_FIELDS,
    HOURS_FIELDS,
    KINDS,
    LOCATION_FIELDS,
    MEMBER_FIELDS,
    MENU_FIELDS,
    ONE_OFF_KEYS,
    OPTION_FIELDS,
    PAUSE_TYPE_FIELDS,
    QUEUE_FIELDS,
    REPORT_FIELDS,
    SEAT_FIELDS,
    TURN_DAY_FIELDS,
    Field,
    stored_schedule_key,
)
from db.catalog.keys import KEY_COLUMNS
from db.catalog.problems import CatalogError
from db.catalog.values import TAG
from db.models import (
    Agent,
    BoxRight,
    BusinessHours,
    ClosedRule,
    ContactPerson,
    Customer,
    CustomerPhone,
    Department,
    Did,
    Holiday,
    IvrMenu,
    IvrOption,
    Location,
    PauseType,
    PhoneSeat,
    PromptText,
    Queue,
    QueueLocation,
    QueueRight,
    ReasonNode,
    ReportSchedule,
    SeatRight,
    Setting,
    SupervisorDepartment,
    SupportTurnDay,
    SupportTurnMember,
    VoicemailBox,
)
from domain.enums import ReasonDirection, ReportPeriod
from domain.prompts import PROMPT_LANGUAGES


class _FlowMap(dict):  # type: ignore[type-arg]
    """A mapping exported on one line: ``{weekday: mon, opens: '08:00', closes: '17:00'}``."""


class _FlowList(list):  # type: ignore[type-arg]
    """A list exported on one line: ``[BRNO, OSTRAVA]``."""


class Dumper(yaml.SafeDumper):
    """Block style with list items indented under their key; short records on one line."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)


Dumper.add_representer(
    _FlowMap, lambda d, v: d.represent_mapping(TAG + "map", list(v.items()), flow_style=True)
)
Dumper.add_representer(
    _FlowList, lambda d, v: d.represent_sequence(TAG + "seq", list(v), flow_style=True)
)


def _by(*attrs: str) -> Callable[[Any], tuple[Any, ...]]:
    # Sorted in Python, not by ORDER BY: SQLite and PostgreSQL collate text differently, and
    # the same data must export to the same text on both.
    def key(obj: Any) -> tuple[Any, ...]:
        return tuple(getattr(obj, a) for a in attrs)

    return key


class Exporter:
    """The database as the document's data, section by section, children inside their record."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.names: dict[str, dict[int, Any]] = {}
        for kind, (model, attr) in KEY_COLUMNS.items():
            query = select(model.id, getattr(model, attr))
            self.names[kind] = dict(self.session.execute(query).all())

    def _fields(self, obj: Any, fields: Sequence[Field], *, child: bool = False) -> dict:
        """A record's keys in the format's order; a child row leaves out default values."""
        out: dict[str, Any] = {}
        for f in fields:
            value = getattr(obj, f.attr)
            if f.ref is not None:
                value = None if value is None else self.names[f.ref][value]
            elif value is not None:
                value = f.write(value)
            if child and f.omit is not ... and value == f.omit:
                continue
            out[f.key] = value
        return out

    def _all(self, model: type[Any], key: Callable[[Any], Any]) -> list[Any]:
        return sorted(self.session.scalars(select(model)), key=key)

    def _grouped(
        self,
        model: type[Any],
        column: str,
        key: Callable[[Any], Any],
        only: Sequence[int] | None = None,
    ) -> dict[int, list[Any]]:
        groups: dict[int, list[Any]] = defaultdict(list)
        query = select(model)
        if only is not None:
            query = query.where(getattr(model, column).in_(only))
        for obj in sorted(self.session.scalars(query), key=key):
            groups[getattr(obj, column)].append(obj)
        return groups

    def _link_names(self, model: type[Any], owner: str, target: str, kind: str) -> dict:
        groups: dict[int, list[Any]] = defaultdict(list)
        query = select(getattr(model, owner), getattr(model, target))
        for owner_id, target_id in self.session.execute(query):
            groups[owner_id].append(self.names[kind][target_id])
        return {k: _FlowList(sorted(v)) for k, v in groups.items()}

    def export(self) -> dict[str, Any]:
        return {kind: self.section(kind) for kind in KINDS}

    def section(self, kind: str) -> Any:
        """One section of the document (``queues``: every queue), as :meth:`export` has it."""
        flow = self._flow
        if kind == "settings":
            return {s.key: s.value for s in self._all(Setting, _by("key"))}
        if kind == "departments":
            return flow(Department, DEPARTMENT_FIELDS, _by("name"))
        if kind == "locations":
            return [self._fields(x, LOCATION_FIELDS) for x in self._all(Location, _by("code"))]
        if kind == "pause_types":
            return flow(PauseType, PAUSE_TYPE_FIELDS, _by("position"))
        if kind == "voicemail_boxes":
            return [self._fields(b, BOX_FIELDS) for b in self._all(VoicemailBox, _by("code"))]
        if kind == "phone_seats":
            return flow(PhoneSeat, SEAT_FIELDS, _by("name"))
        if kind == "agents":
            return self._agents()
        if kind == "queues":
            return self._queues()
        if kind == "holidays":
            return [
                _FlowMap(self._fields(h, HOLIDAY_FIELDS))
                for h in self._all(Holiday, _by("day", "name", "id"))
                if h.queue_id is None
            ]
        if kind == "ivr_menus":
            return self._menus()
        if kind == "dids":
            return flow(Did, DID_FIELDS, _by("number"))
        if kind == "prompts":
            return self._prompts()
        if kind == "report_schedules":
            return self._reports()
        if kind == "customers":
            return self._customers()
        raise KeyError(kind)

    def _reports(self) -> list[_FlowMap]:
        """Every schedule with its owner, queue, time and language; a one-off's days too,
        the others' none (their first day is the scheduler's)."""
        logins, codes = self.names["agent"], self.names["queue"]

        def key(schedule: ReportSchedule) -> tuple[Any, ...]:
            return tuple(
                "" if v is None else str(v) for v in stored_schedule_key(schedule, logins, codes)
            )

        schedules = sorted(self.session.scalars(select(ReportSchedule)), key=key)
        return [self.report_record(schedule) for schedule in schedules]

    def report_record(self, schedule: ReportSchedule) -> _FlowMap:
        """One schedule as its record."""
        fields = self._fields(schedule, REPORT_FIELDS)
        if schedule.period is not ReportPeriod.ONCE:
            for name in ONE_OFF_KEYS:
                del fields[name]
        return _FlowMap(fields)

    def _flow(
        self, model: type[Any], fields: Sequence[Field], key: Callable[[Any], Any]
    ) -> list[_FlowMap]:
        return [_FlowMap(self._fields(obj, fields)) for obj in self._all(model, key)]

    def _agents(self) -> list[dict[str, Any]]:
        seats = self._link_names(SeatRight, "agent_id", "seat_id", "seat")
        boxes = self._link_names(BoxRight, "agent_id", "box_id", "box")
        supervises = self._link_names(
            SupervisorDepartment, "agent_id", "department_id", "department"
        )
        out = []
        for agent in self._all(Agent, _by("login")):
            record = self._fields(agent, AGENT_FIELDS)
            record["password_hash"] = agent.password_hash  # never a plain password
            record["seats"] = seats.get(agent.id, _FlowList())
            record["boxes"] = boxes.get(agent.id, _FlowList())
            record["supervises"] = supervises.get(agent.id, _FlowList())
            out.append(record)
        return out

    def _queues(self) -> list[dict[str, Any]]:
        locations = self._link_names(QueueLocation, "queue_id", "location_id", "location")
        agents = self._link_names(QueueRight, "queue_id", "agent_id", "agent")
        hours = self._grouped(BusinessHours, "queue_id", _by("weekday", "opens", "closes", "id"))
        closed = self._grouped(
            ClosedRule,
            "queue_id",
            lambda r: (r.weekday is not None, r.weekday or 0, r.starts, r.ends, r.action, r.id),
        )
        holidays = self._grouped(Holiday, "queue_id", _by("day", "id"))
        days = self._grouped(SupportTurnDay, "queue_id", _by("weekday", "id"))
        agent_names = self.names["agent"]
        members = self._grouped(
            SupportTurnMember,
            "day_id",
            lambda m: (-m.priority, agent_names.get(m.agent_id, ""), m.external_number, m.id),
        )
        nodes = self._grouped(ReasonNode, "queue_id", _by("position", "id"))
        out = []
        for queue in self._all(Queue, _by("code")):
            record = self._fields(queue, QUEUE_FIELDS)
            record["locations"] = locations.get(queue.id, _FlowList())
            record["agents"] = agents.get(queue.id, _FlowList())
            record["hours"] = self._children(hours.get(queue.id, []), HOURS_FIELDS)
            record["closed_rules"] = self._children(closed.get(queue.id, []), CLOSED_RULE_FIELDS)
            record["holidays"] = self._children(holidays.get(queue.id, []), HOLIDAY_FIELDS)
            record["reasons"] = self._reasons(nodes.get(queue.id, []))
            record["support_turns"] = [
                {
                    **self._fields(day, TURN_DAY_FIELDS, child=True),
                    "members": self._children(members.get(day.id, []), MEMBER_FIELDS),
                }
                for day in days.get(queue.id, [])
            ]
            out.append(record)
        return out

    def _children(self, rows: Iterable[Any], fields: Sequence[Field]) -> list[_FlowMap]:
        return [_FlowMap(self._fields(row, fields, child=True)) for row in rows]

    def _reasons(self, nodes: list[ReasonNode]) -> dict[str, Any]:
        children: dict[tuple[ReasonDirection, int | None], list[ReasonNode]] = defaultdict(list)
        for node in nodes:  # ordered by position, id already
            children[(node.direction, node.parent_id)].append(node)

        def tree(direction: ReasonDirection, parent_id: int | None) -> list[Any]:
            out: list[Any] = []
            for node in children.get((direction, parent_id), []):
                if node.retired:  # kept for the calls that chose it, not in the tree
                    continue
                below = tree(direction, node.id)
                record: dict[str, Any] = {"label": node.label}
                if node.code:
                    record["code"] = node.code
                if below:
                    record["children"] = below
                out.append(record if below else _FlowMap(record))
            return out

        return {d.value: tree(d, None) for d in ReasonDirection}

    def _menus(self) -> list[dict[str, Any]]:
        options = self._grouped(IvrOption, "menu_id", _by("digit"))
        out = []
        for menu in self._all(IvrMenu, _by("code")):
            record = self._fields(menu, MENU_FIELDS)
            record["options"] = self._children(options.get(menu.id, []), OPTION_FIELDS)
            out.append(record)
        return out

    def _prompts(self) -> list[dict[str, Any]]:
        """Each prompt with the languages it has words in, in PROMPT_LANGUAGES' order."""
        texts: dict[str, dict[str, str]] = defaultdict(dict)
        for row in self._all(PromptText, _by("name", "language")):
            texts[row.name][row.language] = row.text
        order = {language: i for i, language in enumerate(PROMPT_LANGUAGES)}
        return [
            {"name": name, **dict(sorted(by_language.items(), key=lambda t: order.get(t[0], 99)))}
            for name, by_language in sorted(texts.items())
        ]

    def customers(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        """The customers with these ids, as the ``customers`` section has them."""
        return self._customers(list(ids))

    def _customers(self, only: Sequence[int] | None = None) -> list[dict[str, Any]]:
        if only is None:
            customers = self._all(Customer, _by("contract_number", "id"))
        else:  # a page of customers (the administration pages, tens of thousands in all)
            query = select(Customer).where(Customer.id.in_(only))
            customers = sorted(self.session.scalars(query), key=_by("contract_number", "id"))
        first: dict[str, int] = {}
        for customer in customers:
            number = customer.contract_number
            if not number.strip():
                raise CatalogError(
                    "<database>",
                    0,
                    f"customer #{customer.id} {customer.name!r} has no contract number, "
                    "the customer's key in the catalog; give it one first",
                )
            if number in first:
                raise CatalogError(
                    "<database>",
                    0,
                    f"customers #{first[number]} and #{customer.id} share the contract number "
                    f"{number!r}, the customer's key in the catalog; make them unique first",
                )
            first[number] = customer.id
        phones = self._grouped(CustomerPhone, "customer_id", _by("position", "id"), only)
        contacts = self._grouped(ContactPerson, "customer_id", _by("position", "id"), only)
        out = []
        for customer in customers:
            record = self._fields(customer, CUSTOMER_FIELDS)
            record["phones"] = _FlowList(p.number for p in phones.get(customer.id, []))
            record["contacts"] = self._children(contacts.get(customer.id, []), CONTACT_FIELDS)
            out.append(record)
        return out
