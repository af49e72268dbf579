"""The phones' device states (R-4.2) over the AMI client's exact bytes: the whole list asked
for after each login, each DeviceStateChange followed, nothing known while disconnected, and
a switch without DeviceStateList still followed by its events."""

from __future__ import annotations

from twisted.internet.task import Clock

from ami.client import AMIClient
from ami.device_states import DeviceStates
from tests.ami.helpers import MemoryEndpoint, wire
from tests.ami.test_client import log_in

LIST = wire("Action: DeviceStateList\nActionID: hotline-2\n\n")


def started() -> tuple[MemoryEndpoint, DeviceStates, list[str]]:
    endpoint = MemoryEndpoint()
    client = AMIClient(endpoint, "hotline", "s3cret", Clock())
    phones = DeviceStates(client)
    told: list[str] = []
    phones.listen(told.append)
    client.start()
    log_in(endpoint)
    return endpoint, phones, told


def test_the_list_after_login_then_every_change_and_nothing_known_when_disconnected() -> None:
    endpoint, phones, told = started()
    assert endpoint.take() == LIST
    endpoint.feed(
        "Response: Success\nActionID: hotline-2\nEventList: start\n"
        "Message: Device State Changes will follow\n\n"
        "Event: DeviceStateChange\nActionID: hotline-2\nDevice: PJSIP/101\nState: NOT_INUSE\n\n"
        "Event: DeviceStateChange\nActionID: hotline-2\nDevice: PJSIP/102\nState: UNAVAILABLE\n\n"
        "Event: DeviceStateListComplete\nActionID: hotline-2\nEventList: Complete\n"
        "ListItems: 2\n\n"
    )
    assert (phones.phone("PJSIP/101"), phones.phone("PJSIP/102")) == ("online", "unavailable")
    endpoint.feed(
        "Event: DeviceStateChange\nPrivilege: call,all\nDevice: PJSIP/101\nState: RINGING\n\n"
    )
    assert phones.phone("PJSIP/101") == "ringing" and phones.phone("pjsip/101") == "ringing"
    endpoint.feed(
        "Event: DeviceStateChange\nPrivilege: call,all\nDevice: PJSIP/101\nState: RINGING\n\n"
    )
    assert told == ["PJSIP/101", "PJSIP/102", "PJSIP/101"]  # a repeat is no change
    endpoint.drop()
    assert phones.phone("PJSIP/101") == "" and phones.phone("PJSIP/102") == ""
    assert sorted(told[3:]) == ["pjsip/101", "pjsip/102"]  # the screens hear of it


def test_a_switch_without_the_list_is_still_followed_by_its_events() -> None:
    endpoint, phones, told = started()
    assert endpoint.take() == LIST
    endpoint.feed("Response: Error\nActionID: hotline-2\nMessage: Invalid/unknown command\n\n")
    assert phones.phone("PJSIP/101") == ""
    endpoint.feed(
        "Event: DeviceStateChange\nPrivilege: call,all\nDevice: PJSIP/101\nState: INUSE\n\n"
    )
    assert phones.phone("PJSIP/101") == "busy" and told == ["PJSIP/101"]
