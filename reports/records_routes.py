"""The call records' pages (R-5.1, R-5.2): thin routes over ``reports.store.records``.

- ``GET /calls`` -- the filtered list, newest first, a keyset page at a time (``after``).
- ``GET /calls.csv`` -- exactly the filtered set as CSV, streamed in keyset batches: each
  batch is read in a transaction of its own and written when the connection can take it,
  so a million rows never sit in memory (nor hold one transaction open).
- ``GET /calls/<id>`` -- the call's page: its timeline, recordings and other legs.
- ``GET /calls/<id>/recordings/<rid>`` -- play (HTTP Range requests, ``web.files``) or, with
  ``?download=1``, download a recording.
- ``POST /calls/<id>/recordings/<rid>/delete`` -- supervisors and admins delete a recording:
  the file goes, the record stays, the audit log says who and when (shown on the call).

Who sees what is the store's :class:`Viewer` (R-7.4): a call of a queue without the right
answers 404 everywhere, its recordings too.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from zope.interface import implementer

from domain.call_labels import CALL_STATE_LABELS, DIRECTION_LABELS
from domain.enums import CallState, Direction, Role
from domain.texts import N_
from reports import records as core
from reports.store import records as store
from web.access import SIGNED_IN, RouteTable, roles
from web.files import file_inside, send_file
from web.request import RequestContext

HERE = Path(__file__).resolve().parent
LIST = "/calls"
PAGE_SIZE = 50
CSV_BATCH = 5000
NOT_AVAILABLE = N_("The recording of this call is not available")

_log = Logger()

routes = RouteTable("records", templates=HERE / "templates")


def _zone(rc: RequestContext) -> ZoneInfo:
    return ZoneInfo(rc.web.time_zone)


def read_filter(rc: RequestContext) -> core.CallFilter:
    """The filter of the request's query (400 in the page's layout when it is wrong)."""
    query = rc.query()
    return core.parse_call_filter(query.raw, _zone(rc))


def read_cursor(rc: RequestContext) -> core.Cursor | None:
    after = rc.query().raw("after")
    return core.Cursor.decode(after) if after else None


def _viewer(rc: RequestContext) -> Deferred[store.Viewer]:
    return rc.db(store.viewer_of, rc.signed_in.agent_id)


def _labels(rc: RequestContext) -> dict[str, Any]:
    def label(table: dict[str, str]) -> Callable[[str], str]:
        return lambda v: rc.lang.gettext(table[v]) if v in table else v

    return {
        "direction_label": label(DIRECTION_LABELS),
        "state_label": label(CALL_STATE_LABELS),
        "ring_label": label(core.RING_OUTCOME_LABELS),
        "ivr_label": label(core.IVR_OUTCOME_LABELS),
    }


@routes.route(LIST, methods=["GET"], access=SIGNED_IN)
async def call_list(rc: RequestContext) -> bytes:
    """R-5.1: the call records the person may see, filtered, a keyset page at a time."""
    flt = read_filter(rc)
    after = read_cursor(rc)
    viewer = await _viewer(rc)
    page = await rc.db(store.list_calls, viewer, flt, after, PAGE_SIZE)
    choices = await rc.db(store.filter_choices, viewer)
    fields = list(flt.fields)
    next_url = (
        f"{LIST}?" + urlencode([*fields, ("after", page.next_cursor.encode())])
        if page.next_cursor
        else None
    )
    return rc.render(
        "records/call_list.html",
        page=page,
        flt=flt,
        values=dict(fields),
        choices=choices,
        directions=[d.value for d in Direction],
        states=[s.value for s in CallState],
        next_url=next_url,
        first_url=f"{LIST}?" + urlencode(fields) if after else None,
        csv_url=f"{LIST}.csv" + ("?" + urlencode(fields) if fields else ""),
        mmss=core.duration_text,
        **_labels(rc),
    )


@implementer(IPushProducer)
class _Backpressure:
    """Lets a coroutine wait while the connection's buffer is full (a push producer that
    Twisted pauses and resumes), and tells it when the browser went away."""

    def __init__(self) -> None:
        self._waiting: Deferred[None] | None = None
        self.paused = False
        self.stopped = False

    def ready(self) -> Deferred[None]:
        if not self.paused or self.stopped:
            return succeed(None)
        self._waiting = Deferred()
        return self._waiting

    def _release(self) -> None:
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting.callback(None)

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        self._release()

    def stopProducing(self) -> None:
        self.stopped = True
        self._release()


def csv_rows(
    records: tuple[store.CallRecord, ...], zone: ZoneInfo, label: Callable[[str], str]
) -> list[list[Any]]:
    """The CSV lines of some records: times in the centre's zone, durations in seconds."""
    return [
        [
            r.id,
            r.started_at.astimezone(zone).isoformat(timespec="seconds"),
            r.from_number,
            r.to_number,
            r.did,
            r.queue_name,
            r.agent_name,
            r.direction,
            r.state,
            "" if r.total_s is None else r.total_s,
            r.ringing_s,
            "" if r.talking_s is None else r.talking_s,
            r.hangup_cause,
            label("yes") if r.overflowed else "",
            label("in") if r.transferred_in else (label("out") if r.transferred_out else ""),
            r.reason_path,
            r.rt_number,
            r.recordings,
        ]
        for r in records
    ]


