"""Real loopback TCP keeps a Clock-driven run exact: the same calls over TCP and in memory
leave the same transcript, second for second, and the same database rows. And the wait for
quiet traffic is exact both ways: bytes stuck in flight fail it with a message saying where,
a refused connection does not hold it up."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from sqlalchemy import text
from twisted.internet import reactor as installed_reactor
from twisted.internet import tcp
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.interfaces import ITCPTransport
from twisted.internet.protocol import ClientFactory, Factory, Protocol
from twisted.python.failure import Failure

from db.models import Base
from simulator.loopback import LoopbackNetwork
from simulator.switch import CallerScript, PhoneBehaviour, SimCall
from tests.conftest import POSTGRES_URL
from tests.support.e2e_world import E2EWorld, NetworkKind, close_loopbacks, make_e2e_world

reactor: Any = installed_reactor
SUPPORT = "222111001"
PHONES = {
    "PJSIP/101": PhoneBehaviour(answer_after_s=None),  # rings out: escalation
    "PJSIP/102": PhoneBehaviour(answer_after_s=2, talk_s=15),
    "PJSIP/103": PhoneBehaviour(answer_after_s=3, talk_s=10),
    "PJSIP/104": PhoneBehaviour(answer_after_s=1, talk_s=5),  # Sales: takes the overflow
}


async def _busy_morning(
    db_url: str, tmp_path: Path, network: NetworkKind
) -> tuple[E2EWorld, list[str]]:
    world = make_e2e_world(db_url, tmp_path, PHONES, network=network)
    for login in ("eva", "jan", "petr", "olga"):
        world.log_in(login)
    callers: list[SimCall] = [
        world.call(CallerScript(did=SUPPORT, caller_id_num="777000001", talk_s=None)),
        world.call(
            CallerScript(did=SUPPORT, caller_id_num="777000002", start_at_s=1.5, talk_s=None)
        ),
        world.call(
            CallerScript(
                did="222111000", caller_id_num="777000003", start_at_s=3, keys=((2.0, "1"),)
            )
        ),
        world.call(
            CallerScript(did=SUPPORT, caller_id_num="777000004", start_at_s=6, keys=((5.0, "0"),))
        ),
    ]
    await world.run(135)
    lines = []
    for caller in callers:
        assert caller.record is not None
        for line in caller.record.lines:
            # The only differences allowed: the port the kernel picked and the temp dir.
            text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", line.text)
            text = text.replace(str(tmp_path), "TMP")
            lines.append(f"{line.at_s:.3f} {line.channel} {line.kind} {text}")
    return world, lines


def _rows(world: E2EWorld) -> list[Any]:
    calls = world.calls()
    return [calls, [world.attempts(c["id"]) for c in calls], world.items()]


def _empty_database(template: str, tmp_path: Path, name: str) -> str:
    """A database at the newest schema with nothing in it, ids starting at 1 again."""
    if POSTGRES_URL:
        from db.engine import make_engine

        engine = make_engine(template)
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return template
    path = tmp_path / f"{name}.db"
    shutil.copy(template, path)
    return f"sqlite:///{path}"


@pytest_twisted.ensureDeferred
async def test_tcp_and_memory_runs_are_the_same_second_for_second(
    _migrated_template: str, tmp_path: Path
) -> None:
    (tmp_path / "memory").mkdir()
    db = _empty_database(_migrated_template, tmp_path, "memory")
    memory, in_memory = await _busy_morning(db, tmp_path / "memory", "memory")
    expected = _rows(memory)
    memory.engine.dispose()
    assert [(c["state"], c["overflowed"]) for c in expected[0]] == [
        ("answered", True),  # eva let it ring out; after 120 s olga of Sales took it
        ("answered", False),
        ("answered", False),
        ("callback", False),
    ]

    (tmp_path / "tcp").mkdir()
    db = _empty_database(_migrated_template, tmp_path, "tcp")
    try:
        tcp_world, over_tcp = await _busy_morning(db, tmp_path / "tcp", "tcp")
        assert over_tcp == in_memory
        assert _rows(tcp_world) == expected
        # Every AGI session of that run went through a kernel socket, not a pipe in memory.
        server = tcp_world.servers[4573]
        assert len(server.factory.protocols) == tcp_world.net.connections_made > 4
        assert server.port_number != 4573  # the kernel's choice, which the dialplan used
        for protocol in server.factory.protocols:
            counted: Any = protocol.transport  # the counting wrapper over the reactor's own
            assert ITCPTransport.providedBy(counted)
            assert isinstance(counted.transport, tcp.Server)
        tcp_world.engine.dispose()
    finally:
        await close_loopbacks()


class _Deaf(Protocol):
    """A server that stops reading at once: whatever the client sends stays in flight."""

    def connectionMade(self) -> None:
        transport: Any = self.transport
        transport.pauseProducing()


class _Talker(Protocol):
    def connectionMade(self) -> None:
        transport: Any = self.transport
        transport.write(b"ANSWER\n")


@pytest_twisted.ensureDeferred
async def test_traffic_that_never_arrives_fails_the_wait_and_says_where() -> None:
    net = LoopbackNetwork(reactor, settle_timeout_s=0.3)
    listening = net.listenTCP(0, Factory.forProtocol(_Deaf))
    net.connectTCP("127.0.0.1", listening.getHost().port, ClientFactory.forProtocol(_Talker))
    try:
        with pytest.raises(TimeoutError, match=r"7 bytes toward the server"):
            await net.settle()
    finally:
        await net.close()
    assert net.busy() is None


@pytest_twisted.ensureDeferred
async def test_a_refused_connection_is_settled_not_waited_for() -> None:
    net = LoopbackNetwork(reactor)
    listening = net.listenTCP(0, Factory.forProtocol(_Deaf))
    port = listening.getHost().port
    await listening.stopListening()
    failed: list[Failure] = []

    class Refused(ClientFactory):
        def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
            failed.append(reason)

    net.connectTCP("127.0.0.1", port, Refused())
    assert net.busy() == "1 connection attempt(s) pending"
    await net.settle()
    assert [f.type for f in failed] == [ConnectionRefusedError]
    assert (net.connections_made, net.connections_refused) == (0, 1)
