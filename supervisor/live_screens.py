"""The supervisor's live screens of one web process, built once per change (R-4.8, R-4.6).

Every open ``/supervisor/events`` stream wants the panels again after a call or agent event
(and after a change of a phone it shows). Built stream by stream, a burst of events cost
every open screen a read of the whole panels and a render of them, on the process that also
pushes every other page's events (``bench/live_push.py``: a 200-agent screen made the
back office's pushes three times slower). Here the streams ask :class:`LiveScreens`, and:

- the requests of one moment (one delivery of the feed reaches every stream in the same
  turn of the reactor) are answered by one read, ``supervisor.store.live.screens``: one
  transaction that reads the viewers' scopes again (a supervisor sees only the departments
  they supervise *now*) and builds each distinct (scope, filters, wall-board) once;
- requests that come while a read is on its way are answered by one more read after it,
  never by the older one (it may have started before their change): one read at a time,
  so the event ids a stream is sent only grow;
- each screen is rendered once per language and the same frame written to every stream
  of that screen; a row of the Agents and Activities panels is rendered once for as long
  as its data stays the same (:class:`PanelRows`: a change of one agent renders that
  agent's row, not two hundred), its running timers filled in per frame from the
  server's clock;
- a read that fails is tried again for the same streams shortly: no update is lost.

A stream that joins gets the whole picture at the next read, which a reconnect with
``Last-Event-ID`` needs and nothing more: nothing is added up in the browser.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import UTC, datetime, time
from typing import Any, Protocol
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo

from markupsafe import Markup
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from domain.clock import DelayedCall
from supervisor.store import live
from web.i18n import Language
from web.live_feed import EventFeed
from web.rendering import Templates
from web.request import WebServices
from web.sse import sse_frame

_log = Logger()

RETRY_S = 0.5  # after a failed read: the same streams, shortly
ROWS_KEPT = 20_000  # rendered rows kept (two generations of at most this many)
# A running timer as a cached row holds it: the time is filled in per frame.
_EMPTY_TIMER = re.compile(r'(<span class="js-timer" data-since="([0-9.]+)">)(</span>)')

# A stream's request: who, with which filters, with the details (not the wall-board).
Wanted = tuple[int, live.Filters, bool]


def day_start(now: datetime, time_zone: str) -> datetime:
    """The centre's midnight today: "today" on the screen is the centre's day (R-4.5)."""
    zone = ZoneInfo(time_zone)
    return datetime.combine(now.astimezone(zone).date(), time(0), zone)


def mmss(seconds: int) -> str:
    hours, rest = divmod(max(0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{minutes}:{secs:02d}"
    return f"{hours}:{text.zfill(5)}" if hours else text


def epoch(moment: datetime | None) -> str:
    return "" if moment is None else f"{moment.timestamp():.3f}"


def fill_timers(html: str, server_now: float) -> str:
    """Each empty running timer of ``html`` with its time at ``server_now`` (the browser
    ticks it on from there)."""
    return _EMPTY_TIMER.sub(
        lambda m: m.group(1) + mmss(int(server_now - float(m.group(2)))) + m.group(3), html
    )


class PanelRows:
    """The rows of the Agents and Activities panels (R-4.2, R-4.1), each rendered once per
    language for as long as its data is the same (the rows are frozen dataclasses, so the
    data is the key). Their running timers are left empty here (:func:`fill_timers`)."""

    def __init__(self, templates: Templates, labels: Mapping[str, str]) -> None:
        self._templates = templates
        self._labels = labels
        self._rows: dict[Hashable, str] = {}
        self._older: dict[Hashable, str] = {}
        self.rendered = 0  # rows rendered so far (the rest came from here)

    def _row(self, key: Hashable, render: Callable[[], str]) -> str:
        found = self._rows.get(key)
        if found is None:
            found = self._older.get(key)
            if found is None:
                found = render()
                self.rendered += 1
            if len(self._rows) >= ROWS_KEPT:
                self._older, self._rows = self._rows, {}
            self._rows[key] = found
        return found

    def agents(
        self,
        language: Language,
        rows: Iterable[live.AgentRow],
        phone: Callable[[str], str] | None,
        server_now: float,
    ) -> Markup:
        def one(row: live.AgentRow) -> str:
            state = phone(row.extension) if phone is not None and row.extension else ""
            return self._row(
                ("agent", language.code, row, phone is not None, state),
                lambda: self._templates.render(
                    "supervisor_agent_row.html",
                    language,
                    g=row,
                    show_phone=phone is not None,
                    phone_state=state,
                    labels=self._labels,
                    epoch=epoch,
                ),
            )

        return Markup(fill_timers("".join(one(r) for r in rows), server_now))

    def activities(
        self, language: Language, rows: Iterable[live.ActivityRow], server_now: float
    ) -> Markup:
        def one(row: live.ActivityRow) -> str:
            return self._row(
                ("activity", language.code, row),
                lambda: self._templates.render(
                    "supervisor_activity_row.html",
                    language,
                    a=row,
                    labels=self._labels,
                    epoch=epoch,
                    mmss=mmss,
                ),
            )

        return Markup(fill_timers("".join(one(r) for r in rows), server_now))


class ScreenViewer(Protocol):
    """What :class:`LiveScreens` needs of a stream (``supervisor.routes.ScreenStream``)."""

    @property
    def wanted(self) -> Wanted: ...

    @property
    def language(self) -> Language: ...

    @property
    def finished(self) -> bool: ...

    def show(self, found: live.LiveScreen, frame: Callable[[int], bytes], event_id: int) -> None:
        """Send ``frame(event_id)`` (the same bytes as for every stream of this screen
        when ``event_id`` is the read's), the panels of ``found``."""


class LiveScreens:
    """The process's supervisor screens (see the module docstring)."""

    def __init__(self, web: WebServices, labels: Mapping[str, str]) -> None:
        # The parts of ``web`` it uses, not ``web``: the process's screens are found by its
        # feed (``live_screens``), which must not be kept alive from here.
        self._db = web.db
        self._clock = web.clock
        self._templates = web.templates
        self._time_zone = web.time_zone
        self._device_states = web.device_states
        self.rows = PanelRows(web.templates, labels)
        self._labels = labels
        self._pending: dict[ScreenViewer, None] = {}  # in the order they asked
        self._scheduled: DelayedCall | None = None
        self._reading = False
        # Callers matched to a customer by number, per (call, queue): each is looked up
        # once, not on every read; only the calls still shown are kept.
        self._known: dict[tuple[int, int], str] = {}
        self._retry = False  # the last read failed: the next waits RETRY_S
        self.reads = 0  # reads of the panels so far (one per burst, for every stream)

    def refresh(self, viewer: ScreenViewer) -> None:
        """Send ``viewer`` the panels as they are after now."""
        self._pending[viewer] = None
        self._schedule(0)

    def _schedule(self, delay: float) -> None:
        if self._reading or (self._scheduled is not None and self._scheduled.active()):
            return
        self._scheduled = self._clock.callLater(delay, self._read)

    def _read(self) -> None:
        self._scheduled = None
        viewers = [v for v in self._pending if not v.finished]
        self._pending.clear()
        if not viewers:
            return
        self._reading = True
        Deferred.fromCoroutine(self._send(viewers)).addErrback(self._failed, viewers).addBoth(
            self._done
        )

    def _failed(self, failure: Any, viewers: list[ScreenViewer]) -> None:
        _log.warn("supervisor screens: cannot read: {e}", e=failure.getErrorMessage())
        for viewer in viewers:  # asked again, before any who asked meanwhile
            self._pending[viewer] = None
        self._retry = True

    def _done(self, _: object) -> None:
        self._reading = False
        if self._pending:
            self._schedule(RETRY_S if self._retry else 0)
        self._retry = False

    async def _send(self, viewers: list[ScreenViewer]) -> None:
        now = datetime.fromtimestamp(self._clock.seconds(), UTC)
        found = await self._db.run(
            live.screens,
            list(dict.fromkeys(v.wanted for v in viewers)),
            now,
            day_start(now, self._time_zone),
            dict(self._known),
        )
        self.reads += 1
        shown = {a.call_id for s in found.built.values() for a in s.activities}
        merged = {**self._known}
        for screen in found.built.values():
            merged.update(screen.matched)
        self._known = {key: name for key, name in merged.items() if key[0] in shown}
        server_now = self._clock.seconds()
        phone = self._device_states.phone if self._device_states is not None else None
        rendered: dict[tuple[live.ScreenKey, str], str] = {}
        frames: dict[tuple[live.ScreenKey, str], bytes] = {}
        for viewer in viewers:
            if viewer.finished:
                continue
            key = found.keys[viewer.wanted]
            screen = found.built[key]
            at = (key, viewer.language.code)
            if at not in rendered:
                rendered[at] = self.panels(viewer.language, screen, server_now, not key[2], phone)

            def frame(event_id: int, at: tuple[live.ScreenKey, str] = at) -> bytes:
                if event_id != found.newest_event_id:
                    return _frame(rendered[at], server_now, event_id)
                if at not in frames:
                    frames[at] = _frame(rendered[at], server_now, event_id)
                return frames[at]

            viewer.show(screen, frame, found.newest_event_id)

    def panels(
        self,
        language: Language,
        screen: live.LiveScreen,
        server_now: float,
        wallboard: bool,
        phone: Callable[[str], str] | None,
    ) -> str:
        """The panels (``supervisor_panels.html``) in ``language``."""
        return self._templates.render(
            "supervisor_panels.html",
            language,
            **self.context(language, screen, server_now, wallboard, phone),
        )

    def context(
        self,
        language: Language,
        screen: live.LiveScreen,
        server_now: float,
        wallboard: bool,
        phone: Callable[[str], str] | None,
    ) -> dict[str, Any]:
        """What ``supervisor_panels.html`` is rendered with (the page includes it too)."""
        details = not wallboard
        return {
            "phone": phone,
            "screen": screen,
            "server_now": server_now,
            "epoch": epoch,
            "wallboard": wallboard,
            "mmss": mmss,
            "labels": self._labels,
            "agent_rows": self.rows.agents(language, screen.agents, phone, server_now)
            if details
            else Markup(),
            "activity_rows": self.rows.activities(language, screen.activities, server_now)
            if details
            else Markup(),
        }


def _frame(html: str, server_now: float, event_id: int) -> bytes:
    return sse_frame({"html": html, "server_now": server_now}, event="screen", event_id=event_id)


_screens: WeakKeyDictionary[EventFeed, LiveScreens] = WeakKeyDictionary()


def live_screens(web: WebServices, labels: Mapping[str, str]) -> LiveScreens:
    """The process's :class:`LiveScreens` (one per web process: per its events feed)."""
    found = _screens.get(web.feed)
    if found is None:
        found = _screens[web.feed] = LiveScreens(web, labels)
    return found
