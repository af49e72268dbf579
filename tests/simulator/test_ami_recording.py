"""The simulator's AMI events, call by call, against the recording of a real Asterisk 22.

``ami-originate-and-redirect-events.txt`` holds every event of (1) an ``Originate`` of
``Local/answer@agents/n`` into ``outbound-sim,420777123456`` (ActionID ``orig-1``), whose
``outbound-sim`` dialplan dials ``Local/answer@agents/n`` once more, and (2) an ``Originate`` of
``Local/hangupwait@probe/n`` to ``Application: Wait`` (``orig-2``) whose ``;2`` half runs AGI
``hangupwait`` and is then redirected (``redir-1``) out of its ``WAIT FOR DIGIT`` into
``redirect-target,q2,1``. Events of other calls are interleaved (the recording starts while an
earlier click-to-call is still talking).

Each test replays the same actions through the fake AMI server in front of the simulated switch
(a client on the memory network, real AMI bytes) and compares EVERY event of the call (all
channels with the call's Linkedid, the LocalBridge of its Local pairs, its bridges), per
channel, in order, with every field in order. Only what differs from run to run is mapped:
uniqueids and channel sequence numbers become their rank in the call (they increase in Asterisk),
bridge ids their order of appearance, and ``*_MS`` durations are compared to 0.1 s.

res_agi's random ``CommandId`` becomes its order in the call. ``DeviceStateChange`` is compared
for orig-2 only: in orig-1 the device ``Local/answer@agents`` is shared with the earlier call.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from twisted.internet.protocol import ClientFactory, Protocol
from twisted.internet.task import Clock

from ami.protocol import AMIMessage, AMIParser
from simulator.dialplan import Agi, App, Context, Dialplan, Extension
from simulator.fake_ami import FakeAMIFactory, RecordingBackend
from simulator.media import SoundCatalogue
from simulator.memnet import MemoryNetwork, advance_to
from simulator.switch import CallerScript, PhoneBook, Switch
from tests.simulator.support import ScriptedAGI, ScriptedAGIFactory
from tests.support.asterisk_facts import recorded_wire

#: What is compared per event. Fields an event does not carry are left out.
KEYS: dict[str, tuple[str, ...]] = {
    "Newchannel": ("Channel", "ChannelState", "Context", "Exten", "Uniqueid", "Linkedid"),
    "Newexten": ("Channel", "Context", "Exten", "Application", "Uniqueid", "Linkedid"),
    "VarSet": ("Channel", "Context", "Exten", "Variable", "Value", "Uniqueid", "Linkedid"),
    "Newstate": ("Channel", "ChannelState", "Uniqueid"),
    "DialBegin": (
        "Channel",
        "DestChannel",
        "DestContext",
        "DestExten",
        "DestUniqueid",
        "DestLinkedid",
        "DialString",
    ),
    "DialEnd": ("Channel", "DestChannel", "DialStatus"),
    "OriginateResponse": (
        "ActionID",
        "Response",
        "Channel",
        "Context",
        "Exten",
        "Application",
        "Data",
        "Reason",
        "Uniqueid",
        "CallerIDNum",
        "CallerIDName",
    ),
    "BridgeEnter": ("Channel", "Context", "Exten", "Uniqueid", "Linkedid", "BridgeUniqueid"),
    "BridgeLeave": ("Channel", "Context", "Exten", "Uniqueid", "Linkedid", "BridgeUniqueid"),
    "Hangup": ("Channel", "Context", "Exten", "Uniqueid", "Linkedid"),
}
#: The variables whose VarSet events are compared: the Originate's own, Dial's outcome and
#: the AGI outcome (the ones Hotline or its operators look at).
VARIABLES = {"HOTLINE_CALL_ID", "DIALSTATUS", "AGISTATUS"}

_CHANNEL_SEQ = re.compile(r"-([0-9a-f]{8})(?=;|$)")
_IDS = ("Uniqueid", "Linkedid", "DestUniqueid", "DestLinkedid", "BridgeUniqueid")

Step = tuple[tuple[str, str], ...]


class _Labels:
    """Replaces volatile ids by the order they first appear in (``<1>``, ``<2>`` ...)."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def label(self, value: str) -> str:
        if value not in self._seen:
            self._seen[value] = f"<{len(self._seen) + 1}>"
        return self._seen[value]

    def channel(self, name: str) -> str:
        return _CHANNEL_SEQ.sub(lambda match: "-" + self.label("seq " + match.group(1)), name)


