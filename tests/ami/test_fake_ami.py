"""The simulator's fake AMI server, byte for byte, with the in-memory RecordingBackend."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from ami.protocol import AMIMessage, AMIParser
from simulator.fake_ami import (
    FakeAMIFactory,
    FakeAMISession,
    RecordingBackend,
    recording_server,
)
from tests.ami.helpers import wire

GREETING = b"Asterisk Call Manager/11.0.0\r\n"


class Peer:
    """One client connection to the fake server over a StringTransport."""

    def __init__(self, factory: FakeAMIFactory) -> None:
        self.session: FakeAMISession = factory.buildProtocol(None)
        self.transport = StringTransport()
        self.session.makeConnection(self.transport)
        self.greeting = self.take()
        self._parser = AMIParser(expect_greeting=False)

    def send(self, text: str) -> None:
        self.session.dataReceived(wire(text))

    def take(self) -> bytes:
        data = self.transport.value()
        self.transport.clear()
        return data

    def messages(self) -> list[AMIMessage]:
        return [m for m in self._parser.feed(self.take()) if isinstance(m, AMIMessage)]

    def login(self, events: str | None = None) -> None:
        extra = f"Events: {events}\n" if events else ""
        self.send(f"Action: Login\nActionID: 1\nUsername: hotline\nSecret: s3cret\n{extra}\n")
        self.messages()


@pytest.fixture
def clock() -> Clock:
    c = Clock()
    c.advance(1795313257)
    return c


@pytest.fixture
def server(clock: Clock) -> tuple[FakeAMIFactory, RecordingBackend]:
    return recording_server("hotline", "s3cret", clock=clock, talk_s=None)


@pytest.fixture
def factory(server: tuple[FakeAMIFactory, RecordingBackend]) -> FakeAMIFactory:
    return server[0]


@pytest.fixture
def backend(server: tuple[FakeAMIFactory, RecordingBackend]) -> RecordingBackend:
    return server[1]


def test_greeting_then_accepted_login_then_fully_booted(
    factory: FakeAMIFactory, clock: Clock
) -> None:
    peer = Peer(factory)
    assert peer.greeting == GREETING
    clock.advance(100)
    peer.send("Action: Login\nActionID: 1\nUsername: hotline\nSecret: s3cret\n\n")
    assert peer.take() == wire(
        "Response: Success\nActionID: 1\nMessage: Authentication accepted\n\n"
        "Event: FullyBooted\nPrivilege: system,all\nUptime: 100\nLastReload: 100\n"
        "Status: Fully Booted\n\n"
    )


def test_wrong_secret_is_refused_and_the_connection_closed(factory: FakeAMIFactory) -> None:
    peer = Peer(factory)
    peer.send("Action: Login\nActionID: 1\nUsername: hotline\nSecret: guess\n\n")
    assert peer.take() == wire("Response: Error\nActionID: 1\nMessage: Authentication failed\n\n")
    assert peer.transport.disconnecting


def test_actions_before_login_are_denied(factory: FakeAMIFactory) -> None:
    peer = Peer(factory)
    peer.send("Action: Originate\nActionID: 7\nChannel: PJSIP/1\nApplication: Wait\n\n")
    assert peer.take() == wire("Response: Error\nActionID: 7\nMessage: Permission denied\n\n")
    assert not peer.transport.disconnecting


def test_unknown_and_missing_actions(factory: FakeAMIFactory) -> None:
    peer = Peer(factory)
    peer.login()
    peer.send("Action: Frobnicate\nActionID: 2\n\nActionID: 3\n\n")
    assert peer.take() == wire(
        "Response: Error\nActionID: 2\nMessage: Invalid/unknown command\n\n"
        "Response: Error\nActionID: 3\nMessage: Missing action in request\n\n"
    )


def test_ping_answers_pong_with_the_clock(factory: FakeAMIFactory, clock: Clock) -> None:
    peer = Peer(factory)
    peer.login()
    clock.advance(0.25)
    peer.send("Action: Ping\nActionID: p\n\n")
    assert peer.take() == wire(
        "Response: Success\nActionID: p\nPing: Pong\nTimestamp: 1795313257.250000\n\n"
    )


def test_originate_queued_then_the_recorded_event_sequence(
    factory: FakeAMIFactory, backend: RecordingBackend
) -> None:
    peer = Peer(factory)
    peer.login()
    peer.send(
        "Action: Originate\nActionID: orig-1\nchannel: Local/answer@agents/n\n"
        "Context: outbound-sim\nExten: 420777123456\nPriority: 1\nCallerID: Hotline <2222>\n"
        "Variable: HOTLINE_CALL_ID=42\nVariable: HOTLINE_QUEUE=sales\nAsync: true\n\n"
    )
    messages = peer.messages()
    assert messages[0] == AMIMessage(
        [
            ("Response", "Success"),
            ("ActionID", "orig-1"),
            ("Message", "Originate successfully queued"),
        ]
    )
    # As the recording shows for orig-1: no bridge before the OriginateResponse (the bridge
    # comes from the dialplan the answered call runs; tests/simulator/test_ami_recording.py).
    # A Local channel is a pair: the ;2 half gets the variables and caller ID when called.
    assert [(m.event, (m.get("Channel") or "")[-2:]) for m in messages[1:]] == [
        ("Newchannel", ";1"),
        ("Newchannel", ";2"),
        ("Newexten", ";1"),
        ("VarSet", ";1"),
        ("VarSet", ";1"),
        ("NewCallerid", ";1"),
        ("NewConnectedLine", ";1"),
        ("VarSet", ";2"),
        ("VarSet", ";2"),
        ("NewCallerid", ";2"),
        ("NewConnectedLine", ";2"),
        ("LocalBridge", ""),
        ("DialBegin", ""),
        ("Newstate", ";1"),
        ("Newstate", ";2"),
        ("DialEnd", ""),
        ("OriginateResponse", ";1"),
    ]
    assert (messages[1]["Context"], messages[1]["Exten"]) == ("agents", "answer")
    assert messages[1]["CallerIDNum"] == "<unknown>" and messages[6]["CallerIDNum"] == "2222"
    assert messages[2]["Linkedid"] == messages[1]["Uniqueid"]
    assert messages[3]["Application"] == "AppDial2"
    varsets = [
        (m["Channel"][-2:], m["Variable"], m["Value"], m["Privilege"])
        for m in messages
        if m.event == "VarSet"
    ]
    assert varsets == [
        (";1", "HOTLINE_CALL_ID", "42", "dialplan,all"),
        (";1", "HOTLINE_QUEUE", "sales", "dialplan,all"),
        (";2", "HOTLINE_CALL_ID", "42", "dialplan,all"),
        (";2", "HOTLINE_QUEUE", "sales", "dialplan,all"),
    ]
    response = messages[-1]
    assert response.fields[:4] == (
        ("Event", "OriginateResponse"),
        ("Privilege", "call,all"),
        ("ActionID", "orig-1"),
        ("Response", "Success"),
    )
    assert response["Channel"] == "Local/answer@agents-00000001;1"
    assert response["Reason"] == "4" and response["CallerIDNum"] == "2222"
    assert response["CallerIDName"] == "Hotline"
    assert messages[1]["Uniqueid"] == response["Uniqueid"]
    # The backend saw canonical header names and the Variable headers joined with commas.
    ((kind, (fields, action_id)),) = backend.calls
    assert kind == "originate" and action_id == "orig-1"
    assert fields["Channel"] == "Local/answer@agents/n"
    assert fields["Variable"] == "HOTLINE_CALL_ID=42,HOTLINE_QUEUE=sales"
    assert "Action" not in fields and "ActionID" not in fields


def test_ringing_time_and_talk_time_follow_the_clock(clock: Clock) -> None:
    factory, backend = recording_server("hotline", "s3cret", clock=clock, ring_s=3, talk_s=10)
    peer = Peer(factory)
    peer.login()
    peer.send(
        "Action: Originate\nActionID: o\nChannel: PJSIP/201\nApplication: Wait\nData: 5\n"
        "Async: true\n\n"
    )
    assert [m.event for m in peer.messages()] == [None, "Newchannel", "Newexten", "DialBegin"]
    clock.advance(3)
    events = peer.messages()
    assert events[-1].event == "OriginateResponse" and events[-1]["Application"] == "Wait"
    assert [c["Channel"] for c in backend.channels()] == ["PJSIP/201-00000001"]
    clock.advance(10)
    (hangup,) = peer.messages()
    assert (hangup.event, hangup["Cause"], hangup["Cause-txt"]) == (
        "Hangup",
        "16",
        "Normal Clearing",
    )
    assert backend.channels() == []


def test_a_busy_phone_fails_the_originate(clock: Clock) -> None:
    factory, _ = recording_server("hotline", "s3cret", clock=clock, reasons={"PJSIP/202": 5})
    peer = Peer(factory)
    peer.login()
    peer.send(
        "Action: Originate\nActionID: o\nChannel: PJSIP/202\nContext: c\nExten: e\nAsync: yes\n\n"
    )
    events = {m.event: m for m in peer.messages()}
    assert events["DialEnd"]["DialStatus"] == "BUSY"
    assert events["OriginateResponse"]["Response"] == "Failure"
    assert events["OriginateResponse"]["Reason"] == "5"
    assert (events["Hangup"]["Cause"], events["Hangup"]["Cause-txt"]) == ("17", "User busy")


@pytest.mark.parametrize(("reason", "answer"), [(4, "Success"), (3, "Error")])
def test_a_synchronous_originate_answers_when_the_call_is_decided(
    clock: Clock, reason: int, answer: str
) -> None:
    factory, _ = recording_server(
        "hotline", "s3cret", clock=clock, ring_s=2, reasons={"PJSIP/203": reason}
    )
    peer = Peer(factory)
    peer.login()
    peer.send("Action: Originate\nActionID: s\nChannel: PJSIP/203\nContext: c\nExten: e\n\n")
    # Newchannel, Newexten (AppDial2), DialBegin
    assert [m.response for m in peer.messages()] == [None, None, None]
    clock.advance(2)
    messages = peer.messages()
    responses = [m for m in messages if m.event is None]
    assert [(m.response, m.action_id) for m in responses] == [(answer, "s")]
    assert "OriginateResponse" not in [m.event for m in messages]


def test_originate_checks_like_asterisk(factory: FakeAMIFactory) -> None:
    peer = Peer(factory)
    peer.login()
    peer.send(
        "Action: Originate\nActionID: 1\nExten: e\n\n"
        "Action: Originate\nActionID: 2\nChannel: PJSIP/1\nPriority: first\n\n"
        "Action: Originate\nActionID: 3\nChannel: nonsense\nApplication: Wait\n\n"
    )
    assert [m.get("Message") for m in peer.messages()] == [
        "Channel not specified",
        "Invalid priority",
        "Invalid channel",
    ]


def test_redirect_hangup_setvar_getvar_dtmf(
    factory: FakeAMIFactory, backend: RecordingBackend
) -> None:
    backend.add_channel("PJSIP/trunk-00000001", context="hotline-inbound", exten="800")
    peer = Peer(factory)
    peer.login()
    peer.send(
        "Action: Redirect\nActionID: r1\nChannel: PJSIP/gone-00000009\nContext: x\n"
        "Exten: y\nPriority: 1\n\n"
    )
    assert peer.take() == wire(
        "Response: Error\nActionID: r1\nMessage: Channel does not exist: PJSIP/gone-00000009\n\n"
    )
    peer.send(
        "Action: Redirect\nActionID: r2\nChannel: PJSIP/trunk-00000001\n"
        "Context: hotline-transfer\nExten: q2\nPriority: 1\n\n"
    )
    messages = peer.messages()
    assert [(m.response, m.get("Message")) for m in messages if m.event is None] == [
        ("Success", "Redirect successful")
    ]
    assert backend.channels()[0]["Context"] == "hotline-transfer"
    peer.send(
        "Action: Getvar\nActionID: g1\nChannel: PJSIP/trunk-00000001\nVariable: NOPE\n\n"
        "Action: Setvar\nActionID: s1\nChannel: PJSIP/trunk-00000001\nVariable: A\nValue: b c\n\n"
        "Action: Getvar\nActionID: g2\nChannel: PJSIP/trunk-00000001\nVariable: A\n\n"
        "Action: PlayDTMF\nActionID: d1\nChannel: PJSIP/trunk-00000001\nDigit: #\n\n"
        "Action: PlayDTMF\nActionID: d2\nChannel: PJSIP/none\nDigit: 1\n\n"
        "Action: Hangup\nActionID: h1\nChannel: PJSIP/trunk-00000001\nCause: 16\n\n"
        "Action: Hangup\nActionID: h2\nChannel: PJSIP/trunk-00000001\n\n"
    )
    answers = {m.action_id: m for m in peer.messages() if m.event is None}
    assert answers["g1"].fields[-2:] == (("Variable", "NOPE"), ("Value", ""))
    assert answers["s1"]["Message"] == "Variable Set"
    assert answers["g2"]["Value"] == "b c"
    assert answers["d1"]["Message"] == "DTMF successfully queued"
    assert (answers["d2"].response, answers["d2"]["Message"]) == ("Error", "Channel not found")
    assert answers["h1"]["Message"] == "Channel Hungup"
    assert (answers["h2"].response, answers["h2"]["Message"]) == ("Error", "No such channel")
    assert backend.dtmf == [("PJSIP/trunk-00000001", "#")]


def test_core_show_channels_framing(
    factory: FakeAMIFactory, backend: RecordingBackend, clock: Clock
) -> None:
    backend.add_channel("PJSIP/trunk-00000001", context="hotline-inbound", exten="800")
    clock.advance(3725)
    peer = Peer(factory)
    peer.login()
    peer.send("Action: CoreShowChannels\nActionID: c\n\n")
    assert peer.take() == wire(
        "Response: Success\nActionID: c\nEventList: start\nMessage: Channels will follow\n\n"
        "Event: CoreShowChannel\nActionID: c\nChannel: PJSIP/trunk-00000001\nChannelState: 6\n"
        "ChannelStateDesc: Up\nCallerIDNum: <unknown>\nCallerIDName: <unknown>\n"
        "ConnectedLineNum: <unknown>\nConnectedLineName: <unknown>\nLanguage: en\n"
        "AccountCode: \nContext: hotline-inbound\nExten: 800\nPriority: 1\n"
        "Uniqueid: 1795313257.28\nLinkedid: 1795313257.28\nApplication: \nApplicationData: \n"
        "Duration: 01:02:05\nBridgeId: \n\n"
        "Event: CoreShowChannelsComplete\nActionID: c\nEventList: Complete\nListItems: 1\n\n"
    )


def test_emit_reaches_logged_in_clients_that_want_events(factory: FakeAMIFactory) -> None:
    stranger, quiet, listener = Peer(factory), Peer(factory), Peer(factory)
    quiet.login(events="off")
    listener.login()
    factory.emit({"Event": "Hangup", "Channel": "PJSIP/a-1", "Cause": "16"})
    assert listener.take() == wire(
        "Event: Hangup\nPrivilege: call,all\nChannel: PJSIP/a-1\nCause: 16\n\n"
    )
    assert stranger.take() == b"" and quiet.take() == b""


def test_transcript_masks_the_secret(factory: FakeAMIFactory) -> None:
    peer = Peer(factory)
    peer.login()
    direction, login = factory.transcript[0]
    assert direction == ">>" and login["Secret"] == "********"
    assert factory.transcript[1][0] == "<<"
    text = factory.transcript_text()
    assert ">> Action: Login\n" in text and "s3cret" not in text
    assert "<< Message: Authentication accepted\n" in text


def test_garbage_from_a_client_closes_that_connection(factory: FakeAMIFactory) -> None:
    peer = Peer(factory)
    peer.session.dataReceived(b"A" * (65 * 1024))
    assert peer.transport.disconnecting


def test_backend_without_emit_is_an_error() -> None:
    backend = RecordingBackend()
    with pytest.raises(RuntimeError):
        backend.originate({"Channel": "PJSIP/1", "Application": "Wait"}, "x")
