"""A fake Asterisk Manager Interface: the AMI half of Hotline's simulated switch.

It speaks the wire of a real Asterisk 22 (``asterisk-facts/ami-originate-and-redirect-
events.txt``): the greeting ``Asterisk Call Manager/11.0.0`` (Asterisk 22 ships AMI 11.x:
the AMI major is the Asterisk major minus 11), ``Login`` with one configured user (a wrong
secret gets ``Message: Authentication failed`` and the connection is closed, as Asterisk
does), ``FullyBooted`` after a login, the usual ``Response:`` / ``ActionID:`` / ``Message:``
answers with Asterisk's own texts, and list actions framed with ``EventList: start`` ...
``EventList: Complete`` / ``ListItems``.

What the actions DO is up to a backend implementing :class:`AMIBackend` (the simulator's
switch; :class:`RecordingBackend` is a small in-memory one for tests and the demo). The
backend reports what happens on its channels by calling :meth:`FakeAMIFactory.emit`, which
sends the event to every logged-in client with the ``Privilege:`` header real events carry.

Every message in and out is kept in :attr:`FakeAMIFactory.transcript` (secrets masked).
"""

from __future__ import annotations

import hmac
import time
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure

from ami.protocol import AMIMessage, AMIParser, AMIProtocolError, format_message
from domain.clock import Clock

AMI_VERSION = "11.0.0"
GREETING = f"Asterisk Call Manager/{AMI_VERSION}"

# Transcript directions, as in the AGI transcripts: "<<" is what (fake) Asterisk sent,
# ">>" what the client sent.
SENT = "<<"
RECEIVED = ">>"

# Privilege of the events Hotline sees, as in the recorded transcript; others get call,all.
EVENT_PRIVILEGES: dict[str, str] = {
    "fullybooted": "system,all",
    "varset": "dialplan,all",
    "newexten": "dialplan,all",
    "agiexecstart": "agi,all",
    "agiexecend": "agi,all",
    "successfulauth": "security,all",
}

# Header names as Asterisk documents them: clients may send any case, backends get these.
_CANONICAL_HEADERS = {
    name.lower(): name
    for name in (
        "Channel",
        "Context",
        "Exten",
        "Priority",
        "Application",
        "Data",
        "Timeout",
        "CallerID",
        "Variable",
        "Account",
        "Async",
        "Codecs",
        "EarlyMedia",
        "ChannelId",
        "OtherChannelId",
        "PreDialGoSub",
    )
}

# Q.850 cause texts Asterisk prints in Hangup events (Cause-txt).
CAUSE_TEXTS: dict[int, str] = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    34: "Circuit/channel congestion",
}


class AMIBackend(typing.Protocol):
    """What the fake AMI server asks the simulated switch to do. Values are plain strings.

    ``originate`` gets the Originate headers (canonical names, ``Action``/``ActionID``
    removed). Several ``Variable:`` headers are joined with ``,`` into one ``Variable``
    value — the same list, since Asterisk itself splits each header at commas. The server
    has already answered ``Originate successfully queued``; the backend then calls
    :meth:`FakeAMIFactory.emit` with the channel events and the ``OriginateResponse``
    (``ActionID`` = ``action_id``, ``Response: Success|Failure``, ``Reason``). For an
    Originate without ``Async: true`` the server instead waits for that OriginateResponse
    and turns it into the action's response, as a real synchronous Originate behaves.

    The server checks channel existence with ``channels()`` (names in ``Channel``) before
    Redirect, PlayDTMF and Getvar, to answer with Asterisk's error texts; ``getvar``
    returning None means "unset" and is sent as an empty ``Value:``, as Asterisk does.
    """

    def originate(self, fields: dict[str, str], action_id: str) -> None: ...

    def redirect(self, channel: str, context: str, exten: str, priority: str) -> bool: ...

    def hangup(self, channel: str, cause: int) -> bool: ...

    def play_dtmf(self, channel: str, digit: str) -> bool: ...

    def setvar(self, channel: str, name: str, value: str) -> bool: ...

    def getvar(self, channel: str, name: str) -> str | None: ...

    def channels(self) -> list[dict[str, str]]: ...

    def device_states(self) -> list[tuple[str, str]]: ...


