"""Step 3 of a load: upsert a checked :class:`Catalog` by natural key, in dependency order,
and count what changed into a :class:`LoadSummary`. Nothing here refuses a file any more.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from db.catalog.fields import KINDS, stored_schedule_key
from db.catalog.keys import KEY_COLUMNS, Ref, chunks
from db.catalog.reader import (
    Catalog,
    Item,
    ReasonSpec,
    Row,
    TurnDaySpec,
)
from db.models import (
    RETIRED_POSITION,
    Agent,
    BoxRight,
    BusinessHours,
    Call,
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
from db.passwords import hash_password, verify_password
from domain.enums import ReasonDirection


@dataclass(frozen=True)
class LoadSummary:
    """What a load did, per section (and ``reason_nodes``): records created, updated, removed.

    "Updated" counts records the file named that differed from the database in a column or a
    list of children; a record loaded unchanged counts nowhere.
    """

    created: Mapping[str, int] = field(default_factory=dict)
    updated: Mapping[str, int] = field(default_factory=dict)
    removed: Mapping[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        def part(label: str, counts: Mapping[str, int]) -> str:
            items = [f"{kind.replace('_', ' ')} {n}" for kind, n in counts.items() if n]
            return f"{label}: " + (", ".join(items) if items else "nothing")

        text = f"{part('created', self.created)}; {part('updated', self.updated)}"
        if any(self.removed.values()):
            text += f"; {part('removed', self.removed)}"
        return text


class Counts:
    """Records created and changed per section, by natural key (a record counts once)."""

    def __init__(self) -> None:
        self.created: dict[str, set[Any]] = defaultdict(set)
        self.changed: dict[str, set[Any]] = defaultdict(set)
        self.removed: dict[str, int] = defaultdict(int)

    def create(self, section: str, key: Any) -> None:
        self.created[section].add(key)

    def change(self, section: str, key: Any, changed: bool = True) -> None:
        if changed and key not in self.created[section]:
            self.changed[section].add(key)

    def summary(self) -> LoadSummary:
        kinds = (*KINDS, "reason_nodes")
        return LoadSummary(
            {k: len(self.created[k]) for k in kinds},
            {k: len(self.changed[k]) for k in kinds},
            {k: self.removed[k] for k in kinds},
        )


class _Ids:
    """Natural key -> id per kind, read from the database once and kept up to date."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.maps: dict[str, dict[Any, int]] = {}

    def _map(self, kind: str) -> dict[Any, int]:
        if kind not in self.maps:
            model, attr = KEY_COLUMNS[kind]
            rows = self.session.execute(select(getattr(model, attr), model.id)).all()
            self.maps[kind] = dict(rows)
        return self.maps[kind]

    def get(self, ref: Ref | None) -> int | None:
        return None if ref is None else self._map(ref.kind)[ref.key]

    def put(self, kind: str, key: Any, id_: int) -> None:
        self._map(kind)[key] = id_


def _assign(obj: Any, values: Mapping[str, Any]) -> bool:
    """Set the attributes that differ; True when any did."""
    changed = False
    for attr, value in values.items():
        if getattr(obj, attr) != value:
            setattr(obj, attr, value)
            changed = True
    return changed


@dataclass
class _Upserted:
    item: Item
    obj: Any
    created: bool
    values: dict[str, Any]


