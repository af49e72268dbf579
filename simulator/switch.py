"""The fake switch: channels, scripted callers, simulated phones, the dialplan, AMI backend.

``Switch`` plays a whole Asterisk box toward Hotline. Callers (``CallerScript``) arrive on a
trunk channel and run the dialplan (``simulator.dialplan``); its ``AGI()`` steps open FastAGI
sessions (``simulator.agi_peer``) to Hotline; Hotline's ``EXEC Dial`` rings simulated phones
(``PhoneBehaviour``) with the semantics of transcripts 004-007; the AMI methods at the end
(``originate``, ``redirect``, ``hangup``, ``play_dtmf``, ``setvar``, ``getvar``,
``channels``) are what ``simulator.fake_ami`` calls, and ``emit`` sends the resulting AMI
events (modelled on ``ami-originate-and-redirect-events.txt``, event by event and field by
field for the calls recorded there).

A ``Local/exten@context`` target whose extension the dialplan has is a Local channel pair, as
in Asterisk: ``;1`` is what Dial or Originate rings, ``;2`` runs the extension; ``;2``
answering answers ``;1``, and either half hanging up hangs the other up with its cause (0
after an AGI ``HANGUP``, as recorded). Other targets, Local ones included, are phone-book
phones (``PhoneBehaviour``).

Time comes from the injected clock and connections from the injected ``connectTCP``: the
reactor in production, a ``Clock`` and ``simulator.memnet.MemoryNetwork`` in tests.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from dialplan.channel_vars import INBOUND_CONTEXT
from domain.clock import Clock, DelayedCall
from simulator.agi_peer import AGIRequest, AGISession, AGIStatus, TCPConnector
from simulator.channel import (
    ALL_DIGITS,
    CAUSE_TEXT,
    ChannelState,
    OutcomeKind,
    SimChannel,
    SoftHangup,
    parse_caller_id,
    seconds_floor,
)
from simulator.dialplan import (
    Agi,
    App,
    Dialplan,
    GotoIf,
    Step,
    evaluate,
    expand_expressions,
    split_app_args,
)
from simulator.media import SoundCatalogue, write_recording
from simulator.transcript import AgiRun, CallRecord, RingRecord

log = Logger()

AGI_VERSION = "GIT-22-69535d4"  # what the recorded Asterisk 22 announced (transcripts)
EmitEvent = Callable[[dict[str, str]], None]

_DIAL_VARIABLES = (
    "DIALSTATUS",
    "DIALEDPEERNUMBER",
    "DIALEDPEERNAME",
    "ANSWEREDTIME",
    "ANSWEREDTIME_MS",
    "DIALEDTIME",
    "DIALEDTIME_MS",
    "RINGTIME",
    "RINGTIME_MS",
    "PROGRESSTIME",
    "PROGRESSTIME_MS",
)
_PRIVILEGE = {
    "VarSet": "dialplan,all",
    "Newexten": "dialplan,all",
    "AGIExecStart": "agi,all",
    "AGIExecEnd": "agi,all",
}
# res_agi's ResultCode/Result of AGIExecEnd by the reply's code (200 may still be a failure).
_AGI_RESULTS = {
    "200": ("200", "Success"),
    "510": ("510", "Invalid or unknown command"),
    "511": ("511", "Command Not Permitted on a dead channel or intercept routine"),
    "520": ("520", "Usage"),
}
_AGI_FAILED = re.compile(r"^200 result=-1\b")
_CALLING_PRES = {"CID-CallingPres": "0 (Presentation Allowed, Not Screened)"}


# --------------------------------------------------------------------------- scripts
@dataclass(frozen=True)
class PhoneBehaviour:
    """How a simulated phone reacts when rung.

    ``answer_after_s``: answers after ringing this long (None: never answers);
    ``busy``: rejects at once (DIALSTATUS=BUSY); ``unavailable``: not registered
    (CHANUNAVAIL); ``reject_after_s``: rings this long then the agent declines (BUSY);
    ``talk_s``: hangs up this long after being connected (None: never hangs up first).
    """

    answer_after_s: float | None = 3.0
    busy: bool = False
    unavailable: bool = False
    talk_s: float | None = 30.0
    reject_after_s: float | None = None


# A Local target the dialplan runs: no phone timers, its ;2 half's dialplan decides.
_LOCAL_DIALPLAN = PhoneBehaviour(answer_after_s=None, talk_s=None)


class PhoneBook:
    """Dial strings -> phone behaviour; ``default`` answers for any other dial string
    (None: unknown dial strings are unavailable, as an unknown endpoint is)."""

    def __init__(
        self,
        phones: Mapping[str, PhoneBehaviour] | None = None,
        default: PhoneBehaviour | None = None,
    ) -> None:
        self._phones = dict(phones or {})
        self.default = default

    def behaviour(self, target: str) -> PhoneBehaviour | None:
        if target in self._phones:
            return self._phones[target]
        return self.default

    def __contains__(self, target: str) -> bool:
        return target in self._phones

    def targets(self) -> list[str]:
        """The dial strings given a behaviour of their own."""
        return list(self._phones)


@dataclass(frozen=True)
class CallerScript:
    """A scripted caller.

    Times are seconds from the call's start. ``keys``: (at_s, digit) presses (queued by the
    channel when nothing listens, see simulator.channel). ``hangup_at_s``: the caller gives
    up at this time unless already talking to someone. ``talk_s``: once connected, hangs up
    after this long (None: lets the other side end). ``speech_s``: how long the caller talks
    into a recording (voicemail). ``local=True`` makes the channel a ``Local/<did>@<context>``
    pair like the recorded transcripts instead of ``PJSIP/<trunk>-0000000N``.
    """

    did: str
    caller_id_num: str = "777123456"
    caller_id_name: str = ""
    start_at_s: float = 0.0
    keys: tuple[tuple[float, str], ...] = ()
    hangup_at_s: float | None = None
    talk_s: float | None = 60.0
    speech_s: float = 5.0
    context: str = INBOUND_CONTEXT
    trunk: str = "trunk"
    local: bool = False


class IdAllocator:
    """Channel sequence numbers, uniqueids and thread ids, increasing like Asterisk's.

    ``epoch_offset_s`` is added to the clock for the uniqueid's seconds part (0 with the
    reactor; the recorded epoch with a test Clock, so uniqueids can match transcripts).
    ``system_name`` prefixes uniqueids as Asterisk's ``systemname`` (asterisk.conf) does, so
    that several Asterisk boxes feeding one Hotline never share a uniqueid.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        epoch_offset_s: float = 0.0,
        uniqueid_seq: int = 0,
        channel_seq: int = 0,
        threadid: int = 140515063908032,
        threadid_step: int = 512000,
        system_name: str = "",
    ) -> None:
        self._clock = clock
        self._prefix = f"{system_name}-" if system_name else ""
        self._epoch_offset_s = epoch_offset_s
        self._uniqueid_seq = itertools.count(uniqueid_seq)
        self._channel_seq = itertools.count(channel_seq)
        self._threadid = itertools.count(threadid, threadid_step)
        self._bridge_seq = itertools.count(1)

    def uniqueid(self) -> str:
        seconds = int(self._clock.seconds() + self._epoch_offset_s)
        return f"{self._prefix}{seconds}.{next(self._uniqueid_seq)}"

    def channel_seq(self) -> str:
        return f"{next(self._channel_seq):08x}"

    def threadid(self) -> int:
        return next(self._threadid)

    def bridge_id(self) -> str:
        return f"00000000-0000-4000-8000-{next(self._bridge_seq):012x}"


@dataclass(frozen=True)
class DialRequest:
    """``Dial(target[&target...],timeout,options)`` parsed."""

    targets: tuple[str, ...]
    timeout_s: float | None
    options: Mapping[str, str]


def parse_options(text: str) -> dict[str, str]:
    """Application option letters, each with its ``(argument)`` if given (nesting kept)."""
    options: dict[str, str] = {}
    index = 0
    while index < len(text):
        letter = text[index]
        index += 1
        argument = ""
        if index < len(text) and text[index] == "(":
            depth = 1
            end = index + 1
            while end < len(text) and depth:
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                end += 1
            argument = text[index + 1 : end - 1] if depth == 0 else text[index + 1 :]
            index = end
        options[letter] = argument
    return options


