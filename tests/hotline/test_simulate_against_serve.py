"""`hotline simulate` places calls into a running `hotline serve` over real TCP (issue 3)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from db.catalog import load_catalog
from db.models import Call
from tests.support.e2e_world import CENTRE_YAML
from tests.support.processes import free_port, hotline_env, start_serve, wait_for_line


def test_simulate_places_a_call_into_serve_and_prints_the_wire(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    with Session(engine) as s, s.begin():
        load_catalog(s, CENTRE_YAML, source="centre.yaml")
    agi_port = free_port()
    env = hotline_env(
        HOTLINE_DATABASE_URL=db_url,
        HOTLINE_WEB_LISTEN=f"tcp:{free_port()}:interface=127.0.0.1",
        HOTLINE_AGI_LISTEN=f"tcp:{agi_port}:interface=127.0.0.1",
    )
    serve = start_serve(env, tmp_path)
    try:
        wait_for_line(serve, "Hotline is serving")
        scenario = tmp_path / "one-caller.yaml"
        scenario.write_text(
            "duration_s: 6\n"
            "callers:\n"
            "  - {did: '222111000', caller_id_num: '777123456', hangup_at_s: 3}\n",
            encoding="utf-8",
        )
        sim = subprocess.run(
            [
                sys.executable,
                "-m",
                "hotline",
                "simulate",
                str(scenario),
                "--agi",
                f"tcp:127.0.0.1:{agi_port}",
                "--spool-dir",
                str(tmp_path / "sim"),
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert sim.returncode == 0, sim.stdout + sim.stderr
        out = sim.stdout
        assert f"agi://127.0.0.1:{agi_port}/inbound" in out
        assert ">>  ANSWER" in out and "<<  200 result=0" in out
        assert "STREAM FILE hotline/main-menu" in out  # the IVR of the DID
        assert "calls: 1" in out
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.communicate(timeout=30)
    with Session(engine) as s:
        [call] = s.scalars(select(Call)).all()
        assert (call.did, call.caller_number, call.state.value) == (
            "222111000",
            "777123456",
            "abandoned_ivr",
        )
