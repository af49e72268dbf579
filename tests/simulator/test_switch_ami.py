"""The switch as the fake AMI server's backend: originate, redirect, hangup, DTMF, vars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simulator import fake_ami
from simulator.switch import PhoneBehaviour, PhoneBook
from tests.simulator.support import Harness, ScriptedAGI, record_of

PHONES = PhoneBook(
    {
        "PJSIP/101": PhoneBehaviour(answer_after_s=2, talk_s=20),
        "PJSIP/102": PhoneBehaviour(answer_after_s=None),
        "PJSIP/103": PhoneBehaviour(busy=True),
    },
    default=PhoneBehaviour(answer_after_s=3, talk_s=10),  # external numbers via the trunk
)
ORIGINATE = {
    "Channel": "PJSIP/101",
    "Context": "hotline-outbound",
    "Exten": "420777123456",
    "Priority": "1",
    "CallerID": "Hotline <2222>",
    "Variable": "HOTLINE_CALL_ID=42",
    "Async": "true",
    "Timeout": "30000",
}


def events_named(harness: Harness, name: str) -> list[dict[str, str]]:
    return [event for event in harness.events if event["Event"] == name]


def test_click_to_call_rings_the_agent_then_runs_the_outbound_flow(tmp_path: Path) -> None:
    seen: dict[str, object] = {}

    async def outbound(agi: ScriptedAGI) -> None:
        seen["env"] = agi.env
        seen["call_id"] = await agi.command("GET VARIABLE HOTLINE_CALL_ID")
        seen["dial"] = await agi.command("EXEC Dial PJSIP/420777123456@trunk,30")
        await agi.command("HANGUP")

    harness = Harness(tmp_path, phones=PHONES)
    harness.serve("127.0.0.1:4573", outbound, only="outbound")
    harness.switch.originate(dict(ORIGINATE), "orig-1")
    harness.run(60)
    env = seen["env"]
    assert isinstance(env, dict)
    assert env["agi_channel"] == "PJSIP/101-00000000"
    assert env["agi_extension"] == "420777123456"
    assert (env["agi_callerid"], env["agi_calleridname"]) == ("2222", "Hotline")
    assert seen["call_id"] == "200 result=1 (42)"
    assert seen["dial"] == "200 result=-1"  # the customer talked 10 s and hung up

    names = harness.event_names()
    response = events_named(harness, "OriginateResponse")
    assert response == [
        {
            "Event": "OriginateResponse",
            "Privilege": "call,all",
            "ActionID": "orig-1",
            "Channel": "PJSIP/101-00000000",
            "Context": "hotline-outbound",
            "Exten": "420777123456",
            "Response": "Success",
            "Reason": "4",
            "Uniqueid": env["agi_uniqueid"],
            "CallerIDNum": "2222",
            "CallerIDName": "Hotline",
        }
    ]
    # The order Hotline relies on (ami-originate-and-redirect-events.txt).
    first = {name: names.index(name) for name in reversed(names)}
    assert (
        first["Newchannel"]
        < first["VarSet"]
        < first["DialBegin"]
        < first["DialEnd"]
        < first["OriginateResponse"]
        < first["BridgeEnter"]
        < first["Hangup"]
    )
    var_set = events_named(harness, "VarSet")[0]
    assert (var_set["Variable"], var_set["Value"], var_set["Privilege"]) == (
        "HOTLINE_CALL_ID",
        "42",
        "dialplan,all",
    )
    hangups = {event["Channel"]: event["Cause"] for event in events_named(harness, "Hangup")}
    assert hangups == {"PJSIP/101-00000000": "16", "PJSIP/trunk-00000001": "16"}
    record = harness.switch.calls[0]
    assert record.direction == "out"
    assert [ring.outcome for ring in record.rings] == ["answered", "answered"]


@pytest.mark.parametrize(
    ("channel", "reason", "cause"),
    [("PJSIP/102", "3", "19"), ("PJSIP/103", "5", "17"), ("PJSIP/999", "0", None)],
)
def test_failed_originate(tmp_path: Path, channel: str, reason: str, cause: str | None) -> None:
    phones = PhoneBook(
        {"PJSIP/102": PhoneBehaviour(answer_after_s=None), "PJSIP/103": PhoneBehaviour(busy=True)}
    )
    harness = Harness(tmp_path, phones=phones)
    harness.switch.originate({**ORIGINATE, "Channel": channel, "Timeout": "15000"}, "o-9")
    harness.run(60)
    (response,) = events_named(harness, "OriginateResponse")
    assert (response["ActionID"], response["Response"], response["Reason"]) == (
        "o-9",
        "Failure",
        reason,
    )
    hangup_causes = [event["Cause"] for event in events_named(harness, "Hangup")]
    assert hangup_causes == ([cause] if cause else [])


def test_redirect_of_a_waiting_caller_starts_the_transfer_session(tmp_path: Path) -> None:
    seen: dict[str, object] = {}

    async def inbound(agi: ScriptedAGI) -> None:
        await agi.command("ANSWER")
        seen["wait"] = await agi.command("WAIT FOR DIGIT 30000")
        seen["context"] = await agi.command("GET VARIABLE CONTEXT")
        seen["hangup_lines"] = agi.hangup_lines

    async def transfer(agi: ScriptedAGI) -> None:
        seen["transfer_env"] = agi.env
        await agi.command("SET VARIABLE HOTLINE_DONE 1")
        await agi.command("HANGUP")

    harness = Harness(tmp_path, inbound)
    harness.serve("127.0.0.1:4573", transfer, only="transfer")
    call = harness.call()
    harness.run(5)
    assert harness.switch.redirect("PJSIP/trunk-00000000", "hotline-transfer", "q7", "1")
    harness.run(60)
    assert seen["wait"] == "200 result=-1"
    assert seen["context"] == "200 result=1 (hotline-transfer)"
    assert seen["hangup_lines"] == 1
    env = seen["transfer_env"]
    assert isinstance(env, dict)
    assert (env["agi_context"], env["agi_extension"], env["agi_arg_1"]) == (
        "hotline-transfer",
        "q7",
        "q7",
    )
    assert env["agi_uniqueid"] == record_of(call).linkedid
    assert [run.status for run in record_of(call).agi_runs] == ["HANGUP", "HANGUP"]


def test_dtmf_variables_and_hangup_through_the_backend(tmp_path: Path) -> None:
    seen: list[str] = []

    async def inbound(agi: ScriptedAGI) -> None:
        await agi.command("ANSWER")
        await agi.command("SET VARIABLE FROM_FLOW yes")
        seen.append(await agi.command("WAIT FOR DIGIT 30000"))
        seen.append(await agi.command("GET VARIABLE FROM_AMI"))
        seen.append(await agi.command("WAIT FOR DIGIT 30000"))

    harness = Harness(tmp_path, inbound)
    call = harness.call()
    harness.run(2)
    backend = harness.switch
    name = "PJSIP/trunk-00000000"
    (listed,) = backend.channels()
    assert listed["Channel"] == name and listed["ChannelStateDesc"] == "Up"
    assert listed["Application"] == "AGI" and listed["Duration"] == "00:00:02"
    assert backend.getvar(name, "FROM_FLOW") == "yes"
    assert backend.getvar(name, "NOT_SET") is None
    assert backend.setvar(name, "FROM_AMI", "hello")
    assert backend.play_dtmf(name, "5")
    harness.run(1)
    assert backend.hangup(name, 17)
    harness.run(60)
    assert seen == ["200 result=53", "200 result=1 (hello)", "200 result=-1"]
    (hangup,) = events_named(harness, "Hangup")
    assert (hangup["Cause"], hangup["Cause-txt"]) == ("17", "User busy")
    assert record_of(call).hangup_by == "ami"
    for method, args in (
        (backend.redirect, ("PJSIP/nope", "x", "y", "1")),
        (backend.hangup, ("PJSIP/nope", 16)),
        (backend.play_dtmf, ("PJSIP/nope", "1")),
        (backend.setvar, ("PJSIP/nope", "A", "1")),
    ):
        assert method(*args) is False
    assert backend.getvar("PJSIP/nope", "A") is None
    assert backend.channels() == []


def _fake_ami_session(harness: Harness, request: bytes, run_s: float) -> str:
    """The fake AMI server on the harness's switch; a client sends ``request`` at once and
    everything it receives in ``run_s`` is returned."""
    factory = fake_ami.FakeAMIFactory(harness.switch, "hotline", "s3cret", clock=harness.clock)
    harness.switch.emit = factory.emit
    harness.network.listenTCP(5038, factory, interface="127.0.0.1")
    received: list[bytes] = []

    from twisted.internet.protocol import ClientFactory, Protocol

    class Client(Protocol):
        def connectionMade(self) -> None:
            transport: Any = self.transport
            transport.write(request)

        def dataReceived(self, data: bytes) -> None:
            received.append(data)

    client_factory = ClientFactory()
    client_factory.protocol = Client
    harness.network.connectTCP("127.0.0.1", 5038, client_factory)
    harness.run(run_s)
    return b"".join(received).decode()


def test_the_fake_ami_server_drives_the_switch(tmp_path: Path) -> None:
    text = _fake_ami_session(
        Harness(tmp_path, phones=PHONES),
        b"Action: Login\r\nUsername: hotline\r\nSecret: s3cret\r\n\r\n"
        b"Action: Originate\r\nActionID: o-1\r\nChannel: PJSIP/102\r\n"
        b"Context: hotline-outbound\r\nExten: 123\r\nPriority: 1\r\n"
        b"Timeout: 5000\r\nAsync: true\r\n\r\n",
        30,
    )
    assert "Message: Originate successfully queued" in text
    assert "Event: OriginateResponse\r\nPrivilege: call,all\r\nActionID: o-1\r\n" in text
    assert "Response: Failure" in text and "Reason: 3" in text


def test_device_state_list_names_every_phone_with_its_state(
    tmp_path: Path,
) -> None:
    """As Asterisk 22 (res_manager_devicestate): DeviceStateList answers with one
    DeviceStateChange per device, then DeviceStateListComplete; the supervisor's Agents
    panel reads its phones' states from it at login (R-4.2)."""
    phones = PhoneBook(
        {
            "PJSIP/101": PhoneBehaviour(answer_after_s=2, talk_s=1),
            "PJSIP/104": PhoneBehaviour(unavailable=True),
        }
    )
    text = _fake_ami_session(
        Harness(tmp_path, phones=phones),
        b"Action: Login\r\nUsername: hotline\r\nSecret: s3cret\r\nEvents: off\r\n\r\n"
        b"Action: DeviceStateList\r\nActionID: d-1\r\n\r\n",
        5,
    )
    assert "Response: Success\r\nActionID: d-1\r\nEventList: start\r\n" in text
    listed = text[text.index("EventList: start") :]
    assert (
        "Event: DeviceStateChange\r\nActionID: d-1\r\nDevice: PJSIP/101\r\nState: NOT_INUSE"
        in listed
    )
    assert "Device: PJSIP/104\r\nState: UNAVAILABLE" in listed
    assert "Event: DeviceStateListComplete\r\nActionID: d-1\r\nEventList: Complete\r\n" in listed
    assert "ListItems: 2" in listed


