"""Every recorded AGI transcript of a real Asterisk 22, replayed against the fake switch.

A replaying FastAGI server sends the ``>>`` lines of each transcript; the simulator must
answer with exactly the ``<<`` bytes, environment block included (the volatile ids -
channel sequence, uniqueid, thread id - are configured from the transcript so they CAN
match), and at about the recorded times. The probe dialplan and phones are the ones the
facts README describes.
"""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from twisted.internet.task import Clock

from simulator.dialplan import Agi, App, Context, Dialplan, Extension
from simulator.media import SoundCatalogue
from simulator.memnet import MemoryNetwork, advance_to
from simulator.switch import CallerScript, IdAllocator, PhoneBehaviour, PhoneBook, Switch
from tests.simulator.support import ReplayFactory, env_of, load_transcript
from tests.support.asterisk_facts import FACTS_DIR

TIME_TOLERANCE_S = 0.05
MONITOR_DIR = b"/var/spool/asterisk/monitor/"


def probe_dialplan() -> Dialplan:
    """The dialplan the transcripts were recorded with (facts README)."""
    probe = (
        Agi("agi://127.0.0.1:4573/${EXTEN}"),
        App("NoOp", "after AGI AGISTATUS=${AGISTATUS} DIALSTATUS=${DIALSTATUS}"),
        App("Hangup"),
    )
    return Dialplan(
        [
            Context("probe", (Extension("_[a-z].", probe),)),
            Context(
                "exitdigits",
                (
                    Extension("#", (App("NoOp", "EXIT HASH"),)),
                    Extension("0", (App("NoOp", "EXIT ZERO"),)),
                ),
            ),
            Context(
                "answered-sub",
                (Extension("s", (Agi("agi://127.0.0.1:4573/answered"), App("Return"))),),
            ),
            Context(
                "redirect-target",
                (
                    Extension(
                        "q2", (App("NoOp", "redirected"), Agi("agi://127.0.0.1:4573/redirected"))
                    ),
                ),
            ),
        ]
    )


def probe_phones() -> PhoneBook:
    # [agents] noanswer: Wait(600); answer: Wait(2), Answer() (0.5 s), Wait(5), Hangup().
    return PhoneBook(
        {
            "Local/noanswer@agents/n": PhoneBehaviour(answer_after_s=None),
            "Local/answer@agents/n": PhoneBehaviour(answer_after_s=2.0, talk_s=5.5),
        }
    )


class Rig:
    """A switch on a memory network with the replaying server on 127.0.0.1:4573."""

    def __init__(self, names: list[str], tmp_path: Path) -> None:
        self.clock = Clock()
        self.network = MemoryNetwork(self.clock)
        scripts = {}
        for name in names:
            lines = load_transcript(FACTS_DIR / f"{name}.txt")
            scripts[env_of(lines)["agi_network_script"]] = lines
        self.first = load_transcript(FACTS_DIR / f"{names[0]}.txt")
        env = env_of(self.first)
        epoch, seq = env["agi_uniqueid"].split(".")
        channel_seq = int(env["agi_channel"].rsplit("-", 1)[1].split(";")[0], 16)
        self.factory = ReplayFactory(
            scripts, self.clock, {MONITOR_DIR: str(tmp_path).encode() + b"/"}
        )
        self.network.listenTCP(4573, self.factory, interface="127.0.0.1")
        self.switch = Switch(
            clock=self.clock,
            connector=self.network,
            dialplan=probe_dialplan(),
            phones=probe_phones(),
            ids=IdAllocator(
                self.clock,
                epoch_offset_s=float(epoch),
                uniqueid_seq=int(seq) - 1,  # the ;1 half of the Local pair takes one
                channel_seq=channel_seq,
                threadid=int(env["agi_threadid"]),
            ),
            sounds=SoundCatalogue(default_duration_s=None),
            spool_dir=tmp_path,
        )
        self.env = env

    def call(self, **script: object) -> None:
        self.call_handle = self.switch.place_call(
            CallerScript(
                did=self.env["agi_extension"],
                caller_id_num=self.env["agi_callerid"],
                caller_id_name=self.env["agi_calleridname"],
                context=self.env["agi_context"],
                local=True,
                talk_s=None,
                **script,  # type: ignore[arg-type]
            )
        )

    def run(self, seconds: float = 30.0) -> None:
        advance_to(self.clock, seconds)

    def assert_replayed(self, script_name: str) -> None:
        session = self.factory.sessions[script_name]
        expected = session.expected_lines()
        got = [line for _, line in session.received]
        assert got == [line for _, line in expected]
        # Each reply comes about as long after its command as on the real Asterisk.
        for recorded_s, simulated_s, line in session.latencies():
            assert abs(recorded_s - simulated_s) <= TIME_TOLERANCE_S, (
                line,
                recorded_s,
                simulated_s,
            )