_YES_IN_OUT = {
    "yes": N_("yes"),
    "in": N_("transferred in"),
    "out": N_("transferred out"),
}


@routes.route(LIST + ".csv", methods=["GET"], access=SIGNED_IN)
async def call_csv(rc: RequestContext) -> bytes:
    """R-5.1: exactly the filtered set as CSV, streamed in keyset batches (flat memory)."""
    flt = read_filter(rc)
    viewer = await _viewer(rc)
    zone = _zone(rc)
    request = rc.request
    request.setHeader(b"Content-Type", b"text/csv; charset=utf-8")
    request.setHeader(b"Content-Disposition", b'attachment; filename="calls.csv"')
    request.setHeader(b"Cache-Control", b"no-store")
    flow = _Backpressure()
    request.registerProducer(flow, True)

    def label(key: str) -> str:
        return rc.lang.gettext(_YES_IN_OUT[key])

    try:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        # A BOM so that spreadsheet programs read the UTF-8 (Czech names) right.
        buffer.write("\ufeff")
        writer.writerow([rc.lang.gettext(title) for _key, title in core.CSV_COLUMNS])
        request.write(buffer.getvalue().encode("utf-8"))
        after: core.Cursor | None = None
        while not flow.stopped:
            page = await rc.db(store.list_calls, viewer, flt, after, CSV_BATCH)
            buffer = io.StringIO()
            csv.writer(buffer).writerows(csv_rows(page.rows, zone, label))
            request.write(buffer.getvalue().encode("utf-8"))
            if page.next_cursor is None:
                break
            after = page.next_cursor
            await flow.ready()
    finally:
        request.unregisterProducer()
    return b""


@routes.route(LIST + "/<int:call_id>", methods=["GET"], access=SIGNED_IN)
async def call_page(rc: RequestContext, call_id: int) -> bytes:
    """R-5.1: a call's timeline; R-5.2: its recordings, with their deletions."""
    viewer = await _viewer(rc)
    detail = await rc.db(store.call_detail, viewer, call_id)
    playable = {
        rec.id
        for rec in detail.recordings
        if rec.path and file_inside(rc.web.recordings_dir, rec.path) is not None
    }
    return rc.render(
        "records/call_page.html",
        detail=detail,
        call=detail.record,
        playable=playable,
        may_delete=rc.signed_in.role in (Role.SUPERVISOR, Role.ADMIN),
        mmss=core.duration_text,
        **_labels(rc),
    )


def _recording_url(call_id: int, recording_id: int) -> str:
    return f"{LIST}/{call_id}/recordings/{recording_id}"


@routes.route(
    LIST + "/<int:call_id>/recordings/<int:recording_id>", methods=["GET"], access=SIGNED_IN
)
async def recording(rc: RequestContext, call_id: int, recording_id: int) -> bytes:
    """R-5.2: play (ranges) or download a recording of a call one may see."""
    viewer = await _viewer(rc)
    relative = await rc.db(store.recording_path, viewer, call_id, recording_id)
    path = file_inside(rc.web.recordings_dir, relative)
    if path is not None and rc.query().raw("download") == "1":
        name = f"call-{call_id}-{recording_id}{path.suffix}"
        rc.request.setHeader(
            b"Content-Disposition", f'attachment; filename="{name}"'.encode("ascii")
        )
    return await send_file(rc, path, missing=NOT_AVAILABLE)


@routes.route(
    LIST + "/<int:call_id>/recordings/<int:recording_id>/delete",
    methods=["POST"],
    access=roles(Role.SUPERVISOR, Role.ADMIN),
)
async def delete_recording(rc: RequestContext, call_id: int, recording_id: int) -> bytes:
    """R-5.2: the file goes, the record stays; the audit log keeps who and when."""
    viewer = await _viewer(rc)
    relative = await rc.db(store.delete_recording, viewer, call_id, recording_id, rc.now())
    path = file_inside(rc.web.recordings_dir, relative)
    if path is not None:
        try:
            path.unlink()
        except OSError as error:
            # The record says deleted; a file left behind is an operator's clean-up.
            _log.warn("recording {path} not removed: {e}", path=str(path), e=str(error))
    return rc.redirect(f"{LIST}/{call_id}#recordings")
