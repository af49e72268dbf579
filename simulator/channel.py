"""A simulated Asterisk channel: identity, state, variables, DTMF, hang-up and redirect.

A ``SimChannel`` is what an AGI session, a Dial or a phone acts on. Everything that waits on
a channel (playing a prompt, WAIT FOR DIGIT, ringing an agent, a bridged conversation) asks
the channel to ``listen()``; the returned :class:`Wait` ends with the first of: an accepted
key, the timeout, a hang-up or redirect (both are a "soft hang-up" to whoever waits, as in
Asterisk), or whatever the waiter itself decides (``finish()``: a new AGI command, an agent
answering).

DTMF choice (documented for the brief): a key the caller presses while nothing listens -
between two AGI commands, or while ANSWER waits for media - is queued on the channel, as
frames queue in Asterisk, and the next command that listens for keys gets it (WAIT FOR
DIGIT, GET DATA, a Dial with option ``d``). A command that plays or waits without listening
for that key (Playback, STREAM FILE with other escape digits, a Dial without ``d``, a
bridged conversation) consumes and drops it, as Asterisk's stream and bridge loops do. Real
Asterisk's idle AGI loop also reads and drops frames between commands; the window is one
network round trip, and queueing there makes scripted key times robust.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from enum import Enum, IntEnum, IntFlag
from typing import Any

from twisted.internet.defer import Deferred

from domain.clock import Clock, DelayedCall

ALL_DIGITS = "0123456789*#ABCD"


class ChannelState(IntEnum):
    """Asterisk's channel states; ``CHANNEL STATUS`` answers with these numbers."""

    DOWN = 0
    RESERVED = 1
    OFFHOOK = 2
    DIALING = 3
    RING = 4
    RINGING = 5
    UP = 6
    BUSY = 7

    @property
    def description(self) -> str:
        """The ``ChannelStateDesc`` of AMI events."""
        return {
            0: "Down",
            1: "Rsrvd",
            2: "OffHook",
            3: "Dialing",
            4: "Ring",
            5: "Ringing",
            6: "Up",
            7: "Busy",
        }[int(self)]


class SoftHangup(IntFlag):
    """Why a channel's current application is being told to stop."""

    NONE = 0
    DEV = 1  # the far end hung up
    EXPLICIT = 2  # HANGUP command, AMI Hangup, Hangup()
    ASYNCGOTO = 4  # AMI Redirect: the channel lives on elsewhere in the dialplan


class OutcomeKind(Enum):
    DIGIT = "digit"
    TIMEOUT = "timeout"
    HANGUP = "hangup"
    COMMAND = "command"  # a new AGI command (or EOF) arrived during an interruptible wait
    EVENT = "event"  # the waiter's own reason (an agent answered, a leg went away)


@dataclass(frozen=True)
class Outcome:
    """How a :class:`Wait` ended and after how long."""

    kind: OutcomeKind
    elapsed_s: float
    digit: str = ""
    detail: Any = None


CAUSE_TEXT = {
    0: "Unknown",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    26: "Answered elsewhere",
    32: "Circuit/channel congestion",
    34: "Circuit/channel congestion",
    38: "Network out of order",
}


class Wait:
    """One waiting period on a channel; ``result`` fires once with the :class:`Outcome`."""

    def __init__(
        self,
        channel: SimChannel,
        clock: Clock,
        timeout_s: float | None,
        accept: str,
        keep_others: bool,
    ) -> None:
        self.channel = channel
        self.accept = accept
        self.keep_others = keep_others
        self.result: Deferred[Outcome] = Deferred()
        self._clock = clock
        self._started_at = clock.seconds()
        self._timer: DelayedCall | None = None
        if timeout_s is not None:
            self._timer = clock.callLater(max(0.0, timeout_s), self.finish, OutcomeKind.TIMEOUT)

    @property
    def done(self) -> bool:
        return self.result.called

    def elapsed_s(self) -> float:
        return self._clock.seconds() - self._started_at

    def finish(self, kind: OutcomeKind, digit: str = "", detail: Any = None) -> None:
        """End the wait (the first call wins; later ones are ignored)."""
        if self.result.called:
            return
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self.channel._wait_finished(self)
        self.result.callback(Outcome(kind, self.elapsed_s(), digit, detail))


ChannelNotify = Callable[..., None]


