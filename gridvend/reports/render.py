"""A report as a file: CSV, XLSX or PDF, written from its :class:`ReportResult` alone.

Every file prints the same things: the title, the filters (label: value), who generated it and
when (in the utility's time zone), the notes, and each table with its subtotal and total rows
marked. Money is written in major units with the currency's decimals (the currency in the
column's heading), text cells so that no spreadsheet runs them as formulas (the list exports'
:func:`gridvend.exports.cells.safe_text`).

- CSV: UTF-8 with a byte-order mark, as the list exports; the header block, then one section per
  table (its title, the heading, the rows). A first column says "Subtotal" or "Total". Large
  reports are streamed by :func:`iter_csv`, which holds one batch of lines at a time.
- XLSX: a first sheet with the header block, then one sheet per table: typed cells (numbers,
  dates), bold headings, subtotals and totals, number formats and column widths, right to left
  in Arabic. Written by openpyxl's write-only workbook, which keeps no cell objects.
- PDF: an HTML template laid out by WeasyPrint with the shipped fonts (:mod:`gridvend.pdf`):
  A4, landscape when a table is wide, "page x of y" in the footer, table headings repeated on
  every page, ``dir="rtl"`` and Arabic shaping in Arabic, and the report's charts.

The PDF's practical limit is :data:`PDF_ROW_LIMIT` (1,000) rows over all tables. WeasyPrint lays
out the whole document in memory, and its time grows faster than the rows: measured on this 2-core
shared machine with ``benchmarks/render_bench.py``, 500 rows of 7 columns took 11 s and 211 MB
peak, 2,000 rows 59 s and 550 MB. At 1,000 rows (some 25 landscape pages) a PDF should take about
25 s (interpolated, not measured). A longer report is refused with REPORT_TOO_LARGE_FOR_PDF,
which points to CSV and XLSX: CSV streams at about 35 µs a row with flat memory (200,000 rows:
7 s, no growth in peak RSS).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import get_language_bidi
from django.utils.translation import gettext as _
from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
from openpyxl.styles import Alignment, Font  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

from gridvend.exports.cells import safe_text
from gridvend.identity.models import User
from gridvend.kernel.money import Money
from gridvend.pdf.layout import write_pdf
from gridvend.reports import charts
from gridvend.reports.base import CellKind, Column, ReportResult, ReportRow, ReportTable, RowRole
from gridvend.reports.errors import ReportFormatUnknown, ReportTooLargeForPdf

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": XLSX_TYPE,
    "pdf": "application/pdf",
}
FORMATS = tuple(CONTENT_TYPES)
PDF_ROW_LIMIT = 1000
# A table with more columns than this is printed on landscape pages.
PORTRAIT_COLUMNS = 6
# Lines of CSV produced under one language switch, then handed on.
CSV_BATCH = 500
# Rows read to size a sheet's columns (the rest are as wide as those).
WIDTH_SAMPLE = 500
MAX_WIDTH = 60
TENTH = Decimal("0.1")
WATT_HOUR = Decimal("0.001")
NUMERIC = frozenset({CellKind.INT, CellKind.MONEY, CellKind.KWH, CellKind.PERCENT})


def render(result: ReportResult, fmt: str, *, language: str) -> tuple[bytes, str, str]:
    """``result`` written as ``fmt`` (csv, xlsx or pdf) in ``language``: the file's content,
    its content type and its name (``<slug>-<yyyymmdd-hhmm>.<ext>``, in the utility's time)."""
    if fmt not in CONTENT_TYPES:
        raise ReportFormatUnknown(format=str(fmt)[:16])
    if fmt == "csv":
        body = "".join(iter_csv(result, language=language)).encode("utf-8")
    elif fmt == "xlsx":
        with translation.override(language):
            body = xlsx_bytes(result)
    else:
        with translation.override(language):
            body = pdf_bytes(result)
    return body, CONTENT_TYPES[fmt], file_name(result, fmt)


def file_name(result: ReportResult, ext: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", result.slug.lower()).strip("-")[:60] or "report"
    return f"{slug}-{local_time(result.generated_at):%Y%m%d-%H%M}.{ext}"


# What every format prints ------------------------------------------------------------------------


def local_time(instant: datetime) -> datetime:
    """``instant`` in the utility's time zone (an aware datetime)."""
    return instant.astimezone(ZoneInfo(settings.TIME_ZONE))


def generated_at_text(result: ReportResult) -> str:
    return f"{local_time(result.generated_at):%Y-%m-%d %H:%M} ({settings.TIME_ZONE})"


def user_text(user: User) -> str:
    name = (user.full_name or "").strip()
    return f"{name} ({user.username})" if name and name != user.username else user.username


def header_facts(result: ReportResult) -> list[tuple[str, str]]:
    """The header block after the title, label then value, in the active language: the
    filters, the user, the time of generation, then each note."""
    facts = [(str(label), str(value)) for label, value in result.filters]
    facts.append((_("Generated by"), user_text(result.generated_by)))
    facts.append((_("Generated at"), generated_at_text(result)))
    facts += [(_("Note"), str(note)) for note in result.notes]
    return facts


def role_text(row: ReportRow) -> str:
    if row.role == RowRole.TOTAL:
        return _("Total")
    if row.role == RowRole.SUBTOTAL:
        return _("Subtotal")
    return ""


def column_heading(column: Column, table: ReportTable) -> str:
    label = str(column.label)
    if column.kind == CellKind.MONEY and table.headings_name_currency():
        return f"{label} ({table_currency(table)})"
    return label


def table_currency(table: ReportTable) -> str:
    return table.currency or settings.CURRENCY


def row_currency(table: ReportTable, row: ReportRow) -> str:
    """The currency of the row's money cells (a detail table's row says its own)."""
    return table.currency_of(row) or settings.CURRENCY


def typed_value(kind: CellKind, value: Any, currency: str) -> Any:
    """A cell's value as a sheet holds it: int, Decimal (money in major units), date, a naive
    datetime in the utility's time, or text that cannot run as a formula; None when empty."""
    if value is None or value == "":
        return None
    try:
        if kind == CellKind.INT:
            return int(value)
        if kind == CellKind.MONEY:
            return Money(int(value), currency).to_major()
        if kind == CellKind.KWH:
            # To the watt-hour, as stored: a sum read back from SQLite carries float digits.
            number = value if isinstance(value, Decimal) else Decimal(str(value))
            return number.quantize(WATT_HOUR, rounding=ROUND_HALF_UP)
        if kind == CellKind.PERCENT:
            return value if isinstance(value, Decimal) else Decimal(str(value))
        if kind == CellKind.DATETIME and isinstance(value, datetime):
            return local_time(value).replace(tzinfo=None) if value.tzinfo else value
        if kind == CellKind.DATE and isinstance(value, date):
            return value
    except (TypeError, ValueError, ArithmeticError):
        pass
    # Text, or a value that is not of its column's kind: written as text, safely.
    return safe_text(str(value))


def _plain(value: Any) -> str:
    """A typed value as CSV text: numbers without grouping, times to the second."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def row_count(result: ReportResult) -> int:
    return sum(len(table.rows) for table in result.tables)


# CSV ---------------------------------------------------------------------------------------------


class _Echo:
    def write(self, value: str) -> str:
        return value


def iter_csv(result: ReportResult, *, language: str | None = None) -> Iterator[str]:
    """The CSV file as text chunks (the byte-order mark first): what a streamed response or a
    file writer takes, holding one batch of lines in memory at a time. Each batch is written
    with ``language`` active (by default the one active when the chunk is asked for), and the
    language is restored between chunks."""
    yield "\ufeff"  # so that spreadsheet programs read the file as UTF-8
    for batch in _csv_batches(result):
        if language is None:
            yield "".join(batch())
        else:
            with translation.override(language):
                text = "".join(batch())
            yield text


def _csv_batches(result: ReportResult) -> Iterator[Any]:
    writer = csv.writer(_Echo())

    def head() -> Iterator[str]:
        yield writer.writerow([safe_text(str(result.title))])
        for label, value in header_facts(result):
            yield writer.writerow([safe_text(label), safe_text(value)])

    yield head
    for table in result.tables:
        yield _csv_table_head(writer, table)
        for start in range(0, len(table.rows), CSV_BATCH):
            yield _csv_rows(writer, table, table.rows[start : start + CSV_BATCH])
        if table.truncated_note:
            note = str(table.truncated_note)
            yield lambda note=note: iter([writer.writerow([safe_text(note)])])


def _csv_table_head(writer: Any, table: ReportTable) -> Any:
    def lines() -> Iterator[str]:
        yield writer.writerow([])
        yield writer.writerow([safe_text(str(table.title))])
        yield writer.writerow(headings(table))

    return lines


def _csv_rows(writer: Any, table: ReportTable, rows: Sequence[ReportRow]) -> Any:
    def lines() -> Iterator[str]:
        for row in rows:
            yield writer.writerow(csv_cells(table, row))

    return lines


def csv_cells(table: ReportTable, row: ReportRow) -> list[str]:
    """One row of a table as CSV text: its role ("Subtotal", "Total" or nothing), then each
    column's value (also what an export job writes, batch by batch)."""
    currency = row_currency(table, row)
    return [
        role_text(row),
        *(_plain(typed_value(c.kind, row.cells.get(c.key), currency)) for c in table.columns),
    ]


def sheet_values(table: ReportTable, row: ReportRow) -> list[Any]:
    """One row of a table as typed sheet values (numbers, naive local times, guarded text), its
    role first: what an export job appends to a write-only XLSX sheet."""
    currency = row_currency(table, row)
    return [
        role_text(row) or None,
        *(typed_value(c.kind, row.cells.get(c.key), currency) for c in table.columns),
    ]


def headings(table: ReportTable) -> list[str]:
    """A table's heading row in every file: "Row type", then each column's heading."""
    return [_("Row type"), *(safe_text(column_heading(c, table)) for c in table.columns)]


# XLSX --------------------------------------------------------------------------------------------

_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=14)
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def _number_format(kind: CellKind, currency: str) -> str | None:
    if kind == CellKind.INT:
        return "#,##0"
    if kind == CellKind.MONEY:
        places = Money(0, currency).exponent
        return "#,##0" + ("." + "0" * places if places else "")
    if kind == CellKind.KWH:
        return "#,##0.0"
    if kind == CellKind.PERCENT:
        return "0.0#"
    if kind == CellKind.DATE:
        return "yyyy-mm-dd"
    if kind == CellKind.DATETIME:
        return "yyyy-mm-dd hh:mm:ss"
    return None


def _display_width(text: str) -> int:
    # Chinese characters take two columns of a spreadsheet's width unit.
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _sheet_title(title: str, taken: set[str]) -> str:
    base = _SHEET_FORBIDDEN.sub(" ", title).strip().strip("'")[:28] or "Sheet"
    name, number = base, 2
    while name.lower() in taken:
        name = f"{base[:25]} {number}"
        number += 1
    taken.add(name.lower())
    return name


def xlsx_bytes(result: ReportResult) -> bytes:
    """The workbook in the active language (right to left in Arabic)."""
    workbook = Workbook(write_only=True)
    rtl = get_language_bidi()
    taken: set[str] = set()

    sheet = workbook.create_sheet(title=_sheet_title(_("Report"), taken))
    sheet.sheet_view.rightToLeft = rtl
    sheet.column_dimensions["A"].width = 24
    sheet.column_dimensions["B"].width = 60
    sheet.append([_cell(sheet, safe_text(str(result.title)), font=_TITLE)])
    for label, value in header_facts(result):
        sheet.append([_cell(sheet, safe_text(label), font=_BOLD), safe_text(value)])

    for table in result.tables:
        sheet = workbook.create_sheet(title=_sheet_title(str(table.title), taken))
        sheet.sheet_view.rightToLeft = rtl
        _write_table(sheet, result, table)

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _cell(sheet: Any, value: Any, *, font: Font | None = None, fmt: str | None = None) -> Any:
    cell = WriteOnlyCell(sheet, value=value)
    if font is not None:
        cell.font = font
    if fmt is not None:
        cell.number_format = fmt
    return cell


def _write_table(sheet: Any, result: ReportResult, table: ReportTable) -> None:
    currency = table_currency(table)
    columns = list(table.columns)
    heading_row = headings(table)
    formats = [_number_format(c.kind, currency) for c in columns]

    # Widths from the headings and a sample of rows, set before the first row is written.
    widths = [_display_width(h) for h in heading_row]
    widths[0] = max(widths[0], 8)
    for row in table.rows[:WIDTH_SAMPLE]:
        widths[0] = max(widths[0], _display_width(role_text(row)))
        for index, column in enumerate(columns, start=1):
            value = typed_value(column.kind, row.cells.get(column.key), currency)
            shown = f"{value:,}" if isinstance(value, int | Decimal) else _plain(value)
            widths[index] = max(widths[index], _display_width(shown))
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = min(width + 2, MAX_WIDTH)
    sheet.freeze_panes = "B4"

    sheet.append([_cell(sheet, safe_text(str(result.title)), font=_TITLE)])
    sheet.append([_cell(sheet, safe_text(str(table.title)), font=_BOLD)])
    sheet.append([_cell(sheet, heading, font=_BOLD) for heading in heading_row])
    for row in table.rows:
        font = _BOLD if row.role != RowRole.DETAIL else None
        cells = [_cell(sheet, role_text(row) or None, font=font)]
        in_currency = row_currency(table, row)
        # A detail row may be in another currency than the table's: its money has its decimals.
        row_formats = (
            formats
            if in_currency == currency
            else [_number_format(c.kind, in_currency) for c in columns]
        )
        for column, fmt in zip(columns, row_formats, strict=True):
            value = typed_value(column.kind, row.cells.get(column.key), in_currency)
            cells.append(_cell(sheet, value, font=font, fmt=fmt if value is not None else None))
        sheet.append(cells)
    if table.truncated_note:
        note = _cell(sheet, safe_text(str(table.truncated_note)))
        note.alignment = Alignment(wrap_text=False)
        sheet.append([note])


# PDF ---------------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"%\((page|pages)\)s")


def _css_string(text: str) -> str:
    # Also no "<", so that the sentence cannot close the <style> it is printed in.
    escaped = (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ").replace("<", "\\3c ")
    )
    return f'"{escaped}"'


def page_counter_css() -> str:
    """The footer's "page x of y" as CSS content, from one translatable sentence."""
    sentence = _("Page %(page)s of %(pages)s")
    parts: list[str] = []
    position = 0
    for match in _PLACEHOLDER.finditer(sentence):
        if match.start() > position:
            parts.append(_css_string(sentence[position : match.start()]))
        parts.append(f"counter({match.group(1)})")
        position = match.end()
    if position < len(sentence):
        parts.append(_css_string(sentence[position:]))
    return " ".join(parts)


def _pdf_text(kind: CellKind, value: Any, currency: str) -> str:
    """A cell as a person reads it: numbers grouped, kWh to a tenth, times to the minute."""
    typed = typed_value(kind, value, currency)
    if typed is None:
        return ""
    if kind == CellKind.KWH and isinstance(typed, Decimal):
        return f"{typed.quantize(TENTH, rounding=ROUND_HALF_UP):,f}"
    if kind == CellKind.PERCENT and isinstance(typed, Decimal):
        return f"{typed:,f}%"
    if isinstance(typed, int | Decimal):
        return f"{typed:,}" if isinstance(typed, int) else f"{typed:,f}"
    if isinstance(typed, datetime):
        return f"{typed:%Y-%m-%d %H:%M}"
    if isinstance(typed, date):
        return typed.isoformat()
    # Text is shown as typed: the apostrophe that guards a spreadsheet means nothing here.
    return str(value)


def _pdf_table(table: ReportTable) -> dict[str, Any]:
    columns = list(table.columns)
    return {
        "title": str(table.title),
        "columns": [
            {"label": column_heading(c, table), "numeric": c.kind in NUMERIC, "kind": c.kind}
            for c in columns
        ],
        "rows": [
            {
                "role": row.role.value,
                "role_text": role_text(row),
                "depth": min(max(row.depth, 0), 5),
                "cells": [
                    {
                        "text": _pdf_text(c.kind, row.cells.get(c.key), row_currency(table, row)),
                        "numeric": c.kind in NUMERIC,
                        "ltr": c.kind != CellKind.TEXT,
                    }
                    for c in columns
                ],
            }
            for row in table.rows
        ],
        "truncated_note": str(table.truncated_note),
    }


def pdf_context(result: ReportResult) -> dict[str, Any]:
    wide = any(len(table.columns) > PORTRAIT_COLUMNS for table in result.tables)
    return {
        "title": str(result.title),
        "facts": header_facts(result),
        "tables": [_pdf_table(table) for table in result.tables],
        "charts": [
            {"title": str(spec.title), "uri": charts.data_uri(charts.chart_svg_for_pdf(spec))}
            for spec in result.charts
        ],
        "landscape": wide,
        "page_counter": page_counter_css(),
    }


def pdf_bytes(result: ReportResult) -> bytes:
    """The PDF in the active language; refused past :data:`PDF_ROW_LIMIT` rows."""
    rows = row_count(result)
    if rows > PDF_ROW_LIMIT:
        raise ReportTooLargeForPdf(rows=rows, limit=PDF_ROW_LIMIT)
    page = render_to_string("reports/export_pdf.html", pdf_context(result))
    return write_pdf(page)