def parse_dial_data(data: str) -> DialRequest:
    parts = split_app_args(data)
    targets = tuple(t.strip() for t in parts[0].split("&") if t.strip())
    timeout_s: float | None = None
    if len(parts) > 1 and parts[1].strip():
        try:
            timeout_s = float(parts[1])
        except ValueError:
            timeout_s = None
        if timeout_s is not None and timeout_s <= 0:
            timeout_s = None
    options = parse_options(parts[2]) if len(parts) > 2 else {}
    return DialRequest(targets, timeout_s, options)


def gosub_of(option_u: str) -> tuple[str, tuple[str, ...]]:
    """Asterisk 22's ``U(context^arg1^arg2)``: every ``^`` becomes ``,``, the first part is
    the context, the rest are ARG1..n, and the gosub always starts at ``s,1`` (app_dial).
    (``U(answered-sub^s^1)`` of transcript 006 therefore runs answered-sub,s,1 with
    ARG1=s, ARG2=1.)"""
    parts = split_app_args(option_u.replace("^", ","))
    return parts[0], tuple(parts[1:])


# ------------------------------------------------------------------------------ switch
@dataclass
class _Leg:
    target: str
    ring: RingRecord
    channel: SimChannel | None = None
    status: str = "RINGING"  # RINGING | ANSWER | BUSY | CONGESTION | CHANUNAVAIL
    timers: list[DelayedCall] = field(default_factory=list)


@dataclass
class SimCall:
    """A placed call: its record once started, and ``ended`` firing with the record."""

    script: CallerScript
    channel: SimChannel | None = None
    record: CallRecord | None = None
    ended: Deferred[CallRecord] = field(default_factory=Deferred)


AppHandler = Callable[[SimChannel, str], Awaitable[int]]


