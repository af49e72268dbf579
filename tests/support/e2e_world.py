"""The e2e world, a whole contact centre on one Clock: Hotline's FastAGI server and call flows, the
simulator playing Asterisk (callers, agent phones, the shipped dialplan), a network, and a
real database (SQLite, or PostgreSQL when configured).

The network is either ``"memory"`` (simulator/memnet.py: bytes delivered on the Clock) or
``"tcp"``: real sockets on 127.0.0.1 of the running reactor (simulator/loopback.py), Hotline
listening on a port the kernel picked and the shipped dialplan pointing at it. Either way the
call's time is the Clock: on TCP, ``E2EWorld.run`` advances it step by step as memnet does and
after each step waits until the loopback traffic has settled (counted, not guessed), so a run
is as deterministic as in memory and never sleeps. ``run`` returns a Deferred: tests written
for both networks ``await`` it (pytest-twisted), older memory-only tests may ignore it.

Database work runs inline (still one transaction per call, on the real engine) so that
virtual time is deterministic: nothing happens between two clock steps that the test did not
schedule. Nothing here is a stand-in for Hotline's own code.
"""

from __future__ import annotations

import json
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from twisted.internet import reactor as installed_reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.task import Clock

from agent_desktop.agent_state import GoOnAir, Pause
from agent_desktop.store import agent_sessions
from ami.client import AMIClient
from db.catalog import load_catalog
from db.engine import make_engine
from db.events import on_commit
from db.models import (
    Agent,
    AgentSession,
    Call,
    Event,
    PhoneSeat,
    RingAttempt,
    VoicemailItem,
)
from dialplan.channel_vars import TRANSFER_VARIABLE
from dialplan.flows.context import FlowContext, FlowSettings
from dialplan.flows.router import build_router
from dialplan.services.janitor import JanitorService
from fastagi.server import FastAGIFactory, FastAGIProtocol
from simulator.fake_ami import FakeAMIFactory
from simulator.loopback import LoopbackNetwork
from simulator.memnet import MemoryNetwork, advance_to
from simulator.scenario import build_switch
from simulator.switch import CallerScript, PhoneBehaviour, PhoneBook, SimCall, Switch
from tests.support.db import InlineDBRunner
from tests.support.time import T0
from voicemail.intake import SpoolImportService
from voicemail.spool import Spool

AMI_PORT = 5038
NetworkKind = Literal["memory", "tcp"]
NETWORKS: tuple[NetworkKind, ...] = ("memory", "tcp")

# The centre's frame: its settings, location and pause types (the real-Asterisk tier's
# centre starts with it too).
CENTRE_FRAME = """
settings: {time_zone: Europe/Prague, country_prefix: '420'}
locations:
  - {code: BRNO, name: Brno}
pause_types:
  - {position: 1, name: Personal}
  - {position: 9, name: Missed call}
"""

CENTRE_YAML = (
    CENTRE_FRAME
    + """
voicemail_boxes:
  - {code: VM, name: Support voicemail, kind: voicemail, max_message_s: 60, silence_s: 5}
  - {code: CB, name: Support callbacks, kind: callback}
phone_seats:
  - {name: '101', dial_string: PJSIP/101}
  - {name: '102', dial_string: PJSIP/102}
  - {name: '103', dial_string: PJSIP/103}
  - {name: '104', dial_string: PJSIP/104}
agents:
  - {login: eva, name: Eva Novakova, password: x, seats: ['101']}
  - {login: jan, name: Jan Dvorak, password: x, seats: ['102']}
  - {login: petr, name: Petr Marek, password: x, seats: ['103']}
  - {login: olga, name: Olga Sales, password: x, seats: ['104']}
queues:
  - code: SUPPORT
    name: Technical support
    ring_timeout_s: 20
    overflow_after_s: 120
    callback_offer_after_s: null
    voicemail_box: VM
    callback_box: CB
    closed_on_weekends: true
    locations: [BRNO]
    agents: [eva, jan, petr]
    hours:
      - {weekday: mon, opens: '08:00', closes: '17:00'}
      - {weekday: tue, opens: '08:00', closes: '17:00'}
      - {weekday: wed, opens: '08:00', closes: '17:00'}
      - {weekday: thu, opens: '08:00', closes: '17:00'}
      - {weekday: fri, opens: '08:00', closes: '17:00'}
  - code: SALES
    name: Sales
    overflow_enabled: false
    locations: [BRNO]
    agents: [olga]
    hours:
      - {weekday: mon, opens: '08:00', closes: '17:00'}
  - code: NIGHT
    name: Night support
    support_turns_enabled: true
    voicemail_box: VM
    locations: [BRNO]
    agents: [jan, petr]
    support_turns:
      - weekday: mon
        opens: '08:00'
        closes: '16:00'
        members:
          - {number: '+420 603 111 222', priority: 5}
          - {agent: jan, priority: 3}
          - {agent: petr, priority: 0}
ivr_menus:
  - code: MAIN
    name: Main menu
    prompt: hotline/main-menu
    max_retries: 1
    options:
      - {digit: '1', queue: SUPPORT}
      - {digit: '2', queue: SALES}
dids:
  - {number: '222111000', name: Main line, menu: MAIN}
  - {number: '222111001', name: Support direct, queue: SUPPORT}
  - {number: '222111002', name: Sales direct, queue: SALES}
  - {number: '222111003', name: Night line, queue: NIGHT}
"""
)


