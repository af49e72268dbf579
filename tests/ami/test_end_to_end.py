"""AMIClient against the simulator's fake AMI server over real loopback TCP."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.task import Clock

from ami.client import (
    AMIActionError,
    AMIAuthError,
    AMIClient,
    AMIClientState,
    AMIConnectionLostError,
    connect_ami,
)
from ami.protocol import AMIMessage, AMIValueError
from hotline.config import AmiUrl
from simulator.fake_ami import FakeAMIFactory, RecordingBackend, recording_server


def reactor() -> Any:
    from twisted.internet import reactor as real_reactor

    return real_reactor


class Switch:
    """A fake AMI server listening on 127.0.0.1 (port chosen by the OS)."""

    def __init__(self, **backend_options: Any) -> None:
        self.factory, self.backend = recording_server("hotline", "s3cret", **backend_options)
        self.port = reactor().listenTCP(0, self.factory, interface="127.0.0.1")
        self.number: int = self.port.getHost().port

    def account(self, secret: str = "s3cret") -> AmiUrl:
        return AmiUrl("127.0.0.1", self.number, "hotline", secret)

    async def close(self) -> None:
        for session in self.factory.sessions:
            session.close()
        await maybeDeferred(self.port.stopListening)


def next_event(client: AMIClient, name: str) -> Deferred[AMIMessage]:
    d: Deferred[AMIMessage] = Deferred()

    def once(message: AMIMessage) -> None:
        client.unsubscribe(name, once)
        d.callback(message)

    client.subscribe(name, once)
    return d


@pytest_twisted.ensureDeferred
async def test_originate_hear_the_call_list_it_redirect_and_hang_it_up() -> None:
    switch = Switch(talk_s=None)
    client = connect_ami(reactor(), switch.account(), keepalive_interval_s=None)
    try:
        await client.when_ready()
        assert client.greeting is not None and client.greeting.version == "11.0.0"
        varset = next_event(client, "VarSet")
        originated = await client.originate(
            "PJSIP/201",
            context="hotline-outbound",
            exten="420777123456",
            caller_id="Hotline <2222>",
            variables={"HOTLINE_CALL_ID": "42"},
        )
        outcome = await originated.outcome()
        assert outcome.success and outcome.reason_text == "answered"
        assert outcome.channel == "PJSIP/201-00000001"
        seen = await varset
        assert (seen["Variable"], seen["Value"]) == ("HOTLINE_CALL_ID", "42")

        channels = await client.core_show_channels()
        assert [(c["Channel"], c["Uniqueid"]) for c in channels] == [
            (outcome.channel, outcome.uniqueid)
        ]
        await client.setvar(outcome.channel, "HOTLINE_DONE", "1")
        assert await client.getvar(outcome.channel, "HOTLINE_DONE") == "1"
        assert await client.getvar(outcome.channel, "UNSET") == ""

        response = await client.redirect(outcome.channel, "hotline-transfer", "q2")
        assert response["Message"] == "Redirect successful"
        assert (await client.core_show_channels())[0]["Context"] == "hotline-transfer"
        with pytest.raises(AMIActionError, match="Channel does not exist"):
            await client.redirect("PJSIP/gone-00000099", "hotline-transfer", "q2")

        await client.play_dtmf(outcome.channel, "#")
        assert switch.backend.dtmf == [(outcome.channel, "#")]

        hangup = next_event(client, "Hangup")
        await client.hangup(outcome.channel)
        assert (await hangup)["Cause-txt"] == "Normal Clearing"
        assert await client.core_show_channels() == []
        assert (await client.ping())["Ping"] == "Pong"
    finally:
        await client.stop()
        await switch.close()


@pytest_twisted.ensureDeferred
async def test_spy_and_a_busy_supervisor_phone() -> None:
    switch = Switch(reasons={"PJSIP/300": 5})
    client = connect_ami(reactor(), switch.account(), keepalive_interval_s=None)
    try:
        await client.when_ready()
        originated = await client.spy("PJSIP/300", "PJSIP/101-0000002a", "barge", "Sup <300>")
        outcome = await originated.outcome()
        assert not outcome.success and outcome.reason_text == "busy"
        ((_, (fields, _action_id)),) = switch.backend.calls
        assert (fields["Application"], fields["Data"]) == ("ChanSpy", "PJSIP/101-0000002a,qBE")
        # A synchronous Originate answers only once the call is decided.
        with pytest.raises(AMIActionError, match="Originate failed"):
            await client.originate("PJSIP/300", application="Wait", data="1", async_=False)
        answered = await client.originate("PJSIP/301", context="c", exten="e", async_=False)
        assert (await answered.outcome()).success
    finally:
        await client.stop()
        await switch.close()


@pytest_twisted.ensureDeferred
async def test_a_value_with_a_line_break_never_reaches_the_server() -> None:
    switch = Switch()
    client = connect_ami(reactor(), switch.account(), keepalive_interval_s=None)
    try:
        await client.when_ready()
        with pytest.raises(AMIValueError):
            await client.setvar("PJSIP/201-00000001", "X", "a\r\nAction: Hangup")
        await client.ping()
        actions = [m.action for d, m in switch.factory.transcript if d == ">>"]
        assert actions == ["Login", "Ping"]
    finally:
        await client.stop()
        await switch.close()


@pytest_twisted.ensureDeferred
async def test_a_wrong_secret_fails_clearly_and_is_not_retried() -> None:
    switch = Switch()
    clock = Clock()
    endpoint = HostnameEndpoint(reactor(), "127.0.0.1", switch.number)
    client = AMIClient(endpoint, "hotline", "wrong", clock)
    client.start()
    try:
        with pytest.raises(AMIAuthError, match="Authentication failed"):
            await client.when_ready()
        assert client.state is AMIClientState.AUTH_FAILED
        assert clock.getDelayedCalls() == []
    finally:
        await client.stop()
        await switch.close()
    logins = [m for d, m in switch.factory.transcript if d == ">>" and m.action == "Login"]
    assert len(logins) == 1 and logins[0]["Secret"] == "********"


@pytest_twisted.ensureDeferred
async def test_a_restarted_server_is_reconnected_and_logged_in_again() -> None:
    switch = Switch(talk_s=None)
    clock = Clock()  # back-off on a Clock; the sockets are real
    endpoint = HostnameEndpoint(reactor(), "127.0.0.1", switch.number)
    client = AMIClient(endpoint, "hotline", "s3cret", clock, reconnect_initial_s=1.0)
    states: list[bool] = []
    lost: Deferred[None] = Deferred()

    def on_connection(up: bool) -> None:
        states.append(up)
        if not up and not lost.called:
            lost.callback(None)

    client.on_connection(on_connection)
    client.start()
    try:
        await client.when_ready()
        originated = await client.originate("PJSIP/201", context="c", exten="e")
        await originated.outcome()
        pending = client.core_show_channels()
        # Restart: close every session and the listening port, then listen again.
        port_number = switch.number
        await switch.close()
        await lost
        with pytest.raises(AMIConnectionLostError):
            await pending
        assert client.state is AMIClientState.WAITING_TO_RECONNECT
        switch.port = reactor().listenTCP(port_number, switch.factory, interface="127.0.0.1")
        ready = client.when_ready()
        clock.advance(0.99)
        assert client.state is AMIClientState.WAITING_TO_RECONNECT
        clock.advance(0.01)
        await ready
        assert states == [True, False, True]
        # The switch kept its channel across the restart; the client can see it again.
        assert len(await client.core_show_channels()) == 1
        logins = [m for d, m in switch.factory.transcript if d == ">>" and m.action == "Login"]
        assert len(logins) == 2
    finally:
        await client.stop()
        await switch.close()


def _backend_type_check(backend: RecordingBackend) -> FakeAMIFactory:
    """mypy: RecordingBackend satisfies the AMIBackend protocol."""
    return FakeAMIFactory(backend, "u", "s")
