"""A report as the page shows its cells, and as a CSV, XLSX or PDF file (R-5.3, R-5.5).

Every format starts from the same :class:`~reports.report_tables.ReportTable`, so the page
and the files agree cell for cell. CSV carries plain numbers with the unit in the header
(seconds, percent) for spreadsheets in any language; XLSX (XlsxWriter: well kept, writes
real number formats, nothing to install beside it) keeps numbers as numbers with a
duration or percent format; PDF is WeasyPrint printing the page's own HTML, chart and
all. Pure: the caller passes ``gettext`` and the locale.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import xlsxwriter
from babel.numbers import format_decimal, format_percent

from reports.report_tables import Cell, Column, Kind, ReportTable

Translate = Callable[[str], str]

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def duration_text(seconds: float) -> str:
    """``1:02:03`` or ``2:03``: hours only when there are some."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def display(cell: Cell, kind: Kind, gettext: Translate, locale: str) -> str:
    """A cell as the page and the PDF show it, in the reader's language."""
    if cell is None:
        return "—"
    if kind is Kind.TERM:
        return gettext(str(cell))
    if kind is Kind.SECONDS and isinstance(cell, int | float):
        return duration_text(cell)
    if kind is Kind.RATIO and isinstance(cell, int | float):
        return format_percent(cell, "#,##0.0 %", locale=locale)
    if kind is Kind.COUNT and isinstance(cell, int | float):
        return format_decimal(cell, "#,##0", locale=locale)
    return str(cell)


def label_of(column: Column, gettext: Translate) -> str:
    return gettext(column.label) if column.translate else column.label


def header(column: Column, gettext: Translate) -> str:
    """A file's column header: the label, with the unit of a plain number."""
    label = label_of(column, gettext)
    if column.kind is Kind.SECONDS:
        return f"{label} (s)"
    if column.kind is Kind.RATIO:
        return f"{label} (%)"
    return label


def plain(cell: Cell, kind: Kind, gettext: Translate) -> str | int | float:
    """A cell as a CSV value: whole seconds, a percentage to one decimal, a translated term."""
    if cell is None:
        return ""
    if kind is Kind.TERM:
        return gettext(str(cell))
    if kind is Kind.SECONDS and isinstance(cell, int | float):
        return round(cell)
    if kind is Kind.RATIO and isinstance(cell, int | float):
        return round(cell * 100, 1)
    return cell


def csv_bytes(table: ReportTable, gettext: Translate) -> bytes:
    """UTF-8 with a byte-order mark, so a spreadsheet opens Czech names right."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([header(c, gettext) for c in table.columns])
    for row in table.rows:
        cells = zip(row, table.columns, strict=True)
        writer.writerow([_safe(plain(cell, c.kind, gettext)) for cell, c in cells])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _safe(value: str | int | float) -> str | int | float:
    """A text a spreadsheet would run as a formula is written as text (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def xlsx_bytes(table: ReportTable, gettext: Translate, title: str) -> bytes:
    """One sheet: the title and period in the first row, then the table."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False})
    sheet = book.add_worksheet(gettext(table.title)[:31])
    bold = book.add_format({"bold": True})
    formats = {
        Kind.SECONDS: book.add_format({"num_format": "[h]:mm:ss"}),
        Kind.RATIO: book.add_format({"num_format": "0.0%"}),
        Kind.COUNT: book.add_format({"num_format": "0"}),
    }
    sheet.write(0, 0, title, bold)
    for col, column in enumerate(table.columns):
        label = label_of(column, gettext)
        sheet.write(2, col, label, bold)
        sheet.set_column(col, col, max(10, min(40, len(label) + 2)))
    for r, row in enumerate(table.rows, start=3):
        for col, (cell, column) in enumerate(zip(row, table.columns, strict=True)):
            if cell is None:
                continue
            if column.kind is Kind.SECONDS and isinstance(cell, int | float):
                # A spreadsheet's time is a fraction of a day.
                sheet.write_number(r, col, round(cell) / 86400, formats[Kind.SECONDS])
            elif column.kind in formats and isinstance(cell, int | float):
                sheet.write_number(r, col, cell, formats[column.kind])
            elif column.kind is Kind.TERM:
                sheet.write_string(r, col, gettext(str(cell)))
            else:
                sheet.write_string(r, col, str(cell))
    book.close()
    return out.getvalue()


def pdf_bytes(html: str) -> bytes:
    """The page's HTML printed by WeasyPrint (inline SVG and all), A4 landscape by its CSS."""
    from weasyprint import HTML  # imported here: loading it takes a moment and Pango

    pdf: bytes = HTML(string=html).write_pdf()
    return pdf
