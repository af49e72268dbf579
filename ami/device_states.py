"""Phones' device states as Asterisk reports them over the AMI (R-4.2: "phone state").

:class:`DeviceStates` follows ``DeviceStateChange`` events of one :class:`ami.AMIClient`
and keeps, per device (``PJSIP/101``: a seat's dial string), the latest state. After every
login it asks for the whole list (``DeviceStateList``, Asterisk 13 and later; a switch
that does not know the action leaves the states to the events that follow); while the
connection is down nothing is known, because nothing is heard. Listeners are told of each
change (the supervisor's screens refresh on them).

:func:`phone_state` says a device state the way the supervisor's screen does: online (an
idle, registered phone), busy, ringing, unavailable, or "" when not known.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.logger import Logger

from ami.client import AMIClient, AMIListResult
from ami.listeners import Listeners
from ami.protocol import AMIError, AMIMessage

_log = Logger()
Listener = Callable[[str], object]

# Asterisk's ast_device_state names (devicestate.h) -> what the screen says.
_PHONE_STATES = {
    "NOT_INUSE": "online",
    "INUSE": "busy",
    "BUSY": "busy",
    "ONHOLD": "busy",
    "RINGING": "ringing",
    "RINGINUSE": "ringing",
    "UNAVAILABLE": "unavailable",
    "INVALID": "unavailable",
}


def phone_state(device_state: str | None) -> str:
    """online / busy / ringing / unavailable, or "" (not known) for ``device_state``."""
    return _PHONE_STATES.get((device_state or "").strip().upper(), "")


class DeviceStates:
    """The latest device state of every phone one AMI client has heard of."""

    def __init__(self, client: AMIClient) -> None:
        self._client = client
        self._states: dict[str, str] = {}
        self._listeners: Listeners[str] = Listeners("device state")
        client.subscribe("DeviceStateChange", self._changed)
        client.on_connection(self._connection)

    def phone(self, device: str) -> str:
        """What the screen says of ``device`` (a dial string such as ``PJSIP/101``)."""
        return phone_state(self._states.get(device.lower()))

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(device)`` after each change; returns the way to stop."""
        return self._listeners.add(listener)

    def _set(self, device: str, state: str) -> None:
        if not device:
            return
        key = device.lower()
        if self._states.get(key) == state:
            return
        self._states[key] = state
        self._listeners.tell(device)

    def _changed(self, event: AMIMessage) -> None:
        self._set(event.get("Device", "") or "", event.get("State", "") or "")

    def _connection(self, up: bool) -> None:
        if not up:
            devices = list(self._states)
            self._states.clear()
            for device in devices:
                self._listeners.tell(device)
            return
        try:
            d = self._client.send_list_action("DeviceStateList")
        except AMIError:
            return
        d.addCallbacks(
            self._listed, lambda f: _log.info("no DeviceStateList: {e}", e=f.getErrorMessage())
        )

    def _listed(self, result: AMIListResult) -> None:
        for event in result.events:
            if (event.get("Event", "") or "").lower() == "devicestatechange":
                self._changed(event)