def _mask(message: AMIMessage) -> AMIMessage:
    """The message with its Secret hidden (transcripts are printed and stored)."""
    if "Secret" not in message:
        return message
    return AMIMessage((k, "********" if k.lower() == "secret" else v) for k, v in message)


class FakeAMISession(Protocol):
    """One manager connection to the fake Asterisk."""

    log = Logger()

    def __init__(self, factory: FakeAMIFactory) -> None:
        self.server = factory
        self.logged_in = False
        self.events_on = True
        self._parser = AMIParser(expect_greeting=False, max_message_bytes=64 * 1024)
        self._closing = False
        # ActionIDs of synchronous Originates waiting for their outcome (see emit()).
        self.sync_originates: set[str] = set()

    # -- wire

    def connectionMade(self) -> None:
        self.server._sessions.append(self)
        self._transport().write(f"{GREETING}\r\n".encode())

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self in self.server._sessions:
            self.server._sessions.remove(self)

    def _transport(self) -> Any:
        return cast(Any, self.transport)

    def send(self, fields: Iterable[tuple[str, str]] | Mapping[str, str]) -> None:
        """Write one message to this client (and the transcript)."""
        if self._closing:
            return
        message = AMIMessage(fields)
        data = format_message(message.fields)
        self.server.record(SENT, message)
        self._transport().write(data)

    def close(self) -> None:
        self._closing = True
        self._transport().loseConnection()

    def dataReceived(self, data: bytes) -> None:
        if self._closing:
            return
        try:
            messages = self._parser.feed(data)
        except AMIProtocolError as exc:
            self.log.warn("fake AMI: dropping a client that sent garbage: {e}", e=str(exc))
            self.close()
            return
        for message in messages:
            if self._closing:
                return
            assert isinstance(message, AMIMessage)
            self.server.record(RECEIVED, message)
            try:
                self._handle(message)
            except Exception:
                self.log.failure("fake AMI: action failed: {m!r}", m=_mask(message))
                self._respond_error(message, "Internal error")

    # -- answers

    def _head(self, message: AMIMessage, response: str) -> list[tuple[str, str]]:
        head = [("Response", response)]
        action_id = message.action_id
        if action_id:
            head.append(("ActionID", action_id))
        return head

    def _respond(self, message: AMIMessage, text: str, *extra: tuple[str, str]) -> None:
        self.send([*self._head(message, "Success"), ("Message", text), *extra])

    def _respond_error(self, message: AMIMessage, text: str) -> None:
        self.send([*self._head(message, "Error"), ("Message", text)])

    # -- dispatch

    def _handle(self, message: AMIMessage) -> None:
        action = (message.action or "").strip()
        if not action:
            self._respond_error(message, "Missing action in request")
            return
        name = action.lower()
        if not self.logged_in and name not in ("login", "logoff", "challenge"):
            self._respond_error(message, "Permission denied")
            return
        handler = getattr(self, f"_action_{name}", None)
        if handler is None:
            self._respond_error(message, "Invalid/unknown command")
            return
        handler(message)

    def _action_login(self, message: AMIMessage) -> None:
        if self.server.check_login(message.get("Username") or "", message.get("Secret") or ""):
            self.logged_in = True
            self.events_on = (message.get("Events") or "on").lower() not in ("off", "no")
            self._respond(message, "Authentication accepted")
            if self.events_on:
                self.send(self.server.with_privilege(self.server.fully_booted_event()))
        else:
            # Asterisk answers, then ends the session.
            self._respond_error(message, "Authentication failed")
            self.close()

    def _action_challenge(self, message: AMIMessage) -> None:
        self._respond_error(message, "Must specify AuthType")

    def _action_logoff(self, message: AMIMessage) -> None:
        self.send([*self._head(message, "Goodbye"), ("Message", "Thanks for all the fish.")])
        self.close()

    def _action_ping(self, message: AMIMessage) -> None:
        self.send(
            [
                *self._head(message, "Success"),
                ("Ping", "Pong"),
                ("Timestamp", f"{self.server.now():.6f}"),
            ]
        )

    def _action_originate(self, message: AMIMessage) -> None:
        channel = message.get("Channel") or ""
        if not channel:
            self._respond_error(message, "Channel not specified")
            return
        priority = message.get("Priority") or ""
        if priority and not priority.isdigit():
            self._respond_error(message, "Invalid priority")
            return
        timeout = message.get("Timeout") or ""
        if timeout and not timeout.lstrip("-").isdigit():
            self._respond_error(message, "Invalid timeout")
            return
        if "/" not in channel:
            self._respond_error(message, "Invalid channel")
            return
        action_id = message.action_id or ""
        fields = _originate_fields(message)
        is_async = (message.get("Async") or "").lower() in ("true", "yes", "1", "on", "y", "t")
        if is_async:
            self._respond(message, "Originate successfully queued")
        else:
            # A synchronous Originate answers only when the call is up or failed: emit()
            # turns the backend's OriginateResponse for this ActionID into the response.
            self.sync_originates.add(action_id)
        self.server.backend.originate(fields, action_id)

    def _action_redirect(self, message: AMIMessage) -> None:
        channel = message.get("Channel") or ""
        extra = message.get("ExtraChannel") or ""
        if not channel:
            self._respond_error(message, "Channel not specified")
            return
        priority = message.get("Priority") or "1"
        if not priority.isdigit() or int(priority) < 1:
            self._respond_error(message, "Invalid priority")
            return
        context = message.get("Context") or ""
        exten = message.get("Exten") or ""
        existing = self.server.channel_names()
        if channel not in existing:
            # Asterisk 22 manager.c: snprintf("Channel does not exist: %s").
            self._respond_error(message, f"Channel does not exist: {channel}")
            return
        if extra and extra not in existing:
            self._respond_error(message, f"ExtraChannel does not exist: {extra}")
            return
        if not self.server.backend.redirect(channel, context, exten, priority):
            self._respond_error(message, "Redirect failed")
            return
        if not extra:
            self._respond(message, "Redirect successful")
            return
        extra_ok = self.server.backend.redirect(
            extra,
            message.get("ExtraContext") or context,
            message.get("ExtraExten") or exten,
            message.get("ExtraPriority") or priority,
        )
        if extra_ok:
            self._respond(message, "Dual Redirect successful")
        else:
            self._respond_error(message, "Secondary redirect failed")

    def _action_hangup(self, message: AMIMessage) -> None:
        channel = message.get("Channel") or ""
        if not channel:
            self._respond_error(message, "No channel specified")
            return
        raw_cause = message.get("Cause") or "16"
        cause = int(raw_cause) if raw_cause.isdigit() else 16
        if self.server.backend.hangup(channel, cause):
            self._respond(message, "Channel Hungup")
        else:
            self._respond_error(message, "No such channel")

    def _action_playdtmf(self, message: AMIMessage) -> None:
        channel = message.get("Channel") or ""
        digit = message.get("Digit") or ""
        if channel not in self.server.channel_names():
            self._respond_error(message, "Channel not found")
            return
        if not digit:
            self._respond_error(message, "No digit specified")
            return
        if self.server.backend.play_dtmf(channel, digit[0]):
            self._respond(message, "DTMF successfully queued")
        else:
            self._respond_error(message, "Channel not found")

    def _action_setvar(self, message: AMIMessage) -> None:
        name = message.get("Variable") or ""
        if not name:
            self._respond_error(message, "No variable specified")
            return
        channel = message.get("Channel") or ""
        if self.server.backend.setvar(channel, name, message.get("Value") or ""):
            self._respond(message, "Variable Set")
        else:
            self._respond_error(message, "No such channel")

    def _action_getvar(self, message: AMIMessage) -> None:
        name = message.get("Variable") or ""
        if not name:
            self._respond_error(message, "No variable specified")
            return
        channel = message.get("Channel") or ""
        if channel not in self.server.channel_names():
            self._respond_error(message, "No such channel")
            return
        value = self.server.backend.getvar(channel, name)
        # Asterisk prints an unset variable as an empty value.
        self.send([*self._head(message, "Success"), ("Variable", name), ("Value", value or "")])

    def _action_coreshowchannels(self, message: AMIMessage) -> None:
        channels = self.server.backend.channels()
        self.send(
            [
                *self._head(message, "Success"),
                ("EventList", "start"),
                ("Message", "Channels will follow"),
            ]
        )
        action_id = [("ActionID", message.action_id)] if message.action_id else []
        for channel in channels:
            self.send([("Event", "CoreShowChannel"), *action_id, *channel.items()])
        self.send(
            [
                ("Event", "CoreShowChannelsComplete"),
                *action_id,
                ("EventList", "Complete"),
                ("ListItems", str(len(channels))),
            ]
        )

    def _action_devicestatelist(self, message: AMIMessage) -> None:
        """Every known device's state as DeviceStateChange events, framed as Asterisk 22
        frames this list (res_manager_devicestate)."""
        states = self.server.backend.device_states()
        self.send(
            [
                *self._head(message, "Success"),
                ("EventList", "start"),
                ("Message", "Device State Changes will follow"),
            ]
        )
        action_id = [("ActionID", message.action_id)] if message.action_id else []
        for device, state in states:
            self.send(
                [("Event", "DeviceStateChange"), *action_id, ("Device", device), ("State", state)]
            )
        self.send(
            [
                ("Event", "DeviceStateListComplete"),
                *action_id,
                ("EventList", "Complete"),
                ("ListItems", str(len(states))),
            ]
        )


