"""Scenarios and load profiles for the simulator, and the run that drives a switch with them.

A scenario file (YAML, see ``simulator/scenarios/basic.yaml``) names the phones and how they
behave, the scripted callers, optionally the FastAGI servers, the fallback destination, the
prompt durations and how long to run. A malformed file is refused with
:class:`ScenarioError`, whose message is ``file:line: reason``.

A load profile instead generates callers: ``calls_per_second``, at most ``concurrency`` at
once, ``total`` calls, and a ``mix`` of behaviours (``answer`` waits for an agent and
talks, ``hash`` presses # for voicemail, ``zero`` presses 0 for a callback, ``hangup``
abandons while waiting), and optionally a mix of agent-phone behaviours: each time a phone
rings it draws one (``answer`` after 3 s, ``noanswer`` rings until the caller's side gives
up, ``busy`` at once, ``reject`` declines after ringing 3-10 s, ``unavailable`` as an
unregistered endpoint). Generation is seeded, so a run can be repeated.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from twisted.internet.defer import Deferred
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from dialplan.channel_vars import INBOUND_CONTEXT
from domain.clock import Clock, DelayedCall
from simulator.agi_peer import TCPConnector
from simulator.channel import ALL_DIGITS
from simulator.dialplan import (
    FallbackDestination,
    HotlineDialplanSettings,
    load_hotline_dialplan,
)
from simulator.media import SoundCatalogue
from simulator.switch import CallerScript, PhoneBehaviour, PhoneBook, Switch
from simulator.transcript import CallRecord, RunSummary, summarize

MIX_KINDS = ("answer", "hash", "zero", "hangup")
PHONE_KINDS = ("answer", "noanswer", "busy", "reject", "unavailable")
SHUTDOWN_GRACE_S = 5.0


class ScenarioError(Exception):
    """A scenario file or load profile that cannot be used; ``str()`` says where and why."""


@dataclass(frozen=True)
class Scenario:
    callers: tuple[CallerScript, ...]
    phones: PhoneBook
    duration_s: float | None = None
    servers: tuple[str, ...] = ()
    fallback: FallbackDestination = field(default_factory=FallbackDestination)
    sounds: SoundCatalogue = field(default_factory=SoundCatalogue)


@dataclass(frozen=True)
class LoadProfile:
    calls_per_second: float = 1.0
    concurrency: int = 10
    total: int = 10
    mix: Mapping[str, float] = field(default_factory=lambda: {"answer": 1.0})
    did: str = "100"
    seed: int = 1
    # Shares of agent-phone behaviours (PHONE_KINDS); None keeps the switch's phones.
    phones: Mapping[str, float] | None = None


# ------------------------------------------------------------------------- parsing YAML
class _Reader:
    """Typed access to composed YAML nodes, every error naming the file and line."""

    def __init__(self, source: str) -> None:
        self._source = source
        self._constructor = SafeConstructor()

    def fail(self, node: Node, reason: str) -> ScenarioError:
        return ScenarioError(f"{self._source}:{node.start_mark.line + 1}: {reason}")

    def mapping(self, node: Node, what: str, allowed: tuple[str, ...] = ()) -> dict[str, Node]:
        if not isinstance(node, MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        out: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node)
            if not isinstance(key, str):
                raise self.fail(key_node, f"{what}: keys must be text, not {key!r}")
            if key in out:
                raise self.fail(key_node, f"{what}: '{key}' is given twice")
            if allowed and key not in allowed:
                raise self.fail(
                    key_node, f"{what}: unknown key '{key}' (expected one of {', '.join(allowed)})"
                )
            out[key] = value_node
        return out

    def sequence(self, node: Node, what: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            raise self.fail(node, f"{what} must be a list")
        return list(node.value)

    def scalar(self, node: Node) -> Any:
        if not isinstance(node, ScalarNode):
            raise self.fail(node, "expected a single value here")
        try:
            return self._constructor.construct_object(node)
        except ConstructorError as exc:
            raise self.fail(node, str(exc.problem)) from None

    def text(self, node: Node, what: str) -> str:
        value = self.scalar(node)
        if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
            raise self.fail(node, f"{what} must be text")
        return str(value)

    def number(self, node: Node, what: str, *, optional: bool = False) -> float | None:
        value = self.scalar(node)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(node, f"{what} must be a number of seconds, not {value!r}")
        if value < 0:
            raise self.fail(node, f"{what} cannot be negative")
        return float(value)

    def flag(self, node: Node, what: str) -> bool:
        value = self.scalar(node)
        if not isinstance(value, bool):
            raise self.fail(node, f"{what} must be true or false")
        return value


_PHONE_KEYS = ("answer_after_s", "busy", "unavailable", "talk_s", "reject_after_s")
_CALLER_KEYS = (
    "did",
    "caller_id_num",
    "caller_id_name",
    "start_at_s",
    "keys",
    "hangup_at_s",
    "talk_s",
    "speech_s",
    "context",
)
_TOP_KEYS = ("duration_s", "servers", "fallback", "sounds", "phones", "callers")


def _phone(reader: _Reader, node: Node, name: str) -> PhoneBehaviour:
    fields = reader.mapping(node, f"phone {name}", _PHONE_KEYS)
    values: dict[str, Any] = {}
    for key, value in fields.items():
        if key in ("busy", "unavailable"):
            values[key] = reader.flag(value, key)
        else:
            values[key] = reader.number(value, key, optional=True)
    return PhoneBehaviour(**values)


def _keys(reader: _Reader, node: Node) -> tuple[tuple[float, str], ...]:
    presses = []
    for item in reader.sequence(node, "keys"):
        if isinstance(item, MappingNode):
            fields = reader.mapping(item, "a key press", ("at_s", "digit"))
            if set(fields) != {"at_s", "digit"}:
                raise reader.fail(item, "a key press needs at_s and digit")
            at_node, digit_node = fields["at_s"], fields["digit"]
        else:
            pair = reader.sequence(item, "a key press ([seconds, digit])")
            if len(pair) != 2:
                raise reader.fail(item, "a key press is [seconds, digit]")
            at_node, digit_node = pair
        at_s = reader.number(at_node, "key time")
        digit = reader.text(digit_node, "key")
        if len(digit) != 1 or digit not in ALL_DIGITS:
            raise reader.fail(digit_node, f"key {digit!r} is not one DTMF digit (0-9 * # A-D)")
        assert at_s is not None
        presses.append((at_s, digit))
    return tuple(presses)


def _caller(reader: _Reader, node: Node) -> CallerScript:
    fields = reader.mapping(node, "caller", _CALLER_KEYS)
    if "did" not in fields:
        raise reader.fail(node, "a caller needs a did (the number dialled)")
    values: dict[str, Any] = {}
    for key, value in fields.items():
        if key in ("did", "caller_id_num", "caller_id_name", "context"):
            values[key] = reader.text(value, key)
        elif key == "keys":
            values[key] = _keys(reader, value)
        elif key in ("hangup_at_s", "talk_s"):
            values[key] = reader.number(value, key, optional=True)
        else:
            values[key] = reader.number(value, key)
    return CallerScript(**values)


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Read a scenario from YAML text; ScenarioError names the line of any problem."""
    reader = _Reader(source)
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"{source}{line}: not valid YAML: {problem}") from None
    if root is None:
        raise ScenarioError(f"{source}:1: the scenario is empty")
    top = reader.mapping(root, "the scenario", _TOP_KEYS)
    if "callers" not in top and "phones" not in top:
        raise reader.fail(root, "a scenario needs callers (and usually phones)")
    phones: dict[str, PhoneBehaviour] = {}
    default = None
    if "phones" in top:
        for name, node in reader.mapping(top["phones"], "phones").items():
            if name == "default":
                default = _phone(reader, node, name)
            else:
                phones[name] = _phone(reader, node, name)
    callers: tuple[CallerScript, ...] = ()
    if "callers" in top:
        callers = tuple(
            _caller(reader, node) for node in reader.sequence(top["callers"], "callers")
        )
    servers: tuple[str, ...] = ()
    if "servers" in top:
        servers = tuple(
            reader.text(node, "server") for node in reader.sequence(top["servers"], "servers")
        )
        for node, server in zip(reader.sequence(top["servers"], "servers"), servers, strict=True):
            if ":" not in server:
                raise reader.fail(node, f"server {server!r} must be host:port")
    fallback = FallbackDestination()
    if "fallback" in top:
        fields = reader.mapping(
            top["fallback"], "fallback", ("ring_group", "ring_timeout_s", "voicemail_box")
        )
        group = None
        if "ring_group" in fields:
            group = tuple(
                reader.text(node, "ring_group entry")
                for node in reader.sequence(fields["ring_group"], "ring_group")
            )
        timeout = None
        if "ring_timeout_s" in fields:
            timeout = int(reader.number(fields["ring_timeout_s"], "ring_timeout_s") or 0)
        box = None
        if "voicemail_box" in fields:
            box = reader.text(fields["voicemail_box"], "voicemail_box")
        fallback = FallbackDestination(group, timeout, box)
    sounds = SoundCatalogue()
    if "sounds" in top:
        fields = reader.mapping(
            top["sounds"], "sounds", ("default_duration_s", "durations_s", "missing")
        )
        durations = dict(sounds.durations_s)
        if "durations_s" in fields:
            for name, node in reader.mapping(fields["durations_s"], "durations_s").items():
                durations[name] = reader.number(node, f"duration of {name}") or 0.0
        default_s = sounds.default_duration_s
        if "default_duration_s" in fields:
            default_s = reader.number(
                fields["default_duration_s"], "default_duration_s", optional=True
            )
        missing = (
            frozenset(
                reader.text(node, "missing sound")
                for node in reader.sequence(fields["missing"], "missing")
            )
            if "missing" in fields
            else frozenset()
        )
        sounds = SoundCatalogue(durations, default_s, missing)
    duration_s = reader.number(top["duration_s"], "duration_s") if "duration_s" in top else None
    return Scenario(callers, PhoneBook(phones, default), duration_s, servers, fallback, sounds)