class Switch:
    """The simulated Asterisk box. Public state is for reading: ``calls``, ``channels_by_name``."""

    def __init__(
        self,
        *,
        clock: Clock,
        connector: TCPConnector,
        dialplan: Dialplan,
        phones: PhoneBook | None = None,
        ids: IdAllocator | None = None,
        sounds: SoundCatalogue | None = None,
        spool_dir: Path = Path("sim-spool"),
        agi_version: str = AGI_VERSION,
        emit: EmitEvent | None = None,
        on_call_end: Callable[[CallRecord], None] | None = None,
    ) -> None:
        self.clock = clock
        self.dialplan = dialplan
        self.phones = phones or PhoneBook()
        self.ids = ids or IdAllocator(clock)
        self.sounds = sounds or SoundCatalogue()
        self.spool_dir = spool_dir
        self.sounds_dir = spool_dir / "sounds"
        self.agi_version = agi_version
        self.astdb: MutableMapping[tuple[str, str], str] = {}
        self.emit = emit
        self.on_call_end = on_call_end
        self.calls: list[CallRecord] = []
        self.channels_by_name: dict[str, SimChannel] = {}
        self.max_concurrent_channels = 0
        self._connector = connector
        self._records: dict[str, CallRecord] = {}
        self._placed: dict[str, SimCall] = {}
        self._live_by_linkedid: dict[str, int] = {}
        self._phone_in_use: dict[str, int] = {}
        # The dialplan location AMI events show per channel: Asterisk's channel snapshot only
        # takes a new context/exten/priority when the next step runs (Newexten), so after a
        # Redirect the VarSet of AGISTATUS still shows the old place (the AMI recording).
        self._shown_location: dict[str, tuple[str, str, int]] = {}
        self._sessions: set[AGISession] = set()
        self._monitors: dict[str, tuple[Path, str, float]] = {}
        self._idle_waiters: list[Deferred[None]] = []
        # Local ;2 halves whose answer answers their ;1 half (name -> what to do then).
        self._local_answer: dict[str, Callable[[], None]] = {}
        # AGI commands waiting for their reply (channel -> CommandId, command line); res_agi
        # numbers them at random, a counter is as good for a client and reproducible.
        self._agi_commands: dict[str, tuple[str, str]] = {}
        self._command_ids = itertools.count(1 << 28)
        # Live channels per device ("Local/answer@agents", "PJSIP/101"), and the devices
        # whose state is to be reported: Asterisk works device states out on a task queue
        # after the change, so two halves hung up together both report NOT_INUSE.
        self._device_channels: dict[str, dict[str, SimChannel]] = {}
        self._device_states: dict[str, str] = {}  # the last state reported of each device
        self._devices_changed: list[str] = []
        self._scheduled: list[DelayedCall] = []
        self._apps: dict[str, AppHandler] = {
            "noop": self._app_noop,
            "verbose": self._app_noop,
            "log": self._app_noop,
            "set": self._app_set,
            "answer": self._app_answer,
            "playback": self._app_playback,
            "startmusiconhold": self._app_start_moh,
            "stopmusiconhold": self._app_stop_moh,
            "musiconhold": self._app_moh,
            "wait": self._app_wait,
            "hangup": self._app_hangup,
            "mixmonitor": self._app_mixmonitor,
            "stopmixmonitor": self._app_stopmixmonitor,
            "dial": self._app_dial,
            "voicemail": self._app_voicemail,
            "goto": self._app_goto,
            "return": self._app_noop,
            "ringing": self._app_noop,
            "progress": self._app_noop,
            "chanspy": self._app_chanspy,
        }

    # ------------------------------------------------------------------ AGIHost part
    def find_channel(self, name: str) -> SimChannel | None:
        return self.channels_by_name.get(name)

    def log(self, channel: SimChannel, kind: str, text: str) -> None:
        record = self._records.get(channel.linkedid)
        if record is not None:
            record.add(self.clock.seconds(), channel.name, kind, text)
        if self.emit is not None and kind in (">>", "<<"):
            self._agi_exec(channel, kind, text)

    def _agi_exec(self, channel: SimChannel, kind: str, line: str) -> None:
        """AGIExecStart when an AGI command arrives, AGIExecEnd with res_agi's ResultCode
        and Result when its reply (the last line of it) goes out (the AMI recording)."""
        if kind == ">>":
            command_id = str(next(self._command_ids))
            self._agi_commands[channel.name] = (command_id, line)
            self._event("AGIExecStart", channel, CommandId=command_id, Command=line)
            return
        code = line[:3]
        if not code.isdigit() or line[3:4] not in ("", " "):
            return  # the out-of-band HANGUP line, or a 520- usage line before the last
        pending = self._agi_commands.pop(channel.name, None)
        if pending is None:
            return
        result_code, result = _AGI_RESULTS.get(code, (code, "Success"))
        if code == "200" and _AGI_FAILED.search(line):
            result_code, result = "-1", "Failure"  # the handler's RESULT_FAILURE (res < 0)
        self._event(
            "AGIExecEnd",
            channel,
            CommandId=pending[0],
            Command=pending[1],
            ResultCode=result_code,
            Result=result,
        )

    def recorded(self, channel: SimChannel, path: str, seconds: float) -> None:
        record = self._records.get(channel.linkedid)
        if record is not None:
            record.recordings.append((path, seconds))

    # ------------------------------------------------------------------------- calls
    def place_call(self, script: CallerScript) -> SimCall:
        """Schedule a caller ``script.start_at_s`` from now."""
        call = SimCall(script)
        start = self.clock.callLater(max(0.0, script.start_at_s), self._start_call, call)
        self._scheduled = [pending for pending in self._scheduled if pending.active()]
        self._scheduled.append(start)
        return call

    def idle(self) -> Deferred[None]:
        """Fires when no channel is alive any more (immediately if none is)."""
        done: Deferred[None] = Deferred()
        if not self.channels_by_name:
            done.callback(None)
        else:
            self._idle_waiters.append(done)
        return done

    def shutdown(self) -> int:
        """Hang everything up, close every AGI socket, start no more callers (the box
        stops); returns how many scheduled callers never started."""
        not_started = 0
        for pending in self._scheduled:
            if pending.active():
                pending.cancel()
                not_started += 1
        self._scheduled = []
        for session in list(self._sessions):
            session.abort()
        for channel in list(self.channels_by_name.values()):
            self._mark_hangup(channel, "switch")
            channel.request_hangup(16, SoftHangup.EXPLICIT)
        return not_started

    def _start_call(self, call: SimCall) -> None:
        script = call.script
        seq = self.ids.channel_seq()
        uniqueid = linkedid = self.ids.uniqueid()
        record = CallRecord(
            linkedid, f"{script.caller_id_num} -> {script.did}", self.clock.seconds()
        )
        self._records[linkedid] = record
        self.calls.append(record)
        if script.local:
            # As the transcripts were made: an Originate of Local/<did>@<context>/n whose
            # ;1 half waits (the caller's side) while ;2 runs the dialplan.
            one = self._local_pair(
                f"Local/{script.did}@{script.context}-{seq};1",
                linkedid,
                self.ids.uniqueid(),
                "",
                script.context,
                script.did,
                None,
            )
            channel = one.local_peer
            assert channel is not None
            caller_side = one
        else:
            channel = caller_side = self._new_channel(
                name=f"PJSIP/{script.trunk}-{seq}",
                tech="PJSIP",
                uniqueid=uniqueid,
                linkedid=linkedid,
                context=script.context,
                exten=script.did,
                caller_id_num=script.caller_id_num,
                caller_id_name=script.caller_id_name,
                state=ChannelState.RING,
                dnid=script.did,
                has_media=True,
                threadid=self.ids.threadid(),
            )
        channel.talk_s = script.talk_s
        channel.speech_s = script.speech_s
        call.channel, call.record = channel, record
        self._placed[linkedid] = call
        self.log(channel, "call", f"from {script.caller_id_num} to {script.did}")
        for at_s, digit in script.keys:
            self.clock.callLater(max(0.0, at_s), self._caller_presses, channel, digit)
        if script.hangup_at_s is not None:
            self.clock.callLater(max(0.0, script.hangup_at_s), self._caller_gives_up, caller_side)
        if caller_side is channel:
            self._spawn_pbx(channel)
            return
        caller_id = (script.caller_id_num, script.caller_id_name)
        Deferred.fromCoroutine(self._local_caller(caller_side, caller_id)).addErrback(
            lambda failure: log.failure("Local caller crashed", failure)
        )

    async def _local_caller(self, one: SimChannel, caller_id: tuple[str, str]) -> None:
        """The ``;1`` half of a placed Local call, as an Originate to ``Wait`` drives it:
        called (so ``;2`` runs its extension), up when ``;2`` answers, gone when either
        half hangs up."""
        self._event(
            "Newexten",
            one,
            fields={
                "Extension": one.exten,
                "Application": "AppDial2",
                "AppData": "(Outgoing Line)",
            },
        )
        self._call_local(one, caller_id)
        dial_string = f"{one.exten}@{one.context}/n"
        self._event("DialBegin", None, dest=one, DialString=dial_string)
        ended = one.listen(None, "")

        def answered() -> None:
            one.answer()
            self._event("DialEnd", None, dest=one, DialStatus="ANSWER")

        two = one.local_peer
        assert two is not None
        self._local_answer[two.name] = answered
        self._spawn_pbx(two)
        try:
            await ended.result
        finally:
            self._local_answer.pop(two.name, None)
            self._destroy(one)

    def _caller_presses(self, channel: SimChannel, digit: str) -> None:
        if not channel.destroyed:
            self.log(channel, "key", f"caller presses {digit}")
            channel.press(digit)

    def _caller_gives_up(self, channel: SimChannel) -> None:
        if channel.destroyed or channel.bridge_id or channel.hangup_requested:
            return
        self.log(channel, "hangup", "caller hangs up")
        self._mark_hangup(channel, "caller")
        channel.request_hangup(16, SoftHangup.DEV)

    def _mark_hangup(self, channel: SimChannel, who: str) -> None:
        record = self._records.get(channel.linkedid)
        if record is not None and not record.hangup_by:
            record.hangup_by = who

    # ----------------------------------------------------------------- channel life
    def _new_channel(self, **kwargs: object) -> SimChannel:
        channel = SimChannel(
            clock=self.clock,
            astdb=self.astdb,
            globals_=self.dialplan.globals,
            notify=self._notify,
            **kwargs,  # type: ignore[arg-type]
        )
        self.channels_by_name[channel.name] = channel
        self._live_by_linkedid[channel.linkedid] = (
            self._live_by_linkedid.get(channel.linkedid, 0) + 1
        )
        self.max_concurrent_channels = max(self.max_concurrent_channels, len(self.channels_by_name))
        self._device_channels.setdefault(_device_of(channel.name), {})[channel.name] = channel
        self._show_location(channel)
        self._event("Newchannel", channel)
        return channel

    def _notify(self, what: str, channel: SimChannel, **data: Any) -> None:
        if what == "state":
            self._event("Newstate", channel)
            self._device_changed(channel)
            if channel.state == ChannelState.UP:
                answered = self._local_answer.pop(channel.name, None)
                if answered is not None:
                    answered()
        elif what == "softhangup":
            self._local_softhangup(channel, data["how"])
        elif what == "varset":
            self._event("VarSet", channel, Variable=data["name"], Value=data["value"])
        elif what == "dtmf":
            self._event("DTMFEnd", channel, Digit=data["digit"], Direction="Received")

    def _local_softhangup(self, channel: SimChannel, how: SoftHangup) -> None:
        """AGI ``HANGUP`` on a Local channel: Asterisk soft-hangs it up (SoftHangupRequest
        with AST_SOFTHANGUP_EXPLICIT, 32) and sets no hang-up cause, so its Hangup and its
        other half's show cause 0 (the AMI recording, redir-1)."""
        if how is SoftHangup.EXPLICIT and channel.tech.lower() == "local":
            if channel.application == "AGI":
                channel.hangup_cause = 0
                self._event("SoftHangupRequest", channel, Cause="32")

    def _destroy(self, channel: SimChannel, cause: int | None = None) -> None:
        if channel.destroyed:
            return
        local = channel.tech.lower() == "local"
        if cause is not None and not channel.hangup_cause:
            channel.hangup_cause = cause
        if not channel.hangup_cause and not (local and channel.hangup_requested):
            # A Local channel told to hang up without a cause keeps 0 (the recording);
            # anything else that just ends is a normal clearing.
            channel.hangup_cause = 16
        if local and channel.ran_pbx:
            self._event("SoftHangupRequest", channel, Cause="16")
        peer = channel.local_peer
        peer_lives = peer is not None and not peer.destroyed and not peer.hangup_requested
        if peer is not None and peer_lives:
            # chan_local queues the hang-up, with this half's cause, on the other half.
            self._event("HangupRequest", peer, Cause=str(channel.hangup_cause))
        self._finish_monitor(channel)
        channel.destroy()
        self.channels_by_name.pop(channel.name, None)
        device = self._device_channels.get(_device_of(channel.name), {})
        device.pop(channel.name, None)
        if not device:
            self._device_channels.pop(_device_of(channel.name), None)
        cause_text = CAUSE_TEXT.get(channel.hangup_cause, "Unknown")
        self._event(
            "Hangup", channel, fields={"Cause": str(channel.hangup_cause), "Cause-txt": cause_text}
        )
        self._device_changed(channel)
        if peer is not None and peer_lives:
            peer.request_hangup(channel.hangup_cause, SoftHangup.DEV)
        self._shown_location.pop(channel.name, None)
        self.log(channel, "gone", f"channel hung up, cause {channel.hangup_cause}")
        left = self._live_by_linkedid.get(channel.linkedid, 1) - 1
        self._live_by_linkedid[channel.linkedid] = left
        if left <= 0:
            self._call_over(channel.linkedid)
        if not self.channels_by_name:
            waiters, self._idle_waiters = self._idle_waiters, []
            for waiter in waiters:
                waiter.callback(None)

    def _call_over(self, linkedid: str) -> None:
        record = self._records.get(linkedid)
        if record is None or record.ended_at is not None:
            return
        record.ended_at = self.clock.seconds()
        if not record.hangup_by:
            record.hangup_by = "switch"
        call = self._placed.pop(linkedid, None)
        if call is not None and not call.ended.called:
            call.ended.callback(record)
        if self.on_call_end is not None:
            self.on_call_end(record)

    def _spawn_pbx(self, channel: SimChannel) -> None:
        def done(result: int | Failure) -> None:
            if isinstance(result, Failure):
                log.failure("dialplan on {channel} crashed", result, channel=channel.name)
            self._destroy(channel)

        async def run() -> int:
            result = await self._run_pbx(channel)
            await self._run_hangup_handler(channel)
            return result

        Deferred.fromCoroutine(run()).addBoth(done)

    async def _run_hangup_handler(self, channel: SimChannel) -> None:
        """Asterisk's ``h`` extension: after a hang-up, the channel's context's ``h`` runs
        on the dead channel (an AGI there may only read variables and set them)."""
        if not channel.hangup_requested or self.dialplan.extension(channel.context, "h") is None:
            return
        channel.exten, channel.priority = "h", 1
        await self._run_pbx(channel, dead=True)

    # --------------------------------------------------------------------- dialplan
    async def _run_pbx(
        self, channel: SimChannel, *, gosub: bool = False, dead: bool = False
    ) -> int:
        """Asterisk's PBX loop: run steps until a hang-up, an app returning -1, the end of
        the extension, or (in a gosub) ``Return``. A redirect moves it on elsewhere.
        ``dead``: the ``h`` extension of a hung-up channel, which runs to its end."""
        if not gosub:
            channel.ran_pbx = True
        while True:
            if channel.take_async_goto():
                channel.priority += 1
                continue
            if channel.hangup_requested and not dead:
                return -1
            step = self.dialplan.step(channel.context, channel.exten, channel.priority)
            if step is None:
                self.log(
                    channel,
                    "pbx",
                    f"no step {channel.context},{channel.exten},{channel.priority}: end",
                )
                return 0 if gosub else -1
            where = f"{channel.context},{channel.exten},{channel.priority}"
            record = self._records.get(channel.linkedid)
            if record is not None:
                record.steps.append(f"{where} {step}")
            self.log(channel, "pbx", f"{where} {step}")
            self._show_location(channel)
            if self.emit is not None:  # substituting the data costs; nobody may listen
                self._event(
                    "Newexten",
                    channel,
                    fields={"Extension": channel.exten, **_app_fields(step, channel)},
                )
            result = await self._run_step(channel, step)
            if channel.take_async_goto():
                channel.priority += 1
                continue
            if gosub and isinstance(step, App) and step.name.lower() == "return":
                return 0
            if not dead and (result < 0 or channel.check_hangup()):
                return -1
            channel.priority += 1

    async def _run_step(self, channel: SimChannel, step: Step) -> int:
        if isinstance(step, Agi):
            request = AGIRequest(
                channel.substitute(step.url), tuple(channel.substitute(a) for a in step.args)
            )
            status = await self.run_agi(channel, request)
            channel.set_var("AGISTATUS", status.value)
            return -1 if status is AGIStatus.HANGUP else 0
        if isinstance(step, GotoIf):
            target = step.if_true if evaluate(channel.substitute(step.condition)) else step.if_false
            if target and not self._goto(channel, channel.substitute(target)):
                return -1  # Asterisk hangs up on a Goto to nowhere
            return 0
        data = expand_expressions(channel.substitute(step.data))  # Set(N=$[${N} + 1])
        return await self.run_app(channel, step.name, data, via="dialplan")

    def _goto(self, channel: SimChannel, target: str) -> bool:
        where = self.dialplan.resolve(target, channel.context, channel.exten)
        if where is None:
            self.log(channel, "pbx", f"Goto {target}: no such place")
            return False
        channel.explicit_goto(*where)
        return True

    async def run_agi(self, channel: SimChannel, request: AGIRequest) -> AGIStatus:
        """Run one AGI() on ``channel`` against the server in ``request.url``."""
        channel.application, channel.application_data = "AGI", request.url
        session = AGISession(self, channel, request, channel.threadid)
        run = AgiRun(request.url, channel.name, self.clock.seconds())
        record = self._records.get(channel.linkedid)
        if record is not None:
            record.agi_runs.append(run)
        self._sessions.add(session)
        try:
            status = await session.run(self._connector)
        finally:
            self._sessions.discard(session)
        run.ended_at, run.status = self.clock.seconds(), status.value
        if status is AGIStatus.HANGUP and channel.hangup_requested:
            self._mark_hangup(
                channel, "hotline" if channel.softhangup & SoftHangup.EXPLICIT else "caller"
            )
        return status

    # ------------------------------------------------------------------ applications
    async def run_app(self, channel: SimChannel, app: str, data: str, via: str = "agi") -> int:
        """Execute a dialplan application (EXEC from AGI, or a dialplan step)."""
        handler = self._apps.get(app.lower())
        if handler is None:
            self.log(channel, "exec", f"{app}({data}): no such application")
            return -2
        channel.application, channel.application_data = app, data
        if via == "agi":
            self.log(channel, "exec", f"{app}({data})")
        if app.lower() == "hangup":
            self._mark_hangup(channel, "hotline" if via == "agi" else "dialplan")
        if app.lower() == "dial":
            return await self._dial(channel, data, via)
        return await handler(channel, data)

    async def _app_noop(self, channel: SimChannel, data: str) -> int:
        return 0

    async def _app_set(self, channel: SimChannel, data: str) -> int:
        name, equals, value = data.partition("=")
        if equals:
            channel.set_var(name.strip(), value)
        return 0

    async def _answer(self, channel: SimChannel) -> int:
        if channel.state == ChannelState.UP:
            return 0
        channel.answer()
        outcome = await channel.listen(0.5, "", keep_others=True).result
        return -1 if outcome.kind is OutcomeKind.HANGUP else 0

    async def _app_answer(self, channel: SimChannel, data: str) -> int:
        return await self._answer(channel)

    async def _app_playback(self, channel: SimChannel, data: str) -> int:
        parts = split_app_args(data)
        options = parts[1] if len(parts) > 1 else ""
        if channel.check_hangup():
            return -1
        if "noanswer" not in options and await self._answer(channel) < 0:
            return -1
        status = "SUCCESS"
        for name in parts[0].split("&"):
            duration = self.sounds.duration_of(name)
            if duration is None:
                status = "FAILED"  # Playback goes on and returns 0 (app_playback)
                continue
            outcome = await channel.listen(duration, "").result
            if outcome.kind is OutcomeKind.HANGUP:
                channel.set_var("PLAYBACKSTATUS", "FAILED")
                return -1
        channel.set_var("PLAYBACKSTATUS", status)
        return 0

    async def _app_start_moh(self, channel: SimChannel, data: str) -> int:
        channel.moh_class = data or "default"
        self.log(channel, "moh", f"music on hold ({channel.moh_class})")
        return 0

    async def _app_stop_moh(self, channel: SimChannel, data: str) -> int:
        channel.moh_class = None
        return 0

    async def _app_moh(self, channel: SimChannel, data: str) -> int:
        parts = split_app_args(data)
        seconds = _float(parts[1]) if len(parts) > 1 else None
        channel.moh_class = parts[0] or "default"
        outcome = await channel.listen(seconds, "").result
        channel.moh_class = None
        return -1 if outcome.kind is OutcomeKind.HANGUP else 0

    async def _app_wait(self, channel: SimChannel, data: str) -> int:
        seconds = _float(data) or 0.0
        outcome = await channel.listen(seconds, "").result
        return -1 if outcome.kind is OutcomeKind.HANGUP else 0

    async def _app_hangup(self, channel: SimChannel, data: str) -> int:
        cause = int(data) if data.strip().isdigit() else 16
        channel.request_hangup(cause, SoftHangup.EXPLICIT)
        return -1

    async def _app_goto(self, channel: SimChannel, data: str) -> int:
        return 0 if self._goto(channel, data) else -1

    async def _app_mixmonitor(self, channel: SimChannel, data: str) -> int:
        parts = split_app_args(data)
        path = Path(parts[0])
        if not path.is_absolute():
            path = self.spool_dir / "monitor" / path
        audio_format = path.suffix.lstrip(".").lower() or "wav"
        path.parent.mkdir(parents=True, exist_ok=True)  # MixMonitor creates directories
        self._monitors[channel.name] = (path, audio_format, self.clock.seconds())
        channel.set_var("MIXMONITOR_FILENAME", str(path))
        self.log(channel, "monitor", f"recording to {path}")
        return 0

    async def _app_stopmixmonitor(self, channel: SimChannel, data: str) -> int:
        self._finish_monitor(channel)
        return 0

    def _finish_monitor(self, channel: SimChannel) -> None:
        monitor = self._monitors.pop(channel.name, None)
        if monitor is None:
            return
        path, audio_format, started_at = monitor
        seconds = self.clock.seconds() - started_at
        try:
            write_recording(path, audio_format, seconds, seconds)
        except (OSError, ValueError) as exc:
            self.log(channel, "monitor", f"cannot write {path}: {exc}")
            return
        record = self._records.get(channel.linkedid)
        if record is not None:
            record.monitors.append((str(path), seconds))

    async def _app_voicemail(self, channel: SimChannel, data: str) -> int:
        """VoiceMail(box@context,options): greeting, beep, the caller's message until
        silence (3 s) or ``#``; written as a WAV in the spool; VMSTATUS set."""
        box = split_app_args(data)[0].split("&")[0]
        mailbox, _, vm_context = box.partition("@")
        if await self._answer(channel) < 0:
            channel.set_var("VMSTATUS", "FAILED")
            return -1
        outcome = await channel.listen(2.5, "").result  # greeting + beep
        if outcome.kind is OutcomeKind.HANGUP:
            channel.set_var("VMSTATUS", "FAILED")
            return -1
        limit_s = channel.speech_s + 3.0 if channel.has_media else 300.0
        outcome = await channel.listen(limit_s, "#").result
        folder = self.spool_dir / "voicemail" / (vm_context or "default") / mailbox / "INBOX"
        folder.mkdir(parents=True, exist_ok=True)
        number = len(list(folder.glob("msg*.wav")))
        path = folder / f"msg{number:04d}.wav"
        seconds = outcome.elapsed_s
        write_recording(path, "wav", seconds, channel.speech_s)
        record = self._records.get(channel.linkedid)
        if record is not None:
            record.recordings.append((str(path), seconds))
            record.voicemail_left = True
        self.log(channel, "voicemail", f"message {seconds:.1f} s in {path}")
        channel.set_var("VMSTATUS", "SUCCESS")
        return -1 if outcome.kind is OutcomeKind.HANGUP else 0

    async def _app_chanspy(self, channel: SimChannel, data: str) -> int:
        """ChanSpy(target,options) for a supervisor's phone: listens until either side ends."""
        target_name = split_app_args(data)[0]
        target = next(
            (c for n, c in self.channels_by_name.items() if n.startswith(target_name)), None
        )
        self.log(channel, "spy", f"spying on {target.name if target else target_name}")
        if target is None:
            return 0
        wait = channel.listen(None, "")
        unsubscribe = target.on_softhangup(lambda _: wait.finish(OutcomeKind.EVENT))
        outcome = await wait.result
        unsubscribe()
        return -1 if outcome.kind is OutcomeKind.HANGUP else 0

    # ------------------------------------------------------------------------- Dial
    async def _app_dial(self, channel: SimChannel, data: str) -> int:
        return await self._dial(channel, data, "dialplan")

    def _local_target(self, target: str) -> tuple[str, str] | None:
        """(context, exten) of a ``Local/exten@context[/n]`` target the dialplan has: its
        ``;2`` half runs there, as in Asterisk (other Local targets are phone-book phones)."""
        tech, _, resource = target.partition("/")
        if tech.lower() != "local":
            return None
        exten, at, context = re.sub(r"/[a-zA-Z]+$", "", resource).partition("@")
        if not at or not self.dialplan.exists(context, exten):
            return None
        return context, exten

    def _leg_channel(
        self,
        target: str,
        caller: SimChannel | None,
        caller_id: tuple[str, str],
        *,
        pair: bool = False,
    ) -> SimChannel:
        tech, _, resource = target.partition("/")
        seq = self.ids.channel_seq()
        linkedid = caller.linkedid if caller is not None else ""
        if tech.lower() == "local":
            base = re.sub(r"/[a-zA-Z]+$", "", resource)
            name = f"Local/{base}-{seq};1"
            uniqueid = self.ids.uniqueid()
            second = self.ids.uniqueid()  # the ;2 half
            media = False
            exten, _, context = base.partition("@")
            if pair:
                return self._local_pair(name, uniqueid, second, linkedid, context, exten, caller)
        else:
            endpoint = resource.split("@", 1)[1] if "@" in resource else resource
            name = f"{tech}/{endpoint}-{seq}"
            uniqueid = self.ids.uniqueid()
            media = True
            exten, context = "s", "default"
        return self._new_channel(
            name=name,
            tech=tech,
            uniqueid=uniqueid,
            linkedid=linkedid or uniqueid,
            context=context,
            exten=exten,
            caller_id_num=caller_id[0],
            caller_id_name=caller_id[1],
            state=ChannelState.DOWN,
            has_media=media,
            threadid=caller.threadid if caller is not None else self.ids.threadid(),
        )

    def _local_pair(
        self,
        name: str,
        uniqueid: str,
        second: str,
        linkedid: str,
        context: str,
        exten: str,
        caller: SimChannel | None,
    ) -> SimChannel:
        """The two halves of a Local channel (Newchannel of ``;1`` Down, then ``;2`` Ring,
        both at ``exten@context``, caller ID still unknown); returns ``;1``."""
        threadid = caller.threadid if caller is not None else self.ids.threadid()
        halves = []
        for half, half_id, state in (
            (name, uniqueid, ChannelState.DOWN),
            (name[:-1] + "2", second, ChannelState.RING),
        ):
            halves.append(
                self._new_channel(
                    name=half,
                    tech="Local",
                    uniqueid=half_id,
                    linkedid=linkedid or uniqueid,
                    context=context,
                    exten=exten,
                    state=state,
                    has_media=False,
                    threadid=threadid,
                )
            )
        one, two = halves
        one.local_peer, two.local_peer = two, one
        return one

    def _call_local(self, one: SimChannel, caller_id: tuple[str, str]) -> None:
        """chan_local's call: ``;1`` gets its caller ID and connected line (NewCallerid,
        NewConnectedLine), ``;2`` the channel variables of ``;1`` and the two swapped, then
        LocalBridge; what ``;2`` runs starts after the DialBegin (see ``_ring``)."""
        two = one.local_peer
        assert two is not None
        one.caller_id_num, one.caller_id_name = caller_id
        self._event("NewCallerid", one, fields=_CALLING_PRES)
        if not one.connected_num:
            one.connected_num, one.connected_name = caller_id
        self._event("NewConnectedLine", one)
        for var_name, value in one.variables().items():
            two.set_var(var_name, value)
        two.caller_id_num, two.caller_id_name = one.connected_num, one.connected_name
        two.connected_num, two.connected_name = one.caller_id_num, one.caller_id_name
        self._event("NewCallerid", two, fields=_CALLING_PRES)
        self._event("NewConnectedLine", two)
        if self.emit is not None:
            self._emit_raw(
                "LocalBridge",
                {
                    **_snapshot(one, "LocalOne", self._shown_location.get(one.name)),
                    **_snapshot(two, "LocalTwo", self._shown_location.get(two.name)),
                    "Context": two.context,
                    "Exten": two.exten,
                    "LocalOptimization": "No",
                },
            )

    def _ring(
        self, leg: _Leg, behaviour: PhoneBehaviour, on_event: Callable[[_Leg, str], None]
    ) -> None:
        """Schedule what the phone will do; ``on_event(leg, status)`` reports it."""
        assert leg.channel is not None
        two = leg.channel.local_peer
        if two is not None:
            # A Local pair: the ;2 half runs its extension; its answer answers the leg.
            self._local_answer[two.name] = partial(on_event, leg, "ANSWER")
            self._spawn_pbx(two)
            return
        if leg.channel.tech.lower() != "local":
            # A Local ;1 half stays Down until its ;2 half answers: nothing rings it (the
            # AMI recording has no Newstate before the Up of an originated Local channel).
            leg.channel.set_state(ChannelState.RINGING)
        if behaviour.busy:
            leg.timers.append(self.clock.callLater(0, on_event, leg, "BUSY"))
            return
        if behaviour.answer_after_s is not None:
            leg.timers.append(
                self.clock.callLater(behaviour.answer_after_s, on_event, leg, "ANSWER")
            )
        if behaviour.reject_after_s is not None:
            leg.timers.append(self.clock.callLater(behaviour.reject_after_s, on_event, leg, "BUSY"))

    def _start_leg(
        self,
        target: str,
        caller: SimChannel | None,
        caller_id: tuple[str, str],
        record: CallRecord | None,
    ) -> tuple[_Leg, PhoneBehaviour | None]:
        now = self.clock.seconds()
        local = self._local_target(target)
        behaviour = _LOCAL_DIALPLAN if local is not None else self.phones.behaviour(target)
        ring = RingRecord(target, "", now)
        if record is not None:
            record.rings.append(ring)
        leg = _Leg(target, ring)
        if behaviour is None or behaviour.unavailable:
            leg.status = ring.outcome = "CHANUNAVAIL"
            ring.outcome, ring.ended_at = "unavailable", now
            return leg, None
        # an agent never rings with two calls at once. The phone says busy. (A Local
        # target is a dialplan extension, not a phone: any number of calls may run it.)
        if self._phone_in_use.get(target, 0) > 0 and not target.lower().startswith("local/"):
            if record is not None:
                record.violations.append(f"{target} rung while already in a call (R-1.3)")
            leg.status = "BUSY"
            ring.outcome, ring.ended_at = "busy (already in a call)", now
            return leg, None
        leg.channel = self._leg_channel(target, caller, caller_id, pair=local is not None)
        ring.channel = leg.channel.name
        leg.channel.talk_s = behaviour.talk_s
        self._phone_in_use[target] = self._phone_in_use.get(target, 0) + 1
        return leg, behaviour

    def _release_phone(self, leg: _Leg) -> None:
        if leg.channel is not None and self._phone_in_use.get(leg.target, 0) > 0:
            self._phone_in_use[leg.target] -= 1

    async def _dial(self, caller: SimChannel, data: str, via: str) -> int:
        request = parse_dial_data(data)
        record = self._records.get(caller.linkedid)
        if not request.targets or caller.check_hangup():
            return -1
        for name in _DIAL_VARIABLES:
            caller.set_var(name, "")
        options = request.options
        caller_id = (
            caller.caller_id_num if "o" in options else caller.exten,
            caller.caller_id_name,
        )
        started_at = self.clock.seconds()
        exit_context = caller.get_var("EXITCONTEXT") or caller.context
        exit_digits = ""
        if "d" in options:
            exit_digits = "".join(d for d in ALL_DIGITS if self.dialplan.exists(exit_context, d))
        wait = caller.listen(request.timeout_s, exit_digits)
        legs: list[_Leg] = []

        def leg_event(leg: _Leg, status: str, _: object = None) -> None:
            if wait.done or leg.status != "RINGING":
                return
            leg.status = status
            if status == "ANSWER":
                wait.finish(OutcomeKind.EVENT, detail=leg)
                return
            leg.ring.outcome, leg.ring.ended_at = status.lower(), self.clock.seconds()
            if all(other.status != "RINGING" for other in legs):
                wait.finish(OutcomeKind.EVENT, detail=None)

        for target in request.targets:
            leg, behaviour = self._start_leg(target, caller, caller_id, record)
            legs.append(leg)
            if leg.channel is not None and behaviour is not None:
                for name, value in caller.inheritable_variables().items():
                    leg.channel.set_var(name, value)
                dial_string = target.partition("/")[2]  # "answer@agents/n", as Asterisk prints
                if leg.channel.local_peer is not None:
                    leg.channel.set_var("DIALEDPEERNUMBER", dial_string)
                    leg.channel.caller_id_num, leg.channel.caller_id_name = caller_id
                leg.channel.connected_num = caller.caller_id_num
                leg.channel.connected_name = caller.caller_id_name
                # app_dial gives the outgoing channel the caller's extension (DialBegin of the
                # AMI recording: DestExten is the number dialled, DestContext the leg's own).
                leg.channel.exten = caller.exten
                self._show_location(leg.channel)
                if leg.channel.local_peer is not None:
                    self._event(
                        "Newexten", leg.channel, fields={**_APP_DIAL, "Extension": caller.exten}
                    )
                    self._call_local(leg.channel, caller_id)
                self._event("DialBegin", caller, dest=leg.channel, DialString=dial_string)
                self.log(caller, "ring", f"{target} rings ({leg.channel.name})")
                self._ring(leg, behaviour, leg_event)
                # A ringing leg hung up from elsewhere (AMI Hangup, shutdown) stops ringing.
                leg.channel.on_softhangup(partial(leg_event, leg, "HANGUP"))
        if all(leg.status != "RINGING" for leg in legs):
            wait.finish(OutcomeKind.EVENT, detail=None)
        music = "m" in options
        if music:
            caller.moh_class = options["m"] or "default"
            self.log(caller, "moh", f"music while ringing ({caller.moh_class})")
        outcome = await wait.result
        if music:
            caller.moh_class = None
        answered: _Leg | None = outcome.detail if isinstance(outcome.detail, _Leg) else None
        now = self.clock.seconds()
        for leg in legs:
            for timer in leg.timers:
                if timer.active():
                    timer.cancel()
            if leg is answered:
                continue
            if leg.status == "RINGING":
                leg.ring.ended_at = now
                leg.ring.outcome = (
                    "cancelled" if outcome.kind is not OutcomeKind.TIMEOUT else "noanswer"
                )
            self._drop_leg(caller, leg, 26 if answered else 16)
        if answered is None:
            return self._dial_failed(
                caller, outcome.kind, outcome.digit, legs, exit_context, record
            )
        return await self._dial_answered(caller, answered, options, started_at, record, via)

    def _drop_leg(self, caller: SimChannel | None, leg: _Leg, cause: int) -> None:
        if leg.channel is None or leg.channel.destroyed:
            return
        status = {"RINGING": "CANCEL", "HANGUP": "CANCEL"}.get(leg.status, leg.status)
        self._event("DialEnd", caller, dest=leg.channel, DialStatus=status)
        self._release_phone(leg)
        leg.channel.request_hangup(cause, SoftHangup.EXPLICIT)
        self._destroy(leg.channel, cause)

    def _dial_failed(
        self,
        caller: SimChannel,
        kind: OutcomeKind,
        digit: str,
        legs: Sequence[_Leg],
        exit_context: str,
        record: CallRecord | None,
    ) -> int:
        if kind is OutcomeKind.DIGIT:
            caller.set_var("DIALSTATUS", "CANCEL")
            caller.explicit_goto(exit_context, digit, 1)
            if record is not None:
                record.exit_digit = digit
            self.log(caller, "dial", f"caller pressed {digit}: DIALSTATUS=CANCEL")
            return ord(digit)
        if kind is OutcomeKind.HANGUP:
            caller.set_var("DIALSTATUS", "CANCEL")
            return -1
        if kind is OutcomeKind.TIMEOUT:
            caller.set_var("DIALSTATUS", "NOANSWER")
            return 0
        statuses = {leg.status for leg in legs}
        for status in ("BUSY", "CONGESTION", "CHANUNAVAIL"):
            if status in statuses:
                caller.set_var("DIALSTATUS", status)
                break
        else:
            caller.set_var("DIALSTATUS", "NOANSWER")  # the legs hung up while ringing
        return 0

    async def _dial_answered(
        self,
        caller: SimChannel,
        leg: _Leg,
        options: Mapping[str, str],
        started_at: float,
        record: CallRecord | None,
        via: str,
    ) -> int:
        assert leg.channel is not None
        agent = leg.channel
        now = self.clock.seconds()
        leg.ring.outcome, leg.ring.ended_at = "answered", now
        agent.answer()
        self.log(caller, "dial", f"{leg.target} answered ({agent.name})")
        # app_dial sets these before it reports DialEnd (the AMI recording).
        caller.set_var("DIALSTATUS", "ANSWER")
        caller.set_var("DIALEDPEERNAME", agent.name)
        caller.set_var("DIALEDPEERNUMBER", leg.target.partition("/")[2])
        if agent.local_peer is not None:
            # The answered Local half is at an empty extension from here on (the recording's
            # DialEnd, AppDial, BridgeEnter and Hangup all show ``Exten:`` empty).
            agent.exten, agent.priority = "", 1
            self._show_location(agent)
        self._event("DialEnd", caller, dest=agent, DialStatus="ANSWER")
        if "U" in options:
            context, args = gosub_of(options["U"])
            await self._gosub(agent, context, args)
        try:
            if caller.check_hangup() or agent.check_hangup():
                return -1
            result = (agent.get_var("GOSUB_RESULT") or "").upper()
            if result in ("BUSY", "CONGESTION", "CHANUNAVAIL"):
                caller.set_var("DIALSTATUS", "BUSY" if result == "BUSY" else "CONGESTION")
                return -1
            if result == "ABORT" or result == "CONTINUE" or result.startswith("GOTO:"):
                return -1
            caller.answer()
            if record is not None:
                record.answered_by = leg.target
                record.answered_via = via
                record.answer_wait_s = now - started_at
            talk_started = self.clock.seconds()
            await self._bridge(caller, agent)
            if record is not None:
                record.talk_s += self.clock.seconds() - talk_started
            end = self.clock.seconds()
            answered_at = caller.answered_at if caller.answered_at is not None else end
            up_ms = round((end - answered_at) * 1000)
            dialed_ms = round((end - caller.created_at) * 1000)
            # app_dial reports the CALLER channel's up time and age here (006: both 8).
            caller.set_var("ANSWEREDTIME", seconds_floor(up_ms / 1000))
            caller.set_var("ANSWEREDTIME_MS", str(up_ms))
            caller.set_var("DIALEDTIME", seconds_floor(dialed_ms / 1000))
            caller.set_var("DIALEDTIME_MS", str(dialed_ms))
            caller.set_var("DIALSTATUS", "ANSWER")  # app_dial writes it once more at the end
            return -1
        finally:
            self._release_phone(leg)
            if agent.softhangup & SoftHangup.ASYNCGOTO and not agent.hangup_requested:
                self._spawn_pbx(agent)  # redirected out of the bridge: it lives on
            elif not agent.destroyed:
                agent.request_hangup(16, SoftHangup.EXPLICIT)
                self._destroy(agent)

    async def _gosub(self, channel: SimChannel, context: str, args: Sequence[str]) -> None:
        """Run ``context,s,1`` with ARG1..n on ``channel`` until Return (Dial option U)."""
        saved = {f"ARG{n}": channel.get_var(f"ARG{n}") for n in range(1, len(args) + 1)}
        for n, value in enumerate(args, start=1):
            channel.set_var(f"ARG{n}", value)
        channel.context, channel.exten, channel.priority = context, "s", 1
        try:
            await self._run_pbx(channel, gosub=True)
        finally:
            for name, previous in saved.items():
                if previous is None:
                    channel.unset_var(name)
                else:
                    channel.set_var(name, previous)

    async def _bridge(self, caller: SimChannel, agent: SimChannel) -> None:
        """The conversation: ends when either side hangs up or is redirected."""
        bridge_id = self.ids.bridge_id()
        caller.bridge_id = agent.bridge_id = bridge_id
        self._bridge_event("BridgeCreate", bridge_id, 0)
        if agent.local_peer is not None:
            # The answered Local half shows app_dial's pseudo application once more.
            self._event("Newexten", agent, fields={**_APP_DIAL, "Extension": ""})
        for count, channel in enumerate((agent, caller), start=1):
            self._bridge_event("BridgeEnter", bridge_id, count, channel)
        agent.set_var("BRIDGEPEER", caller.name)
        caller.set_var("BRIDGEPEER", agent.name)
        self.log(caller, "bridge", f"talking with {agent.name}")
        timers = []
        for channel, who in ((caller, "caller"), (agent, "agent")):
            if channel.talk_s is not None:
                timers.append(self.clock.callLater(channel.talk_s, self._talk_over, channel, who))
        wait = caller.listen(None, "")
        unsubscribe = agent.on_softhangup(lambda _: wait.finish(OutcomeKind.EVENT, detail="peer"))
        if agent.check_hangup():
            wait.finish(OutcomeKind.EVENT, detail="peer")
        try:
            await wait.result
        finally:
            unsubscribe()
            for timer in timers:
                if timer.active():
                    timer.cancel()
            caller.bridge_id = agent.bridge_id = ""
            for channel in (caller, agent):
                channel.set_var("BRIDGEPEER", "")
            for count, channel in enumerate((caller, agent)):
                self._bridge_event("BridgeLeave", bridge_id, 1 - count, channel)
            self._bridge_event("BridgeDestroy", bridge_id, 0)
        self.log(caller, "bridge", "conversation over")

    def _talk_over(self, channel: SimChannel, who: str) -> None:
        if channel.check_hangup():
            return
        self.log(channel, "hangup", f"{who} hangs up")
        self._mark_hangup(channel, who)
        channel.request_hangup(16, SoftHangup.DEV)

    # ------------------------------------------------------------------ AMI backend
    def originate(self, fields: dict[str, str], action_id: str) -> None:
        """AMI Originate (already answered "queued"): ring ``Channel``; once it answers,
        run Context/Exten/Priority (or Application/Data) on it; report OriginateResponse."""
        Deferred.fromCoroutine(self._originate(fields, action_id)).addErrback(
            lambda failure: log.failure("originate crashed", failure)
        )

    async def _originate(self, fields: dict[str, str], action_id: str) -> None:
        target = fields.get("Channel", "")
        context = fields.get("Context", "")
        exten = fields.get("Exten", "")
        priority = (
            int(fields.get("Priority") or 1) if (fields.get("Priority") or "1").isdigit() else 1
        )
        application = fields.get("Application", "")
        app_data = fields.get("Data", "")
        timeout_s = int(fields.get("Timeout") or 30000) / 1000
        name, number = parse_caller_id(fields.get("CallerID", ""))
        variables = _originate_variables(fields.get("Variable", ""))
        destination = (
            {"Application": application, "Data": app_data}
            if application
            else {"Context": context, "Exten": exten}
        )

        def respond(success: bool, channel_name: str, reason: str, uniqueid: str) -> None:
            # Field order as in the AMI recording.
            self._emit_raw(
                "OriginateResponse",
                {
                    "ActionID": action_id,
                    "Response": "Success" if success else "Failure",
                    "Channel": channel_name,
                    **destination,
                    "Reason": reason,
                    "Uniqueid": uniqueid,
                    "CallerIDNum": number or "<unknown>",
                    "CallerIDName": name or "<unknown>",
                },
            )

        record = CallRecord(
            "", f"originate {target} -> {exten or application}", self.clock.seconds(), "out"
        )
        leg, behaviour = self._start_leg(target, None, (number, name), None)
        if leg.channel is None or behaviour is None:
            respond(False, target, "0" if leg.status != "BUSY" else "5", "<null>")
            return
        channel = leg.channel
        # The outgoing channel of an Originate runs the pseudo application AppDial2 while it
        # rings, before the Variable: headers are set on it (the AMI recording).
        self._event(
            "Newexten",
            channel,
            fields={
                "Extension": channel.exten,
                "Application": "AppDial2",
                "AppData": "(Outgoing Line)",
            },
        )
        record.linkedid = channel.linkedid
        record.rings.append(leg.ring)
        self._records[channel.linkedid] = record
        self.calls.append(record)
        for var_name, value in variables:
            channel.set_var(var_name, value)
        if channel.local_peer is not None:
            self._call_local(channel, (number, name))
        self._event("DialBegin", None, dest=channel, DialString=target.partition("/")[2])
        self.log(channel, "ring", f"originate: {target} rings")
        wait = channel.listen(timeout_s, "")

        def leg_event(leg_: _Leg, status: str) -> None:
            if not wait.done and leg_.status == "RINGING":
                leg_.status = status
                wait.finish(OutcomeKind.EVENT, detail=status)

        self._ring(leg, behaviour, leg_event)
        outcome = await wait.result
        for timer in leg.timers:
            if timer.active():
                timer.cancel()
        now = self.clock.seconds()
        leg.ring.ended_at = now
        if outcome.detail != "ANSWER":
            reason, status, cause = "3", "NOANSWER", 19
            if outcome.detail == "BUSY":
                reason, status, cause = "5", "BUSY", 17
            elif outcome.kind is OutcomeKind.HANGUP:
                reason, status, cause = "1", "CANCEL", 16
            leg.ring.outcome = status.lower()
            self._event("DialEnd", None, dest=channel, DialStatus=status)
            respond(False, channel.name, reason, channel.uniqueid)
            self._release_phone(leg)
            self._destroy(channel, cause)
            return
        leg.ring.outcome = "answered"
        channel.answer()
        record.answered_by = target
        record.answer_wait_s = now - leg.ring.started_at
        self._event("DialEnd", None, dest=channel, DialStatus="ANSWER")
        respond(True, channel.name, "4", channel.uniqueid)
        self.log(channel, "answer", f"{target} answered the originate")
        try:
            if application:
                await self.run_app(channel, application, app_data, via="dialplan")
            else:
                channel.context, channel.exten, channel.priority = context, exten, priority
                await self._run_pbx(channel)
        finally:
            self._release_phone(leg)
            self._destroy(channel)

    def redirect(self, channel: str, context: str, exten: str, priority: str) -> bool:
        """AMI Redirect: the channel's running command ends as if hung up; it then runs
        ``context,exten,priority`` (a new AGI session with the same uniqueid)."""
        found = self.channels_by_name.get(channel)
        if found is None or found.hangup_requested:
            return False
        target = int(priority) if priority.strip().isdigit() else 1
        self.log(found, "redirect", f"to {context},{exten},{target}")
        found.async_goto(context, exten, target)
        return True

    def hangup(self, channel: str, cause: int) -> bool:
        found = self.channels_by_name.get(channel)
        if found is None:
            return False
        self.log(found, "hangup", f"AMI Hangup cause {cause}")
        self._mark_hangup(found, "ami")
        if not found.hangup_requested:
            found.request_hangup(int(cause), SoftHangup.EXPLICIT)
            found.hangup_cause = int(cause)  # the AMI's cause, even on a Local channel in AGI
        return True

    def play_dtmf(self, channel: str, digit: str) -> bool:
        found = self.channels_by_name.get(channel)
        if found is None or not digit:
            return False
        found.press(digit[0])
        return True

    def setvar(self, channel: str, name: str, value: str) -> bool:
        found = self.channels_by_name.get(channel)
        if found is None:
            return False
        found.set_var(name, value)
        return True

    def getvar(self, channel: str, name: str) -> str | None:
        found = self.channels_by_name.get(channel)
        return None if found is None else found.get_var(name)

    def channels(self) -> list[dict[str, str]]:
        """CoreShowChannel fields of every live channel."""
        listing = []
        for channel in self.channels_by_name.values():
            fields = _snapshot(channel, "", self._shown_location.get(channel.name))
            seconds = int(self.clock.seconds() - channel.created_at)
            fields.update(
                Application=channel.application,
                ApplicationData=channel.application_data,
                Duration=f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}",
                BridgeId=channel.bridge_id,
            )
            listing.append(fields)
        return listing

    # ---------------------------------------------------------------------- events
    def _show_location(self, channel: SimChannel) -> None:
        """Publish the channel's dialplan location to later events (a Newexten or a new
        channel: the moments Asterisk refreshes the channel snapshot's location)."""
        self._shown_location[channel.name] = (channel.context, channel.exten, channel.priority)

    def _event(
        self,
        name: str,
        channel: SimChannel | None,
        dest: SimChannel | None = None,
        fields: Mapping[str, str] | None = None,
        **more: str,
    ) -> None:
        if self.emit is None:
            return
        event: dict[str, str] = {}
        if channel is not None:
            event.update(_snapshot(channel, "", self._shown_location.get(channel.name)))
        if dest is not None:
            event.update(_snapshot(dest, "Dest", self._shown_location.get(dest.name)))
        event.update(fields or {})
        event.update(more)
        self._emit_raw(name, event)

    def _device_changed(self, channel: SimChannel) -> None:
        """Report the channel's device state soon (DeviceStateChange, once per change)."""
        if self.emit is None:
            return
        if not self._devices_changed:
            self.clock.callLater(0, self._report_devices)
        self._devices_changed.append(_device_of(channel.name))

    def _report_devices(self) -> None:
        changed, self._devices_changed = self._devices_changed, []
        for device in changed:
            states = {c.state for c in self._device_channels.get(device, {}).values()}
            ringing = bool(states & {ChannelState.RING, ChannelState.RINGING})
            if ChannelState.UP in states:
                state = "RINGINUSE" if ringing else "INUSE"
            else:
                state = "RINGING" if ringing else "NOT_INUSE"
            self._device_states[device] = state
            self._emit_raw("DeviceStateChange", {"Device": device, "State": state})

    def device_states(self) -> list[tuple[str, str]]:
        """Every phone's device state, as DeviceStateList lists them: the phones given a
        behaviour (NOT_INUSE, or UNAVAILABLE when not registered) and every device that
        has had a channel, with its last state."""
        states: dict[str, str] = {}
        for target in self.phones.targets():
            behaviour = self.phones.behaviour(target)
            unavailable = behaviour is not None and behaviour.unavailable
            states[target] = "UNAVAILABLE" if unavailable else "NOT_INUSE"
        states.update(self._device_states)
        return sorted(states.items())

    def _bridge_event(
        self, name: str, bridge_id: str, count: int, channel: SimChannel | None = None
    ) -> None:
        """A Bridge* event: the bridge's fields first, then the channel's (the recording)."""
        if self.emit is None:
            return
        fields = _bridge_fields(bridge_id, count)
        if channel is not None:
            fields.update(_snapshot(channel, "", self._shown_location.get(channel.name)))
        self._emit_raw(name, fields)

    def _emit_raw(self, name: str, fields: Mapping[str, str]) -> None:
        if self.emit is None:
            return
        event = {"Event": name, "Privilege": _PRIVILEGE.get(name, "call,all"), **fields}
        try:
            self.emit(event)
        except Exception:  # an AMI client problem must not break the simulated call
            log.failure("emitting {event} failed", event=name)