def _originate_fields(message: AMIMessage) -> dict[str, str]:
    fields: dict[str, str] = {}
    variables: list[str] = []
    for key, value in message:
        lower = key.lower()
        if lower in ("action", "actionid"):
            continue
        if lower == "variable":
            variables.append(value)
            continue
        fields[_CANONICAL_HEADERS.get(lower, key)] = value
    if variables:
        fields["Variable"] = ",".join(variables)
    return fields


class FakeAMIFactory(Factory):
    """The fake AMI server: listen with it, e.g. ``endpoint.listen(FakeAMIFactory(...))``.

    ``backend`` may be replaced after construction (``factory.backend = switch``) when the
    backend itself needs :meth:`emit` to be built. ``record_transcript=False`` keeps long
    benchmark runs from holding every message in memory.
    """

    noisy = False  # no "Starting factory" lines: the log says what serves where

    log = Logger()

    def __init__(
        self,
        backend: AMIBackend,
        username: str,
        secret: str,
        *,
        clock: Clock | None = None,
        record_transcript: bool = True,
    ) -> None:
        self.backend = backend
        self.record_transcript = record_transcript
        self._username = username
        self._secret = secret
        self._clock = clock
        self._started_s = self.now()
        self._sessions: list[FakeAMISession] = []
        self.transcript: list[tuple[str, AMIMessage]] = []

    def buildProtocol(self, addr: object) -> FakeAMISession:
        return FakeAMISession(self)

    @property
    def sessions(self) -> list[FakeAMISession]:
        """The open client connections."""
        return list(self._sessions)

    def record(self, direction: str, message: AMIMessage) -> None:
        """Add a message to the transcript (with any ``Secret`` masked)."""
        if self.record_transcript:
            self.transcript.append((direction, _mask(message)))

    def now(self) -> float:
        """Seconds since the epoch from the injected clock (wall time without one)."""
        return self._clock.seconds() if self._clock is not None else time.time()

    def check_login(self, username: str, secret: str) -> bool:
        """True for the configured user and secret (compared in constant time)."""
        return hmac.compare_digest(username.encode(), self._username.encode()) and (
            hmac.compare_digest(secret.encode(), self._secret.encode())
        )

    def channel_names(self) -> set[str]:
        """Names of the backend's channels now."""
        return {c.get("Channel", "") for c in self.backend.channels()}

    def fully_booted_event(self) -> dict[str, str]:
        uptime_s = str(int(self.now() - self._started_s))
        return {
            "Event": "FullyBooted",
            "Uptime": uptime_s,
            "LastReload": uptime_s,
            "Status": "Fully Booted",
        }

    @staticmethod
    def with_privilege(event: Mapping[str, str]) -> list[tuple[str, str]]:
        """``event`` with ``Privilege:`` right after ``Event:``, as Asterisk writes them."""
        pairs = list(event.items())
        if any(k.lower() == "privilege" for k, _ in pairs):
            return pairs
        name = event.get("Event", "")
        privilege = ("Privilege", EVENT_PRIVILEGES.get(name.lower(), "call,all"))
        head = [p for p in pairs if p[0] == "Event"]
        rest = [p for p in pairs if p[0] != "Event"]
        return [*head, privilege, *rest]

    def emit(self, event: Mapping[str, str]) -> None:
        """Send ``event`` to every logged-in client that wants events."""
        message = self.with_privilege(event)
        format_message(message)  # a backend bug (CR/LF in a value) surfaces here, loudly
        if event.get("Event", "").lower() == "originateresponse":
            action_id = event.get("ActionID", "")
            for session in self._sessions:
                if action_id and action_id in session.sync_originates:
                    session.sync_originates.discard(action_id)
                    self._answer_sync_originate(session, action_id, event)
                    return
        for session in list(self._sessions):
            if session.logged_in and session.events_on:
                session.send(message)

    @staticmethod
    def _answer_sync_originate(
        session: FakeAMISession, action_id: str, event: Mapping[str, str]
    ) -> None:
        ok = event.get("Response", "").lower() == "success"
        session.send(
            [
                ("Response", "Success" if ok else "Error"),
                ("ActionID", action_id),
                ("Message", "Originate successfully queued" if ok else "Originate failed"),
            ]
        )

    def transcript_text(self) -> str:
        """The transcript as readable text: each message's lines prefixed by direction."""
        blocks = []
        for direction, message in self.transcript:
            blocks.append("".join(f"{direction} {k}: {v}\n" for k, v in message))
        return "\n".join(blocks)


