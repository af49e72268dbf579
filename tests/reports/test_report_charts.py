"""The reports' charts (R-5.3) are static SVG drawn on the server: the same for the page,
the PDF and the e-mail, in the reader's language, and fit for the site's CSP."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from reports.charts import CHART_ID, chart_css, svg_chart
from reports.report_tables import ActivityRow, QueueRow, hours_table, queue_table
from web.i18n import LOCALE_DIR, load_po

SVG = "{http://www.w3.org/2000/svg}"


def queues() -> list[QueueRow]:
    return [
        QueueRow("Support", 4, 2, 10.0, 60.0, 0.5, 1, 0.25, 0.5, 0, 0, 1, 1),
        QueueRow("Sales", 1, 1, 5.0, 30.0, 1.0, 0, 0.0, 1.0, 0, 0, 0, 0),
    ]


def test_a_chart_is_static_svg_with_the_series_of_its_table() -> None:
    svg = svg_chart(queue_table(queues()), lambda m: m)
    root = ET.fromstring(svg)  # well-formed: it goes inline into HTML and into the PDF
    assert root.tag == f"{SVG}svg" and root.get("id") == CHART_ID
    assert "<script" not in svg
    legends = [t.text for t in root.iter(f"{SVG}text") if t.text]
    assert {"Answered", "Voicemail", "Callback", "Abandoned", "Closed"} <= set(legends)
    assert {"Support", "Sales"} <= set(legends)  # the x axis: the table's first column
    # counts get whole-number marks: Support stacks to 4
    marks = re.findall(r'<text x="-5"[^>]*>([^<]*)<', svg)
    assert marks == ["0", "1", "2", "3", "4"]


def test_the_page_chart_leaves_its_styles_to_the_sites_stylesheet() -> None:
    table = hours_table([ActivityRow(f"{h:02d}", h % 3, 0, 0, 0) for h in range(24)])
    inline = svg_chart(table, lambda m: m)
    page = svg_chart(table, lambda m: m, inline_style=False)
    assert "<style" in inline
    assert "<style" not in page and 'style="' not in page
    css = chart_css()
    assert f"#{CHART_ID} .plot > .background" in css and "&gt;" not in css
    assert "#2f855a" in css.lower() or "47, 133, 90" in css  # Hotline's green, first series
    # Every series has its own colour on the page, not only the first (voicemail, callback,
    # abandoned and closed all looked the same grey).
    assert all(f".color-{i}" in css for i in range(6))
    assert "#c53030" in css.lower() or "197, 48, 48" in css  # abandoned, in red


def test_the_chart_speaks_czech() -> None:
    cs = load_po(LOCALE_DIR / "cs" / "LC_MESSAGES" / "hotline.po")
    svg = svg_chart(queue_table(queues()), cs.gettext)
    assert "Hlasová schránka" in svg and "Opuštěné" in svg
    empty = svg_chart(queue_table([]), cs.gettext)
    assert "V tomto období žádné hovory" in empty
