"""The reports of R-5.3 for supervisors and admins: a page per report, and its exports.

- ``GET /reports?report=queues&from=YYYY-MM-DD&to=YYYY-MM-DD&queue=ID``: the report for
  the period (local days, both included; default: this month so far) with its chart and
  table;
- ``GET /reports/export/<fmt>`` with the same fields: the same report as CSV, XLSX or PDF
  (the PDF is the page's own report section, chart and all, printed by WeasyPrint in a
  worker thread, a bounded number at once, so the reactor keeps serving while it draws).

Rights (R-7.4): an admin sees the whole centre; a supervisor only the queues they have a
right to, and asking for another queue is refused. Bad dates get the page's error in the
reader's language.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from domain.enums import Role
from domain.refusals import BadInputError, ForbiddenError
from domain.texts import N_
from reports import exports, report_files
from reports.charts import chart_css
from reports.report_period import Period, month_so_far, parse_period
from reports.report_tables import REPORTS, ReportTable
from reports.store import figures
from web.access import RouteTable, roles
from web.request import RequestContext

HERE = Path(__file__).resolve().parent
PAGE = "/reports"
routes = RouteTable("reports", templates=HERE / "templates")
READERS = roles(Role.SUPERVISOR, Role.ADMIN)
NOT_YOUR_QUEUE = N_("You have no right to this queue.")
NO_SUCH_FORMAT = N_("There is no such export format.")
CHART_CSS = chart_css().encode("utf-8")  # the same for every chart: made once


@dataclass(frozen=True)
class Asked:
    """What the filter form asked for."""

    report: str
    period: Period
    queue_id: int | None

    def query(self) -> str:
        fields = [
            f"report={self.report}",
            f"from={self.period.first_day.isoformat()}",
            f"to={self.period.last_day.isoformat()}",
        ]
        if self.queue_id is not None:
            fields.append(f"queue={self.queue_id}")
        return "&".join(fields)


def scope_of(rc: RequestContext) -> figures.Scope:
    """An admin sees the whole centre; anyone else the queues they have a right to."""
    user = rc.signed_in
    return figures.Scope(None if user.role is Role.ADMIN else user.queue_ids)


def _asked(rc: RequestContext) -> Asked:
    form = rc.query()
    report = form.choice("report", tuple(REPORTS), required=False) or "queues"
    first, last = form.text("from", required=False), form.text("to", required=False)
    if first or last:
        period = parse_period(first, last or first, rc.web.time_zone)
    else:
        today = rc.now().astimezone(ZoneInfo(rc.web.time_zone)).date()
        period = month_so_far(today, rc.web.time_zone)
    queue_id = form.integer("queue", required=False, minimum=1)
    return Asked(report, period, queue_id)


async def _table(rc: RequestContext, asked: Asked) -> ReportTable:
    scope = scope_of(rc)
    if asked.queue_id is not None and scope.narrowed(asked.queue_id).queue_ids == frozenset():
        raise ForbiddenError(NOT_YOUR_QUEUE)
    return await rc.db(
        figures.report_table, asked.report, asked.period, scope.narrowed(asked.queue_id), rc.now()
    )


def _context(rc: RequestContext, asked: Asked, table: ReportTable, *, page: bool) -> dict[str, Any]:
    return report_files.report_context(rc.lang, asked, table, rc.now(), page=page)


@routes.route(PAGE, methods=["GET"], access=READERS)
async def report_page(rc: RequestContext) -> bytes:
    scope = scope_of(rc)
    try:
        asked = _asked(rc)
    except BadInputError as refusal:
        # The page again, with the error above the form and what was typed kept.
        today = rc.now().astimezone(ZoneInfo(rc.web.time_zone)).date()
        return rc.render(
            "reports/reports.html",
            status=400,
            error=rc.lang.refusal(refusal.message, refusal.params),
            typed={k: rc.query().raw(k) or "" for k in ("from", "to")},
            asked=Asked("queues", month_so_far(today, rc.web.time_zone), None),
            queues=await rc.db(figures.visible_queues, scope),
            reports=REPORTS,
            table=None,
        )
    table = await _table(rc, asked)
    return rc.render(
        "reports/reports.html",
        queues=await rc.db(figures.visible_queues, scope),
        error=None,
        typed=None,
        **_context(rc, asked, table, page=True),
    )


@routes.route(PAGE + "/chart.css", methods=["GET"], access=READERS)
async def chart_stylesheet(rc: RequestContext) -> bytes:
    rc.request.setHeader(b"Content-Type", b"text/css; charset=utf-8")
    rc.request.setHeader(b"Cache-Control", b"private, max-age=3600")
    return CHART_CSS


@routes.route(PAGE + "/export/<fmt>", methods=["GET"], access=READERS)
async def report_export(rc: RequestContext, fmt: str) -> bytes:
    if fmt not in exports.CONTENT_TYPES:
        raise BadInputError(NO_SUCH_FORMAT)
    asked = _asked(rc)
    table = await _table(rc, asked)
    assert rc.web.worker_threads is not None  # WebRoot always gives them
    body = await report_files.report_bytes(
        fmt,
        table,
        lang=rc.lang,
        templates=rc.web.templates,
        asked=asked,
        now=rc.now(),
        renders=rc.web.worker_threads,
    )
    name = report_files.file_name(asked.report, asked.period, fmt)
    rc.request.setHeader(b"Content-Type", exports.CONTENT_TYPES[fmt].encode("ascii"))
    rc.request.setHeader(b"Content-Disposition", f'attachment; filename="{name}"'.encode("ascii"))
    rc.request.setHeader(b"Cache-Control", b"no-store")
    return body