class RecordingBackend:
    """A tiny in-memory switch: records every call and answers like a real one would.

    ``originate`` creates a channel and emits what the recorded Asterisk 22 sent for the
    originated channel (``ami-originate-and-redirect-events.txt``, ActionID ``orig-1``):
    ``Newchannel`` (Down, at the Local target's ``exten@context``; a Local target is a pair,
    so ``Newchannel`` of the ``;2`` half, Ring, follows), ``Newexten`` of ``AppDial2``, a
    ``VarSet`` per variable, for a Local pair ``NewCallerid``/``NewConnectedLine`` of each
    half, the variables copied to ``;2`` and ``LocalBridge``, then ``DialBegin``; then (after
    ``ring_s``) ``Newstate`` (Up) of each half, ``DialEnd``, ``OriginateResponse``; then
    (after ``talk_s``; never with ``talk_s=None``) ``Hangup`` of each half. No bridge and no
    ``Newexten`` of the ``;2`` half: those come from the dialplan the call runs, which this
    backend does not have. Without a clock everything is emitted at once.
    ``reasons`` maps a dial string to an OriginateResponse Reason (4 = answered is the
    default; 5 busy, 3 no answer, 8 congestion, 0 failed).
    """

    def __init__(
        self,
        emit: Callable[[Mapping[str, str]], None] | None = None,
        *,
        clock: Clock | None = None,
        ring_s: float = 0.0,
        talk_s: float | None = 0.0,
        reasons: Mapping[str, int] | None = None,
        first_uniqueid: tuple[int, int] = (1795313257, 28),
    ) -> None:
        self.emit = emit
        self.clock = clock
        self.ring_s = ring_s
        self.talk_s = talk_s
        self.reasons = dict(reasons or {})
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.dtmf: list[tuple[str, str]] = []
        self._channels: dict[str, dict[str, Any]] = {}
        self._epoch, self._sequence = first_uniqueid
        self._channel_counter = 0

    # -- helpers

    def _emit(self, event: dict[str, str]) -> None:
        if self.emit is None:
            raise RuntimeError("RecordingBackend has no emit callable; set .emit first")
        self.emit(event)

    def _later(self, delay_s: float, fn: Callable[[], object]) -> None:
        if self.clock is None or delay_s <= 0:
            fn()
        else:
            self.clock.callLater(delay_s, fn)

    def _new_uniqueid(self) -> str:
        uniqueid = f"{self._epoch}.{self._sequence}"
        self._sequence += 1
        return uniqueid

    def add_channel(
        self,
        name: str,
        *,
        context: str = "default",
        exten: str = "s",
        priority: int = 1,
        state: int = 6,
        caller_id_num: str = "<unknown>",
        caller_id_name: str = "<unknown>",
        application: str = "",
        application_data: str = "",
    ) -> str:
        """Put a channel on the switch (e.g. a caller to redirect); returns its uniqueid."""
        uniqueid = self._new_uniqueid()
        self._channels[name] = {
            "name": name,
            "state": state,
            "cid_num": caller_id_num,
            "cid_name": caller_id_name,
            "context": context,
            "exten": exten,
            "priority": priority,
            "uniqueid": uniqueid,
            "linkedid": uniqueid,
            "application": application,
            "application_data": application_data,
            "variables": {},
            "bridge": "",
            "created_s": self.clock.seconds() if self.clock is not None else time.time(),
        }
        return uniqueid

    def _snapshot(self, channel: dict[str, Any], prefix: str = "") -> dict[str, str]:
        state = int(channel["state"])
        return {
            f"{prefix}Channel": channel["name"],
            f"{prefix}ChannelState": str(state),
            f"{prefix}ChannelStateDesc": _STATE_TEXTS.get(state, "Unknown"),
            f"{prefix}CallerIDNum": channel["cid_num"],
            f"{prefix}CallerIDName": channel["cid_name"],
            f"{prefix}ConnectedLineNum": channel.get("connected_num", "<unknown>"),
            f"{prefix}ConnectedLineName": channel.get("connected_name", "<unknown>"),
            f"{prefix}Language": "en",
            f"{prefix}AccountCode": "",
            f"{prefix}Context": channel["context"],
            f"{prefix}Exten": channel["exten"],
            f"{prefix}Priority": str(channel["priority"]),
            f"{prefix}Uniqueid": channel["uniqueid"],
            f"{prefix}Linkedid": channel["linkedid"],
        }

    def _event(self, name: str, channel: dict[str, Any], **extra: str) -> dict[str, str]:
        return {"Event": name, **self._snapshot(channel), **extra}

    # -- AMIBackend

    def originate(self, fields: dict[str, str], action_id: str) -> None:
        self.calls.append(("originate", (dict(fields), action_id)))
        dial_string = fields.get("Channel", "")
        self._channel_counter += 1
        # Channel names as Asterisk makes them: PJSIP/201-0000000e, Local/x@ctx-0000000e;1
        # (the /n of a Local dial string is an option, not part of the name).
        suffix = f"-{self._channel_counter:08x}"
        if dial_string.startswith("Local/"):
            name = f"{dial_string.removesuffix('/n')}{suffix};1"
        else:
            name = f"{dial_string}{suffix}"
        cid_name, cid_num = _parse_caller_id(fields.get("CallerID", ""))
        application = fields.get("Application", "")
        # While it rings, the channel is at the Local target's extension (Local/answer@agents:
        # agents,answer); other channels start at default,s until the call is answered.
        exten, at, context = dial_string.partition("/")[2].removesuffix("/n").partition("@")
        local = dial_string.startswith("Local/") and bool(at)
        if not local:
            context, exten = "default", "s"
        self.add_channel(
            name,
            context=context,
            exten=exten,
            priority=1,
            state=0,
            # A Local channel gets its caller ID only when it is called (NewCallerid).
            caller_id_num="<unknown>" if local else cid_num or "<unknown>",
            caller_id_name="<unknown>" if local else cid_name or "<unknown>",
            application=application,
            application_data=fields.get("Data", ""),
        )
        channel = self._channels[name]
        self._emit(self._event("Newchannel", channel))
        two: dict[str, Any] | None = None
        if local:
            # The ;2 half, Ring, at the same extension, on the same call (Linkedid).
            self.add_channel(name[:-1] + "2", context=context, exten=exten, state=4)
            two = self._channels[name[:-1] + "2"]
            two["linkedid"] = channel["uniqueid"]
            channel["peer"], two["peer"] = two["name"], name
            self._emit(self._event("Newchannel", two))
        self._emit(
            self._event(
                "Newexten",
                channel,
                Extension=channel["exten"],
                Application="AppDial2",
                AppData="(Outgoing Line)",
            )
        )
        for pair in filter(None, fields.get("Variable", "").split(",")):
            var, _, value = pair.partition("=")
            channel["variables"][var] = value
            self._emit(self._event("VarSet", channel, Variable=var, Value=value))
        if two is not None:
            self._call_local(channel, two, cid_num or "<unknown>", cid_name or "<unknown>")
        dial_target = dial_string.partition("/")[2]
        self._emit(
            {
                "Event": "DialBegin",
                **self._snapshot(channel, prefix="Dest"),
                "DialString": dial_target,
            }
        )
        reason = self.reasons.get(dial_string, 4)
        self._later(self.ring_s, lambda: self._answer_or_fail(name, fields, action_id, reason))

    def _answer_or_fail(
        self, name: str, fields: dict[str, str], action_id: str, reason: int
    ) -> None:
        channel = self._channels.get(name)
        if channel is None:  # hung up while ringing
            return
        target: dict[str, str]
        if fields.get("Application"):
            target = {"Application": fields["Application"], "Data": fields.get("Data", "")}
        else:
            target = {"Context": fields.get("Context", ""), "Exten": fields.get("Exten", "")}
        caller = {"CallerIDNum": channel["cid_num"], "CallerIDName": channel["cid_name"]}
        if reason != 4:
            status = _DIAL_STATUS.get(reason, "CHANUNAVAIL")
            self._emit(
                {"Event": "DialEnd", **self._snapshot(channel, "Dest"), "DialStatus": status}
            )
            self._emit(
                {
                    "Event": "OriginateResponse",
                    "ActionID": action_id,
                    "Response": "Failure",
                    "Channel": fields.get("Channel", ""),
                    **target,
                    "Reason": str(reason),
                    "Uniqueid": "<null>",
                    **caller,
                }
            )
            self._remove(name, _HANGUP_CAUSES.get(reason, 0))
            return
        for half in filter(None, (channel, self._channels.get(channel.get("peer", "")))):
            half["state"] = 6
            self._emit(self._event("Newstate", half))
        self._emit({"Event": "DialEnd", **self._snapshot(channel, "Dest"), "DialStatus": "ANSWER"})
        self._emit(
            {
                "Event": "OriginateResponse",
                "ActionID": action_id,
                "Response": "Success",
                "Channel": name,
                **target,
                "Reason": "4",
                "Uniqueid": channel["uniqueid"],
                **caller,
            }
        )
        if not fields.get("Application"):
            # The call now runs its Context/Exten (the next Newexten would say so).
            channel.update(
                context=fields.get("Context", ""),
                exten=fields.get("Exten", ""),
                priority=int(fields.get("Priority", "1") or "1"),
            )
        if self.talk_s is not None:
            self._later(self.talk_s, lambda: self._remove(name, 16))

    def _call_local(
        self, one: dict[str, Any], two: dict[str, Any], cid_num: str, cid_name: str
    ) -> None:
        """chan_local's call, as recorded: ;1 takes the caller ID and connected line, ;2 the
        variables of ;1 and the two swapped, then LocalBridge."""
        one.update(cid_num=cid_num, cid_name=cid_name)
        self._emit(self._event("NewCallerid", one, **_CALLING_PRES))
        one.update(connected_num=cid_num, connected_name=cid_name)
        self._emit(self._event("NewConnectedLine", one))
        for var, value in one["variables"].items():
            two["variables"][var] = value
            self._emit(self._event("VarSet", two, Variable=var, Value=value))
        two.update(cid_num=cid_num, cid_name=cid_name)
        two.update(connected_num=cid_num, connected_name=cid_name)
        self._emit(self._event("NewCallerid", two, **_CALLING_PRES))
        self._emit(self._event("NewConnectedLine", two))
        self._emit(
            {
                "Event": "LocalBridge",
                **self._snapshot(one, "LocalOne"),
                **self._snapshot(two, "LocalTwo"),
                "Context": two["context"],
                "Exten": two["exten"],
                "LocalOptimization": "No",
            }
        )

    def _remove(self, name: str, cause: int) -> bool:
        channel = self._channels.pop(name, None)
        if channel is None:
            return False
        peer = self._channels.pop(channel.get("peer", ""), None)
        # A Local pair goes together: the ;2 half first, as chan_local reports it.
        for gone in sorted(filter(None, (channel, peer)), key=lambda c: c["name"], reverse=True):
            self._emit(
                self._event("Hangup", gone, Cause=str(cause), **{"Cause-txt": _cause_text(cause)})
            )
        return True

    def redirect(self, channel: str, context: str, exten: str, priority: str) -> bool:
        self.calls.append(("redirect", (channel, context, exten, priority)))
        found = self._channels.get(channel)
        if found is None:
            return False
        found.update(context=context, exten=exten, priority=int(priority or "1"))
        self._emit(self._event("Newexten", found, Extension=exten, Application="", AppData=""))
        return True

    def hangup(self, channel: str, cause: int) -> bool:
        self.calls.append(("hangup", (channel, cause)))
        return self._remove(channel, cause)

    def play_dtmf(self, channel: str, digit: str) -> bool:
        self.calls.append(("play_dtmf", (channel, digit)))
        if channel not in self._channels:
            return False
        self.dtmf.append((channel, digit))
        return True

    def setvar(self, channel: str, name: str, value: str) -> bool:
        self.calls.append(("setvar", (channel, name, value)))
        found = self._channels.get(channel)
        if found is None:
            return False
        found["variables"][name] = value
        self._emit(self._event("VarSet", found, Variable=name, Value=value))
        return True

    def getvar(self, channel: str, name: str) -> str | None:
        self.calls.append(("getvar", (channel, name)))
        found = self._channels.get(channel)
        return None if found is None else found["variables"].get(name)

    def device_states(self) -> list[tuple[str, str]]:
        return []

    def channels(self) -> list[dict[str, str]]:
        now = self.clock.seconds() if self.clock is not None else time.time()
        result = []
        for channel in self._channels.values():
            duration_s = max(0, int(now - channel["created_s"]))
            hours, rest = divmod(duration_s, 3600)
            result.append(
                {
                    **self._snapshot(channel),
                    "Application": channel["application"],
                    "ApplicationData": channel["application_data"],
                    "Duration": f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}",
                    "BridgeId": channel["bridge"],
                }
            )
        return result


