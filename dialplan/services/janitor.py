"""The heartbeat of one Hotline process (R-1.16, R-7.6), as a Twisted service.

Every ``HEARTBEAT_INTERVAL_S`` it refreshes the calls this server runs an AGI session for and
closes the calls whose server is gone (``dialplan.store.janitor``), so that no agent stays
reserved by a call that is over. A database that is down only skips a beat; the beat after
it touches without sweeping, so that every server has touched its calls again before any
of them is taken for lost.

Each beat first replays the calls' journal (``dialplan.call_journal``, R-7.3: calls that arrived or
ended while the database was down, issue 11), so that the sweep sees them and no call is
missing from the records. A call this server still runs an AGI session for is left to that
session.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from db.errors import DatabaseError
from db.runner import DBRunner
from dialplan.call_journal import CallJournal
from dialplan.store import janitor
from dialplan.store.journal import replay_entry
from domain.clock import Clock

_log = Logger()


class JanitorService(Service):
    """Beats every ``interval_s`` on ``clock``; ``running`` names this server's calls (the
    uniqueids of its live AGI sessions)."""

    def __init__(
        self,
        db: DBRunner,
        clock: Clock,
        running: Callable[[], Collection[str]],
        interval_s: float = janitor.HEARTBEAT_INTERVAL_S,
        resume_window_s: float = janitor.RESUME_WINDOW_S,
        journal: CallJournal | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._running = running
        self._interval_s = interval_s
        self._resume_window_s = resume_window_s
        self._journal = journal
        self._loop: LoopingCall | None = None
        self._last_beat_failed = False

    def startService(self) -> None:
        super().startService()
        self._loop = LoopingCall(lambda: Deferred.fromCoroutine(self.beat()))
        self._loop.clock = self._clock  # type: ignore[assignment]
        self._loop.start(self._interval_s, now=False)

    def stopService(self) -> None:
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    async def beat(self) -> list[int]:
        """Keep this server's calls alive and close those of servers that are gone; the
        ids of the calls closed."""
        now = datetime.fromtimestamp(self._clock.seconds(), UTC)
        try:
            await self.replay_journal()
            await self._db.run(janitor.touch_calls, self._running(), now)
            if self._last_beat_failed:
                self._last_beat_failed = False
                return []  # the others touch their calls in this beat too: sweep next time
            closed = await self._db.run(
                janitor.close_stale_calls, now, resume_window_s=self._resume_window_s
            )
        except DatabaseError as exc:  # the database is down: the next beat tries again
            self._last_beat_failed = True
            _log.warn("heartbeat: database unavailable: {error}", error=str(exc).splitlines()[0])
            return []
        if closed:
            _log.warn("closed calls whose Hotline server was lost: {ids}", ids=closed)
        return closed

    async def replay_journal(self) -> int:
        """Write what the journal keeps into the database, oldest call first; the number of
        calls replayed. A database failure stops it (raised): the next beat goes on."""
        if self._journal is None:
            return 0
        running = set(self._running())
        replayed = 0
        for path, entry in list(self._journal.entries()):
            if entry is None:
                if path is None:
                    continue
                moved = self._journal.quarantine(path)
                _log.error("unreadable call journal entry moved to {path}", path=str(moved))
                continue
            if entry.uniqueid in running:
                continue  # its own session writes it
            done = await self._db.run(replay_entry, entry)
            # Removed only after the commit, and only if no change was added meanwhile (the
            # next beat replays the rest; what is there already is skipped).
            if self._journal.entry(entry.uniqueid) == entry:
                self._journal.forget(entry.uniqueid)
            replayed += 1
            if done:
                _log.warn(
                    "call {uniqueid} from the journal: {done}",
                    uniqueid=entry.uniqueid,
                    done=", ".join(done),
                )
        return replayed
