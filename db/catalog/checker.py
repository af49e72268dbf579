"""Step 2 of a load: every reference resolves, in the file or the database, and the
rules that need both hold (a location's operator, pause type names, box kinds, agents).

Problems go to the reader's list, so that they are raised with the reader's own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.catalog.keys import KEY_COLUMNS, KIND_NOUN, Ref, chunks
from db.catalog.problems import why
from db.catalog.reader import Catalog, Reader, Row
from db.models import Agent, Customer, Location, PauseType, Queue, QueueRight, VoicemailBox
from domain.enums import BoxKind, Role
from domain.report_schedules import NOT_THE_OWNERS_QUEUE, OWNER_MAY_NOT_READ, OWNER_ROLES
from domain.texts import N_


class Checker:
    """Step 2: every reference resolves (file or database), and rules needing both hold."""

    def __init__(self, session: Session, catalog: Catalog, reader: Reader) -> None:
        self.session = session
        self.catalog = catalog
        self.reader = reader
        self.known: dict[str, set[Any]] = {}

    def check(self) -> None:
        c = self.catalog
        file_keys: dict[str, Iterable[Any]] = {
            "location": (i.key for i in c.locations),
            "customer": (s.item.key for s in c.customers),
            "department": (i.key for i in c.departments),
            "pause_type": (i.key for i in c.pause_types),
            "box": (i.key for i in c.boxes),
            "seat": (i.key for i in c.seats),
            "agent": (s.item.key for s in c.agents),
            "queue": (s.item.key for s in c.queues),
            "menu": (s.item.key for s in c.menus),
        }
        for kind, keys in file_keys.items():
            model, attr = KEY_COLUMNS[kind]
            stored = self.session.scalars(select(getattr(model, attr))).all()
            self.known[kind] = set(stored) | set(keys)
        for ref in self._all_refs():
            if ref.key not in self.known[ref.kind]:
                self.reader.problem(
                    ref.line,
                    why(
                        N_("unknown %(noun)s %(value)r (neither in this file nor in the database)"),
                        noun=KIND_NOUN[ref.kind],
                        value=ref.key,
                    ),
                )
        self._customers()
        self._operators()
        self._pause_types()
        self._boxes()
        self._agents()
        self._report_schedules()

    def _all_refs(self) -> Iterable[Ref]:
        c = self.catalog
        rows: list[Row] = [*c.locations, *c.dids, *c.reports]
        rows += [s.item for s in c.agents]
        rows += [s.item for s in c.customers]
        for q in c.queues:
            rows.append(q.item)
            for turn in q.support_turns or ():
                rows += turn.members
        for m in c.menus:
            rows.append(m.item)
            rows += m.options or []
        for row in rows:
            yield from (ref for ref in row.refs.values() if ref is not None)
        for a in c.agents:
            yield from (*(a.seats or ()), *(a.boxes or ()), *(a.supervises or ()))
        for q in c.queues:
            yield from (*(q.locations or ()), *(q.agents or ()))

    def _customers(self) -> None:
        """A contract number is the customer's key: it must not be ambiguous in the database."""
        keys = [s.item.key for s in self.catalog.customers]
        counts: dict[str, int] = defaultdict(int)
        for chunk in chunks(keys):
            for number in self.session.scalars(
                select(Customer.contract_number).where(Customer.contract_number.in_(chunk))
            ):
                counts[number] += 1
        for spec in self.catalog.customers:
            if counts[spec.item.key] > 1:
                self.reader.problem(
                    spec.item.line,
                    why(
                        N_(
                            "contract number %(value)r matches %(count)s customers in the "
                            "database; it cannot be updated by contract number"
                        ),
                        value=spec.item.key,
                        count=counts[spec.item.key],
                    ),
                )

    def _operators(self) -> None:
        """A location's operator is one of that location's customers (R-2.7)."""
        in_file = {s.item.key: s.item.refs["location_id"] for s in self.catalog.customers}
        for location in self.catalog.locations:
            ref = location.refs.get("operator_customer_id")
            if ref is None:
                continue
            if ref.key in in_file:
                loc_ref = in_file[ref.key]
                owner = loc_ref.key if loc_ref is not None else None
            else:
                owner = self.session.scalar(
                    select(Location.code)
                    .join(Customer, Customer.location_id == Location.id)
                    .where(Customer.contract_number == ref.key)
                    .limit(1)
                )
            if owner is not None and owner != location.key:
                self.reader.problem(
                    ref.line,
                    why(
                        N_(
                            "operator %(value)r is a customer of location %(owner)r, "
                            "not of %(here)r"
                        ),
                        value=ref.key,
                        owner=owner,
                        here=location.key,
                    ),
                )

    def _pause_types(self) -> None:
        positions = {i.key for i in self.catalog.pause_types}
        stored = {
            p.name: p.position
            for p in self.session.scalars(select(PauseType))
            if p.position not in positions
        }
        for item in self.catalog.pause_types:
            other = stored.get(item.values["name"])
            if other is not None:
                self.reader.problem(
                    item.line,
                    why(
                        N_(
                            "pause type name %(value)r is already used by position "
                            "%(other)s in the database"
                        ),
                        value=item.values["name"],
                        other=other,
                    ),
                )

    def _boxes(self) -> None:
        kinds: dict[str, BoxKind] = {
            code: kind
            for code, kind in self.session.execute(select(VoicemailBox.code, VoicemailBox.kind))
        }
        for item in self.catalog.boxes:
            kinds[item.key] = item.values.get("kind", kinds.get(item.key, BoxKind.VOICEMAIL))
        wanted = {
            "voicemail_box_id": (BoxKind.VOICEMAIL, "voicemail"),
            "callback_box_id": (BoxKind.CALLBACK, "callback"),
        }
        for queue in self.catalog.queues:
            for attr, (needed, noun) in wanted.items():
                ref = queue.item.refs.get(attr)
                if ref is None:
                    continue
                kind = kinds.get(str(ref.key))
                if kind not in (None, needed, BoxKind.COMBINED):
                    self.reader.problem(
                        ref.line,
                        why(
                            N_(
                                "box %(value)r is a %(kind)s box; a queue's %(noun)s box must "
                                "be of kind %(noun)s or combined (R-1.7, R-1.8)"
                            ),
                            value=ref.key,
                            kind=str(kind),
                            noun=noun,
                        ),
                    )

    def _agents(self) -> None:
        logins = [a.item.key for a in self.catalog.agents]
        stored: dict[str, Role] = {}
        for chunk in chunks(logins):
            query = select(Agent.login, Agent.role).where(Agent.login.in_(chunk))
            stored.update(self.session.execute(query).all())
        for spec in self.catalog.agents:
            item = spec.item
            if item.key not in stored and spec.password is None and spec.password_hash is None:
                self.reader.problem(
                    item.line, why(N_("a new agent needs password or password_hash"))
                )
            role = item.values.get("role", stored.get(item.key, Role.AGENT))
            if spec.supervises and role not in (Role.SUPERVISOR, Role.ADMIN):
                self.reader.problem(
                    spec.supervises[0].line,
                    why(
                        N_(
                            "only a supervisor or an admin supervises departments; %(value)r "
                            "is %(role)r (R-4.6)"
                        ),
                        value=item.key,
                        role=role.value,
                    ),
                )

    def _report_schedules(self) -> None:
        """A schedule's owner may read reports, and its queue is one of the owner's (R-7.4):
        refused as /reports/schedules refuses them. The roles and the queue rights are the
        file's where it gives them (an agent's role, a queue's agents), else the database's."""
        schedules = [r for r in self.catalog.reports if r.refs.get("owner_id") is not None]
        if not schedules:
            return
        roles: dict[str, Role] = dict(
            self.session.execute(select(Agent.login, Agent.role)).all()  # type: ignore[arg-type]
        )
        for spec in self.catalog.agents:
            roles[spec.item.key] = spec.item.values.get(
                "role", roles.get(spec.item.key, Role.AGENT)
            )
        rights: set[tuple[str, str]] = set(
            self.session.execute(  # type: ignore[arg-type]
                select(Agent.login, Queue.code)
                .join(QueueRight, QueueRight.agent_id == Agent.id)
                .join(Queue, Queue.id == QueueRight.queue_id)
            ).all()
        )
        for q in self.catalog.queues:
            if q.agents is not None:  # the file gives this queue's rights whole
                rights = {(login, code) for login, code in rights if code != q.item.key}
                rights |= {(str(ref.key), q.item.key) for ref in q.agents}
        for item in schedules:
            owner = item.refs["owner_id"]
            assert owner is not None
            role = roles.get(str(owner.key))
            if role is None:
                continue  # unknown: said already
            if role not in OWNER_ROLES:
                self.reader.problem(owner.line, why(OWNER_MAY_NOT_READ))
                continue
            queue = item.refs.get("queue_id")
            if queue is not None and role is not Role.ADMIN:
                if (str(owner.key), str(queue.key)) not in rights:
                    self.reader.problem(queue.line, why(NOT_THE_OWNERS_QUEUE))