def _concerns(message: AMIMessage, channel: str) -> bool:
    """The event is about ``channel``: its own, or (DialBegin/DialEnd of an Originate, which
    have no calling channel) the one dialled."""
    own = message.get("Channel")
    return own == channel or (own is None and message.get("DestChannel") == channel)


def call_steps(messages: Iterable[AMIMessage], channel: str) -> list[Step]:
    """The compared events of ``channel``, in order, ids replaced by labels."""
    labels = _Labels()
    steps: list[Step] = []
    for message in messages:
        name = message.event
        if name not in KEYS or not _concerns(message, channel):
            continue
        if name == "VarSet" and message.get("Variable") not in VARIABLES:
            continue
        step = [("Event", name)]
        for key in KEYS[name]:
            value = message.get(key)
            if value is None:
                continue
            if key in ("Channel", "DestChannel"):
                value = labels.channel(value)
            elif key in _IDS:
                value = labels.label(value)
            step.append((key, value))
        steps.append(tuple(step))
    return steps


_UNIQUEID = re.compile(r"^(?:[^.]+-)?(\d+)\.(\d+)$")
_SEQ_IN_NAME = re.compile(r"-([0-9a-f]{8})(?=;|$)")
Event = tuple[tuple[str, str], ...]


def _call_members(after: Sequence[AMIMessage], linkedid: str, *, devices: bool) -> list[AMIMessage]:
    """The events of the call whose Linkedid is ``linkedid``, in order; with ``devices``
    the DeviceStateChange events of the devices its channels are on."""
    members: list[AMIMessage] = []
    bridges: set[str] = set()
    on_devices: set[str] = set()
    for message in after:
        if message.event is None:
            continue
        if message.event == "DeviceStateChange":
            if devices and message.get("Device") in on_devices:
                members.append(message)
            continue
        own = (
            message.get("Linkedid")
            or message.get("DestLinkedid")
            or message.get("LocalOneLinkedid")
            or (message.get("Uniqueid") if message.event == "OriginateResponse" else None)
        )
        if own == linkedid:
            members.append(message)
            if message.event == "Newchannel":
                on_devices.add((message.get("Channel") or "").rpartition("-")[0])
            if message.event == "BridgeEnter":
                bridges.add(message.get("BridgeUniqueid") or "")
        elif own is None and message.get("BridgeUniqueid") is not None:
            members.append(message)  # BridgeCreate/Destroy: kept if the call uses the bridge
    return [
        m
        for m in members
        if m.event not in ("BridgeCreate", "BridgeDestroy") or m.get("BridgeUniqueid") in bridges
    ]


def call_events(
    messages: Sequence[AMIMessage], action_id: str, *, devices: bool = True
) -> dict[str, list[Event]]:
    """Every event of the call the OriginateResponse of ``action_id`` names, per channel
    (DialBegin/End of an Originate under the dialled channel, LocalBridge under its ``;1``
    half, BridgeCreate/Destroy under ``bridge``, DeviceStateChange under the device), ids
    mapped as the module docstring says."""
    after = _after_response(messages, action_id)
    (response,) = [m for m in after if m.event == "OriginateResponse" and m.action_id == action_id]
    linkedid = response.get("Uniqueid")
    assert linkedid is not None
    return events_of_call(after, linkedid, devices=devices)


