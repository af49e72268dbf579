"""The database goes down while callers wait (R-7.3, R-7.6, R-1.16): the caller keeps the music and
is served once it is back, and ``hotline serve``'s periodic spool import brings in a request
kept on disk meanwhile."""

from __future__ import annotations

from pathlib import Path

from twisted.internet.defer import Deferred

from dialplan.call_journal import CallJournal
from dialplan.services.janitor import JanitorService
from simulator.switch import CallerScript, PhoneBehaviour
from tests.support.e2e_world import E2EWorld, make_e2e_world
from voicemail.intake import SPOOL_IMPORT_INTERVAL_S, SpoolImportService
from voicemail.spool import Spool

SUPPORT = "222111001"  # overflow after 120 s


def test_a_caller_waiting_through_a_database_outage_is_served_when_it_is_back(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(
        db_url, tmp_path, {"PJSIP/101": PhoneBehaviour(answer_after_s=2, talk_s=10)}
    )
    sim_call = world.call(CallerScript(did=SUPPORT, talk_s=None))
    world.run(100)
    [call] = world.calls()
    assert call["state"] == "waiting"
    waiting_since = call["queue_entered_at"]

    world.db.go_down(tmp_path)
    world.run(60)  # the overflow (due at 120 s) cannot be written: tried at every poll
    world.db.come_back()
    record = sim_call.record
    assert record is not None
    assert [run.url.rsplit("/", 1)[-1] for run in record.agi_runs] == ["inbound"]  # one session
    assert not any("hotline-fallback" in step for step in record.steps)
    assert record.ended_at is None  # the caller is still there, listening to the music

    world.run(5)
    [call] = world.calls()
    assert call["overflowed"]  # written at the first poll after the outage
    world.log_in("eva")
    world.run(40)
    [call] = world.calls()
    assert call["state"] == "answered" and call["overflowed"]
    assert call["queue_entered_at"] == waiting_since


def test_the_services_spool_import_brings_in_a_callback_once_the_database_is_back(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(db_url, tmp_path)
    spool = world.servers[4573].ctx.spool  # tmp_path / "spool", as settings.spool_dir below
    world.call(CallerScript(did=SUPPORT, caller_id_num="777123456", keys=((20.0, "0"),)))
    world.run(10)
    world.db.go_down(tmp_path)
    world.run(40)
    assert len(list(spool.entries())) == 1  # the callback request was kept on disk

    # As hotline serve runs it, with the product's DBRunner run inline on the e2e world's Clock.
    importing = SpoolImportService(world.db, Spool(tmp_path / "spool"), world.clock)
    importing.startService()
    try:
        world.run(2 * SPOOL_IMPORT_INTERVAL_S)  # the database is still down: nothing lost
        assert world.items() == [] and len(list(spool.entries())) == 1
        world.db.come_back()
        world.run(SPOOL_IMPORT_INTERVAL_S)
        [item] = world.items()
        assert (item["kind"], item["caller"]) == ("callback", "777123456")
        [call] = world.calls()
        assert call["state"] == "callback"
        assert list(spool.entries()) == []
        world.run(2 * SPOOL_IMPORT_INTERVAL_S)
        assert len(world.items()) == 1  # imported exactly once
    finally:
        importing.stopService()


def test_the_database_going_down_while_an_agent_rings_puts_the_caller_back_in_the_queue(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(
        db_url,
        tmp_path,
        {"PJSIP/101": PhoneBehaviour(answer_after_s=None), "PJSIP/102": PhoneBehaviour(2)},
    )
    world.log_in("eva")
    sim_call = world.call(CallerScript(did=SUPPORT, talk_s=None))
    world.run(5)
    [call] = world.calls()
    assert call["state"] == "ringing"
    waiting_since = call["queue_entered_at"]
    world.db.go_down(tmp_path)
    world.run(45)  # eva's ring times out at 20 s; its end cannot be written for 25 s more
    world.db.come_back()
    world.log_in("jan")
    world.run(40)
    [call] = world.calls()
    assert call["state"] == "answered" and call["queue_entered_at"] == waiting_since
    assert world.attempts(call["id"]) == [
        ("eva", "PJSIP/101", "failed", False),  # ended when the call went back to the queue
        ("jan", "PJSIP/102", "answered", False),
    ]
    assert world.agent_state("eva")[1] != "ringing"  # freed, not stuck on a dead ring
    record = sim_call.record
    assert record is not None
    assert [run.url.rsplit("/", 1)[-1] for run in record.agi_runs] == ["inbound", "answered"]
    assert not any("hotline-fallback" in step for step in record.steps)


def test_a_database_outage_as_a_conversation_ends_writes_its_end_when_back(
    db_url: str, tmp_path: Path
) -> None:
    """Issue 11, item 1: Dial returned ANSWER while the database was down. The call used to
    go back to the queue and end 'abandoned' with the agent stuck in a call for good; it is
    an answered call, with its real end time, and the agent is freed once the database is
    back."""
    world = make_e2e_world(
        db_url, tmp_path, {"PJSIP/101": PhoneBehaviour(answer_after_s=2, talk_s=10)}
    )
    world.log_in("eva")
    sim_call = world.call(CallerScript(did=SUPPORT, talk_s=None))
    world.run(8)
    [call] = world.calls()
    assert call["state"] == "talking"
    world.db.go_down(tmp_path)
    world.run(60)  # the agent hangs up at about 12 s: Dial returns ANSWER, nothing written
    world.db.come_back()
    world.run(40)
    [call] = world.calls()
    assert call["state"] == "answered"
    assert call["ended_at"] is not None and call["answered_at"] is not None
    talked_s = (call["ended_at"] - call["answered_at"]).total_seconds()
    assert 9 <= talked_s <= 11  # the ten seconds they talked, not until it could be written
    assert world.agent_state("eva")[1] != "in_call"  # freed for the next caller
    record = sim_call.record
    assert record is not None
    assert not any("StartMusicOnHold" in line.text for line in record.lines[-20:])
    assert not any("hotline-fallback" in step for step in record.steps)


def test_a_caller_hanging_up_during_an_outage_is_abandoned_with_the_real_time(
    db_url: str, tmp_path: Path
) -> None:
    """Issue 11, item 6: the end could not be written when the caller hung up; it used to be
    left for the janitor, which stored a 'fallback'. It is written once the database is
    back: abandoned in the queue, at the moment the caller left."""
    world = make_e2e_world(db_url, tmp_path)
    world.call(CallerScript(did=SUPPORT, talk_s=None, hangup_at_s=30))
    world.run(20)
    world.db.go_down(tmp_path)
    world.run(120)  # the caller hangs up at 30 s, into the outage
    world.db.come_back()
    world.run(10)  # the janitor's beat replays the journal (item 3) before it sweeps
    [call] = world.calls()
    assert call["state"] == "abandoned_queue"  # not the janitor's guess, "fallback"
    world.run(60)  # the flow's own end, retried all along, finds it written
    [call] = world.calls()
    assert call["state"] == "abandoned_queue"
    assert call["ended_at"] is not None and call["queue_entered_at"] is not None
    waited_s = (call["ended_at"] - call["queue_entered_at"]).total_seconds()
    assert 25 <= waited_s <= 31  # hung up at 30 s, not when it could be written


# ----------------------------------------------------------------- issue 11, item 3


def _journal(world: E2EWorld) -> CallJournal:
    return world.servers[4573].ctx.journal


def test_a_call_arriving_during_an_outage_is_served_when_the_database_is_back_in_time(
    db_url: str, tmp_path: Path
) -> None:
    """The caller hears music while the database is down and, once it is back within the
    wait, goes on like any call: recorded with the moment it really arrived."""
    world = make_e2e_world(db_url, tmp_path, {"PJSIP/101": PhoneBehaviour(answer_after_s=2)})
    world.log_in("eva")
    world.db.go_down(tmp_path)
    arrived = world.now()
    sim_call = world.call(CallerScript(did=SUPPORT, talk_s=20))
    world.run(8)
    assert world.calls() == [] and len(list(_journal(world).entries())) == 1
    world.db.come_back()
    world.run(60)
    [call] = world.calls()
    assert call["state"] == "answered" and call["started_at"] == arrived
    assert list(_journal(world).entries()) == []  # the database has it: nothing to replay
    record = sim_call.record
    assert record is not None
    assert any("StartMusicOnHold" in line.text for line in record.lines[:12])
    assert not any("hotline-fallback" in step for step in record.steps)


def test_a_caller_hanging_up_during_an_outage_is_recorded_once_the_database_is_back(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(db_url, tmp_path)
    world.db.go_down(tmp_path)
    arrived = world.now()
    world.call(CallerScript(did=SUPPORT, hangup_at_s=6))
    world.run(120)  # the caller leaves at 6 s; the janitor's beats cannot write anything
    assert len(list(_journal(world).entries())) == 1
    world.db.come_back()
    world.run(10)
    [call] = world.calls()
    assert (call["state"], call["started_at"]) == ("abandoned_ivr", arrived)
    assert call["ended_at"] is not None
    assert 5 <= (call["ended_at"] - arrived).total_seconds() <= 8  # when it happened
    assert list(_journal(world).entries()) == []
    world.run(30)
    assert len(world.calls()) == 1  # replayed once


def test_a_long_outage_hands_a_new_caller_to_the_fallback_and_records_the_call(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(db_url, tmp_path)
    world.db.go_down(tmp_path)
    sim_call = world.call(CallerScript(did=SUPPORT, talk_s=5))
    world.run(40)
    record = sim_call.record
    assert record is not None
    assert any("hotline-fallback" in step for step in record.steps)  # not left in silence
    world.db.come_back()
    world.run(10)
    [call] = world.calls()
    assert (call["state"], call["cause"]) == ("fallback", "database unavailable")


def test_a_journalled_call_is_replayed_by_a_restarted_server_exactly_once(
    db_url: str, tmp_path: Path
) -> None:
    """The server that journalled the call is gone; the next one to start on the same
    spool replays the journal, and a replay cut between commit and removal (the file is
    still there) changes nothing the second time."""
    world = make_e2e_world(db_url, tmp_path)
    world.db.go_down(tmp_path)
    world.call(CallerScript(did=SUPPORT, hangup_at_s=3))
    world.run(10)
    [(path, _)] = list(_journal(world).entries())
    kept = path.read_bytes()
    world.servers[4573].kill()
    world.db.come_back()

    journal = CallJournal(path.parent)
    janitor = JanitorService(world.db, world.clock, lambda: (), journal=journal)
    assert _replay(janitor) == 1
    path.write_bytes(kept)  # as if the server had died before removing the file
    assert _replay(janitor) == 1
    [call] = world.calls()
    assert call["state"] == "abandoned_ivr"
    assert list(journal.entries()) == []


def _replay(janitor: JanitorService) -> int:
    replayed: list[int] = []
    Deferred.fromCoroutine(janitor.replay_journal()).addCallback(replayed.append)
    return replayed[0]
