"""``hotline simulate``: play a scenario or a load profile against a running Hotline.

This is a composition root: it takes the real reactor, connects the fake switch to Hotline's
FastAGI server(s) over TCP, optionally serves the fake AMI so Hotline can originate and
redirect against the simulated switch, prints each call's transcript as it ends and a
summary at the end. ``main(argv)`` returns the exit status: 0 done, 1 could not run
(e.g. the AMI port is taken), 2 bad arguments or a malformed scenario.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred

from simulator.scenario import (
    LoadProfile,
    Scenario,
    ScenarioError,
    SimulationRun,
    build_switch,
    load_scenario,
    parse_mix,
    parse_phones,
)
from simulator.switch import IdAllocator
from simulator.transcript import RunSummary

DEFAULT_AGI = "127.0.0.1:4573"


def agi_server(text: str) -> str:
    """``tcp:127.0.0.1:4573``, ``tcp:host=H:port=P`` or ``H:P`` -> ``host:port``."""
    value = text.strip()
    keyed = re.fullmatch(r"tcp:host=([^:]+):port=(\d{1,5})", value)
    if keyed:
        return f"{keyed.group(1)}:{keyed.group(2)}"
    plain = re.fullmatch(r"(?:tcp:)?([^:]+):(\d{1,5})", value)
    if plain and 0 < int(plain.group(2)) < 65536:
        return f"{plain.group(1)}:{plain.group(2)}"
    raise argparse.ArgumentTypeError(f"{text!r} is not tcp:HOST:PORT")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hotline simulate",
        description="Play callers and agent phones against a running Hotline over FastAGI "
        "(and AMI): a fake Asterisk.",
    )
    parser.add_argument("scenario", nargs="?", type=Path, help="scenario YAML file")
    parser.add_argument(
        "--agi",
        action="append",
        type=agi_server,
        metavar="tcp:HOST:PORT",
        help="Hotline's FastAGI server; repeat for the fallback list (default "
        f"tcp:{DEFAULT_AGI}, or the scenario's servers)",
    )
    parser.add_argument(
        "--ami-listen",
        metavar="ENDPOINT",
        help="serve the fake AMI, e.g. tcp:5038:interface=127.0.0.1",
    )
    parser.add_argument("--ami-user", help="AMI login Hotline will use")
    parser.add_argument("--ami-secret", help="AMI secret Hotline will use")
    load = parser.add_argument_group("load profile (instead of a scenario)")
    load.add_argument("--calls-per-second", type=float, help="new calls per second")
    load.add_argument("--concurrency", type=int, default=10, help="calls at once at most")
    load.add_argument("--total", type=int, default=10, help="calls in all")
    load.add_argument(
        "--mix",
        default="answer=1",
        help="shares of caller behaviours, e.g. answer=0.7,hash=0.1,zero=0.1,hangup=0.1",
    )
    load.add_argument(
        "--phones",
        help="shares of agent-phone behaviours, drawn at every ring, e.g. "
        "answer=0.8,noanswer=0.1,busy=0.1 (kinds: answer, noanswer, busy, reject, "
        "unavailable; default: every phone answers after 3 s)",
    )
    load.add_argument("--did", default="100", help="number the load callers dial")
    load.add_argument("--seed", type=int, default=1, help="random seed of the load")
    parser.add_argument(
        "--system-name",
        default="",
        help="prefix uniqueids like Asterisk's systemname, for several simulated boxes at once",
    )
    parser.add_argument(
        "--extensions-conf",
        type=Path,
        help="dialplan to run (default: Hotline's asterisk-conf/extensions.conf, or a built-in "
        "copy of it); its [globals] servers and fallback are set from --agi and the scenario",
    )
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument(
        "--spool-dir",
        type=Path,
        default=Path("sim-spool"),
        help="where recordings and voicemail land (relative RECORD FILE paths, MixMonitor)",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--verbose", action="store_true", help="every wire line and event")
    output.add_argument("--quiet", action="store_true", help="one line per call")
    return parser


def main(argv: list[str]) -> int:
    """Entry point of ``hotline simulate``."""
    parser = build_parser()
    try:
        options = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        scenario, profile = _inputs(options)
    except ScenarioError as exc:
        print(f"hotline simulate: {exc}", file=sys.stderr)
        return 2
    if options.ami_listen and not (options.ami_user and options.ami_secret):
        print("hotline simulate: --ami-listen needs --ami-user and --ami-secret", file=sys.stderr)
        return 2

    from twisted.internet import reactor as installed  # the composition root owns it

    reactor: Any = installed

    outcome: dict[str, Any] = {"code": 1}

    def done(result: object) -> None:
        if isinstance(result, int):
            outcome["code"] = result
        else:
            print(f"hotline simulate: {getattr(result, 'value', result)}", file=sys.stderr)
        if reactor.running:
            reactor.stop()

    def start() -> None:
        Deferred.fromCoroutine(_run(reactor, options, scenario, profile, print)).addBoth(done)

    reactor.callWhenRunning(start)
    reactor.run()
    return int(outcome["code"])


def _inputs(options: argparse.Namespace) -> tuple[Scenario | None, LoadProfile | None]:
    if options.scenario is not None and options.calls_per_second is not None:
        raise ScenarioError("give a scenario file or --calls-per-second, not both")
    if options.scenario is not None:
        if options.phones is not None:
            raise ScenarioError("--phones is for a load profile; a scenario names its phones")
        return load_scenario(options.scenario), None
    if options.calls_per_second is None:
        raise ScenarioError("give a scenario file, or a load with --calls-per-second")
    profile = LoadProfile(
        calls_per_second=options.calls_per_second,
        concurrency=options.concurrency,
        total=options.total,
        mix=parse_mix(options.mix),
        did=options.did,
        seed=options.seed,
        phones=parse_phones(options.phones) if options.phones is not None else None,
    )
    if profile.calls_per_second <= 0 or profile.concurrency < 1 or profile.total < 1:
        raise ScenarioError("--calls-per-second must be > 0, --concurrency and --total >= 1")
    return None, profile


async def _run(
    reactor: Any,
    options: argparse.Namespace,
    scenario: Scenario | None,
    profile: LoadProfile | None,
    out: Callable[[str], None],
) -> int:
    servers = tuple(options.agi or (scenario.servers if scenario else ()) or (DEFAULT_AGI,))
    try:
        switch = build_switch(
            reactor,
            reactor,
            servers=servers,
            scenario=scenario,
            spool_dir=options.spool_dir,
            extensions_conf=options.extensions_conf,
        )
    except (OSError, ValueError) as exc:
        out(f"hotline simulate: cannot use the dialplan: {exc}")
        return 2
    if options.system_name:
        switch.ids = IdAllocator(reactor, system_name=options.system_name)
    if options.ami_listen:
        from twisted.internet.endpoints import serverFromString

        from simulator.fake_ami import FakeAMIFactory

        factory = FakeAMIFactory(switch, options.ami_user, options.ami_secret, clock=reactor)
        switch.emit = factory.emit
        try:
            await serverFromString(reactor, options.ami_listen).listen(factory)
        except Exception as exc:
            out(f"hotline simulate: cannot serve AMI on {options.ami_listen}: {exc}")
            return 1
        out(f"fake AMI listening on {options.ami_listen}")
    out(f"FastAGI servers: {', '.join(servers)}")
    run = SimulationRun(switch, reactor, out, verbose=options.verbose, quiet=options.quiet)

    def interrupted() -> Deferred[RunSummary]:
        run.stop()  # Ctrl-C: hang up, then still print the summary
        return run.finished

    reactor.addSystemEventTrigger("before", "shutdown", interrupted)
    if scenario is not None:
        if options.duration is not None:
            scenario = dataclasses.replace(scenario, duration_s=options.duration)
        await run.start_scenario(scenario)
    else:
        assert profile is not None
        await run.start_load(profile, options.duration)
    return 0