class RecordingFactory(FastAGIFactory):
    """The FastAGI factory, remembering its connections so a test can kill the server."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.protocols: list[FastAGIProtocol] = []

    def buildProtocol(self, addr: object) -> FastAGIProtocol | None:
        protocol = super().buildProtocol(addr)
        if protocol is not None:
            self.protocols.append(protocol)
        return protocol


@dataclass
class Server:
    factory: RecordingFactory
    port: Any
    ctx: FlowContext
    port_number: int  # where it really listens: the port asked for, or on TCP the kernel's
    # Its heartbeat, as `hotline serve` runs it: touches the calls it holds, closes lost ones.
    janitor: JanitorService
    # Its spool import, as `hotline serve` runs it (R-7.3, and messages of a dead server).
    spool_import: SpoolImportService
    unhook: Callable[[], None]
    stopping: list[bool]  # [True] once stopped: the flows then leave their calls for resume

    def terminate(self) -> Deferred[None]:
        """Like SIGTERM (``hotline serve``'s stop): the flows are told the process stops, it
        beats and imports no more, stops listening and closes every connection with a
        goodbye (on TCP a FIN), so the dialplan goes on to the next server."""
        self.stopping[0] = True
        self.janitor.stopService()
        self.spool_import.stopService()
        self.unhook()
        stopped = self.port.stopListening()
        for protocol in self.factory.protocols:
            transport: Any = protocol.transport
            if transport is not None:
                transport.loseConnection()
        return stopped if isinstance(stopped, Deferred) else succeed(None)

    def kill(self) -> Deferred[None]:
        """Like SIGKILL: stop listening and cut every connection without a word (on TCP an
        abort: no FIN, unsent bytes dropped), and beat and import no more. Fires once the
        port is closed for good."""
        self.janitor.stopService()
        self.spool_import.stopService()
        self.unhook()
        stopped = self.port.stopListening()
        for protocol in self.factory.protocols:
            transport: Any = protocol.transport
            if transport is not None:
                transport.abortConnection()
        return stopped if isinstance(stopped, Deferred) else succeed(None)


Network = MemoryNetwork | LoopbackNetwork


def serve(
    db: InlineDBRunner, clock: Clock, net: Network, tmp: Path, port: int, node: str
) -> Server:
    """Hotline's FastAGI server and flows listening on ``port`` of ``net``."""
    stopping = [False]
    ctx = FlowContext(
        db=db,
        clock=clock,
        spool=Spool(tmp / "spool"),
        settings=FlowSettings(recordings_dir=tmp / "recordings", poll_ms=1000),
        node=node,
        stopping=lambda: stopping[0],
    )
    factory = RecordingFactory(build_router(ctx), clock=clock, transfer_variable=TRANSFER_VARIABLE)
    listening = net.listenTCP(port, factory)
    janitor = JanitorService(db, clock, factory.running_uniqueids, journal=ctx.journal)
    janitor.startService()
    spool_import = SpoolImportService(
        db, ctx.spool, clock, recordings_dir=ctx.settings.recordings_dir
    )
    spool_import.startService()
    # As `hotline serve` (hotline.app.CommitHook): committed changes wake the matching.
    unhook = on_commit(db.engine, ctx.offers.changed)
    _hooks.append(unhook)
    return Server(
        factory,
        listening,
        ctx,
        int(listening.getHost().port),
        janitor,
        spool_import,
        unhook,
        stopping,
    )


@dataclass
class E2EWorld:
    engine: Engine
    clock: Clock
    net: Network
    db: InlineDBRunner
    switch: Switch
    tmp: Path
    servers: dict[int, Server] = field(default_factory=dict)
    _running: Deferred[None] | None = None

    # ------------------------------------------------------------------ time and calls
    def run(self, seconds: float) -> Deferred[None]:
        """Let ``seconds`` of the Clock pass. In memory it is done on return; on TCP the
        Deferred fires when it is done (await it)."""
        until = self.clock.seconds() + seconds
        if isinstance(self.net, MemoryNetwork):
            advance_to(self.clock, until)
            return succeed(None)
        if self._running is not None:
            raise RuntimeError("E2EWorld.run on TCP: await the previous run before the next one")
        running = self._running = Deferred.fromCoroutine(self._run_tcp(self.net, until))

        def done(result: object) -> object:
            self._running = None
            return result

        running.addBoth(done)
        return running

    async def _run_tcp(self, net: LoopbackNetwork, until: float) -> None:
        # memnet's advance_to, waiting for the wire after every step: what a step sent is
        # received and handled before the Clock moves on.
        await net.settle()
        while True:
            pending: Any = self.clock.getDelayedCalls()
            due = [call.getTime() for call in pending if call.getTime() <= until]
            if not due:
                break
            self.clock.advance(max(0.0, min(due) - self.clock.seconds()))
            await net.settle()
        if self.clock.seconds() < until:
            self.clock.advance(until - self.clock.seconds())
            await net.settle()

    def call(self, script: CallerScript) -> SimCall:
        return self.switch.place_call(script)

    def start_server(self, port: int, node: str) -> Server:
        """A server for the dialplan's ``port``: on TCP the real port of the server it
        replaces (kill that one first, and await the kill), else a fresh one."""
        previous = self.servers.get(port)
        real = previous.port_number if previous is not None else port
        if isinstance(self.net, LoopbackNetwork) and previous is None:
            real = 0
        server = serve(self.db, self.clock, self.net, self.tmp, real, node)
        self.servers[port] = server
        return server

    def connect_ami(self, port: int = AMI_PORT) -> AMIClient:
        """The switch's fake AMI on ``port`` and Hotline's own AMI client logged in to it
        (what the desktop transfers and places calls with, R-1.12, R-1.13). Memory only."""
        if not isinstance(self.net, MemoryNetwork):
            raise ValueError(
                "connect_ami runs on the memory network (make_e2e_world(network='memory'))"
            )
        factory = FakeAMIFactory(self.switch, "hotline", "s3cret", clock=self.clock)
        self.switch.emit = factory.emit
        self.net.listenTCP(port, factory)
        endpoint = TCP4ClientEndpoint(self.net, "127.0.0.1", port)  # type: ignore[arg-type]
        client = AMIClient(endpoint, "hotline", "s3cret", self.clock)
        client.start()
        self.run(1)
        assert client.ready, client.state
        return client

    # ------------------------------------------------------------------ agents
    def agent_id(self, login: str) -> int:
        with Session(self.engine) as s:
            agent_id = s.scalar(select(Agent.id).where(Agent.login == login))
            assert agent_id is not None, f"no agent {login}"
            return agent_id

    def log_in(self, login: str, *, on_air: bool = True) -> None:
        agent = self.agent_id(login)
        with Session(self.engine) as s, s.begin():
            seat = s.scalar(select(PhoneSeat.id).where(PhoneSeat.name == SEATS[login]))
            assert seat is not None, f"no seat {SEATS[login]}"
            agent_sessions.log_in(s, agent, seat, self.now())
            if on_air:
                agent_sessions.apply_event(s, agent, GoOnAir(), self.now())

    def go_on_air(self, login: str) -> None:
        with Session(self.engine) as s, s.begin():
            agent_sessions.apply_event(s, self.agent_id(login), GoOnAir(), self.now())

    def pause(self, login: str, pause_type_id: int) -> None:
        with Session(self.engine) as s, s.begin():
            agent_sessions.apply_event(s, self.agent_id(login), Pause(pause_type_id), self.now())

    def agent_state(self, login: str) -> tuple[str, str, str | None]:
        """(state, activity, pause name) of a logged-in agent."""
        with Session(self.engine) as s:
            row = s.scalars(
                select(AgentSession).where(
                    AgentSession.agent_id == self.agent_id(login),
                    AgentSession.logged_out_at.is_(None),
                )
            ).one()
            pause = None
            if row.pause_type_id is not None:
                from db.models import PauseType

                pause = s.get(PauseType, row.pause_type_id).name  # type: ignore[union-attr]
            return row.state.value, row.activity.value, pause

    # ------------------------------------------------------------------ what happened
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), UTC)

    def calls(self) -> list[dict[str, Any]]:
        with Session(self.engine) as s:
            rows = s.scalars(select(Call).order_by(Call.id)).all()
            return [
                {
                    "id": c.id,
                    "uniqueid": c.uniqueid,
                    "state": c.state.value,
                    "started_at": c.started_at,
                    "cause": c.hangup_cause,
                    "queue_entered_at": c.queue_entered_at,
                    "answered_at": c.answered_at,
                    "ended_at": c.ended_at,
                    "overflowed": c.overflowed,
                    "agent": c.agent_id,
                    "processing": c.processing_state.value,
                }
                for c in rows
            ]

    def attempts(self, call_id: int) -> list[tuple[str, str, str, bool]]:
        """(agent login or '', dial string, outcome, overflow) in ring order."""
        with Session(self.engine) as s:
            logins = {aid: login for aid, login in s.execute(select(Agent.id, Agent.login))}
            rows = s.scalars(
                select(RingAttempt).where(RingAttempt.call_id == call_id).order_by(RingAttempt.id)
            ).all()
            return [
                (
                    logins.get(r.agent_id, "") if r.agent_id is not None else "",
                    r.dial_string,
                    r.outcome.value,
                    r.overflow,
                )
                for r in rows
            ]

    def items(self) -> list[dict[str, Any]]:
        with Session(self.engine) as s:
            return [
                {
                    "kind": i.kind.value,
                    "box": i.box_id,
                    "caller": i.caller_number,
                    "recording": i.recording_path,
                    "call": i.call_id,
                    "duration_s": i.duration_s,
                }
                for i in s.scalars(select(VoicemailItem).order_by(VoicemailItem.id)).all()
            ]

    def wav_seconds(self, relative: str) -> float:
        with wave.open(str(self.tmp / "recordings" / relative), "rb") as w:
            return w.getnframes() / w.getframerate()


