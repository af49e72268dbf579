"""The supervisors' listen / whisper / barge calls that run now (R-4.7), as the AMI shows them.

A spy call is an Originate of ChanSpy to a supervisor's phone (``AMIClient.spy``) that
carries the channel variable :data:`SPY_VARIABLE` = ``<supervisor id>-<call id>-<mode>``.
Asterisk reports the variable on the new channel (``VarSet``), its answer (``Newstate``
Up) and its end (``Hangup``: the supervisor stopped or hung up, the phone did not answer,
or ChanSpy ended with the spied-on call, option ``E``) to every AMI session, so every web
process knows every supervisor's running spy calls, whichever process started them: a
page loaded again, or in a second tab or on another process, shows the mode and its Stop.

After a lost connection the events in between are gone: at the next login the channels
Asterisk still has are listed (``CoreShowChannels``) and the spy calls not among them
forgotten. Listeners are told which supervisor's spy calls changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from twisted.logger import Logger

from ami.client import AMIClient
from ami.listeners import Listeners
from ami.protocol import AMIError, AMIMessage

_log = Logger()
SPY_VARIABLE = "HOTLINE_SPY"
Listener = Callable[[int], object]
_UP = "6"  # AST_STATE_UP


@dataclass(frozen=True)
class SpyCall:
    """A supervisor's phone in ChanSpy on a call (or ringing to get there)."""

    channel: str  # the supervisor's phone's channel: what Stop hangs up
    supervisor_id: int
    call_id: int
    mode: str  # listen, whisper, barge
    answered: bool = False


def spy_tag(supervisor_id: int, call_id: int, mode: str) -> str:
    """The value of :data:`SPY_VARIABLE` for a spy call (no comma, quote or backslash)."""
    return f"{int(supervisor_id)}-{int(call_id)}-{mode}"


def _parse_tag(value: str) -> tuple[int, int, str] | None:
    parts = value.split("-")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit() or not parts[2]:
        return None
    return int(parts[0]), int(parts[1]), parts[2]


class SpySessions:
    """The running spy calls one AMI client has heard of, by the supervisor's channel."""

    def __init__(self, client: AMIClient) -> None:
        self._client = client
        self._calls: dict[str, SpyCall] = {}
        self._listeners: Listeners[int] = Listeners("spy call")
        client.subscribe("VarSet", self._variable)
        client.subscribe("Newstate", self._state)
        client.subscribe("Hangup", self._hangup)
        client.on_connection(self._connection)

    def of(self, supervisor_id: int) -> tuple[SpyCall, ...]:
        """The supervisor's spy calls, oldest first."""
        return tuple(c for c in self._calls.values() if c.supervisor_id == supervisor_id)

    def find(self, channel: str) -> SpyCall | None:
        return self._calls.get(channel)

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(supervisor_id)`` after each change; returns the way to stop."""
        return self._listeners.add(listener)

    def _changed(self, supervisor_id: int) -> None:
        self._listeners.tell(supervisor_id)

    def _variable(self, event: AMIMessage) -> None:
        if (event.get("Variable", "") or "").upper() != SPY_VARIABLE:
            return
        channel = event.get("Channel", "") or ""
        tag = _parse_tag(event.get("Value", "") or "")
        if not channel or tag is None:
            return
        supervisor_id, call_id, mode = tag
        answered = (event.get("ChannelState", "") or "") == _UP
        self._calls[channel] = SpyCall(channel, supervisor_id, call_id, mode, answered)
        self._changed(supervisor_id)

    def _state(self, event: AMIMessage) -> None:
        found = self._calls.get(event.get("Channel", "") or "")
        if found is None or found.answered or (event.get("ChannelState", "") or "") != _UP:
            return
        self._calls[found.channel] = replace(found, answered=True)
        self._changed(found.supervisor_id)

    def _hangup(self, event: AMIMessage) -> None:
        found = self._calls.pop(event.get("Channel", "") or "", None)
        if found is not None:
            self._changed(found.supervisor_id)

    def _connection(self, up: bool) -> None:
        if not up or not self._calls:
            return
        try:
            d = self._client.core_show_channels()
        except AMIError:
            return
        d.addCallbacks(
            self._still_there,
            lambda f: _log.info("spy calls not checked: {e}", e=f.getErrorMessage()),
        )

    def _still_there(self, channels: list[AMIMessage]) -> None:
        alive = {c.get("Channel", "") for c in channels}
        for channel in [c for c in self._calls if c not in alive]:
            self._changed(self._calls.pop(channel).supervisor_id)