def test_001_basic_every_reply_shape(tmp_path: Path) -> None:
    rig = Rig(["001-basic"], tmp_path)
    rig.call()
    rig.run()
    rig.assert_replayed("basic")
    # RECORD FILE left a real WAV of the recorded length (1.5 s timeout, silence).
    with wave.open(str(tmp_path / "probe-test.wav"), "rb") as recording:
        assert (recording.getnchannels(), recording.getsampwidth()) == (1, 2)
        assert recording.getframerate() == 8000
        assert recording.getnframes() == 12000


def test_002_caller_hangs_up_during_wait_for_digit(tmp_path: Path) -> None:
    rig = Rig(["002-hangupwait"], tmp_path)
    rig.call(hangup_at_s=1.998)
    rig.run()
    rig.assert_replayed("hangupwait")
    record = rig.call_handle.record
    assert record is not None and record.agi_runs[0].status == "HANGUP"
    assert record.category == "abandoned"


def test_004_hash_while_the_agent_rings_leaves_through_exitcontext(tmp_path: Path) -> None:
    rig = Rig(["004-dialexit"], tmp_path)
    rig.call(keys=((3.101, "#"),))
    rig.run()
    rig.assert_replayed("dialexit")
    record = rig.call_handle.record
    assert record is not None
    # After the session the channel went on at exitdigits,#,1.
    assert any(step.startswith("exitdigits,#,1 NoOp(EXIT HASH)") for step in record.steps)
    assert [r.outcome for r in record.rings] == ["cancelled"]


def test_005_dial_times_out_with_noanswer(tmp_path: Path) -> None:
    rig = Rig(["005-dialtimeout"], tmp_path)
    rig.call()
    rig.run()
    rig.assert_replayed("dialtimeout")
    record = rig.call_handle.record
    assert record is not None and [r.outcome for r in record.rings] == ["noanswer"]


def test_006_007_answer_opens_a_second_session_before_the_bridge(tmp_path: Path) -> None:
    rig = Rig(["006-dialanswer", "007-answered"], tmp_path)
    rig.call()
    rig.run()
    rig.assert_replayed("dialanswer")
    rig.assert_replayed("answered")
    caller = rig.factory.sessions["dialanswer"]
    agent = rig.factory.sessions["answered"]
    # The agent-leg session connects when the phone answers (ANSWER 0.5 s + ringing 2 s),
    # while the caller's EXEC Dial only returns when the conversation is over (~8 s).
    assert agent.started_at == pytest.approx(caller.started_at + 2.5, abs=0.01)
    dial_returned_at = caller.received[-3][0]
    assert dial_returned_at == pytest.approx(8.0, abs=0.05)
    record = rig.call_handle.record
    assert record is not None and record.answered_by == "Local/answer@agents/n"
    assert record.talk_s == pytest.approx(5.5)


def test_008_server_closing_mid_session_means_success_and_the_dialplan_goes_on(
    tmp_path: Path,
) -> None:
    rig = Rig(["008-closemid"], tmp_path)
    rig.call()
    rig.run()
    rig.assert_replayed("closemid")
    record = rig.call_handle.record
    assert record is not None
    assert [run.status for run in record.agi_runs] == ["SUCCESS"]
    assert record.steps[1] == (
        "probe,closemid,2 NoOp(after AGI AGISTATUS=${AGISTATUS} DIALSTATUS=${DIALSTATUS})"
    )


def test_009_keys_while_waiting_with_music(tmp_path: Path) -> None:
    rig = Rig(["009-dtmfwait"], tmp_path)
    rig.call(keys=((2.099, "#"), (3.200, "0")))
    rig.run()
    rig.assert_replayed("dtmfwait")


def test_redirect_001_002_redirect_looks_like_a_hangup_then_a_new_session(
    tmp_path: Path,
) -> None:
    rig = Rig(["redirect-001-hangupwait", "redirect-002-redirected"], tmp_path)
    rig.call()
    advance_to(rig.clock, 1.999)
    name = rig.env["agi_channel"]
    assert rig.switch.redirect(name, "redirect-target", "q2", "1") is True
    rig.run()
    rig.assert_replayed("hangupwait")
    rig.assert_replayed("redirected")
    record = rig.call_handle.record
    assert record is not None
    assert [run.status for run in record.agi_runs] == ["HANGUP", "HANGUP"]
