"""AMIClient over StringTransport: exact bytes, correlation, events, reconnect, failures."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from ami.client import (
    AMIActionError,
    AMIAuthError,
    AMIClient,
    AMIClientService,
    AMIClientState,
    AMIConnectionLostError,
    AMINotConnectedError,
    AMITimeoutError,
    Originated,
)
from ami.protocol import AMIMessage, AMIValueError
from tests.ami.helpers import GREETING, MemoryEndpoint, wire
from tests.support.asterisk_facts import AMI_RECORDING, recorded_wire
from tests.support.deferreds import failure_of, has_not_fired, result_of

ACCEPTED = "Response: Success\nActionID: {action_id}\nMessage: Authentication accepted\n\n"
QUEUED = "Response: Success\nActionID: hotline-2\nMessage: Originate successfully queued\n\n"
LOGIN = wire("Action: Login\nActionID: hotline-1\nUsername: hotline\nSecret: s3cret\n\n")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def endpoint() -> MemoryEndpoint:
    return MemoryEndpoint()


def make_client(endpoint: MemoryEndpoint, clock: Clock, **options: Any) -> AMIClient:
    return AMIClient(endpoint, "hotline", "s3cret", clock, **options)


def log_in(endpoint: MemoryEndpoint, action_id: str = "hotline-1") -> None:
    endpoint.protocol.dataReceived(GREETING)
    endpoint.take()
    endpoint.feed(
        f"Response: Success\nActionID: {action_id}\nMessage: Authentication accepted\n\n"
        "Event: FullyBooted\nPrivilege: system,all\nUptime: 1\nLastReload: 1\n"
        "Status: Fully Booted\n\n"
    )


@pytest.fixture
def client(endpoint: MemoryEndpoint, clock: Clock) -> AMIClient:
    c = make_client(endpoint, clock)
    c.start()
    log_in(endpoint)
    assert c.ready
    return c


class TestLogin:
    def test_login_is_sent_after_the_greeting_and_nothing_before(
        self, endpoint: MemoryEndpoint, clock: Clock
    ) -> None:
        c = make_client(endpoint, clock)
        seen: list[bool] = []
        c.on_connection(seen.append)
        c.start()
        ready = c.when_ready()
        assert endpoint.take() == b""
        assert c.state is AMIClientState.LOGGING_IN
        endpoint.protocol.dataReceived(GREETING)
        assert endpoint.take() == LOGIN
        assert has_not_fired(ready)
        endpoint.feed(
            "Response: Success\nActionID: hotline-1\nMessage: Authentication accepted\n\n"
        )
        assert result_of(ready) is None
        assert c.state is AMIClientState.READY and seen == [True]
        assert c.greeting is not None and c.greeting.version == "11.0.0"

    def test_refused_login_is_an_auth_error_and_never_retried(
        self, endpoint: MemoryEndpoint, clock: Clock
    ) -> None:
        c = make_client(endpoint, clock)
        c.start()
        ready = c.when_ready()
        endpoint.protocol.dataReceived(GREETING)
        endpoint.feed("Response: Error\nActionID: hotline-1\nMessage: Authentication failed\n\n")
        failure = failure_of(ready, AMIAuthError)
        assert "Authentication failed" in str(failure.value)
        assert endpoint.transport.disconnecting
        endpoint.drop()
        assert c.state is AMIClientState.AUTH_FAILED
        assert clock.getDelayedCalls() == []
        clock.advance(3600)
        assert endpoint.attempts == 1
        failure_of(c.when_ready(), AMIAuthError)
        failure_of(c.ping(), AMINotConnectedError)

    def test_a_login_that_gets_no_answer_drops_the_connection(
        self, endpoint: MemoryEndpoint, clock: Clock
    ) -> None:
        c = make_client(endpoint, clock, action_timeout_s=5)
        c.start()
        endpoint.protocol.dataReceived(GREETING)
        clock.advance(5)
        assert endpoint.transport.disconnecting
        endpoint.drop()
        assert c.state is AMIClientState.WAITING_TO_RECONNECT

    def test_no_greeting_drops_the_connection(self, endpoint: MemoryEndpoint, clock: Clock) -> None:
        c = make_client(endpoint, clock, action_timeout_s=5)
        c.start()
        clock.advance(4.9)
        assert not endpoint.transport.disconnecting
        clock.advance(0.1)
        assert endpoint.transport.disconnecting


class TestActions:
    def test_originate_bytes_queued_response_and_outcome(
        self, client: AMIClient, endpoint: MemoryEndpoint
    ) -> None:
        d = client.originate(
            "Local/answer@agents/n",
            context="outbound-sim",
            exten="420777123456",
            caller_id="Hotline <2222>",
            variables={"HOTLINE_CALL_ID": "42"},
            timeout_ms=20000,
        )
        assert endpoint.take() == wire(
            "Action: Originate\nActionID: hotline-2\nChannel: Local/answer@agents/n\n"
            "Context: outbound-sim\nExten: 420777123456\nPriority: 1\nTimeout: 20000\n"
            "CallerID: Hotline <2222>\nVariable: HOTLINE_CALL_ID=42\nAsync: true\n\n"
        )
        newchannels: list[AMIMessage] = []
        client.subscribe("newchannel", newchannels.append)
        # Events of other calls arrive before the response; the response, then the call's
        # own events and finally the OriginateResponse with our ActionID.
        endpoint.feed(
            "Event: Newchannel\nPrivilege: call,all\nChannel: PJSIP/1-00000001\n\n"
            "Response: Success\nActionID: hotline-2\nMessage: Originate successfully queued\n\n"
        )
        originated = result_of(d)
        assert isinstance(originated, Originated)
        assert originated.action_id == "hotline-2"
        outcome = originated.outcome()
        assert has_not_fired(outcome)
        endpoint.feed(
            "Event: VarSet\nPrivilege: dialplan,all\nChannel: Local/answer@agents-0000000e;1\n"
            "Variable: HOTLINE_CALL_ID\nValue: 42\n\n"
            "Event: OriginateResponse\nPrivilege: call,all\nActionID: hotline-2\n"
            "Response: Success\nChannel: Local/answer@agents-0000000e;1\nContext: outbound-sim\n"
            "Exten: 420777123456\nReason: 4\nUniqueid: 1795313257.28\nCallerIDNum: 2222\n"
            "CallerIDName: Hotline\n\n"
        )
        result = result_of(outcome)
        assert result.success and result.reason == 4 and result.reason_text == "answered"
        assert result.uniqueid == "1795313257.28"
        assert result.channel == "Local/answer@agents-0000000e;1"
        # Any number of waiters get the same outcome.
        assert result_of(originated.outcome()) == result
        assert [m["Channel"] for m in newchannels] == ["PJSIP/1-00000001"]

    def test_originate_to_a_busy_phone_is_an_outcome_not_an_error(
        self, client: AMIClient, endpoint: MemoryEndpoint
    ) -> None:
        d = client.originate("PJSIP/201", application="Wait", data="20")
        assert b"Application: Wait\r\nData: 20\r\nTimeout: 30000\r\n" in endpoint.take()
        endpoint.feed(
            "Response: Success\nActionID: hotline-2\nMessage: Originate successfully queued\n\n"
        )
        outcome = result_of(d).outcome()
        endpoint.feed(
            "Event: OriginateResponse\nActionID: hotline-2\nResponse: Failure\n"
            "Channel: PJSIP/201\nReason: 5\nUniqueid: <null>\n\n"
        )
        result = result_of(outcome)
        assert not result.success and result.reason_text == "busy"
        assert result.uniqueid is None

    def test_an_originate_response_that_never_comes_times_out(
        self, client: AMIClient, endpoint: MemoryEndpoint, clock: Clock
    ) -> None:
        d = client.originate("PJSIP/201", context="c", exten="e", timeout_ms=5000)
        endpoint.feed(
            "Response: Success\nActionID: hotline-2\nMessage: Originate successfully queued\n\n"
        )
        outcome = result_of(d).outcome()
        clock.advance(5 + client.action_timeout_s - 0.1)
        assert has_not_fired(outcome)
        clock.advance(0.1)
        failure_of(outcome, AMITimeoutError)

    def test_error_response_fails_the_action(
        self, client: AMIClient, endpoint: MemoryEndpoint
    ) -> None:
        d = client.redirect("PJSIP/gone-00000001", "hotline-transfer", "q2")
        endpoint.feed(
            "Response: Error\nActionID: hotline-2\n"
            "Message: Channel does not exist: PJSIP/gone-00000001\n\n"
        )
        failure = failure_of(d, AMIActionError)
        assert failure.value.message == "Channel does not exist: PJSIP/gone-00000001"  # type: ignore[union-attr]
        assert failure.value.action == "Redirect"  # type: ignore[union-attr]

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"caller_id": "Evil\r\nAction: Hangup\r\nChannel: PJSIP/ceo"},
            {"variables": {"X": "a\nb"}},
            {"variables": {"X": "a,b"}},
            {"variables": {"X=Y": "1"}},
            {"context": "c\r\n"},
        ],
    )
    def test_values_that_would_corrupt_the_wire_are_refused_before_writing(
        self, client: AMIClient, endpoint: MemoryEndpoint, kwargs: dict[str, Any]
    ) -> None:
        args: dict[str, Any] = {"context": "c", "exten": "e", **kwargs}
        with pytest.raises(AMIValueError):
            client.originate("PJSIP/201", **args)
        assert endpoint.take() == b""

    def test_originate_needs_exactly_one_destination(self, client: AMIClient) -> None:
        with pytest.raises(AMIValueError):
            client.originate("PJSIP/201")
        with pytest.raises(AMIValueError):
            client.originate("PJSIP/201", context="c", exten="e", application="Wait")
        with pytest.raises(AMIValueError):
            client.originate("PJSIP/201", context="c")

    @pytest.mark.parametrize(
        ("mode", "data"),
        [
            ("listen", "PJSIP/101-0000002a,qE"),
            ("whisper", "PJSIP/101-0000002a,qwE"),
            ("barge", "PJSIP/101-0000002a,qBE"),
        ],
    )
    def test_spy_originates_chanspy_on_the_supervisors_phone(
        self, client: AMIClient, endpoint: MemoryEndpoint, mode: Any, data: str
    ) -> None:
        client.spy("PJSIP/300", "PJSIP/101-0000002a", mode, "Supervisor <300>")
        assert endpoint.take() == wire(
            "Action: Originate\nActionID: hotline-2\nChannel: PJSIP/300\n"
            f"Application: ChanSpy\nData: {data}\nTimeout: 30000\n"
            "CallerID: Supervisor <300>\nAsync: true\n\n"
        )

    def test_spy_refuses_unknown_modes_and_argument_separators(self, client: AMIClient) -> None:
        with pytest.raises(AMIValueError):
            client.spy("PJSIP/300", "PJSIP/101-0000002a", "shout", "S <300>")  # type: ignore[arg-type]
        with pytest.raises(AMIValueError):
            client.spy("PJSIP/300", "PJSIP/101,B", "listen", "S <300>")

    def test_redirect_hangup_dtmf_setvar_bytes(
        self, client: AMIClient, endpoint: MemoryEndpoint
    ) -> None:
        client.redirect("PJSIP/a-1", "hotline-transfer", "q2", extra_channel="PJSIP/b-2")
        client.hangup("PJSIP/a-1")
        client.play_dtmf("Local/x@probe-1;1", "#")
        client.setvar("PJSIP/a-1", "HOTLINE_DONE", "1")
        assert endpoint.take() == wire(
            "Action: Redirect\nActionID: hotline-2\nChannel: PJSIP/a-1\nExtraChannel: PJSIP/b-2\n"
            "Exten: q2\nContext: hotline-transfer\nPriority: 1\nExtraExten: q2\n"
            "ExtraContext: hotline-transfer\nExtraPriority: 1\n\n"
            "Action: Hangup\nActionID: hotline-3\nChannel: PJSIP/a-1\nCause: 16\n\n"
            "Action: PlayDTMF\nActionID: hotline-4\nChannel: Local/x@probe-1;1\nDigit: #\n\n"
            "Action: Setvar\nActionID: hotline-5\nChannel: PJSIP/a-1\nVariable: HOTLINE_DONE\n"
            "Value: 1\n\n"
        )

    def test_argument_checks(self, client: AMIClient) -> None:
        with pytest.raises(AMIValueError):
            client.play_dtmf("PJSIP/a-1", "12")
        with pytest.raises(AMIValueError):
            client.hangup("/PJSIP/.*/")  # Asterisk would hang up every matching channel
        with pytest.raises(AMIValueError):
            client.getvar("PJSIP/a-1", "A B")

    def test_getvar_returns_the_value(self, client: AMIClient, endpoint: MemoryEndpoint) -> None:
        d = client.getvar("PJSIP/a-1", "CONTEXT")
        assert endpoint.take() == wire(
            "Action: Getvar\nActionID: hotline-2\nChannel: PJSIP/a-1\nVariable: CONTEXT\n\n"
        )
        endpoint.feed("Response: Success\nActionID: hotline-2\nVariable: CONTEXT\nValue: q 2\n\n")
        assert result_of(d) == "q 2"

    def test_responses_out_of_order_reach_their_own_actions(
        self, client: AMIClient, endpoint: MemoryEndpoint
    ) -> None:
        first, second = client.ping(), client.getvar("PJSIP/a-1", "X")
        endpoint.feed(
            "Response: Success\nActionID: hotline-3\nVariable: X\nValue: 2\n\n"
            "Response: Success\nActionID: hotline-2\nPing: Pong\nTimestamp: 1.5\n\n"
        )
        assert result_of(second) == "2"
        assert result_of(first)["Ping"] == "Pong"

    def test_list_action_is_assembled_from_interleaved_events(
        self, client: AMIClient, endpoint: MemoryEndpoint
    ) -> None:
        everything: list[AMIMessage] = []
        client.subscribe("*", everything.append)
        d = client.core_show_channels()
        assert endpoint.take() == wire("Action: CoreShowChannels\nActionID: hotline-2\n\n")
        endpoint.feed(
            "Response: Success\nActionID: hotline-2\nEventList: start\n"
            "Message: Channels will follow\n\n"
            "Event: CoreShowChannel\nActionID: hotline-2\nChannel: PJSIP/a-1\n\n"
            "Event: Newexten\nPrivilege: dialplan,all\nChannel: PJSIP/c-3\n\n"
            "Event: CoreShowChannel\nActionID: hotline-2\nChannel: PJSIP/b-2\n\n"
        )
        assert has_not_fired(d)
        endpoint.feed(
            "Event: CoreShowChannelsComplete\nActionID: hotline-2\nEventList: Complete\n"
            "ListItems: 2\n\n"
        )
        assert [m["Channel"] for m in result_of(d)] == ["PJSIP/a-1", "PJSIP/b-2"]
        # Only the unrelated event (and FullyBooted before) reached subscribers.
        assert [m.event for m in everything] == ["Newexten"]

    def test_an_empty_list(self, client: AMIClient, endpoint: MemoryEndpoint) -> None:
        d = client.core_show_channels()
        endpoint.feed(
            "Response: Success\nActionID: hotline-2\nEventList: start\n\n"
            "Event: CoreShowChannelsComplete\nActionID: hotline-2\nEventList: Complete\n"
            "ListItems: 0\n\n"
        )
        assert result_of(d) == []

    def test_an_action_without_answer_times_out_and_a_late_answer_is_ignored(
        self, client: AMIClient, endpoint: MemoryEndpoint, clock: Clock
    ) -> None:
        d = client.ping()
        clock.advance(client.action_timeout_s)
        failure_of(d, AMITimeoutError)
        endpoint.feed("Response: Success\nActionID: hotline-2\nPing: Pong\n\n")
        assert client.ready


class TestEvents:
    def test_subscribe_by_name_any_case_and_unsubscribe(
        self, client: AMIClient, endpoint: MemoryEndpoint
    ) -> None:
        hangups: list[str] = []

        def on_hangup(m: AMIMessage) -> None:
            hangups.append(m["Channel"])

        client.subscribe("HANGUP", on_hangup)
        endpoint.feed("Event: Hangup\nChannel: A\nCause: 16\n\nEvent: Newstate\nChannel: B\n\n")
        client.unsubscribe("hangup", on_hangup)
        endpoint.feed("Event: Hangup\nChannel: C\nCause: 16\n\n")
        assert hangups == ["A"]

    def test_a_failing_subscriber_does_not_stop_the_others(
        self, client: AMIClient, endpoint: MemoryEndpoint
    ) -> None:
        seen: list[str] = []

        def broken(_: AMIMessage) -> None:
            raise RuntimeError("subscriber bug")

        client.subscribe("Hangup", broken)
        client.subscribe("Hangup", lambda m: seen.append(m["Channel"]))
        endpoint.feed("Event: Hangup\nChannel: A\n\nEvent: Hangup\nChannel: B\n\n")
        assert seen == ["A", "B"]


class TestConnectionLoss:
    def test_pending_actions_and_outcomes_fail_when_the_connection_drops(
        self, client: AMIClient, endpoint: MemoryEndpoint
    ) -> None:
        states: list[bool] = []
        client.on_connection(states.append)
        originate = client.originate("PJSIP/201", context="c", exten="e")
        endpoint.feed(
            "Response: Success\nActionID: hotline-2\nMessage: Originate successfully queued\n\n"
        )
        outcome = result_of(originate).outcome()
        ping = client.ping()
        listing = client.core_show_channels()
        endpoint.drop()
        failure_of(ping, AMIConnectionLostError)
        failure_of(listing, AMIConnectionLostError)
        failure_of(outcome, AMIConnectionLostError)
        assert states == [False]
        failure_of(client.ping(), AMINotConnectedError)

    def test_garbage_from_the_server_drops_the_connection_without_raising(
        self, client: AMIClient, endpoint: MemoryEndpoint
    ) -> None:
        endpoint.protocol.dataReceived(b"Event: X\r\n" + b"A" * (2 * 1024 * 1024))
        assert endpoint.transport.disconnecting

    def test_reconnect_backs_off_exponentially_up_to_the_cap(
        self, endpoint: MemoryEndpoint, clock: Clock
    ) -> None:
        c = make_client(endpoint, clock, reconnect_initial_s=0.5, reconnect_max_s=5)
        endpoint.refuse = True
        c.start()
        times = [clock.seconds()]
        for _ in range(7):
            before = endpoint.attempts
            while endpoint.attempts == before:
                clock.advance(0.25)
            times.append(clock.seconds())
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert gaps == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
        assert c.state is AMIClientState.WAITING_TO_RECONNECT

    def test_reconnects_logs_in_again_and_resets_the_back_off(
        self, client: AMIClient, endpoint: MemoryEndpoint, clock: Clock
    ) -> None:
        states: list[bool] = []
        client.on_connection(states.append)
        endpoint.drop()
        ready = client.when_ready()
        clock.advance(client.reconnect_initial_s)
        assert endpoint.attempts == 2
        endpoint.protocol.dataReceived(GREETING)
        # A fresh ActionID: an answer meant for the old connection can never match.
        assert endpoint.take() == LOGIN.replace(b"hotline-1", b"hotline-2")
        endpoint.feed(
            "Response: Success\nActionID: hotline-2\nMessage: Authentication accepted\n\n"
        )
        assert result_of(ready) is None
        assert states == [False, True]
        assert client.next_reconnect_delay_s == client.reconnect_initial_s

    def test_stop_closes_and_does_not_reconnect(
        self, client: AMIClient, endpoint: MemoryEndpoint, clock: Clock
    ) -> None:
        stopped = client.stop()
        assert endpoint.transport.disconnecting
        assert has_not_fired(stopped)
        endpoint.drop()
        assert result_of(stopped) is None
        assert client.state is AMIClientState.STOPPED
        clock.advance(3600)
        assert endpoint.attempts == 1

    def test_keepalive_ping_without_answer_drops_the_connection(
        self, endpoint: MemoryEndpoint, clock: Clock
    ) -> None:
        c = make_client(endpoint, clock, keepalive_interval_s=20, action_timeout_s=5)
        c.start()
        log_in(endpoint)
        clock.advance(20)
        assert endpoint.take() == wire("Action: Ping\nActionID: hotline-2\n\n")
        endpoint.feed("Response: Success\nActionID: hotline-2\nPing: Pong\n\n")
        clock.advance(20)
        assert endpoint.take() == wire("Action: Ping\nActionID: hotline-3\n\n")
        clock.advance(5)
        assert endpoint.transport.disconnecting


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise_out_of_the_client_protocol(data: bytes) -> None:
    clock, endpoint = Clock(), MemoryEndpoint()
    c = make_client(endpoint, clock)
    c.start()
    endpoint.protocol.dataReceived(GREETING)
    for i in range(0, len(data), 11):
        endpoint.protocol.dataReceived(data[i : i + 11])
    assert c.state in (
        AMIClientState.LOGGING_IN,
        AMIClientState.AUTH_FAILED,
        AMIClientState.READY,
    )


def test_the_recorded_asterisk_stream_reaches_subscribers(
    client: AMIClient, endpoint: MemoryEndpoint
) -> None:
    events: list[AMIMessage] = []
    originate_responses: list[AMIMessage] = []
    client.subscribe("*", events.append)
    client.subscribe("OriginateResponse", originate_responses.append)
    endpoint.protocol.dataReceived(recorded_wire())
    blocks = AMI_RECORDING.read_text().strip("\n").split("\n\n")
    assert len(events) == sum(1 for b in blocks if b.startswith("Event:"))
    assert [m.action_id for m in originate_responses] == ["orig-1", "orig-2"]
    assert client.ready and not endpoint.transport.disconnecting


def test_client_service_starts_and_stops_the_client(endpoint: MemoryEndpoint, clock: Clock) -> None:
    service = AMIClientService(make_client(endpoint, clock))
    service.startService()
    assert endpoint.attempts == 1 and service.client.state is AMIClientState.LOGGING_IN
    stopped = service.stopService()
    endpoint.drop()
    assert result_of(stopped) is None
    assert service.client.state is AMIClientState.STOPPED
