"""A report's chart as SVG, drawn on the server (R-5.3) with pygal.

The same SVG goes into the page, the PDF (WeasyPrint draws inline SVG) and the e-mail, so
they show the same chart. pygal writes plain SVG without needing a browser or a native
library; its optional JavaScript tooltips are switched off, so the SVG is static and can
sit inline in a page under the site's content security policy. Pure: the caller passes
``gettext`` for the labels.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import pygal
from pygal.style import Style

from reports.report_tables import Chart, ChartKind, Column, Kind, ReportTable

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
_STYLE_ELEMENT = re.compile(r"<style\b[^>]*>.*?</style>", re.DOTALL)
_STYLE_TEXT = re.compile(r"<style\b[^>]*>(.*?)</style>", re.DOTALL)
_STYLE_ATTRIBUTE = re.compile(r'\sstyle="[^"]*"')
CHART_ID = "chart-report"

# Past this many bars the x labels would overlap: pygal shows every n-th one.
_MAX_X_LABELS = 31


def svg_chart(
    table: ReportTable, gettext: Translate, *, width: int = 900, inline_style: bool = True
) -> str:
    """The chart of ``table``: its first column along x, its chart series as bars or lines.

    ``inline_style`` False: without pygal's ``<style>`` and ``style`` attributes, for a page
    under the site's Content-Security-Policy, which takes them from :func:`chart_css` served
    from the site; the PDF and the e-mail keep them inline."""
    svg = _render(table, gettext, width)
    if inline_style:
        return svg
    return _STYLE_ATTRIBUTE.sub("", _STYLE_ELEMENT.sub("", svg))


def chart_css() -> str:
    """pygal's stylesheet for the charts of :func:`svg_chart`, as one file for the page.

    Every chart is drawn with the same style and the same element id (``chart-report``),
    so the rules are the same for all; they are collected from one chart of each kind."""
    rules: list[str] = []
    for kind in ChartKind:
        # As many series as there are colours: pygal writes the rule of a series' colour
        # only when a chart has that series, and a page's chart may have all of them.
        series = tuple(f"y{i}" for i in range(len(STYLE.colors)))
        probe = ReportTable(
            "css",
            "",
            (Column("x", "", Kind.TEXT), *(Column(key, "", Kind.COUNT) for key in series)),
            (("a", *(1 for _ in series)),),
            Chart(kind, series),
        )
        for escaped in _STYLE_TEXT.findall(_render(probe, lambda m: m, 900)):
            found = html.unescape(escaped)  # the SVG's text escapes ">" in child selectors
            if found not in rules:
                rules.append(found)
    # The tooltips need pygal's script, which the page does not load: keep them hidden.
    rules.append(f"#{CHART_ID} .tooltip {{ opacity: 0; }}")
    return "\n".join(rules)


def _render(table: ReportTable, gettext: Translate, width: int) -> str:
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
    # One fixed id instead of a random one: pygal scopes its CSS rules by it, so the page's
    # stylesheet (chart_css) fits every chart.
    chart.uuid = CHART_ID.removeprefix("chart-")
    first = table.columns[0]
    labels = [_label(cell, first.kind, gettext) for cell in table.values(first.key)]
    chart.x_labels = labels
    if len(labels) > _MAX_X_LABELS:
        chart.x_labels_major_every = max(1, len(labels) // 12)
    if any(table.rows):
        _whole_number_axis(chart, table)  # only with data: pygal fails on marks without
        for key in table.chart.series:
            column = table.columns[table.column(key)]
            values = [_number(v) for v in table.values(key)]
            chart.add(gettext(column.label) if column.translate else column.label, values)
    svg: str = chart.render(is_unicode=True)
    # pygal always embeds its config as an inline script for its tooltips; the chart needs
    # none, and the site's Content-Security-Policy would refuse (and report) it.
    return _SCRIPT.sub("", svg)


def _whole_number_axis(chart: pygal.Graph, table: ReportTable) -> None:
    """Counts of a few calls get the marks 0, 1, 2… rather than pygal's 0.1 steps."""
    kinds = {table.columns[table.column(key)].kind for key in table.chart.series}
    if kinds != {Kind.COUNT}:
        return
    per_row = [[_number(v) or 0.0 for v in table.values(key)] for key in table.chart.series]
    if table.chart.kind is ChartKind.STACKED:
        top = max((sum(values) for values in zip(*per_row, strict=True)), default=0.0)
    else:
        top = max((max(values, default=0.0) for values in per_row), default=0.0)
    if top <= 10:
        chart.y_labels = list(range(0, max(1, int(top)) + 1))


def _label(cell: object, kind: Kind, gettext: Translate) -> str:
    if cell is None:
        return ""
    return gettext(str(cell)) if kind is Kind.TERM else str(cell)


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None