def load_scenario(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_scenario(text, str(path))


def parse_mix(text: str) -> dict[str, float]:
    """``answer=0.7,hash=0.1,zero=0.1,hangup=0.1`` -> shares that sum to 1."""
    return _parse_shares(text, MIX_KINDS, "--mix")


def parse_phones(text: str) -> dict[str, float]:
    """``answer=0.8,noanswer=0.1,busy=0.1`` -> shares of phone behaviours that sum to 1."""
    return _parse_shares(text, PHONE_KINDS, "--phones")


def _parse_shares(text: str, kinds: tuple[str, ...], option: str) -> dict[str, float]:
    shares: dict[str, float] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        name, equals, value = item.partition("=")
        name = name.strip()
        if not equals or name not in kinds:
            raise ScenarioError(
                f"{option}: {item.strip()!r} is not kind=share with kind one of {', '.join(kinds)}"
            )
        try:
            share = float(value)
        except ValueError:
            raise ScenarioError(f"{option}: share {value!r} of {name} is not a number") from None
        if share < 0:
            raise ScenarioError(f"{option}: share of {name} cannot be negative")
        shares[name] = share
    total = sum(shares.values())
    if total <= 0:
        raise ScenarioError(f"{option}: the shares add up to nothing")
    return {name: share / total for name, share in shares.items()}


class MixedPhones(PhoneBook):
    """Agent phones of a load profile: every ring draws a behaviour from ``shares`` (seeded,
    so a run can be repeated), whatever the dial string."""

    def __init__(self, shares: Mapping[str, float], seed: int = 1) -> None:
        super().__init__()
        self._rng = random.Random(seed)
        self._kinds = list(shares)
        self._weights = [shares[kind] for kind in self._kinds]

    def behaviour(self, target: str) -> PhoneBehaviour | None:
        kind = self._rng.choices(self._kinds, self._weights)[0]
        if kind == "answer":  # as build_switch's default agents: the caller ends the talk
            return PhoneBehaviour(answer_after_s=3.0, talk_s=None)
        if kind == "noanswer":
            return PhoneBehaviour(answer_after_s=None)
        if kind == "busy":
            return PhoneBehaviour(busy=True)
        if kind == "reject":
            return PhoneBehaviour(answer_after_s=None, reject_after_s=self._rng.uniform(3, 10))
        return PhoneBehaviour(unavailable=True)

    def __contains__(self, target: str) -> bool:
        return True


def generate_callers(profile: LoadProfile) -> Iterator[CallerScript]:
    """``profile.total`` callers, one every 1/calls_per_second s, behaviours by ``mix``."""
    rng = random.Random(profile.seed)
    kinds = list(profile.mix)
    weights = [profile.mix[k] for k in kinds]
    for index in range(profile.total):
        kind = rng.choices(kinds, weights)[0]
        number = f"420{rng.randrange(600_000_000, 800_000_000)}"
        script = CallerScript(
            did=profile.did,
            caller_id_num=number,
            caller_id_name=f"Caller {index + 1}",
            start_at_s=index / profile.calls_per_second,
            context=INBOUND_CONTEXT,
        )
        if kind == "answer":
            yield dataclasses.replace(script, hangup_at_s=600.0, talk_s=rng.uniform(20, 90))
        elif kind in ("hash", "zero"):
            at_s = rng.uniform(5, 40)
            yield dataclasses.replace(
                script,
                keys=((at_s, "#" if kind == "hash" else "0"),),
                hangup_at_s=at_s + 120,
                speech_s=rng.uniform(3, 15),
            )
        else:
            yield dataclasses.replace(script, hangup_at_s=rng.uniform(3, 60))


# ------------------------------------------------------------------------------ wiring
def build_switch(
    clock: Clock,
    connector: TCPConnector,
    *,
    servers: tuple[str, ...] = ("127.0.0.1:4573",),
    scenario: Scenario | None = None,
    spool_dir: Path = Path("sim-spool"),
    extensions_conf: Path | None = None,
) -> Switch:
    """A switch running Hotline's dialplan toward ``servers`` (``host:port``), with the
    scenario's phones, prompts and fallback (or agents that answer any dial string after
    3 s and leave the hanging-up to the caller). Raises OSError/ValueError for an unusable
    ``extensions_conf``. For ``hotline simulate``, the demo and benchmarks alike."""
    settings = HotlineDialplanSettings(servers=servers)
    if scenario is not None:
        settings = dataclasses.replace(settings, fallback=scenario.fallback)
    switch = Switch(
        clock=clock,
        connector=connector,
        dialplan=load_hotline_dialplan(settings, extensions_conf),
        phones=scenario.phones if scenario else PhoneBook(default=PhoneBehaviour(talk_s=None)),
        sounds=scenario.sounds if scenario else SoundCatalogue(),
        spool_dir=spool_dir,
    )
    # Asterisk's sounds directory always exists: relative RECORD FILE paths land there.
    switch.sounds_dir.mkdir(parents=True, exist_ok=True)
    return switch


# -------------------------------------------------------------------------------- runs
class SimulationRun:
    """Feeds callers to a switch, prints each call's transcript as it ends, and fires
    ``finished`` with the summary when the run is over."""

    def __init__(
        self,
        switch: Switch,
        clock: Clock,
        out: Callable[[str], None],
        *,
        verbose: bool = False,
        quiet: bool = False,
    ) -> None:
        self._switch = switch
        self._clock = clock
        self._out = out
        self._verbose = verbose
        self._quiet = quiet
        self._pending: list[Deferred[CallRecord]] = []
        self._ended = 0
        self._started = 0
        self._stopping = False
        self._deadline: DelayedCall | None = None
        self._feed: Iterator[CallerScript] | None = None
        self._concurrency = 0
        self._interval_s = 0.0
        self._next_start: DelayedCall | None = None
        self._hold_until_deadline = False
        self._not_started = 0
        self.finished: Deferred[RunSummary] = Deferred()
        switch.on_call_end = self._call_ended

    def start_scenario(self, scenario: Scenario) -> Deferred[RunSummary]:
        """Place the scenario's callers (its phones and prompts become the switch's)."""
        self._switch.phones = scenario.phones
        self._switch.sounds = scenario.sounds
        for script in scenario.callers:
            self._place(script)
        # With a duration the run lasts that long (Hotline may still originate calls over
        # AMI); without one it ends when every scripted caller is done.
        self._hold_until_deadline = scenario.duration_s is not None
        self._arm_deadline(scenario.duration_s)
        self._maybe_done()
        return self.finished

    def start_load(self, profile: LoadProfile, duration_s: float | None) -> Deferred[RunSummary]:
        if profile.calls_per_second <= 0 or profile.concurrency < 1 or profile.total < 1:
            raise ScenarioError(
                "load: calls per second must be > 0, concurrency and total at least 1"
            )
        self._feed = generate_callers(profile)
        if profile.phones is not None:
            self._switch.phones = MixedPhones(profile.phones, profile.seed)
        self._concurrency = profile.concurrency
        self._interval_s = 1 / profile.calls_per_second
        self._arm_deadline(duration_s)
        self._start_next()
        return self.finished

    def stop(self) -> None:
        """End the run now: hang everything up, then summarise."""
        if self._stopping:
            return
        self._stopping = True
        self._feed = None
        if self._next_start is not None and self._next_start.active():
            self._next_start.cancel()
        self._not_started = self._switch.shutdown()
        grace = self._clock.callLater(SHUTDOWN_GRACE_S, self._finish)

        def all_hung_up(_: None) -> None:
            if grace.active():
                grace.cancel()
            self._finish()

        self._switch.idle().addCallback(all_hung_up)

    # ------------------------------------------------------------------------ inner
    def _arm_deadline(self, duration_s: float | None) -> None:
        if duration_s is not None:
            self._deadline = self._clock.callLater(duration_s, self.stop)

    def _place(self, script: CallerScript) -> None:
        self._started += 1
        call = self._switch.place_call(script)
        self._pending.append(call.ended)

    def _start_next(self) -> None:
        self._next_start = None
        if self._feed is None or self._stopping:
            return
        if self._started - self._ended >= self._concurrency:
            return  # resumed by the next call that ends
        script = next(self._feed, None)
        if script is None:
            self._feed = None
            self._maybe_done()
            return
        self._place(dataclasses.replace(script, start_at_s=0.0))
        self._next_start = self._clock.callLater(self._interval_s, self._start_next)

    def _call_ended(self, record: CallRecord) -> None:
        self._ended += 1
        if self._quiet:
            self._out(f"call {record.linkedid} {record.label}: {record.outcome}")
        else:
            self._out(record.render(self._verbose))
        if self._feed is not None and self._next_start is None:
            self._start_next()
        self._maybe_done()

    def _maybe_done(self) -> None:
        if self._stopping or self._feed is not None or self._hold_until_deadline:
            return
        if all(d.called for d in self._pending) and not self._switch.channels_by_name:
            self._stopping = True
            self._finish()

    def _finish(self) -> None:
        if self.finished.called:
            return
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        summary = summarize(self._switch.calls, self._switch.max_concurrent_channels)
        text = summary.render()
        if self._not_started:
            text += f"\ncallers not started before the end: {self._not_started}"
        self._out("=== summary\n" + text)
        self.finished.callback(summary)
