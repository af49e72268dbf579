"""Simulated calls for `hotline demo` (R-6.3): callers, agent phones and desk robots in one
process.

The simulator's switch connects to the demo's own FastAGI port over real TCP, exactly as
Asterisk would. Most demo agents are played by a desk robot; the ones left for people (see
`HUMAN_DESKS`) have phones that "pick up" after a few seconds, so a person signed in as one
of them at the desktop gets calls with the Active call form. Callers reach every queue that
agents work, through the IVR menus (sub-menus too) or a queue's direct line, so every demo
login gets calls. They are a mix: most wait for an agent, some press # for voicemail or 0
for a callback (the second and third caller always do, so the back office fills within the
first minute), some give up; most call from numbers of demo customers so that caller
matching shows.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from twisted.internet.task import LoopingCall

from ami.client import AMIAccount
from db.models import (
    Agent,
    CustomerPhone,
    Did,
    IvrOption,
    PhoneSeat,
    Queue,
    QueueRight,
    SeatRight,
)
from db.runner import DBRunner
from simulator.desk_robot import DeskRobot, RobotDesk
from simulator.fake_ami import FakeAMIFactory
from simulator.scenario import build_switch
from simulator.switch import CallerScript, PhoneBehaviour, PhoneBook, Switch
from simulator.transcript import CallRecord

# Demo agents left for people to sign in as (password "demo").
HUMAN_DESKS = ("eva.novakova", "martin.kral")


@dataclass(frozen=True)
class Route:
    """How a caller reaches a queue: the number dialled and the menu keys pressed."""

    did: str
    keys: tuple[str, ...]  # empty for a queue's direct line
    queue_code: str


@dataclass(frozen=True)
class DemoQueue:
    """A queue callers are sent to; ``weight``: how many agents work it."""

    code: str
    weight: int
    voicemail: bool  # has a box for `#`
    callback: bool  # has a box for `0`


@dataclass(frozen=True)
class DemoCentre:
    """What the traffic needs to know about the demo data."""

    robot_logins: tuple[str, ...]
    human_seats: tuple[str, ...]  # dial strings
    robot_seats: tuple[str, ...]
    customer_numbers: tuple[str, ...]
    queues: tuple[DemoQueue, ...]  # every queue an agent works that a caller can reach
    routes: tuple[Route, ...]


def read_centre(session: Session) -> DemoCentre:
    agents = session.execute(select(Agent.id, Agent.login).where(Agent.role == "agent")).all()
    seat_of = {
        agent_id: dial
        for agent_id, dial in session.execute(
            select(SeatRight.agent_id, PhoneSeat.dial_string).join(
                PhoneSeat, PhoneSeat.id == SeatRight.seat_id
            )
        )
    }
    humans = [a for a in agents if a.login in HUMAN_DESKS]
    robots = [a for a in agents if a.login not in HUMAN_DESKS]
    numbers = session.scalars(select(CustomerPhone.number).order_by(CustomerPhone.id)).all()
    routes = _routes(session)
    reachable = {r.queue_code for r in routes}
    workers = Counter(
        session.scalars(
            select(Queue.code)
            .join(QueueRight, QueueRight.queue_id == Queue.id)
            .join(Agent, Agent.id == QueueRight.agent_id)
            .where(Agent.role == "agent", Agent.active.is_(True), Queue.active.is_(True))
        )
    )
    queues = tuple(
        DemoQueue(
            q.code, workers[q.code], q.voicemail_box_id is not None, q.callback_box_id is not None
        )
        for q in session.scalars(select(Queue).order_by(Queue.code))
        if workers[q.code] and q.code in reachable
    )
    return DemoCentre(
        robot_logins=tuple(a.login for a in robots),
        human_seats=tuple(seat_of[a.id] for a in humans if a.id in seat_of),
        robot_seats=tuple(seat_of[a.id] for a in robots if a.id in seat_of),
        customer_numbers=tuple(numbers),
        queues=queues,
        routes=routes,
    )


def _routes(session: Session) -> tuple[Route, ...]:
    """Every way into a queue: its direct lines, and for each menu line the shortest keys
    through the menu tree (sub-menus included) to each queue the tree offers (R-1.1)."""
    queue_code: dict[int, str] = {
        qid: code for qid, code in session.execute(select(Queue.id, Queue.code))
    }
    options: dict[int, list[tuple[str, int | None, int | None]]] = {}
    for menu_id, digit, queue_id, submenu_id in session.execute(
        select(
            IvrOption.menu_id, IvrOption.digit, IvrOption.queue_id, IvrOption.submenu_id
        ).order_by(IvrOption.menu_id, IvrOption.digit)
    ):
        options.setdefault(menu_id, []).append((digit, queue_id, submenu_id))
    routes: list[Route] = []
    for did in session.scalars(select(Did).order_by(Did.number)):
        if did.queue_id is not None:
            routes.append(Route(did.number, (), queue_code[did.queue_id]))
            continue
        # Breadth first, so each queue gets its shortest key sequence; menus seen once
        # (a "back to the main menu" option must not loop).
        found: dict[int, tuple[str, ...]] = {}
        seen = {did.ivr_menu_id}
        frontier: list[tuple[int, tuple[str, ...]]] = (
            [(did.ivr_menu_id, ())] if did.ivr_menu_id else []
        )
        while frontier:
            following: list[tuple[int, tuple[str, ...]]] = []
            for menu_id, keys in frontier:
                for digit, queue_id, submenu_id in options.get(menu_id, []):
                    if queue_id is not None:
                        found.setdefault(queue_id, (*keys, digit))
                    elif submenu_id is not None and submenu_id not in seen:
                        seen.add(submenu_id)
                        following.append((submenu_id, (*keys, digit)))
            frontier = following
        routes += [Route(did.number, keys, queue_code[q]) for q, keys in sorted(found.items())]
    return tuple(routes)


def phones_for(centre: DemoCentre) -> PhoneBook:
    phones = {dial: PhoneBehaviour(answer_after_s=4, talk_s=None) for dial in centre.human_seats}
    phones.update(
        {dial: PhoneBehaviour(answer_after_s=3, talk_s=None) for dial in centre.robot_seats}
    )
    # External numbers (support-turn operators) answer after a while.
    return PhoneBook(phones, default=PhoneBehaviour(answer_after_s=8, talk_s=60))


# The opening of the demo, so that the back office has something to show within the first
# minute whatever the seed (callers come every 15 s): the second caller leaves a message,
# the third asks for a callback.
_OPENING_KINDS = {2: "hash", 3: "zero"}


def next_caller(centre: DemoCentre, rng: random.Random, index: int) -> CallerScript:
    """One demo caller: who, on which line, which queue, and what they do."""
    known = centre.customer_numbers and rng.random() < 0.75
    number = rng.choice(centre.customer_numbers) if known else f"6{rng.randrange(10**7, 10**8)}"
    digits = "".join(ch for ch in number if ch.isdigit())[-9:]
    kind = (
        _OPENING_KINDS.get(index)
        or rng.choices(["wait", "hash", "zero", "give_up"], [0.6, 0.15, 0.15, 0.1])[0]
    )
    # A caller who wants a message or a callback goes to a queue with that box; the queues
    # are picked by how many agents work them, so every queue (Sales too, the only queue of
    # martin.kral) gets its calls.
    fits = [
        q
        for q in centre.queues
        if (kind != "hash" or q.voicemail) and (kind != "zero" or q.callback)
    ] or list(centre.queues)
    queue = rng.choices(fits, [q.weight for q in fits])[0]
    route = rng.choice([r for r in centre.routes if r.queue_code == queue.code])
    keys: list[tuple[float, str]] = []
    in_queue_at_s = 0.0  # about when the caller reaches the queue
    for key in route.keys:
        in_queue_at_s += rng.uniform(2, 4)  # a menu prompt heard, then a key
        keys.append((in_queue_at_s, key))
    script = CallerScript(
        did=route.did,
        caller_id_num=digits,
        caller_id_name=f"Demo caller {index}",
        talk_s=rng.uniform(25, 80),
        hangup_at_s=600,
    )
    # The desk robots answer within seconds, so a caller who wants the voicemail or a
    # callback decides at once, while the first agent's phone still rings:
    # that is what fills the back-office page in the demo.
    decide_at_s = in_queue_at_s + rng.uniform(0.5, 1.5)
    if kind == "hash":
        keys.append((decide_at_s, "#"))
        return _with(script, keys=tuple(keys), speech_s=rng.uniform(4, 12))
    if kind == "zero":
        keys.append((decide_at_s, "0"))
    elif kind == "give_up":
        return _with(script, keys=tuple(keys), hangup_at_s=rng.uniform(15, 50))
    return _with(script, keys=tuple(keys))


def _with(script: CallerScript, **changes: Any) -> CallerScript:
    return dataclasses.replace(script, **changes)


class DemoTraffic:
    """Runs the callers, phones and robots until stopped."""

    def __init__(
        self,
        reactor: Any,
        db: DBRunner,
        agi_host: str,
        agi_port: int,
        spool_dir: Path,
        *,
        every_s: float = 15.0,
        seed: int = 7,
        out: Callable[[str], None] = print,
        connector: Any = None,
        ami: AMIAccount | None = None,
    ) -> None:
        """``reactor`` is the clock; ``connector`` (default: the reactor) opens the TCP
        connections to Hotline and listens, e.g. an in-memory network in tests. With
        ``ami``, the simulated switch also serves a fake AMI there (on loopback), so that
        Hotline's transfers, outbound calls and call backs ring simulated phones too."""
        self._reactor = reactor
        self._connector = connector if connector is not None else reactor
        self._ami = ami
        self._ami_port: Any = None
        self._db = db
        self._server = f"{agi_host}:{agi_port}"
        self._spool_dir = spool_dir
        self._every_s = every_s
        self._rng = random.Random(seed)
        self._out = out
        self._count = 0
        self.switch: Switch | None = None
        self.robot: DeskRobot | None = None
        self._loop: LoopingCall | None = None

    async def start(self) -> DemoCentre:
        centre: DemoCentre = await self._db.run(read_centre)
        self.switch = build_switch(
            self._reactor, self._connector, servers=(self._server,), spool_dir=self._spool_dir
        )
        self.switch.phones = phones_for(centre)
        self.switch.on_call_end = self._ended
        if self._ami is not None:
            factory = FakeAMIFactory(
                self.switch, self._ami.username, self._ami.secret, clock=self._reactor
            )
            self.switch.emit = factory.emit
            self._ami_port = self._connector.listenTCP(
                self._ami.port, factory, interface=self._ami.host
            )
        self.robot = DeskRobot(
            self._db,
            self._reactor,
            [
                RobotDesk(login, after_call_s=self._rng.uniform(8, 20))
                for login in centre.robot_logins
            ],
        )
        await self.robot.start()
        self._loop = LoopingCall(self._place, centre)
        self._loop.clock = self._reactor
        self._loop.start(self._every_s, now=True)
        return centre

    def _place(self, centre: DemoCentre) -> None:
        assert self.switch is not None
        self._count += 1
        self.switch.place_call(next_caller(centre, self._rng, self._count))

    def _ended(self, record: CallRecord) -> None:
        self._out(f"demo call {record.label}: {record.outcome}")

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self.robot is not None:
            self.robot.stop()
        if self.switch is not None:
            self.switch.shutdown()
        if self._ami_port is not None:
            self._ami_port.stopListening()
            self._ami_port = None


def human_logins() -> Sequence[str]:
    return HUMAN_DESKS