def events_of_call(
    after: Sequence[AMIMessage], linkedid: str, *, devices: bool = True
) -> dict[str, list[Event]]:
    """:func:`call_events` of the call whose Linkedid is ``linkedid``."""
    members = _call_members(after, linkedid, devices=devices)
    uniqueids: set[str] = set()
    seqs: set[str] = set()
    bridges: list[str] = []
    for message in members:
        for key, value in message:
            if key.endswith(("Uniqueid", "Linkedid")) and _UNIQUEID.match(value):
                uniqueids.add(value)
            seqs.update(_SEQ_IN_NAME.findall(value) if "/" in value else ())
            if key == "BridgeUniqueid" and value not in bridges:
                bridges.append(value)

    def rank(value: str) -> tuple[int, int]:
        match = _UNIQUEID.match(value)
        assert match is not None
        return int(match.group(1)), int(match.group(2))

    labels = {u: f"<u{n}>" for n, u in enumerate(sorted(uniqueids, key=rank), start=1)}
    labels.update({b: f"<b{n}>" for n, b in enumerate(bridges, start=1)})
    seq_labels = {q: f"<c{n}>" for n, q in enumerate(sorted(seqs, key=lambda q: int(q, 16)), 1)}

    def value_of(key: str, value: str, variable: str) -> str:
        if value in labels:
            return labels[value]
        if key == "Value" and variable.endswith("_MS") and value.isdigit():
            return f"~{round(int(value) / 100) / 10}s"
        return _SEQ_IN_NAME.sub(lambda m: "-" + seq_labels.get(m.group(1), m.group(1)), value)

    per_channel: dict[str, list[Event]] = {}
    command_ids: dict[str, str] = {}  # res_agi's random CommandId: its order in the call
    for message in members:
        variable = message.get("Variable") or ""
        event = tuple(
            (
                key,
                command_ids.setdefault(value, f"<cmd{len(command_ids) + 1}>")
                if key == "CommandId"
                else value_of(key, value, variable),
            )
            for key, value in message
        )
        fields = dict(event)
        bucket = (
            fields.get("Channel")
            or fields.get("DestChannel")
            or fields.get("LocalOneChannel")
            or fields.get("Device")
            or "bridge"
        )
        per_channel.setdefault(bucket, []).append(event)
    return per_channel


def _messages(wire: bytes, *, greeting: bool) -> list[AMIMessage]:
    parser = AMIParser(expect_greeting=greeting, max_message_bytes=1 << 20)
    return [m for m in parser.feed(wire) if isinstance(m, AMIMessage)]


RECORDED = _messages(recorded_wire(), greeting=False)


def _after_response(messages: Sequence[AMIMessage], action_id: str) -> list[AMIMessage]:
    """The messages after the action's own ``Response:`` (the events it caused)."""
    for index, message in enumerate(messages):
        if message.event is None and message.action_id == action_id:
            return list(messages[index + 1 :])
    raise AssertionError(f"no response to {action_id}")


def originated_call(messages: Sequence[AMIMessage], action_id: str) -> list[Step]:
    """The steps of the channel the OriginateResponse of ``action_id`` names."""
    after = _after_response(messages, action_id)
    (response,) = [m for m in after if m.event == "OriginateResponse" and m.action_id == action_id]
    channel = response.get("Channel")
    assert channel is not None
    return call_steps(after, channel)


def redirected_call(messages: Sequence[AMIMessage], action_id: str) -> list[Step]:
    """The steps of the redirected channel after the Redirect's response: the first channel
    that then runs a dialplan step (its old AGI ended, it goes on at the new place)."""
    after = _after_response(messages, action_id)
    channel = next(m.get("Channel") for m in after if m.event == "Newexten")
    assert channel is not None
    return call_steps(after, channel)


# -- the simulated box, set up as the recorded one was (facts README) -------------------------


def recorded_dialplan() -> Dialplan:
    return Dialplan(
        [
            Context(
                "probe",
                (
                    Extension(
                        "_[a-z].",
                        (
                            Agi("agi://127.0.0.1:4573/${EXTEN}"),
                            App("NoOp", "after AGI AGISTATUS=${AGISTATUS}"),
                            App("Hangup"),
                        ),
                    ),
                ),
            ),
            Context(
                "outbound-sim",
                (
                    Extension(
                        "_X.",
                        (
                            App("NoOp", "outbound to ${EXTEN} cid=${CALLERID(all)}"),
                            App("Dial", "Local/answer@agents/n,20"),
                        ),
                    ),
                ),
            ),
            Context(
                "agents",
                (
                    Extension(
                        "answer",
                        (App("Wait", "2"), App("Answer"), App("Wait", "5"), App("Hangup")),
                    ),
                ),
            ),
            Context(
                "redirect-target",
                (
                    Extension(
                        "q2", (App("NoOp", "redirected"), Agi("agi://127.0.0.1:4573/redirected"))
                    ),
                ),
            ),
        ]
    )


class AMIClient(Protocol):
    """Logs in, sends what the test gives it, keeps every byte the fake AMI sends."""

    def __init__(self) -> None:
        self.received = b""

    def connectionMade(self) -> None:
        self.send("Action: Login\nActionID: login\nUsername: hotline\nSecret: s3cret\n\n")

    def send(self, text: str) -> None:
        transport: Any = self.transport
        transport.write(text.replace("\n", "\r\n").encode())

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def messages(self) -> list[AMIMessage]:
        return _messages(self.received, greeting=True)