LOCAL_ORIGINATE = {
    "Channel": "Local/2222@hotline-inbound/n",
    "Application": "Wait",
    "Data": "30",
    "CallerID": "X <777000111>",
    "Async": "true",
}


def test_an_originated_local_channel_is_a_pair_whose_second_half_runs_the_dialplan(
    tmp_path: Path,
) -> None:
    """As in Asterisk: ;2 runs 2222@hotline-inbound (Hotline's inbound AGI sees ;2, with the
    caller ID of the Originate); the flow's HANGUP ends ;2 and then ;1, both with cause 0."""
    seen: dict[str, str] = {}

    async def inbound(agi: ScriptedAGI) -> None:
        seen["channel"] = agi.env["agi_channel"]
        seen["callerid"] = agi.env["agi_callerid"]
        await agi.command("ANSWER")
        await agi.command("HANGUP")

    harness = Harness(tmp_path, inbound)
    harness.switch.originate(dict(LOCAL_ORIGINATE), "o-local")
    harness.run(60)
    assert seen == {"channel": "Local/2222@hotline-inbound-00000000;2", "callerid": "777000111"}
    (response,) = events_named(harness, "OriginateResponse")
    assert (response["Response"], response["Channel"]) == (
        "Success",
        "Local/2222@hotline-inbound-00000000;1",
    )
    hangups = [
        (e["Channel"][-2:], e["Cause"], e["Cause-txt"]) for e in events_named(harness, "Hangup")
    ]
    assert hangups == [(";2", "0", "Unknown"), (";1", "0", "Unknown")]
    (request,) = events_named(harness, "HangupRequest")
    assert (request["Channel"][-2:], request["Cause"]) == (";1", "0")
    (bridge,) = events_named(harness, "LocalBridge")
    assert bridge["LocalTwoChannel"] == "Local/2222@hotline-inbound-00000000;2"
    states = [e["State"] for e in events_named(harness, "DeviceStateChange")]
    assert states == ["INUSE", "INUSE", "NOT_INUSE", "NOT_INUSE"]
    assert harness.switch.channels() == []


