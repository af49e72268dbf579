"""What callers waiting with nobody free cost a Hotline process (issue 12; R-1.5).

N callers wait in one queue of one process for a simulated minute while no agent is free;
the bench reports the database transactions and the server's CPU time that minute cost,
per caller, twice side by side:

- ``shared``: what Hotline does, one first-come-first-served matching per moment for all
  the callers of the process (``dialplan.flows.offers.OfferPlanner``);
- ``per-caller``: the same code with the shared matching's age set to 0, so every caller
  computes the whole matching at each of its polls, as Hotline did before.

Hotline's real flows, FastAGI server and database (SQLite) run with the simulated switch on
one ``Clock`` (the e2e world of the tests), so a minute of waiting takes what its work
costs and nothing else; CPU time is the process's own (``time.process_time``) and includes
the simulated switch.

Run (from the repository root)::

    .venv/bin/python bench/waiting_cost.py                 # 50, 200 and 500 callers
    .venv/bin/python bench/waiting_cost.py --callers 200

The last line is machine-readable: ``RESULT {"shared": {...}, "per-caller": {...}}`` with,
per number of callers, transactions and CPU milliseconds per caller per minute.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from db.migrate import upgrade
from dialplan.flows.offers import OfferPlanner
from simulator.switch import CallerScript
from tests.support.e2e_world import make_e2e_world

SUPPORT = "222111001"  # the e2e centre's direct line to Technical support
MINUTE_S = 60.0


def measure(callers: int, max_age_s: float, workdir: Path) -> dict[str, float]:
    """One run: ``callers`` waiting, a minute measured after they all queued."""
    url = f"sqlite:///{workdir / 'bench.db'}"
    upgrade(url)
    world = make_e2e_world(url, workdir)
    for server in world.servers.values():
        object.__setattr__(server.ctx, "offers", OfferPlanner(world.db, world.clock, max_age_s))
    for i in range(callers):
        script = CallerScript(
            did=SUPPORT, caller_id_num=f"777{i:06d}", start_at_s=i * 0.01, talk_s=None
        )
        world.call(script)
    world.run(callers * 0.01 + 10)
    waiting = sum(1 for c in world.calls() if c["state"] == "waiting")
    world.db.transactions.clear()
    cpu = time.process_time()
    world.run(MINUTE_S)
    cpu_s = time.process_time() - cpu
    spent = sum(world.db.transactions.values())
    world.engine.dispose()
    return {
        "waiting": waiting,
        "transactions_per_caller_minute": round(spent / callers, 2),
        "cpu_ms_per_caller_minute": round(cpu_s * 1000 / callers, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, action="append")
    args = parser.parse_args()
    counts = args.callers or [50, 200, 500]
    result: dict[str, dict[str, dict[str, float]]] = {"shared": {}, "per-caller": {}}
    print(
        f"{'callers':>8} {'mode':>11} {'waiting':>8} {'tx/caller/min':>14} "
        f"{'cpu ms/caller/min':>18}"
    )
    for n in counts:
        for mode, age in (("shared", 1.0), ("per-caller", 0.0)):
            with tempfile.TemporaryDirectory() as tmp:
                row = measure(n, age, Path(tmp))
            result[mode][str(n)] = row
            print(
                f"{n:>8} {mode:>11} {row['waiting']:>8} "
                f"{row['transactions_per_caller_minute']:>14} "
                f"{row['cpu_ms_per_caller_minute']:>18}",
                flush=True,
            )
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