class Box:
    """The switch behind the fake AMI on a memory network, one AMI client logged in."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = Clock()
        self.clock.advance(1795313257)
        self.network = MemoryNetwork(self.clock)
        self.agi_scripts: dict[str, Callable[[ScriptedAGI], Awaitable[None]]] = {}
        self.agi_errors: list[Any] = []

        async def dispatch(agi: ScriptedAGI) -> None:
            await self.agi_scripts[agi.env["agi_network_script"]](agi)

        self.agi = ScriptedAGIFactory(dispatch, self.clock)
        self.network.listenTCP(4573, self.agi, interface="127.0.0.1")
        self.switch = Switch(
            clock=self.clock,
            connector=self.network,
            dialplan=recorded_dialplan(),
            phones=PhoneBook(),  # the Local targets run the dialplan
            sounds=SoundCatalogue(default_duration_s=None),
            spool_dir=tmp_path,
        )
        self.ami = FakeAMIFactory(self.switch, "hotline", "s3cret", clock=self.clock)
        self.switch.emit = self.ami.emit
        self.network.listenTCP(5038, self.ami, interface="127.0.0.1")
        self.client = AMIClient()
        factory = ClientFactory()
        factory.buildProtocol = lambda addr: self.client  # type: ignore[method-assign]
        self.network.connectTCP("127.0.0.1", 5038, factory)
        self.run(1)

    def run(self, seconds: float) -> None:
        advance_to(self.clock, self.clock.seconds() + seconds)
        for failure in self.agi.errors:
            failure.raiseException()


ORIGINATE_1 = (
    "Action: Originate\nActionID: orig-1\nChannel: Local/answer@agents/n\n"
    "Context: outbound-sim\nExten: 420777123456\nPriority: 1\nCallerID: Hotline <2222>\n"
    "Variable: HOTLINE_CALL_ID=42\nAsync: true\n\n"
)
ORIGINATE_2 = (
    "Action: Originate\nActionID: orig-2\nChannel: Local/hangupwait@probe/n\n"
    "Application: Wait\nData: 20\nCallerID: X <777000111>\nAsync: true\n\n"
)


def test_the_recording_is_read_per_call() -> None:
    """The BridgeEnter events near the start belong to the earlier call, not to orig-1; the
    call has both halves of both Local pairs (the originated one and the one it dials)."""
    steps = originated_call(RECORDED, "orig-1")
    names = [dict(step)["Event"] for step in steps]
    assert names.index("OriginateResponse") < names.index("BridgeEnter")
    call = call_events(RECORDED, "orig-1", devices=False)
    assert sorted(call) == [
        "Local/answer@agents-<c1>;1",
        "Local/answer@agents-<c1>;2",
        "Local/answer@agents-<c2>;1",
        "Local/answer@agents-<c2>;2",
        "bridge",
    ]
    assert dict(call["Local/answer@agents-<c1>;1"][0])["Uniqueid"] == "<u1>"


def test_click_to_call_originate_gives_the_recorded_events(tmp_path: Path) -> None:
    box = Box(tmp_path)
    box.client.send(ORIGINATE_1)
    box.run(60)
    assert box.switch.channels() == []
    # The recording's DeviceStateChange of Local/answer@agents also count the earlier call's
    # channels (same device), so they cannot be told apart per call: orig-2 compares them.
    simulated = call_events(box.client.messages(), "orig-1", devices=False)
    recorded = call_events(RECORDED, "orig-1", devices=False)
    assert sorted(simulated) == sorted(recorded)
    for channel in recorded:
        assert simulated[channel] == recorded[channel], channel


def test_originate_to_an_application_then_redirect_gives_the_recorded_events(
    tmp_path: Path,
) -> None:
    """orig-2's ;2 half runs AGI hangupwait; redir-1 moves it out of WAIT FOR DIGIT into a
    new AGI that hangs up: both halves then hang up with cause 0, as recorded."""
    seen: dict[str, str] = {}

    async def hangupwait(agi: ScriptedAGI) -> None:
        await agi.command("ANSWER")
        seen["wait"] = await agi.command("WAIT FOR DIGIT 10000")
        seen["context"] = await agi.command("GET VARIABLE CONTEXT")

    async def redirected(agi: ScriptedAGI) -> None:
        seen["callerid"] = await agi.command("GET VARIABLE CALLERID(num)")
        await agi.command("HANGUP")

    box = Box(tmp_path)
    box.agi_scripts.update(hangupwait=hangupwait, redirected=redirected)
    box.client.send(ORIGINATE_2)
    box.run(2)
    (channel,) = [c["Channel"] for c in box.switch.channels() if c["Channel"].endswith(";2")]
    box.client.send(
        f"Action: Redirect\nActionID: redir-1\nChannel: {channel}\n"
        "Context: redirect-target\nExten: q2\nPriority: 1\n\n"
    )
    box.run(60)
    assert seen == {
        "wait": "200 result=-1",
        "context": "200 result=1 (redirect-target)",
        "callerid": "200 result=1 (777000111)",
    }
    assert box.switch.channels() == []
    simulated = call_events(box.client.messages(), "orig-2")
    recorded = call_events(RECORDED, "orig-2")
    assert sorted(simulated) == sorted(recorded)
    for name in recorded:
        assert simulated[name] == recorded[name], name
    assert redirected_call(box.client.messages(), "redir-1") == redirected_call(RECORDED, "redir-1")


def test_a_placed_local_call_is_the_originated_pair_of_the_transcripts(tmp_path: Path) -> None:
    """``place_call(local=True)`` (how the AGI transcript tests call) makes the Local pair
    the transcripts were recorded with: the same events as orig-2 + redir-1, without the
    OriginateResponse that only an AMI Originate gets."""

    async def hangupwait(agi: ScriptedAGI) -> None:
        await agi.command("ANSWER")
        await agi.command("WAIT FOR DIGIT 10000")
        await agi.command("GET VARIABLE CONTEXT")

    async def redirected(agi: ScriptedAGI) -> None:
        await agi.command("GET VARIABLE CALLERID(num)")
        await agi.command("HANGUP")

    box = Box(tmp_path)
    box.agi_scripts.update(hangupwait=hangupwait, redirected=redirected)
    call = box.switch.place_call(
        CallerScript(
            did="hangupwait",
            caller_id_num="777000111",
            caller_id_name="X",
            context="probe",
            local=True,
            talk_s=None,
        )
    )
    box.run(2)
    assert call.channel is not None and call.record is not None
    box.client.send(
        f"Action: Redirect\nActionID: redir-1\nChannel: {call.channel.name}\n"
        "Context: redirect-target\nExten: q2\nPriority: 1\n\n"
    )
    box.run(60)
    assert box.switch.channels() == []
    simulated = events_of_call(box.client.messages(), call.record.linkedid)
    recorded = {
        name: [event for event in events if dict(event)["Event"] != "OriginateResponse"]
        for name, events in call_events(RECORDED, "orig-2").items()
    }
    assert sorted(simulated) == sorted(recorded)
    for name in recorded:
        assert simulated[name] == recorded[name], name


def test_the_recording_backend_answers_an_originate_as_recorded() -> None:
    """The small in-memory backend (tests, demo) runs no dialplan: up to the
    OriginateResponse its events of the ;1 half (and the LocalBridge, DialBegin/End) are the
    recorded ones, field for field; the ;2 half has the recorded events except the Newexten
    of the dialplan it does not run."""
    sent: list[dict[str, str]] = []
    backend = RecordingBackend(lambda event: sent.append(dict(event)), talk_s=None)
    backend.originate(
        {
            "Channel": "Local/answer@agents/n",
            "Context": "outbound-sim",
            "Exten": "420777123456",
            "Priority": "1",
            "CallerID": "Hotline <2222>",
            "Variable": "HOTLINE_CALL_ID=42",
        },
        "orig-1",
    )
    simulated = call_events(
        [AMIMessage([("Response", "Success"), ("ActionID", "orig-1")])]
        + [AMIMessage(FakeAMIFactory.with_privilege(event)) for event in sent],
        "orig-1",
        devices=False,
    )
    answered = next(
        n
        for n, m in enumerate(RECORDED)
        if m.event == "OriginateResponse" and m.action_id == "orig-1"
    )
    recorded = call_events(RECORDED[: answered + 1], "orig-1", devices=False)
    one, two = "Local/answer@agents-<c1>;1", "Local/answer@agents-<c1>;2"
    assert sorted(simulated) == [one, two]
    assert simulated[one] == recorded[one]
    assert [dict(e)["Event"] for e in simulated[two]] == [
        dict(e)["Event"] for e in recorded[two] if dict(e)["Event"] != "Newexten"
    ]
