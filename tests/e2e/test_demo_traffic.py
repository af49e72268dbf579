"""`hotline demo`'s simulated traffic: callers flow through the demo centre's queues (R-6.3)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.task import Clock

from agent_desktop.agent_state import GoOnAir
from agent_desktop.store import agent_sessions
from ami.client import AMIClient
from db.catalog import load_catalog
from db.demo_data import always_open_yaml, load_demo
from db.engine import make_engine
from db.models import (
    Agent,
    Call,
    CustomerPhone,
    Queue,
    RingAttempt,
    SeatRight,
    VoicemailBox,
    VoicemailItem,
)
from dialplan.flows.context import FlowContext, FlowSettings
from dialplan.flows.router import build_router
from dialplan.services.outbound_calls import start_outbound_call
from domain.enums import Direction, ItemKind
from fastagi.server import FastAGIFactory
from hotline.config import AmiUrl
from simulator.demo_traffic import DemoTraffic, human_logins
from simulator.memnet import MemoryNetwork, advance_to
from tests.support.db import InlineDBRunner
from tests.support.time import T0
from voicemail.spool import Spool


@dataclass
class Demo:
    engine: Engine
    clock: Clock
    net: MemoryNetwork
    db: InlineDBRunner
    traffic: DemoTraffic
    lines: list[str]


def start_demo(db_url: str, tmp_path: Path, ami: AmiUrl | None = None) -> Demo:
    """The demo centre (open around the clock) served on an in-memory network, with the
    demo's simulated traffic running against it."""
    engine = make_engine(db_url)
    with Session(engine) as s, s.begin():
        load_demo(s, today=T0.date())
        load_catalog(s, always_open_yaml(), source="overlay")
    clock = Clock()
    clock.advance(T0.timestamp())
    net = MemoryNetwork(clock)
    db = InlineDBRunner(engine)
    ctx = FlowContext(
        db=db,
        clock=clock,
        spool=Spool(tmp_path / "spool"),
        settings=FlowSettings(recordings_dir=tmp_path / "recordings"),
    )
    net.listenTCP(4573, FastAGIFactory(build_router(ctx), clock=clock))
    lines: list[str] = []
    traffic = DemoTraffic(
        clock,
        db,
        "127.0.0.1",
        4573,
        tmp_path / "asterisk",
        out=lines.append,
        connector=net,
        ami=ami,
    )
    started: list[object] = []
    Deferred.fromCoroutine(traffic.start()).addCallback(started.append)
    assert started, "the traffic starts at once (inline database)"
    return Demo(engine, clock, net, db, traffic, lines)


def test_demo_traffic_keeps_calls_flowing_and_robots_saving(db_url: str, tmp_path: Path) -> None:
    demo = start_demo(db_url, tmp_path)
    engine, clock, traffic, lines = demo.engine, demo.clock, demo.traffic, demo.lines
    started = datetime.fromtimestamp(clock.seconds(), UTC)
    advance_to(clock, clock.seconds() + 10 * 60)
    traffic.stop()
    advance_to(clock, clock.seconds() + 60)
    with Session(engine) as s:
        states = Counter(c.state.value for c in s.scalars(select(Call)))
        items = s.scalars(select(VoicemailItem)).all()
        processed = [c for c in s.scalars(select(Call)) if c.processing_state.value == "done"]
    assert states["answered"] >= 20  # a caller every 15 s for 10 minutes, most answered
    assert processed, "the desk robots saved their calls and went back on-air"
    # The back-office page fills too: messages and callback requests, several of each kind.
    kinds = Counter(i.kind.value for i in items)
    assert kinds["message"] >= 2 and kinds["callback"] >= 2, kinds
    # ... and soon: a person who opens /backoffice right after start-up has work there.
    for kind in ("message", "callback"):
        first = min(i.created_at for i in items if i.kind.value == kind)
        assert (first - started).total_seconds() < 60, (kind, first - started)
    assert any("answered by PJSIP/" in line for line in lines)
    assert traffic.robot is not None and traffic.robot.saved >= len(processed) - 2


