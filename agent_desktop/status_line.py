"""The agent's live status line (R-2.5): a notice and its data become the message shown.

Pure: no Twisted, SQLAlchemy, Klein or Jinja2. The call flows write ``agent.notice`` events
whose payload carries ``notice`` (one of :class:`AgentNotice`) with ``waiting_s``, ``box_name``,
``queue`` and, for a call transferred by a colleague, ``from_queue`` and ``by_agent``. The
web layer turns them into :class:`StatusMessage` with the agent's translation function.

A new incoming call counts its waiting time on in the browser (the reference product reloads
its form every 2 s instead): the message then also has a ``template`` in which ``{clock}``
stands for the running mm:ss, and ``waiting_s`` is the waiting time at the moment of sending.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from domain.enums import AgentNotice
from domain.texts import N_

CLOCK_MARK = "{clock}"
# Nobody waits longer; a wilder figure in a payload is a bug upstream, not a waiting time.
MAX_WAIT_S = 7 * 24 * 3600


INCOMING = N_("New incoming call, waiting time %(clock)s")
INCOMING_FROM_QUEUE = N_("New incoming call (%(queue)s), waiting time %(clock)s")
INCOMING_OVERFLOW = N_("New incoming overflowed call (%(queue)s), waiting time %(clock)s")
INCOMING_TRANSFERRED = N_(
    "New incoming call transferred from queue %(queue)s by %(agent)s, waiting time %(clock)s"
)
CALLER_HUNG_UP = N_("The caller hung up while ringing.")
MOVED_TO_BOX = N_("The call was transferred to: %(box)s")
HANDED_TO_ANOTHER = N_("The call was handed to another agent.")
WILL_BE_HANDED = N_("The call will be handed to another agent.")
CONNECTED = N_("Waiting time was %(clock)s")


@dataclass(frozen=True)
class StatusMessage:
    """What the status line shows for one notice."""

    notice: AgentNotice
    text: str
    # Set while the clock counts on (a ringing call): ``{clock}`` marks the running mm:ss.
    template: str | None = None
    waiting_s: int | None = None


def mm_ss(seconds: float) -> str:
    """``seconds`` as mm:ss; minutes go past 59 rather than adding hours (R-2.5 says mm:ss)."""
    whole = max(0, math.floor(seconds)) if math.isfinite(seconds) else 0
    minutes, secs = divmod(whole, 60)
    return f"{minutes:02d}:{secs:02d}"


def _text(data: Mapping[str, object], key: str, limit: int = 200) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        return ""
    # A status line is one line: no CR/LF from a payload, and a bounded length.
    return " ".join(value.split())[:limit]


def _seconds(data: Mapping[str, object], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    if not math.isfinite(value) or value <= 0:
        return 0.0
    return min(float(value), MAX_WAIT_S)


def status_message(
    data: Mapping[str, object],
    gettext: Callable[[str], str] = N_,
    elapsed_s: float = 0.0,
) -> StatusMessage | None:
    """The message for an ``agent.notice`` payload, or None for a notice this build lacks.

    ``elapsed_s`` is the time since the event was written; a replayed incoming call counts
    on from ``waiting_s + elapsed_s``.
    """
    try:
        notice = AgentNotice(str(data.get("notice", "")))
    except ValueError:
        return None
    queue = _text(data, "queue")
    if notice is AgentNotice.INCOMING:
        elapsed = elapsed_s if math.isfinite(elapsed_s) and elapsed_s > 0 else 0.0
        waiting = _seconds(data, "waiting_s") + elapsed
        from_queue, by_agent = _text(data, "from_queue"), _text(data, "by_agent")
        params: dict[str, str] = {"queue": queue, "clock": CLOCK_MARK}
        if from_queue and by_agent:
            msgid = INCOMING_TRANSFERRED
            params.update(queue=from_queue, agent=by_agent)
        elif data.get("overflow") is True and queue:
            msgid = INCOMING_OVERFLOW
        elif queue:
            msgid = INCOMING_FROM_QUEUE
        else:
            msgid = INCOMING
        template = _format(gettext(msgid), params)
        return StatusMessage(
            notice,
            template.replace(CLOCK_MARK, mm_ss(waiting)),
            template=template,
            waiting_s=math.floor(waiting),
        )
    if notice is AgentNotice.CONNECTED:
        waited = _seconds(data, "waiting_s")
        text = _format(gettext(CONNECTED), {"clock": mm_ss(waited)})
        return StatusMessage(notice, text, waiting_s=math.floor(waited))
    if notice is AgentNotice.MOVED_TO_BOX:
        box = _text(data, "box_name") or "?"
        return StatusMessage(notice, _format(gettext(MOVED_TO_BOX), {"box": box}))
    simple = {
        AgentNotice.CALLER_HUNG_UP: CALLER_HUNG_UP,
        AgentNotice.HANDED_TO_ANOTHER: HANDED_TO_ANOTHER,
        AgentNotice.WILL_BE_HANDED: WILL_BE_HANDED,
    }
    return StatusMessage(notice, gettext(simple[notice]))


def _format(translated: str, params: Mapping[str, str]) -> str:
    """``translated % params``; a broken translation falls back to showing its raw text."""
    try:
        return translated % params
    except (KeyError, ValueError, TypeError):
        return translated
