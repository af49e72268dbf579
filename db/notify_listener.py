"""LISTEN for ``db.events``' NOTIFY on a dedicated PostgreSQL connection, in a thread of its
own (R-4.8, R-7.1).

The thread blocks in ``select`` on the connection's socket and calls ``on_notify`` (on that
thread) for every burst of notifications. When the connection breaks (the server restarted,
a network cut, an administrator ended the backend) it connects again after a growing pause,
and calls ``on_notify`` once it listens again: notifications sent while nobody listened are
gone, so the feed reads the table to catch up. The wake-up carries no data: the events table
is the truth, a NOTIFY only says "read it now".
"""

from __future__ import annotations

import select
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine
from twisted.logger import Logger

from db.events import NOTIFY_CHANNEL

_log = Logger()

WAIT_S = 1.0  # how long one select waits: bounds how late stop() is noticed
# A silent connection is asked a question now and then: a peer that vanished without a FIN
# (a network cut) shows up as an error here instead of a listener that hears nothing.
PROBE_IDLE_S = 30.0
RETRY_FIRST_S = 0.2
RETRY_MAX_S = 5.0


class NotifyListener:
    """One listening connection per process; :meth:`start` once, :meth:`stop` at the end."""

    def __init__(
        self,
        engine: Engine,
        on_notify: Callable[[], None],
        *,
        channel: str = NOTIFY_CHANNEL,
        retry_first_s: float = RETRY_FIRST_S,
        retry_max_s: float = RETRY_MAX_S,
    ) -> None:
        self._engine = engine
        self._on_notify = on_notify
        self._channel = channel
        self._retry_first_s = retry_first_s
        self._retry_max_s = retry_max_s
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._connection: Any = None
        self.listening = threading.Event()  # set while LISTEN is in force (tests wait on it)
        self.backend_pid: int | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="hotline-notify-listener", daemon=True
            )
            self._thread.start()

    def stop(self, timeout_s: float = 2 * WAIT_S) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _connect(self) -> Any:
        # The engine's own driver and settings (search_path included), not its pool: this
        # connection sits in LISTEN for the process's life.
        dialect = self._engine.dialect
        args, kwargs = dialect.create_connect_args(self._engine.url)
        connection = dialect.loaded_dbapi.connect(*args, **kwargs)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"LISTEN {self._channel}")
            cursor.execute("SELECT pg_backend_pid()")
            self.backend_pid = int(cursor.fetchone()[0])
        return connection

    def _run(self) -> None:
        pause_s = self._retry_first_s
        failing = False
        while not self._stopping.is_set():
            try:
                self._connection = self._connect()
                if failing:
                    _log.info("notify listener: listening again")
                failing = False
                pause_s = self._retry_first_s
                self.listening.set()
                self._on_notify()  # whatever was sent while nobody listened: read now
                self._listen(self._connection)
            except Exception as exc:
                if not failing:
                    _log.warn("notify listener: {e}; connecting again", e=str(exc).strip())
                failing = True
            finally:
                self.listening.clear()
                self._close()
            if self._stopping.wait(pause_s):
                return
            pause_s = min(pause_s * 2, self._retry_max_s)

    def _listen(self, connection: Any) -> None:
        idle_s = 0.0
        while not self._stopping.is_set():
            ready, _, _ = select.select([connection], [], [], WAIT_S)
            if not ready:
                idle_s += WAIT_S
                if idle_s >= PROBE_IDLE_S:
                    idle_s = 0.0
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT 1")
                continue
            idle_s = 0.0
            connection.poll()  # raises when the connection broke
            if connection.notifies:
                connection.notifies.clear()
                self._on_notify()

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:
                pass  # already broken: nothing left to close