def _snapshot(
    channel: SimChannel, prefix: str = "", location: tuple[str, str, int] | None = None
) -> dict[str, str]:
    """The channel fields every AMI channel event carries (``Dest`` prefix for DialBegin);
    ``location`` is the (context, exten, priority) last published (see ``_shown_location``)."""
    context, exten, priority = location or (channel.context, channel.exten, channel.priority)
    fields = {
        "Channel": channel.name,
        "ChannelState": str(int(channel.state)),
        "ChannelStateDesc": channel.state.description,
        "CallerIDNum": channel.caller_id_num or "<unknown>",
        "CallerIDName": channel.caller_id_name or "<unknown>",
        "ConnectedLineNum": channel.connected_num or "<unknown>",
        "ConnectedLineName": channel.connected_name or "<unknown>",
        "Language": channel.language,
        "AccountCode": channel.accountcode,
        "Context": context,
        "Exten": exten,
        "Priority": str(priority),
        "Uniqueid": channel.uniqueid,
        "Linkedid": channel.linkedid,
    }
    return {prefix + key: value for key, value in fields.items()}


def _device_of(name: str) -> str:
    """The device a channel belongs to: its name without the ``-0000000e;1`` suffix."""
    return name.rpartition("-")[0] or name


_APP_DIAL = {"Extension": "", "Application": "AppDial", "AppData": "(Outgoing Line)"}


