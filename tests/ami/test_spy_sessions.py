"""The supervisors' running spy calls (R-4.7) as the AMI shows them, over the client's exact
bytes: a channel tagged ``HOTLINE_SPY`` is a spy call from its VarSet, answered at its
Newstate Up, gone at its Hangup; other variables and bad tags are nobody's; after a lost
connection the channels Asterisk still has are listed and the others forgotten."""

from __future__ import annotations

from twisted.internet.task import Clock

from ami.client import AMIClient
from ami.spy_sessions import SpyCall, SpySessions, spy_tag
from tests.ami.helpers import MemoryEndpoint, wire
from tests.ami.test_client import GREETING, log_in


def started() -> tuple[MemoryEndpoint, Clock, AMIClient, SpySessions, list[int]]:
    endpoint, clock = MemoryEndpoint(), Clock()
    client = AMIClient(endpoint, "hotline", "s3cret", clock)
    spies = SpySessions(client)
    told: list[int] = []
    spies.listen(told.append)
    client.start()
    log_in(endpoint)
    endpoint.take()
    return endpoint, clock, client, spies, told


def varset(channel: str, value: str, variable: str = "HOTLINE_SPY") -> str:
    return (
        f"Event: VarSet\nPrivilege: dialplan,all\nChannel: {channel}\nChannelState: 5\n"
        f"ChannelStateDesc: Ringing\nVariable: {variable}\nValue: {value}\n\n"
    )


def test_a_tagged_channel_is_a_spy_call_until_it_hangs_up() -> None:
    endpoint, _, _, spies, told = started()
    assert spy_tag(7, 42, "whisper") == "7-42-whisper"
    endpoint.feed(varset("PJSIP/103-00000001", "7-42-whisper"))
    endpoint.feed(varset("PJSIP/104-00000002", "8-43-listen"))
    endpoint.feed(varset("PJSIP/105-00000003", "7-44-listen", variable="OTHER"))
    endpoint.feed(varset("PJSIP/106-00000004", "7-x-listen"))  # not a tag of ours
    assert spies.of(7) == (SpyCall("PJSIP/103-00000001", 7, 42, "whisper", answered=False),)
    endpoint.feed(
        "Event: Newstate\nPrivilege: call,all\nChannel: PJSIP/103-00000001\nChannelState: 6\n"
        "ChannelStateDesc: Up\n\n"
    )
    assert spies.of(7)[0].answered and spies.find("PJSIP/103-00000001") == spies.of(7)[0]
    endpoint.feed(
        "Event: Hangup\nPrivilege: call,all\nChannel: PJSIP/103-00000001\nCause: 16\n\n"
        "Event: Hangup\nPrivilege: call,all\nChannel: PJSIP/999-00000009\nCause: 16\n\n"
    )
    assert spies.of(7) == () and len(spies.of(8)) == 1
    assert told == [7, 8, 7, 7]  # tagged, tagged, answered, gone: each supervisor's screens


def test_after_a_lost_connection_only_the_channels_still_there_are_kept() -> None:
    endpoint, clock, client, spies, told = started()
    endpoint.feed(varset("PJSIP/103-00000001", "7-42-listen"))
    endpoint.feed(varset("PJSIP/104-00000002", "7-43-barge"))
    endpoint.drop()
    assert len(spies.of(7)) == 2  # nothing heard is no end: kept while away
    clock.advance(client.reconnect_initial_s)
    endpoint.protocol.dataReceived(GREETING)
    endpoint.take()
    endpoint.feed("Response: Success\nActionID: hotline-2\nMessage: Authentication accepted\n\n")
    assert endpoint.take() == wire("Action: CoreShowChannels\nActionID: hotline-3\n\n")
    endpoint.feed(
        "Response: Success\nActionID: hotline-3\nEventList: start\n"
        "Message: Channels will follow\n\n"
        "Event: CoreShowChannel\nActionID: hotline-3\nChannel: PJSIP/104-00000002\n"
        "ChannelState: 6\nApplication: ChanSpy\nApplicationData: PJSIP/101-,qBE\n\n"
        "Event: CoreShowChannelsComplete\nActionID: hotline-3\nEventList: Complete\n"
        "ListItems: 1\n\n"
    )
    assert [s.channel for s in spies.of(7)] == ["PJSIP/104-00000002"]
    assert told[-1] == 7