def test_every_demo_queue_gets_calls_and_both_agents_left_for_people_are_rung(
    db_url: str, tmp_path: Path
) -> None:
    """The README offers eva.novakova (Technical support, Sales) and martin.kral (Sales
    only) to sign in as: callers reach every queue of the demo, Sales through its
    sub-menu, so both of them get calls within minutes."""
    demo = start_demo(db_url, tmp_path)
    now = datetime.fromtimestamp(demo.clock.seconds(), UTC)
    with Session(demo.engine) as s, s.begin():
        people = {}
        for login in human_logins():
            agent = s.scalar(select(Agent.id).where(Agent.login == login))
            seat = s.scalar(select(SeatRight.seat_id).where(SeatRight.agent_id == agent))
            assert agent is not None and seat is not None
            agent_sessions.log_in(s, agent, seat, now)
            agent_sessions.apply_event(s, agent, GoOnAir(), now)
            people[login] = agent
    advance_to(demo.clock, demo.clock.seconds() + 5 * 60)
    demo.traffic.stop()
    advance_to(demo.clock, demo.clock.seconds() + 60)
    with Session(demo.engine) as s:
        queued = Counter(
            s.scalars(
                select(Queue.code)
                .join(Call, Call.queue_id == Queue.id)
                .where(Call.queue_entered_at.is_not(None))
            )
        )
        rung = {
            login: s.scalars(select(RingAttempt.call_id).where(RingAttempt.agent_id == agent)).all()
            for login, agent in people.items()
        }
        answered = {
            login: s.scalar(
                select(Call.id).where(Call.agent_id == agent, Call.answered_at.is_not(None))
            )
            for login, agent in people.items()
        }
        queue_codes = set(s.scalars(select(Queue.code)))
    assert set(queued) == queue_codes == {"TECH", "BILLING", "SALES"}, queued
    assert min(queued.values()) >= 3, queued
    assert set(human_logins()) == {"eva.novakova", "martin.kral"}
    for login in human_logins():
        assert rung[login], f"{login} was never rung"
        assert answered[login] is not None, f"{login}'s simulated phone never picked up"


def test_the_demo_serves_a_fake_ami_so_a_person_can_call_a_customer(
    db_url: str, tmp_path: Path
) -> None:
    """``hotline demo`` points Hotline's AMI client at the simulated switch: an agent who
    signs in as eva.novakova can place an outbound call, and her simulated phone and the
    customer's answer (R-1.13, R-2.15)."""
    ami = AmiUrl("127.0.0.1", 5038, "hotline", "demo-secret")
    demo = start_demo(db_url, tmp_path, ami=ami)
    endpoint = TCP4ClientEndpoint(demo.net, "127.0.0.1", ami.port)  # type: ignore[arg-type]
    client = AMIClient(endpoint, ami.username, ami.secret, demo.clock)
    client.start()
    advance_to(demo.clock, demo.clock.seconds() + 2)
    assert client.ready, client.state
    now = datetime.fromtimestamp(demo.clock.seconds(), UTC)
    with Session(demo.engine) as s, s.begin():
        eva = s.scalar(select(Agent.id).where(Agent.login == "eva.novakova"))
        seat = s.scalar(select(SeatRight.seat_id).where(SeatRight.agent_id == eva))
        phone = s.scalars(select(CustomerPhone).order_by(CustomerPhone.id)).first()
        assert eva is not None and seat is not None and phone is not None
        number, customer = phone.number, phone.customer_id
        agent_sessions.log_in(s, eva, seat, now)  # off air, as calls out are placed
    placed = Deferred.fromCoroutine(
        start_outbound_call(
            client, demo.db, demo.clock, agent_id=eva, number=number, customer_id=customer
        )
    )
    advance_to(demo.clock, demo.clock.seconds() + 30)
    assert placed.called
    with Session(demo.engine) as s:
        [call] = s.scalars(
            select(Call).where(Call.direction == Direction.OUTBOUND, Call.agent_id == eva)
        ).all()
        assert call.answered_at is not None  # her phone, then the customer's, answered
    demo.traffic.stop()
    client.stop()
    advance_to(demo.clock, demo.clock.seconds() + 5)


def test_a_caller_pressing_hash_in_open_hours_reaches_the_daytime_box(
    db_url: str, tmp_path: Path
) -> None:
    """Issue 16, item 3: the demo's queues are open around the clock, so a Technical support
    caller who presses `#` leaves a message in the queue's own box, never in a box named for
    the hours it is closed (R-1.7, R-6.3)."""
    demo = start_demo(db_url, tmp_path)
    advance_to(demo.clock, demo.clock.seconds() + 10 * 60)
    demo.traffic.stop()
    advance_to(demo.clock, demo.clock.seconds() + 60)
    with Session(demo.engine) as s:
        boxes = (
            s.execute(
                select(VoicemailBox.name)
                .join(VoicemailItem, VoicemailItem.box_id == VoicemailBox.id)
                .join(Call, Call.id == VoicemailItem.call_id)
                .join(Queue, Queue.id == Call.queue_id)
                .where(Queue.code == "TECH", VoicemailItem.kind == ItemKind.MESSAGE)
            )
            .scalars()
            .all()
        )
    assert boxes, "some Technical support callers pressed #"
    assert set(boxes) == {"Technická podpora – vzkazy"}  # the demo's names are Czech
