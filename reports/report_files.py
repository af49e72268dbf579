"""A report as the file a person downloads or receives by e-mail (R-5.3, R-5.5): CSV, XLSX
or PDF in a language, with its title and file name. The export route and the scheduled
sending both make their files here, so a mailed report is the downloaded one. The PDF is
printed in a worker thread (``web.worker_threads``), never on the reactor's thread: drawing
it takes long enough to stall the calls.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.texts import N_
from reports import exports
from reports.charts import svg_chart
from reports.report_period import Period
from reports.report_tables import REPORTS, Kind, ReportTable
from web.i18n import Language
from web.rendering import Templates
from web.worker_threads import WorkerThreads

TITLE = N_("%(report)s, %(first)s – %(last)s")
FORMATS = tuple(exports.CONTENT_TYPES)


def document_title(lang: Language, report: str, period: Period) -> str:
    """``Queues, 2026-03-01 – 2026-03-31`` in ``lang``."""
    return lang.refusal(
        TITLE,
        {
            "report": lang.gettext(REPORTS[report]),
            "first": period.first_day.isoformat(),
            "last": period.last_day.isoformat(),
        },
    )


def file_name(report: str, period: Period, fmt: str) -> str:
    return f"{report}-{period.first_day.isoformat()}-{period.last_day.isoformat()}.{fmt}"


def report_context(
    lang: Language, asked: Any, table: ReportTable, now: datetime, *, page: bool
) -> dict[str, Any]:
    """What the page's and the PDF's report templates show."""
    gettext = lang.gettext
    locale = lang.format_locale
    return {
        "asked": asked,
        "table": table,
        # The page takes the chart's styles from /reports/chart.css (the site's CSP refuses
        # inline styles); a PDF or an e-mail has no such rule and keeps them in the SVG.
        "chart": svg_chart(table, gettext, inline_style=not page),
        "cell": lambda value, kind: exports.display(value, kind, gettext, locale),
        "numeric": (Kind.COUNT, Kind.SECONDS, Kind.RATIO),
        "reports": REPORTS,
        "generated_at": now,
    }


async def report_bytes(
    fmt: str,
    table: ReportTable,
    *,
    lang: Language,
    templates: Templates,
    asked: Any,
    now: datetime,
    renders: WorkerThreads,
) -> bytes:
    """The report as a ``fmt`` file (one of :data:`FORMATS`); ``asked`` has ``report`` and
    ``period``. A PDF's HTML is made here, its printing waits for a turn of ``renders``."""
    title = document_title(lang, asked.report, asked.period)
    if fmt == "csv":
        return exports.csv_bytes(table, lang.gettext)
    if fmt == "xlsx":
        return exports.xlsx_bytes(table, lang.gettext, title)
    if fmt == "pdf":
        html = templates.render(
            "reports/report_document.html",
            lang,
            title=title,
            **report_context(lang, asked, table, now, page=False),
        )
        return await renders.run(exports.pdf_bytes, html)
    raise ValueError(f"no report format {fmt!r}")