class SimChannel:
    """One channel of the fake switch. Mutable on purpose: it is the simulated state."""

    def __init__(
        self,
        *,
        clock: Clock,
        name: str,
        tech: str,
        uniqueid: str,
        linkedid: str,
        context: str,
        exten: str,
        priority: int = 1,
        caller_id_num: str = "",
        caller_id_name: str = "",
        state: ChannelState = ChannelState.RING,
        language: str = "en",
        accountcode: str = "",
        dnid: str = "",
        threadid: int = 0,
        has_media: bool = True,
        astdb: MutableMapping[tuple[str, str], str] | None = None,
        globals_: Mapping[str, str] | None = None,
        notify: ChannelNotify | None = None,
    ) -> None:
        self._clock = clock
        self.name = name
        self.tech = tech
        self.uniqueid = uniqueid
        self.linkedid = linkedid
        self.context = context
        self.exten = exten
        self.priority = priority
        self.caller_id_num = caller_id_num
        self.caller_id_name = caller_id_name
        self.connected_num = ""
        self.connected_name = ""
        self.state = state
        self.language = language
        self.accountcode = accountcode
        self.dnid = dnid
        self.threadid = threadid
        self.has_media = has_media
        self.astdb: MutableMapping[tuple[str, str], str] = {} if astdb is None else astdb
        self._globals: Mapping[str, str] = globals_ or {}  # the dialplan's [globals]
        self._notify = notify
        self.created_at = clock.seconds()
        self.answered_at: float | None = None
        self.destroyed_at: float | None = None
        self.hangup_cause = 0
        self.softhangup = SoftHangup.NONE
        self.application = ""
        self.application_data = ""
        self.bridge_id = ""
        # The other half of a Local channel pair (``;1`` <-> ``;2``): each half's hang-up
        # hangs the other up, as chan_local does.
        self.local_peer: SimChannel | None = None
        # Ran the dialplan (a PBX) rather than only an application or a Dial leg: Asterisk
        # reports a SoftHangupRequest when such a Local channel's PBX ends (AMI recording).
        self.ran_pbx = False
        self.moh_class: str | None = None
        self.talk_s: float | None = None  # hangs up this long after being bridged
        self.speech_s = 0.0  # how long this party talks into a recording
        self._variables: dict[str, tuple[int, str]] = {}  # name -> (inherit level, value)
        self._dtmf: deque[str] = deque()
        self._wait: Wait | None = None
        self._softhangup_callbacks: list[Callable[[SimChannel], None]] = []

    # ----------------------------------------------------------------- identity and state
    def __repr__(self) -> str:
        return f"<SimChannel {self.name} {self.uniqueid} {self.state.name}>"

    @property
    def destroyed(self) -> bool:
        return self.destroyed_at is not None

    def now(self) -> float:
        return self._clock.seconds()

    def set_state(self, state: ChannelState) -> None:
        if state != self.state:
            self.state = state
            self._emit("state")

    def answer(self) -> None:
        """Raw answer: the channel is up from now (Asterisk's answertime)."""
        if self.state != ChannelState.UP:
            self.answered_at = self.now()
            self.set_state(ChannelState.UP)

    def _emit(self, what: str, **data: Any) -> None:
        if self._notify is not None:
            self._notify(what, self, **data)

    # ----------------------------------------------------------------------- variables
    def set_var(self, name: str, value: str) -> None:
        """pbx_builtin_setvar_helper(): ``_X``/``__X`` mark inheritance; functions write."""
        if name.endswith(")"):
            self._write_function(name, value)
            return
        level = 2 if name.startswith("__") else 1 if name.startswith("_") else 0
        bare = name.lstrip("_")
        self._variables[bare] = (level, value)
        self._emit("varset", name=bare, value=value)

    def unset_var(self, name: str) -> None:
        self._variables.pop(name.lstrip("_"), None)

    def get_var(self, name: str) -> str | None:
        """pbx_retrieve_variable() / ast_func_read(): None when unset or unreadable."""
        if name.endswith(")"):
            return self._read_function(name)
        builtin = self._builtin(name)
        if builtin is not None:
            return builtin
        entry = self._variables.get(name)
        return self._globals.get(name) if entry is None else entry[1]

    def variables(self) -> dict[str, str]:
        return {name: value for name, (_, value) in self._variables.items()}

    def inheritable_variables(self) -> dict[str, str]:
        """What a channel created by Dial/Originate from this one inherits, with prefixes."""
        inherited: dict[str, str] = {}
        for name, (level, value) in self._variables.items():
            if level == 2:
                inherited["__" + name] = value
            elif level == 1:
                inherited[name] = value
        return inherited

    def _builtin(self, name: str) -> str | None:
        values = {
            "CHANNEL": self.name,
            "UNIQUEID": self.uniqueid,
            "CONTEXT": self.context,
            "EXTEN": self.exten,
            "PRIORITY": str(self.priority),
            "HANGUPCAUSE": str(self.hangup_cause),
            "EPOCH": str(int(self.now())),
        }
        return values.get(name)

    def _read_function(self, expression: str) -> str | None:
        match = re.fullmatch(r"([A-Z_]+)\((.*)\)", expression, re.DOTALL)
        if not match:
            return None
        function, argument = match.group(1), match.group(2)
        if function == "CALLERID":
            return {
                "num": self.caller_id_num,
                "number": self.caller_id_num,
                "name": self.caller_id_name,
                "all": f'"{self.caller_id_name}" <{self.caller_id_num}>',
                "dnid": self.dnid,
            }.get(argument.lower())
        if function == "CONNECTEDLINE":
            return {"num": self.connected_num, "name": self.connected_name}.get(argument.lower())
        if function == "CHANNEL":
            return {
                "name": self.name,
                "uniqueid": self.uniqueid,
                "linkedid": self.linkedid,
                "state": self.state.description,
                "language": self.language,
                "accountcode": self.accountcode,
                "channeltype": self.tech,
            }.get(argument.lower())
        if function in ("DB", "DB_EXISTS"):
            family, _, key = argument.partition("/")
            value = self.astdb.get((family, key))
            if function == "DB_EXISTS":
                return "1" if value is not None else "0"
            return value
        if function == "LEN":
            return str(len(argument))
        if function == "EXISTS":
            return "1" if argument else "0"
        if function == "ISNULL":
            return "0" if argument else "1"
        return None

    def _write_function(self, expression: str, value: str) -> None:
        match = re.fullmatch(r"([A-Z_]+)\((.*)\)", expression, re.DOTALL)
        if not match:
            return
        function, argument = match.group(1), match.group(2).lower()
        if function == "CALLERID":
            if argument in ("num", "number"):
                self.caller_id_num = value
            elif argument == "name":
                self.caller_id_name = value
            elif argument == "all":
                self.caller_id_name, self.caller_id_num = parse_caller_id(value)
        elif function == "CONNECTEDLINE":
            if argument == "num":
                self.connected_num = value
            elif argument == "name":
                self.connected_name = value
        elif function == "DB":
            family, _, key = match.group(2).partition("/")
            self.astdb[(family, key)] = value

    def substitute(self, template: str) -> str:
        """``${VAR}``, ``${FUNC(arg)}`` and ``${VAR:offset:length}``, nested, as Asterisk."""
        return _substitute(template, self)

    # -------------------------------------------------------------------------- DTMF
    def press(self, digit: str) -> None:
        """A key from the far end of this channel (caller script or AMI PlayDTMF)."""
        if self.destroyed or self.softhangup:
            return
        self._emit("dtmf", digit=digit)
        wait = self._wait
        if wait is not None:
            if digit in wait.accept:
                wait.finish(OutcomeKind.DIGIT, digit)
            elif wait.keep_others:
                self._dtmf.append(digit)
            return
        if self.bridge_id:
            return  # in a conversation the key goes to the other party
        self._dtmf.append(digit)

    def listen(
        self, timeout_s: float | None = None, accept: str = "", keep_others: bool = False
    ) -> Wait:
        """Start waiting: for a key in ``accept``, the timeout (None = forever), a hang-up.

        Queued keys are looked at first: an accepted one ends the wait at once; the others
        are dropped unless ``keep_others`` (ANSWER re-queues what it reads).
        """
        if self._wait is not None:
            self._wait.finish(OutcomeKind.EVENT, detail="superseded")
        wait = Wait(self, self._clock, timeout_s, accept, keep_others)
        self._wait = wait
        if self.softhangup:
            wait.finish(OutcomeKind.HANGUP)
            return wait
        if timeout_s is not None and timeout_s <= 0:
            return wait  # the zero timer fires; Asterisk reads no frame with ms=0
        kept: deque[str] = deque()
        while self._dtmf and not wait.done:
            digit = self._dtmf.popleft()
            if digit in accept:
                wait.finish(OutcomeKind.DIGIT, digit)
            elif keep_others:
                kept.append(digit)
        self._dtmf.extendleft(reversed(kept))
        return wait

    @property
    def current_wait(self) -> Wait | None:
        return self._wait

    def _wait_finished(self, wait: Wait) -> None:
        if self._wait is wait:
            self._wait = None

    # -------------------------------------------------------------- hang-up, redirect
    def on_softhangup(self, callback: Callable[[SimChannel], None]) -> Callable[[], None]:
        """Call ``callback`` on hang-up or redirect; returns a function that unsubscribes."""
        self._softhangup_callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._softhangup_callbacks:
                self._softhangup_callbacks.remove(callback)

        return unsubscribe

    def check_hangup(self) -> bool:
        """ast_check_hangup(): any reason to stop what runs on the channel."""
        return bool(self.softhangup) or self.destroyed

    @property
    def hangup_requested(self) -> bool:
        """A real hang-up (not a redirect) was asked for or happened."""
        return bool(self.softhangup & (SoftHangup.DEV | SoftHangup.EXPLICIT)) or self.destroyed

    def request_hangup(self, cause: int = 16, how: SoftHangup = SoftHangup.DEV) -> None:
        """The far end hung up (DEV) or someone hangs the channel up (EXPLICIT)."""
        if self.hangup_requested:
            return
        self.hangup_cause = cause
        self._soft(how)

    def explicit_goto(self, context: str, exten: str, priority: int) -> None:
        """Move the dialplan position; the PBX loop adds one before running the next step,
        so the stored priority is one less (004: ``PRIORITY`` reads ``0`` after Dial d)."""
        self.context = context
        self.exten = exten
        self.priority = priority - 1
        self._emit("location")

    def async_goto(self, context: str, exten: str, priority: int) -> None:
        """AMI Redirect: what runs now ends as if hung up; the channel goes on elsewhere."""
        self.explicit_goto(context, exten, priority)
        self._soft(SoftHangup.ASYNCGOTO)

    def take_async_goto(self) -> bool:
        """The PBX loop consumes a pending redirect (and continues at the new place)."""
        if self.softhangup & SoftHangup.ASYNCGOTO:
            self.softhangup &= ~SoftHangup.ASYNCGOTO
            return True
        return False

    def _soft(self, how: SoftHangup) -> None:
        self.softhangup |= how
        self._emit("softhangup", how=how)
        if self._wait is not None:
            self._wait.finish(OutcomeKind.HANGUP)
        for callback in list(self._softhangup_callbacks):
            callback(self)

    def destroy(self) -> None:
        """The channel is gone (its PBX ended or it was never answered)."""
        if self.destroyed:
            return
        self.destroyed_at = self.now()
        if not self.hangup_requested:
            self.softhangup |= SoftHangup.EXPLICIT
        if self._wait is not None:
            self._wait.finish(OutcomeKind.HANGUP)
        self._emit("destroyed")


