"""A report's chart as SVG, drawn on the server (R-5.3) with pygal.

The same SVG goes into the page, the PDF (WeasyPrint draws inline SVG) and the e-mail, so
they show the same chart. pygal writes plain SVG without needing a browser or a native
library; its optional JavaScript tooltips are switched off, so the SVG is static and can
sit inline in a page under the site's content security policy. Pure: the caller passes
``gettext`` for the labels.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pygal
from pygal.style import Style

from reports.report_tables import ChartKind, Kind, ReportTable

Translate = Callable[[str], str]

# Hotline's colours in the order of the series (answered first, in green).
STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#1f2933",
    foreground_strong="#1f2933",
    foreground_subtle="#7b8794",
    colors=("#2f855a", "#2b6cb0", "#d69e2e", "#c53030", "#718096", "#805ad5"),
    font_family="DejaVu Sans, sans-serif",
    label_font_size=11,
    major_label_font_size=11,
    legend_font_size=12,
    title_font_size=14,
)

_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.DOTALL)

# Past this many bars the x labels would overlap: pygal shows every n-th one.
_MAX_X_LABELS = 31


def svg_chart(table: ReportTable, gettext: Translate, *, width: int = 900) -> str:
    """The chart of ``table``: its first column along x, its chart series as bars or lines."""
    kind = table.chart.kind
    config = {
        "style": STYLE,
        "width": width,
        "height": 320,
        "js": [],  # static SVG: no script from a CDN
        "disable_xml_declaration": True,
        "legend_at_bottom": True,
        "legend_at_bottom_columns": min(len(table.chart.series), 5),
        "show_minor_x_labels": len(table.rows) <= _MAX_X_LABELS,
        "x_label_rotation": 30 if len(table.rows) > 8 else 0,
        "truncate_label": 24,
        "print_values": False,
        "no_data_text": gettext("No calls in this period"),
        "explicit_size": True,
    }
    chart: pygal.Graph
    if kind is ChartKind.LINE:
        chart = pygal.Line(**config)
    elif kind is ChartKind.STACKED:
        chart = pygal.StackedBar(**config)
    else:
        chart = pygal.Bar(**config)
    first = table.columns[0]
    labels = [_label(cell, first.kind, gettext) for cell in table.values(first.key)]
    chart.x_labels = labels
    if len(labels) > _MAX_X_LABELS:
        chart.x_labels_major_every = max(1, len(labels) // 12)
    if any(table.rows):
        for key in table.chart.series:
            column = table.columns[table.column(key)]
            values = [_number(v) for v in table.values(key)]
            chart.add(gettext(column.label) if column.translate else column.label, values)
    svg: str = chart.render(is_unicode=True)
    # pygal always embeds its config as an inline script for its tooltips; the chart needs
    # none, and the site's Content-Security-Policy would refuse (and report) it.
    return _SCRIPT.sub("", svg)


def _label(cell: object, kind: Kind, gettext: Translate) -> str:
    if cell is None:
        return ""
    return gettext(str(cell)) if kind is Kind.TERM else str(cell)


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None