@pytest.mark.parametrize("half", [";1", ";2"])
def test_an_ami_hangup_of_either_half_hangs_up_both_with_the_given_cause(
    tmp_path: Path, half: str
) -> None:
    """;2 is inside AGI (where an AGI HANGUP would leave cause 0): the AMI's cause wins."""
    seen: list[str] = []

    async def inbound(agi: ScriptedAGI) -> None:
        await agi.command("ANSWER")
        seen.append(await agi.command("WAIT FOR DIGIT 30000"))

    harness = Harness(tmp_path, inbound)
    harness.switch.originate(dict(LOCAL_ORIGINATE), "o-local")
    harness.run(2)
    assert harness.switch.hangup("Local/2222@hotline-inbound-00000000" + half, 17)
    harness.run(60)
    assert seen == ["200 result=-1"]
    hangups = {e["Channel"][-2:]: e["Cause"] for e in events_named(harness, "Hangup")}
    assert hangups == {";1": "17", ";2": "17"}
    assert harness.switch.channels() == []


def test_agi_commands_report_agiexec_events_with_res_agi_result_codes(tmp_path: Path) -> None:
    async def inbound(agi: ScriptedAGI) -> None:
        await agi.command("ANSWER")
        await agi.command("NO SUCH COMMAND")
        await agi.command("WAIT FOR DIGIT 1000")
        await agi.command("WAIT FOR DIGIT 5000")
        await agi.command("ANSWER")

    harness = Harness(tmp_path, inbound)
    harness.call(hangup_at_s=3)
    harness.run(60)
    starts = events_named(harness, "AGIExecStart")
    ends = events_named(harness, "AGIExecEnd")
    assert [e["Command"] for e in starts] == [e["Command"] for e in ends]
    # The inbound session's commands; the hang-up handler's resume session follows them.
    assert [(e["Command"], e["ResultCode"], e["Result"]) for e in ends[:5]] == [
        ("ANSWER", "200", "Success"),
        ("NO SUCH COMMAND", "510", "Invalid or unknown command"),
        ("WAIT FOR DIGIT 1000", "200", "Success"),  # timed out: result=0
        ("WAIT FOR DIGIT 5000", "-1", "Failure"),  # the caller hung up: result=-1
        ("ANSWER", "511", "Command Not Permitted on a dead channel or intercept routine"),
    ]
    assert [e["CommandId"] for e in starts] == [e["CommandId"] for e in ends]
    assert len({e["CommandId"] for e in starts}) == len(starts)  # each command its own id
    assert {e["Privilege"] for e in starts + ends} == {"agi,all"}