class Writer:
    """Step 3: upsert in dependency order. Nothing here refuses a file any more."""

    def __init__(self, session: Session, catalog: Catalog, counts: Counts) -> None:
        self.session = session
        self.catalog = catalog
        self.counts = counts
        self.ids = _Ids(session)

    def write(self) -> None:
        c = self.catalog
        self._settings()
        self._upsert("departments", "department", Department, "name", c.departments)
        # Locations first without their operator: the operator is one of their customers.
        self._upsert(
            "locations", "location", Location, "code", c.locations, later=("operator_customer_id",)
        )
        self._customers()
        self._operators()
        self._pause_types()
        self._upsert("voicemail_boxes", "box", VoicemailBox, "code", c.boxes)
        self._upsert("phone_seats", "seat", PhoneSeat, "name", c.seats)
        self._agents()
        self._queues()
        self._holidays()
        self._menus()
        self._upsert("dids", "", Did, "number", c.dids)
        self._prompts()
        self._reports()

    # ---- generic upsert

    def _existing(
        self, model: type[Any], attr: str, keys: Sequence[Any], *options: Any
    ) -> dict[Any, Any]:
        found: dict[Any, Any] = {}
        column = getattr(model, attr)
        for chunk in chunks(list(keys)):
            query = select(model).where(column.in_(chunk)).order_by(model.id).options(*options)
            for obj in self.session.scalars(query):
                found.setdefault(getattr(obj, attr), obj)
        return found

    def _upsert(
        self,
        section: str,
        kind: str,
        model: type[Any],
        key_attr: str,
        items: Sequence[Item],
        *,
        later: Sequence[str] = (),
        options: Sequence[Any] = (),
        collections: Sequence[str] = (),
    ) -> list[_Upserted]:
        """Create or update ``items`` by ``key_attr``; references in ``later`` wait.

        ``collections`` (relationships of ``model``) start empty on a new object, so that
        filling them after the flush does not first load them from the database.
        """
        existing = self._existing(model, key_attr, [i.key for i in items], *options)
        done: list[_Upserted] = []
        for item in items:
            values = dict(item.values)
            values.update(
                (attr, self.ids.get(ref)) for attr, ref in item.refs.items() if attr not in later
            )
            obj = existing.get(item.key)
            if obj is None:
                obj = model(**values, **{name: [] for name in collections})
                self.session.add(obj)
                self.counts.create(section, item.key)
                done.append(_Upserted(item, obj, True, values))
            else:
                self.counts.change(section, item.key, _assign(obj, values))
                done.append(_Upserted(item, obj, False, values))
        self.session.flush()
        for entry in done:
            if entry.created:
                # The ORM inserts a column's default for an explicit None (a queue's
                # callback_offer_after_s: null would become 60): put the nulls back.
                _assign(entry.obj, {a: v for a, v in entry.values.items() if v is None})
        if kind:
            for entry in done:
                self.ids.put(kind, entry.item.key, entry.obj.id)
        return done

    def _links(
        self, model: type[Any], owner: str, owner_id: int, target: str, targets: Iterable[Any]
    ) -> bool:
        """Make the association rows of ``owner_id`` exactly ``targets``; True if they changed."""
        owner_col, target_col = getattr(model, owner), getattr(model, target)
        current = set(self.session.scalars(select(target_col).where(owner_col == owner_id)))
        wanted = set(targets)
        if current == wanted:
            return False
        gone = current - wanted
        if gone:
            self.session.execute(
                delete(model).where(owner_col == owner_id, target_col.in_(sorted(gone)))
            )
        for target_id in sorted(wanted - current):
            self.session.add(model(**{owner: owner_id, target: target_id}))
        return True

    # ---- settings, pause types, global holidays, report schedules

    def _settings(self) -> None:
        for key, (value, _) in sorted(self.catalog.settings.items()):
            stored = self.session.get(Setting, key)
            if stored is None:
                self.session.add(Setting(key=key, value=value))
                self.counts.create("settings", key)
            else:
                self.counts.change("settings", key, _assign(stored, {"value": value}))

    def _pause_types(self) -> None:
        items = self.catalog.pause_types
        existing = self._existing(PauseType, "position", [i.key for i in items])
        # Names are unique: park the names that change first, so two types can swap names.
        parked = [
            existing[i.key]
            for i in items
            if i.key in existing and existing[i.key].name != i.values["name"]
        ]
        for pause_type in parked:
            pause_type.name = f"~renaming {pause_type.id}~"
        if parked:
            self.session.flush()
        self._upsert("pause_types", "pause_type", PauseType, "position", items)

    def _holidays(self) -> None:
        query = select(Holiday).where(Holiday.queue_id.is_(None)).order_by(Holiday.id)
        stored: dict[date, Holiday] = {}
        for holiday in self.session.scalars(query):
            stored.setdefault(holiday.day, holiday)
        for item in self.catalog.holidays:
            found = stored.get(item.key)
            if found is None:
                self.session.add(Holiday(queue_id=None, **item.values))
                self.counts.create("holidays", item.key)
            else:
                self.counts.change("holidays", item.key, _assign(found, item.values))

    def _prompts(self) -> None:
        """A language the file gives replaces that text; one it leaves out stays (R-6.4)."""
        for spec in self.catalog.prompts:
            stored = {
                p.language: p
                for p in self.session.scalars(select(PromptText).where(PromptText.name == spec.key))
            }
            changed = False
            for language, text in spec.texts.items():
                if language in stored:
                    changed |= _assign(stored[language], {"text": text})
                else:
                    self.session.add(PromptText(name=spec.key, language=language, text=text))
                    changed = True
            if not stored:
                self.counts.create("prompts", spec.key)
            self.counts.change("prompts", spec.key, changed)

    def _reports(self) -> None:
        """A schedule is all its keys: one not stored yet is added, none is changed."""
        logins = dict(self.session.execute(select(Agent.id, Agent.login)).all())  # type: ignore[arg-type]
        codes = dict(self.session.execute(select(Queue.id, Queue.code)).all())  # type: ignore[arg-type]
        stored = {
            stored_schedule_key(r, logins, codes)
            for r in self.session.scalars(select(ReportSchedule))
        }
        for item in self.catalog.reports:
            if item.key not in stored:
                values = dict(item.values)
                values.update((attr, self.ids.get(ref)) for attr, ref in item.refs.items())
                self.session.add(ReportSchedule(**values))
                stored.add(item.key)
                self.counts.create("report_schedules", item.key)

    # ---- customers and location operators

    def _customers(self) -> None:
        specs = self.catalog.customers
        done = self._upsert(
            "customers",
            "customer",
            Customer,
            "contract_number",
            [s.item for s in specs],
            options=(selectinload(Customer.phones), selectinload(Customer.contacts)),
            collections=("phones", "contacts"),
        )
        for spec, entry in zip(specs, done, strict=True):
            changed = False
            if spec.phones is not None:
                changed |= self._phones(entry.obj, spec.phones)
            if spec.contacts is not None:
                changed |= self._contacts(entry.obj, spec.contacts)
            self.counts.change("customers", entry.item.key, changed)
        self.session.flush()

    def _phones(self, customer: Customer, phones: list[tuple[str, str]]) -> bool:
        if [(p.number, p.digits) for p in customer.phones] == phones:
            return False
        if customer.phones:
            customer.phones.clear()
            self.session.flush()  # (customer, position) is unique: the old rows go first
        customer.phones.extend(
            CustomerPhone(position=i, number=number, digits=digits)
            for i, (number, digits) in enumerate(phones, start=1)
        )
        return True

    def _contacts(self, customer: Customer, rows: list[Row]) -> bool:
        """Match contact persons by name: one a call refers to keeps its id (R-2.6)."""
        by_name: dict[str, ContactPerson] = {}
        for stored in customer.contacts:
            by_name.setdefault(stored.name, stored)
        changed = False
        matched: list[ContactPerson] = []
        for position, row in enumerate(rows, start=1):
            values = {**row.values, "position": position}
            contact = by_name.get(values["name"])
            if contact is None:
                customer.contacts.append(ContactPerson(**values))
                changed = True
            else:
                changed |= _assign(contact, values)
                matched.append(contact)
        absent = [
            c for c in customer.contacts if c.id is not None and all(c is not m for m in matched)
        ]
        if absent:
            referenced = set(
                self.session.scalars(
                    select(Call.contact_person_id).where(
                        Call.contact_person_id.in_([c.id for c in absent])
                    )
                )
            )
            for contact in absent:
                # A contact person that calls refer to stays (calls are history).
                if contact.id not in referenced:
                    customer.contacts.remove(contact)
                    changed = True
        return changed

    def _operators(self) -> None:
        for item in self.catalog.locations:
            if "operator_customer_id" not in item.refs:
                continue
            location = self.session.get(Location, self.ids.get(Ref("location", item.key, 0)))
            assert location is not None
            changed = _assign(
                location, {"operator_customer_id": self.ids.get(item.refs["operator_customer_id"])}
            )
            self.counts.change("locations", item.key, changed)
        self.session.flush()

    # ---- agents

    def _agents(self) -> None:
        specs = self.catalog.agents
        existing = self._existing(Agent, "login", [s.item.key for s in specs])
        for spec in specs:
            # Set before the insert (password_hash is NOT NULL); a plain password that still
            # matches the stored hash keeps it, so reloading the same file changes nothing.
            agent = existing.get(spec.item.key)
            if spec.password_hash is not None:
                spec.item.values["password_hash"] = spec.password_hash
            elif spec.password is not None:
                if agent is not None and verify_password(spec.password, agent.password_hash):
                    spec.item.values["password_hash"] = agent.password_hash
                else:
                    spec.item.values["password_hash"] = hash_password(spec.password)
        done = self._upsert("agents", "agent", Agent, "login", [s.item for s in specs])
        for spec, entry in zip(specs, done, strict=True):
            links: list[tuple[type[Any], str, list[Ref] | None]] = [
                (SeatRight, "seat_id", spec.seats),
                (BoxRight, "box_id", spec.boxes),
                (SupervisorDepartment, "department_id", spec.supervises),
            ]
            changed = False
            for model, target, refs in links:
                if refs is not None:
                    targets = [self.ids.get(r) for r in refs]
                    changed |= self._links(model, "agent_id", entry.obj.id, target, targets)
            self.counts.change("agents", entry.item.key, changed)
        self.session.flush()

    # ---- queues

    def _queues(self) -> None:
        specs = self.catalog.queues
        done = self._upsert("queues", "queue", Queue, "code", [s.item for s in specs])
        for spec, entry in zip(specs, done, strict=True):
            queue_id = entry.obj.id
            changed = False
            if spec.locations is not None:
                targets = [self.ids.get(r) for r in spec.locations]
                changed |= self._links(QueueLocation, "queue_id", queue_id, "location_id", targets)
            if spec.agents is not None:  # member agents = queue rights
                targets = [self.ids.get(r) for r in spec.agents]
                changed |= self._links(QueueRight, "queue_id", queue_id, "agent_id", targets)
            if spec.hours is not None:
                changed |= self._replace_rows(
                    BusinessHours, queue_id, spec.hours, ("weekday", "opens", "closes")
                )
            if spec.closed_rules is not None:
                changed |= self._replace_rows(
                    ClosedRule, queue_id, spec.closed_rules, ("weekday", "starts", "ends", "action")
                )
            if spec.holidays is not None:
                changed |= self._replace_rows(Holiday, queue_id, spec.holidays, ("day", "name"))
            if spec.support_turns is not None:
                changed |= self._support_turns(queue_id, spec.support_turns)
            for direction, tree in spec.reasons.items():
                changed |= self._reason_tree(queue_id, direction, tree)
            self.counts.change("queues", entry.item.key, changed)
        self.session.flush()

    def _replace_rows(
        self, model: type[Any], queue_id: int, rows: list[Row], attrs: Sequence[str]
    ) -> bool:
        """Replace a queue's rows of ``model`` by ``rows`` unless they are the same already."""

        def order(values: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple((v is not None, v) for v in values)

        stored = list(self.session.scalars(select(model).where(model.queue_id == queue_id)))
        current = sorted((tuple(getattr(o, a) for a in attrs) for o in stored), key=order)
        wanted = sorted((tuple(r.values.get(a) for a in attrs) for r in rows), key=order)
        if current == wanted:
            return False
        for obj in stored:
            self.session.delete(obj)
        self.session.flush()  # unique (queue, day) and the like: the old rows go first
        for row in rows:
            self.session.add(model(queue_id=queue_id, **row.values))
        return True

    def _support_turns(self, queue_id: int, days: list[TurnDaySpec]) -> bool:
        def members_of(rows: list[Row]) -> list[tuple[int, str, int]]:
            return [
                (
                    self.ids.get(m.refs.get("agent_id")) or 0,
                    m.values.get("external_number", ""),
                    m.values.get("priority", 1),
                )
                for m in rows
            ]

        wanted = sorted(
            (
                d.row.values["weekday"],
                d.row.values["opens"],
                d.row.values["closes"],
                sorted(members_of(d.members)),
            )
            for d in days
        )
        stored = list(
            self.session.scalars(
                select(SupportTurnDay)
                .where(SupportTurnDay.queue_id == queue_id)
                .options(selectinload(SupportTurnDay.members))
            )
        )
        current = sorted(
            (
                d.weekday,
                d.opens,
                d.closes,
                sorted((m.agent_id or 0, m.external_number, m.priority) for m in d.members),
            )
            for d in stored
        )
        if current == wanted:
            return False
        for day in stored:
            self.session.delete(day)  # the ORM cascade takes the members along
        self.session.flush()
        for spec in days:
            day = SupportTurnDay(queue_id=queue_id, **spec.row.values)
            day.members = [
                SupportTurnMember(agent_id=agent_id or None, external_number=number, priority=p)
                for agent_id, number, p in members_of(spec.members)
            ]
            self.session.add(day)
        return True

    def _reason_tree(
        self, queue_id: int, direction: ReasonDirection, tree: list[ReasonSpec]
    ) -> bool:
        """Match nodes by (parent, label), i.e. by their path of labels (R-2.8).

        A matched node keeps its id, so calls that chose it stay valid. A stored node the
        file no longer has is removed, unless a call refers to it (or to a node below it):
        then it stays, because a call's reason is history, but retired (its position below
        zero): the call form offers it no more and an export leaves it out. A retired node
        the file names again comes back (a live node of that label is matched first).
        """
        stored = list(
            self.session.scalars(
                select(ReasonNode)
                .where(ReasonNode.queue_id == queue_id, ReasonNode.direction == direction)
                .order_by(ReasonNode.id)
            )
        )
        by_id = {n.id: n for n in stored}
        by_parent_label: dict[tuple[int | None, str], ReasonNode] = {}
        for node in sorted(stored, key=lambda n: (n.retired, n.id)):
            by_parent_label.setdefault((node.parent_id, node.label), node)
        changed = False
        seen: set[int] = set()

        def depth(node: ReasonNode) -> int:
            parent = by_id.get(node.parent_id) if node.parent_id is not None else None
            return 1 if parent is None else 1 + depth(parent)

        def visit(specs: list[ReasonSpec], parent_id: int | None, path: tuple[str, ...]) -> None:
            nonlocal changed
            for position, spec in enumerate(specs):
                key = (queue_id, direction.value, *path, spec.label)
                values = {"position": position, "code": spec.code}
                node = by_parent_label.get((parent_id, spec.label))
                if node is None:
                    node = ReasonNode(
                        queue_id=queue_id,
                        direction=direction,
                        parent_id=parent_id,
                        label=spec.label,
                        **values,
                    )
                    self.session.add(node)
                    self.session.flush()  # its children need its id
                    self.counts.create("reason_nodes", key)
                    changed = True
                elif _assign(node, values):
                    self.counts.change("reason_nodes", key)
                    changed = True
                seen.add(node.id)
                visit(spec.children, node.id, (*path, spec.label))

        visit(tree, None, ())
        absent = [n for n in stored if n.id not in seen]
        if not absent:
            return changed
        referenced = set(
            self.session.scalars(
                select(Call.reason_node_id).where(Call.reason_node_id.in_([n.id for n in absent]))
            )
        )
        keep: set[int] = set()
        for node_id in referenced:
            current = by_id.get(node_id) if node_id is not None else None
            while current is not None and current.id not in seen:
                keep.add(current.id)
                current = by_id.get(current.parent_id) if current.parent_id is not None else None
        for node in absent:
            if node.id in keep and not node.retired:
                node.position = RETIRED_POSITION
                self.counts.change("reason_nodes", ("retired", node.id))
                changed = True
        doomed = [n for n in absent if n.id not in keep]
        # Deepest first with a flush per level: the database cascades a parent's delete to
        # its children, and the ORM must never delete a row that is already gone.
        for level in sorted({depth(n) for n in doomed}, reverse=True):
            for node in doomed:
                if depth(node) == level:
                    self.session.delete(node)
            self.session.flush()
        self.counts.removed["reason_nodes"] += len(doomed)
        return changed or bool(doomed)

    # ---- IVR menus

    def _menus(self) -> None:
        specs = self.catalog.menus
        done = self._upsert(
            "ivr_menus",
            "menu",
            IvrMenu,
            "code",
            [s.item for s in specs],
            later=("default_menu_id",),  # menus refer to each other: all exist first
            options=(selectinload(IvrMenu.options),),
            collections=("options",),
        )
        for spec, entry in zip(specs, done, strict=True):
            menu, item = entry.obj, entry.item
            changed = False
            if "default_menu_id" in item.refs:
                default = self.ids.get(item.refs["default_menu_id"])
                changed |= _assign(menu, {"default_menu_id": default})
            if spec.options is not None:
                wanted = sorted(
                    (
                        r.values["digit"],
                        self.ids.get(r.refs.get("queue_id")),
                        self.ids.get(r.refs.get("submenu_id")),
                    )
                    for r in spec.options
                )
                current = sorted((o.digit, o.queue_id, o.submenu_id) for o in menu.options)
                if current != wanted:
                    if menu.options:
                        menu.options.clear()
                        self.session.flush()  # (menu, digit) is unique: the old rows go first
                    menu.options.extend(
                        IvrOption(digit=d, queue_id=q, submenu_id=s) for d, q, s in wanted
                    )
                    changed = True
            self.counts.change("ivr_menus", item.key, changed)
        self.session.flush()