def _bridge_fields(bridge_id: str, count: int) -> dict[str, str]:
    """The bridge snapshot of Bridge* events (a two-party basic bridge, as app_dial makes)."""
    return {
        "BridgeUniqueid": bridge_id,
        "BridgeType": "basic",
        "BridgeTechnology": "simple_bridge",
        "BridgeCreator": "<unknown>",
        "BridgeName": "<unknown>",
        "BridgeNumChannels": str(count),
        "BridgeVideoSourceMode": "none",
    }


def _app_fields(step: Step, channel: SimChannel) -> dict[str, str]:
    """Application and AppData of a Newexten: the data as the application gets it, with
    ``${...}`` substituted (the recording's ``outbound to 420777123456 cid="Hotline" <2222>``)."""
    if isinstance(step, Agi):
        data = ",".join((step.url, *step.args))
        return {"Application": "AGI", "AppData": channel.substitute(data)}
    if isinstance(step, GotoIf):
        return {"Application": "GotoIf", "AppData": channel.substitute(str(step)[7:-1])}
    return {"Application": step.name, "AppData": channel.substitute(step.data)}


def _originate_variables(text: str) -> list[tuple[str, str]]:
    """``Variable: a=1,b=2`` (or repeated headers joined by commas) as Asterisk splits it."""
    pairs = []
    for item in split_app_args(text) if text else []:
        name, equals, value = item.partition("=")
        if equals and name.strip():
            pairs.append((name.strip(), value))
    return pairs


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
