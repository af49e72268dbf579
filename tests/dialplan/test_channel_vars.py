"""The names Hotline and its shipped dialplan share (dialplan.channel_vars) are the ones
asterisk-conf/extensions.conf uses: a context renamed on one side only would leave callers
in a context that does not exist."""

from __future__ import annotations

import asterisk_conf
from dialplan import channel_vars
from dialplan.flows.router import FLOWS
from simulator.dialplan import load_hotline_dialplan


def test_every_context_hotline_names_is_in_the_shipped_dialplan() -> None:
    plan = load_hotline_dialplan()
    contexts = [value for name, value in vars(channel_vars).items() if name.endswith("_CONTEXT")]
    assert len(contexts) == 7
    assert [c for c in contexts if plan.context(c) is None] == []


def test_the_variables_and_scripts_are_the_shipped_dialplans() -> None:
    text = asterisk_conf.read_text("extensions.conf")
    assert f"Set({channel_vars.DONE_VARIABLE}=0)" in text
    assert f'"${{{channel_vars.DONE_VARIABLE}}}" = "{channel_vars.DONE}"' in text
    assert f'"${{{channel_vars.DONE_VARIABLE}}}" = "{channel_vars.TO_FALLBACK}"' in text
    for script in channel_vars.SCRIPTS:
        assert f"/{script}," in text, script


def test_every_script_the_dialplan_asks_for_has_a_flow() -> None:
    assert set(FLOWS) == set(channel_vars.SCRIPTS)