def parse_caller_id(text: str) -> tuple[str, str]:
    """``"Jan Novak" <777123456>`` -> (name, number), like ast_callerid_parse()."""
    match = re.fullmatch(r'\s*"?([^"<]*?)"?\s*<([^>]*)>\s*', text)
    if match:
        return match.group(1).strip(), match.group(2).strip()
    stripped = text.strip()
    if re.fullmatch(r"[0-9+*#]+", stripped):
        return "", stripped
    return stripped, ""


def seconds_floor(seconds: float) -> str:
    """Asterisk's duration variables (DIALEDTIME...) are whole seconds, rounded down."""
    return str(max(0, math.floor(seconds + 1e-9)))


def _substitute(template: str, channel: SimChannel) -> str:
    out: list[str] = []
    index = 0
    while index < len(template):
        start = template.find("${", index)
        if start < 0:
            out.append(template[index:])
            break
        out.append(template[index:start])
        depth = 1
        cursor = start + 2
        while cursor < len(template) and depth:
            if template.startswith("${", cursor):
                depth += 1
                cursor += 2
                continue
            if template[cursor] == "}":
                depth -= 1
            cursor += 1
        if depth:  # unterminated: Asterisk copies it as is
            out.append(template[start:])
            break
        inner = _substitute(template[start + 2 : cursor - 1], channel)
        out.append(_expand(inner, channel))
        index = cursor
    return "".join(out)


def _expand(expression: str, channel: SimChannel) -> str:
    name, offset, length = expression, 0, None
    if not expression.endswith(")"):
        parts = expression.split(":")
        if len(parts) > 1 and all(re.fullmatch(r"-?\d*", p) for p in parts[1:3]):
            name = parts[0]
            offset = int(parts[1] or 0)
            length = int(parts[2]) if len(parts) > 2 and parts[2] else None
    value = channel.get_var(name) or ""
    if offset or length is not None:
        value = value[offset:]
        if length is not None:
            value = value[:length]
    return value
