"""What a real Asterisk 22 showed that the simulator had hidden (issue 10), replayed on the
simulator, which now behaves the same way: a caller leaving a message must not hold up the
queue (R-1.5, R-1.7), talk time is the conversation itself (R-1.14), support turns keep the
centre's holidays (R-1.11), the trunk is the dialplan's one setting (R-1.11, R-1.13), an
unreachable number is a failed ring, and Hotline's log follows every call. A server killed
mid-wait, mid-ring, mid-conversation or mid-message loses nothing and queues nobody twice
(R-1.16, R-7.3).

Time is the e2e world's Clock; the database is real (SQLite, or PostgreSQL when configured).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from twisted.logger import LogEvent, formatEvent, globalLogPublisher

from db.catalog import load_catalog
from db.models import Recording
from simulator.switch import CallerScript, PhoneBehaviour, SimCall
from tests.support.e2e_world import E2EWorld, make_e2e_world

SUPPORT = "222111001"
NIGHT = "222111003"
NEVER = PhoneBehaviour(answer_after_s=None)


def answers(after_s: float = 3, talk_s: float | None = 30) -> PhoneBehaviour:
    return PhoneBehaviour(answer_after_s=after_s, talk_s=talk_s)


def recordings(world: E2EWorld) -> list[tuple[int, str, int | None]]:
    with Session(world.engine) as s:
        rows = s.scalars(select(Recording).order_by(Recording.id)).all()
        return [(r.call_id, r.path, r.duration_s) for r in rows]


# The first word of the AGI commands in a simulated call's record (the other lines are
# Asterisk's replies and its log).
AGI_COMMANDS = {"ANSWER", "EXEC", "GET", "HANGUP", "RECORD", "SET", "STREAM", "WAIT"}


def agi_lines(call: SimCall) -> list[str]:
    assert call.record is not None
    return [line.text for line in call.record.lines]


# ----------------------------------------------------------------- a box frees the queue


def test_a_caller_recording_a_message_does_not_hold_up_the_callers_behind(
    db_url: str, tmp_path: Path
) -> None:
    """The first caller presses # and talks for a minute; the agent who comes on air
    meanwhile gets the second caller at once, not after the message (defect 1)."""
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": answers(2)})
    world.call(
        CallerScript(did=SUPPORT, caller_id_num="777000001", keys=((6.0, "#"),), speech_s=60)
    )
    world.call(CallerScript(did=SUPPORT, caller_id_num="777000002", start_at_s=3.0, talk_s=None))
    world.run(15)
    first, second = world.calls()
    assert first["state"] == "in_box"  # recording: no longer waiting for an agent
    world.log_in("eva")
    world.run(10)
    first, second = world.calls()
    assert second["state"] == "talking"
    assert world.attempts(first["id"]) == []
    assert world.attempts(second["id"]) == [("eva", "PJSIP/101", "answered", False)]
    world.run(90)
    first, second = world.calls()
    assert first["state"] == "voicemail"
    [item] = world.items()
    assert item["call"] == first["id"] and world.wav_seconds(item["recording"]) >= 55


# ------------------------------------------------------------------------ talk time


def test_the_recording_of_a_conversation_lasts_the_conversation_not_the_whole_call(
    db_url: str, tmp_path: Path
) -> None:
    """Asterisk 22's ANSWEREDTIME is the caller channel's up time (IVR and waiting
    included); the talk time is measured from the answer to the Dial's end (defect 6)."""
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": answers(3, talk_s=20)})
    world.call(CallerScript(did=SUPPORT, talk_s=None))
    world.run(15)  # fifteen seconds of waiting first
    world.log_in("eva")
    world.run(60)
    [call] = world.calls()
    assert call["state"] == "answered"
    [(call_id, path, duration_s)] = recordings(world)
    assert call_id == call["id"] and path.startswith("calls/2026/11/23/")
    assert duration_s == 20


# ------------------------------------------------------------------- support turns


HOLIDAY_MONDAY = """
holidays:
  - {day: 2026-11-23, name: Test holiday}
"""