_CALLING_PRES = {"CID-CallingPres": "0 (Presentation Allowed, Not Screened)"}
_STATE_TEXTS = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up", 7: "Busy"}
_DIAL_STATUS = {0: "CHANUNAVAIL", 1: "CANCEL", 3: "NOANSWER", 5: "BUSY", 8: "CONGESTION"}
_HANGUP_CAUSES = {0: 0, 1: 16, 3: 19, 5: 17, 8: 34}


def _cause_text(cause: int) -> str:
    return CAUSE_TEXTS.get(cause, "Unknown")


def _parse_caller_id(caller_id: str) -> tuple[str, str]:
    """Split ``Name <number>`` (Asterisk's format) into (name, number)."""
    caller_id = caller_id.strip()
    if "<" in caller_id and caller_id.endswith(">"):
        name, _, number = caller_id[:-1].rpartition("<")
        return name.strip().strip('"'), number.strip()
    if caller_id.replace("+", "").isdigit():
        return "", caller_id
    return caller_id, ""


def recording_server(
    username: str,
    secret: str,
    *,
    clock: Clock | None = None,
    **backend_options: Any,
) -> tuple[FakeAMIFactory, RecordingBackend]:
    """A :class:`FakeAMIFactory` wired to a fresh :class:`RecordingBackend`."""
    backend = RecordingBackend(clock=clock, **backend_options)
    factory = FakeAMIFactory(backend, username, secret, clock=clock)
    backend.emit = factory.emit
    return factory, backend
