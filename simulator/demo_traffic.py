"""Simulated calls for `hotline demo`: callers, agent phones and desk robots in one process.

The simulator's switch connects to the demo's own FastAGI port over real TCP, exactly as
Asterisk would. Most demo agents are played by a desk robot; the ones left for people (see
`HUMAN_DESKS`) have phones that "pick up" after a few seconds, so a person signed in as one
of them at the desktop gets calls with the Active call form. Callers are a mix: most wait
for an agent, some press # for voicemail or 0 for a callback, some give up; most call from
numbers of demo customers so that caller matching shows.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from twisted.internet.task import LoopingCall

from db.models import Agent, CustomerPhone, Did, PhoneSeat, SeatRight
from db.runner import DBRunner
from simulator.desk_robot import DeskRobot, RobotDesk
from simulator.fake_ami import FakeAMIFactory
from simulator.scenario import build_switch
from simulator.switch import CallerScript, PhoneBehaviour, PhoneBook, Switch
from simulator.transcript import CallRecord

if TYPE_CHECKING:
    from hotline.config import AmiUrl  # the shape only: host, port, username, secret

# Demo agents left for people to sign in as (password "demo").
HUMAN_DESKS = ("eva.novakova", "martin.kral")


@dataclass(frozen=True)
class DemoCentre:
    """What the traffic needs to know about the demo data."""

    robot_logins: tuple[str, ...]
    human_seats: tuple[str, ...]  # dial strings
    robot_seats: tuple[str, ...]
    customer_numbers: tuple[str, ...]
    menu_dids: tuple[str, ...]
    queue_dids: tuple[str, ...]


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
    dids = session.execute(select(Did.number, Did.ivr_menu_id)).all()
    return DemoCentre(
        robot_logins=tuple(a.login for a in robots),
        human_seats=tuple(seat_of[a.id] for a in humans if a.id in seat_of),
        robot_seats=tuple(seat_of[a.id] for a in robots if a.id in seat_of),
        customer_numbers=tuple(numbers),
        menu_dids=tuple(d.number for d in dids if d.ivr_menu_id is not None),
        queue_dids=tuple(d.number for d in dids if d.ivr_menu_id is None),
    )


def phones_for(centre: DemoCentre) -> PhoneBook:
    phones = {dial: PhoneBehaviour(answer_after_s=4, talk_s=None) for dial in centre.human_seats}
    phones.update(
        {dial: PhoneBehaviour(answer_after_s=3, talk_s=None) for dial in centre.robot_seats}
    )
    # External numbers (support-turn operators) answer after a while.
    return PhoneBook(phones, default=PhoneBehaviour(answer_after_s=8, talk_s=60))


def next_caller(centre: DemoCentre, rng: random.Random, index: int) -> CallerScript:
    """One demo caller: who, on which line, and what they do."""
    known = centre.customer_numbers and rng.random() < 0.75
    number = rng.choice(centre.customer_numbers) if known else f"6{rng.randrange(10**7, 10**8)}"
    digits = "".join(ch for ch in number if ch.isdigit())[-9:]
    use_menu = centre.menu_dids and (not centre.queue_dids or rng.random() < 0.7)
    did = rng.choice(centre.menu_dids if use_menu else centre.queue_dids)
    keys: list[tuple[float, str]] = []
    in_queue_at_s = 0.0  # about when the caller reaches the queue
    if use_menu:
        in_queue_at_s = rng.uniform(2, 5)
        keys.append((in_queue_at_s, rng.choice("1112")))  # mostly technical support
    script = CallerScript(
        did=did,
        caller_id_num=digits,
        caller_id_name=f"Demo caller {index}",
        talk_s=rng.uniform(25, 80),
        hangup_at_s=600,
    )
    kind = rng.choices(["wait", "hash", "zero", "give_up"], [0.6, 0.15, 0.15, 0.1])[0]
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
    import dataclasses

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
        ami: AmiUrl | None = None,
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