SEATS = {"eva": "101", "jan": "102", "petr": "103", "olga": "104"}


def make_e2e_world(
    db_url: str,
    tmp_path: Path,
    phones: dict[str, PhoneBehaviour] | None = None,
    *,
    start: datetime = T0,
    servers: tuple[int, ...] = (4573,),
    extra_yaml: str = "",
    network: NetworkKind = "memory",
) -> E2EWorld:
    """The centre at ``start``, with one Hotline server per entry of ``servers`` (the
    dialplan lists them in that order; on TCP each really listens on a port of the
    kernel's choosing, and ``servers[i]`` stays the name tests use)."""
    engine = make_engine(db_url)
    with Session(engine) as s, s.begin():
        load_catalog(s, CENTRE_YAML + extra_yaml, source="centre.yaml")
    clock = Clock()
    clock.advance(start.timestamp())
    net: Network
    if network == "memory":
        net = MemoryNetwork(clock)
    elif network == "tcp":
        net = LoopbackNetwork(installed_reactor)
        _open_loopbacks.append(net)
    else:
        raise ValueError(f"unknown network {network!r}: choose one of {NETWORKS}")
    db = InlineDBRunner(engine)
    running = {
        port: serve(
            db, clock, net, tmp_path, port if network == "memory" else 0, node=f"hotline-{i + 1}"
        )
        for i, port in enumerate(servers)
    }
    switch = build_switch(
        clock,
        net,
        servers=tuple(f"127.0.0.1:{running[port].port_number}" for port in servers),
        spool_dir=tmp_path / "asterisk",
    )
    switch.phones = PhoneBook(phones or {}, default=None)
    return E2EWorld(engine, clock, net, db, switch, tmp_path, running)


_open_loopbacks: list[LoopbackNetwork] = []
# The commit hooks of the worlds' servers: a world is never closed, so the test session
# removes them after each test (tests/conftest.py), letting its engine go.
_hooks: list[Callable[[], None]] = []


def unhook_worlds() -> None:
    while _hooks:
        _hooks.pop()()


async def close_loopbacks() -> None:
    """Close every TCP world's sockets: the reactor outlives the test."""
    while _open_loopbacks:
        await _open_loopbacks.pop().close()


def notices(world: E2EWorld, login: str) -> list[dict[str, Any]]:
    """The status-line events of one agent (R-2.5), oldest first: the payload and the call."""
    with Session(world.engine) as s:
        rows = s.scalars(
            select(Event)
            .where(Event.kind == "agent.notice", Event.agent_id == world.agent_id(login))
            .order_by(Event.id)
        ).all()
        return [{**json.loads(e.payload), "call_id": e.call_id} for e in rows]