def test_a_support_turn_queue_rings_the_rota_on_a_holiday_inside_its_standard_hours(
    db_url: str, tmp_path: Path
) -> None:
    """Monday 10:00 is inside the NIGHT queue's standard hours (08-16) and jan, an
    operator, is logged in, but Monday is a holiday: the rota rings (defect 7)."""
    world = make_e2e_world(
        db_url,
        tmp_path,
        {"PJSIP/420603111222@trunk": NEVER, "PJSIP/102": answers(2)},
        extra_yaml=HOLIDAY_MONDAY,
    )
    world.log_in("jan")
    world.call(CallerScript(did=NIGHT, talk_s=10))
    world.run(90)
    [call] = world.calls()
    assert call["state"] == "answered"
    assert world.attempts(call["id"]) == [
        ("", "PJSIP/420603111222@trunk", "no_answer", False),
        ("jan", "PJSIP/102", "answered", False),
    ]


def test_a_support_turn_queue_on_an_ordinary_day_with_an_operator_in_waits_as_a_queue(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/102": answers(2)})
    world.log_in("jan")
    world.call(CallerScript(did=NIGHT, talk_s=10))
    world.run(60)
    [call] = world.calls()
    assert call["state"] == "answered"
    assert world.attempts(call["id"]) == [("jan", "PJSIP/102", "answered", False)]


def test_a_rota_number_that_cannot_be_dialled_is_a_failed_ring_not_a_missed_one(
    db_url: str, tmp_path: Path
) -> None:
    evening = datetime(2026, 11, 23, 17, 30, tzinfo=UTC)  # Monday 18:30 in Prague
    world = make_e2e_world(
        db_url,
        tmp_path,
        {"PJSIP/420603111222@trunk": PhoneBehaviour(unavailable=True), "PJSIP/102": answers(2)},
        start=evening,
    )
    world.log_in("jan", on_air=False)
    world.call(CallerScript(did=NIGHT, talk_s=10))
    world.run(60)
    [call] = world.calls()
    assert world.attempts(call["id"]) == [
        ("", "PJSIP/420603111222@trunk", "failed", False),
        ("jan", "PJSIP/102", "answered", False),
    ]


# --------------------------------------------------------------------------- trunk


def test_external_numbers_leave_through_the_trunk_the_dialplan_names(
    db_url: str, tmp_path: Path
) -> None:
    """One setting, one place: [globals] HOTLINE_TRUNK_TECH and HOTLINE_TRUNK (defect 8)."""
    evening = datetime(2026, 11, 23, 17, 30, tzinfo=UTC)
    world = make_e2e_world(
        db_url, tmp_path, {"Local/420603111222@carrier-b": answers(2)}, start=evening
    )
    world.switch.dialplan.globals.update(HOTLINE_TRUNK_TECH="Local", HOTLINE_TRUNK="carrier-b")
    world.call(CallerScript(did=NIGHT, talk_s=10))
    world.run(60)
    [call] = world.calls()
    assert world.attempts(call["id"])[0] == ("", "Local/420603111222@carrier-b", "answered", False)


def test_a_dialplan_without_a_trunk_fails_the_ring_and_says_why(
    db_url: str, tmp_path: Path, logged: list[str]
) -> None:
    evening = datetime(2026, 11, 23, 17, 30, tzinfo=UTC)
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/102": answers(2)}, start=evening)
    world.switch.dialplan.globals["HOTLINE_TRUNK"] = ""
    world.log_in("jan", on_air=False)
    world.call(CallerScript(did=NIGHT, talk_s=10))
    world.run(60)
    [call] = world.calls()
    assert world.attempts(call["id"]) == [("jan", "PJSIP/102", "answered", False)]
    assert any("HOTLINE_TRUNK" in line and "420603111222" in line for line in logged)


# ---------------------------------------------------------------- music and the 0 key


CALLBACK_OFFER = """
queues:
  - code: SUPPORT
    name: Technical support
    callback_offer_after_s: 10
    callback_offer_repeat_s: 20
"""


def test_zero_during_the_callback_offer_does_not_restart_the_music_for_nothing(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(db_url, tmp_path)
    with Session(world.engine) as s, s.begin():
        load_catalog(s, CALLBACK_OFFER, source="offer.yaml")
    caller = world.call(CallerScript(did=SUPPORT, keys=((11.0, "0"),)))
    world.run(40)
    [call] = world.calls()
    assert call["state"] == "callback"
    commands = [line for line in agi_lines(caller) if line.split(" ")[0] in AGI_COMMANDS]
    pairs = itertools.pairwise(commands)
    assert not any("StartMusicOnHold" in a and "StopMusicOnHold" in b for a, b in pairs), commands


# -------------------------------------------------------------------------- the log


@pytest.fixture
def logged() -> Iterator[list[str]]:
    lines: list[str] = []

    def observer(event: LogEvent) -> None:
        text = formatEvent(event)
        if text:
            lines.append(text)

    globalLogPublisher.addObserver(observer)
    yield lines
    globalLogPublisher.removeObserver(observer)


def test_hotline_logs_one_line_when_a_call_starts_and_one_when_it_ends(
    db_url: str, tmp_path: Path, logged: list[str]
) -> None:
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": answers(2, talk_s=5)})
    world.log_in("eva")
    world.call(CallerScript(did=SUPPORT, caller_id_num="777123456", talk_s=None))
    world.run(30)
    [call] = world.calls()
    mine = [line for line in logged if call["uniqueid"] in line]
    started = [line for line in mine if "started" in line]
    ended = [line for line in mine if "ended" in line]
    assert len(started) == 1 and "DID 222111001" in started[0] and "777123456" in started[0]
    assert len(ended) == 1 and "answered" in ended[0] and "SUPPORT" in ended[0]


# ------------------------------------------------------------------ a server that dies


def test_a_dead_waiting_call_never_holds_up_the_callers_of_a_restarted_server(
    db_url: str, tmp_path: Path
) -> None:
    """The server dies while a caller waits and stays away past the resume window: the
    caller went to the dialplan's fallback, the row still says waiting. The restarted
    server's free agent gets the next caller at once, and the dead call is closed as soon
    as it cannot come back (defect 2)."""
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": answers(2, talk_s=10)})
    world.call(CallerScript(did=SUPPORT, caller_id_num="777000001", talk_s=None))
    world.run(20)
    world.servers[4573].kill()
    world.run(25)  # five resume rounds of 3 s failed: the first caller is in the fallback
    world.start_server(4573, node="hotline-restarted")
    world.call(CallerScript(did=SUPPORT, caller_id_num="777000002", talk_s=5))
    world.log_in("eva")
    world.run(8)
    first, second = world.calls()
    assert world.attempts(second["id"]) == [("eva", "PJSIP/101", "answered", False)]
    assert world.attempts(first["id"]) == []
    world.run(20)
    first, second = world.calls()
    assert first["state"] == "fallback"


def test_a_server_dead_while_the_agent_rang_does_not_queue_a_caller_who_talked(
    db_url: str, tmp_path: Path
) -> None:
    """Killed while eva's phone rings; she answers while no server listens (the answer
    hook cannot reach Hotline), they talk, she hangs up; the resumed session reads
    DIALSTATUS and stores the conversation instead of queueing the caller again (defect 3)."""
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": answers(5, talk_s=20)})
    world.log_in("eva")
    caller = world.call(CallerScript(did=SUPPORT, talk_s=None))
    world.run(3)
    [call] = world.calls()
    assert call["state"] == "ringing"
    world.servers[4573].kill()
    world.run(6)  # eva answered at about 5 s into the ring, with no server to tell
    world.start_server(4573, node="hotline-restarted")
    world.run(60)
    [call] = world.calls()
    assert call["state"] == "answered"
    assert world.attempts(call["id"]) == [("eva", "PJSIP/101", "answered", False)]
    assert world.agent_state("eva") == ("off_air", "processing", None)  # the form to save
    assert call["processing"] == "pending"
    [(_, _, duration_s)] = recordings(world)
    assert duration_s is not None and 20 <= duration_s <= 27  # from the ring's start
    lines = agi_lines(caller)
    assert not any("press-0-for-callback" in line for line in lines)
    assert sum(1 for line in lines if line.startswith("EXEC Dial")) == 1  # rang once


def test_a_server_back_before_the_answer_gets_the_exact_answer_time(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": answers(6, talk_s=20)})
    world.log_in("eva")
    world.call(CallerScript(did=SUPPORT, talk_s=None))
    world.run(3)
    world.servers[4573].kill()
    world.run(1)
    world.start_server(4573, node="hotline-restarted")  # back before eva picks up
    world.run(60)
    [call] = world.calls()
    assert call["state"] == "answered"
    [(_, _, duration_s)] = recordings(world)
    assert duration_s == 20


def test_a_conversation_cut_from_its_server_keeps_its_recording(
    db_url: str, tmp_path: Path
) -> None:
    """The server dies mid-conversation and never comes back; the caller hangs up. The
    recording's row was written when it started, so the janitor's close keeps it (defect
    4)."""
    world = make_e2e_world(
        db_url, tmp_path, {"PJSIP/101": answers(2, talk_s=None)}, servers=(4573, 4574)
    )
    world.log_in("eva")
    world.call(CallerScript(did=SUPPORT, talk_s=30))
    world.run(10)
    world.servers[4573].kill()
    world.run(240)
    [call] = world.calls()
    assert call["state"] == "answered"
    [(call_id, path, _)] = recordings(world)
    assert call_id == call["id"] and (tmp_path / "recordings" / path).exists()


def test_a_message_recorded_while_the_server_was_away_becomes_a_voicemail(
    db_url: str, tmp_path: Path
) -> None:
    """Killed while the caller speaks; Asterisk finishes the recording; the server is back
    for the resume, which takes the message in and confirms it (defect 4)."""
    world = make_e2e_world(db_url, tmp_path)
    caller = world.call(CallerScript(did=SUPPORT, keys=((6.0, "#"),), speech_s=20))
    world.run(12)
    [call] = world.calls()
    assert call["state"] == "in_box"
    world.servers[4573].kill()
    world.run(2)
    world.start_server(4573, node="hotline-restarted")
    world.run(60)
    [call] = world.calls()
    assert call["state"] == "voicemail"
    [item] = world.items()
    assert item["call"] == call["id"] and world.wav_seconds(item["recording"]) >= 18
    assert item["duration_s"] is not None and item["duration_s"] >= 18
    lines = agi_lines(caller)
    assert any("STREAM FILE hotline/message-saved" in line for line in lines)
    assert not any(line.startswith("EXEC Dial") for line in lines)  # never queued again


def test_a_message_whose_caller_hung_up_while_the_server_was_away_comes_from_the_spool(
    db_url: str, tmp_path: Path
) -> None:
    """Nobody resumes a caller who hung up at the end of the message: the pending entry of
    the spool brings it in once it is surely over (defect 4, R-7.3)."""
    world = make_e2e_world(db_url, tmp_path)
    world.call(CallerScript(did=SUPPORT, keys=((6.0, "#"),), speech_s=20, hangup_at_s=30))
    world.run(12)
    world.servers[4573].kill()
    world.run(30)
    assert world.items() == []
    world.start_server(4573, node="hotline-restarted")
    world.run(240)
    [item] = world.items()
    [call] = world.calls()
    assert item["call"] == call["id"] and world.wav_seconds(item["recording"]) >= 18
    assert call["state"] == "voicemail"


def test_a_message_whose_caller_hung_up_after_the_restart_is_taken_in_at_once(
    db_url: str, tmp_path: Path
) -> None:
    """The caller hangs up while the Asterisk recording still runs from the dead session;
    the dialplan's hang-up handler ([hotline-hangup]) has the restarted server settle the
    call at once, not minutes later from the spool (found on the real Asterisk)."""
    world = make_e2e_world(db_url, tmp_path)
    world.call(CallerScript(did=SUPPORT, keys=((6.0, "#"),), speech_s=20, hangup_at_s=30))
    world.run(12)
    world.servers[4573].kill()
    world.run(10)
    world.start_server(4573, node="hotline-restarted")
    world.run(10)  # the caller hung up at 30 s
    [item] = world.items()
    [call] = world.calls()
    assert item["call"] == call["id"] and world.wav_seconds(item["recording"]) >= 18
    assert call["state"] == "voicemail"


def test_a_resumed_call_keeps_the_one_recorder_it_had(db_url: str, tmp_path: Path) -> None:
    """The resume must not start a second MixMonitor on the same file (defect 5)."""
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": answers(2, talk_s=10)})
    caller = world.call(CallerScript(did=SUPPORT, talk_s=None))
    world.run(20)
    world.servers[4573].kill()
    world.run(2)
    world.start_server(4573, node="hotline-restarted")
    world.log_in("eva")
    world.run(60)
    [call] = world.calls()
    assert call["state"] == "answered"
    mixmonitors = [line for line in agi_lines(caller) if line.startswith("EXEC MixMonitor")]
    assert len(mixmonitors) == 1
    [(_, _, duration_s)] = recordings(world)
    assert duration_s == 10
