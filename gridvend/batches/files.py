"""Reading a batch file (CSV or XLSX) into numbered rows, bounded before anything is parsed.

A file is measured before it is opened and read as a stream: the rows stop at the row cap or
after a run of empty rows, every cell is capped before any field looks at it, and an XLSX
workbook may not unpack to more than a fixed multiple of the upload limit.
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
from collections.abc import Generator, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from openpyxl.reader.excel import ExcelReader  # type: ignore[import-untyped]
from openpyxl.styles.stylesheet import apply_stylesheet  # type: ignore[import-untyped]
from openpyxl.worksheet._read_only import ReadOnlyWorksheet  # type: ignore[import-untyped]

# Data rows a file may hold.
MAX_ROWS = 5000

# (column, required), in the order of the template file.
Columns = Sequence[tuple[str, bool]]


class BatchFileError(Exception):
    """The file as a whole cannot be read: wrong type, no header, missing columns, too long."""


@dataclass(frozen=True)
class RowError:
    row: int  # as the spreadsheet numbers it: the header is row 1
    column: str
    message: str
    code: str = ""  # the domain error's stable code, when a service refused the row


Row = tuple[int, dict[str, str]]


class Rows(list[Row]):
    """A file's data rows, numbered as the spreadsheet numbers them, and the problems met while
    reading them: a cell over MAX_CELL_CHARS, a CSV line that could not be split into cells."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[RowError] = []


# Longest cell, in characters: about four times the longest field (an address, 255), room for
# any honest cell; a longer one is refused before any field parses it.
MAX_CELL_CHARS = 1000
# Columns read from each row; the templates have at most 18.
MAX_COLUMNS = 64
# A run of this many empty rows ends the data: spreadsheets often carry thousands of formatted
# but empty rows below it.
MAX_BLANK_RUN = 100
# How many times the upload limit an XLSX file (a zip archive) may unpack to.
XLSX_EXPANSION = 10


# A file's rows as lists of cell values, None for a line that could not be split into cells.
Lines = Generator[Sequence[Any] | None, None, None]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        # repr gives "1e-05" for small numbers; the edge parser refuses exponents.
        return format(Decimal(repr(value)), "f") if math.isfinite(value) else repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def _is_blank(values: Sequence[Any]) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values[:MAX_COLUMNS])


def _cell_too_long() -> str:
    return _("This cell holds more than %(max)d characters.") % {"max": MAX_CELL_CHARS}


def check_header(columns: Columns, header: list[str]) -> None:
    missing = [name for name, required in columns if required and name not in header]
    if missing:
        raise BatchFileError(
            _("The file lacks these columns: %(columns)s. Start from the template file.")
            % {"columns": ", ".join(missing)}
        )


def _table(columns: Columns, lines: Lines, max_rows: int) -> Rows:
    """The data rows below the header, from a file's lines (None for a line that could not be
    split), reading no further than the row cap or a run of MAX_BLANK_RUN empty lines."""
    first = next(lines, ())
    if first is None:
        raise BatchFileError(_("The first row, the column names, cannot be read."))
    if not first:
        raise BatchFileError(_("The file is empty."))
    header = [_text(v).lower().lstrip("\ufeff") for v in first[:MAX_COLUMNS]]
    check_header(columns, header)
    positions: dict[str, int] = {}
    for name, _required in columns:
        if name in header:
            positions[name] = header.index(name)
    rows = Rows()
    blank_run = 0
    for number, values in enumerate(lines, start=2):
        if values is not None and _is_blank(values):
            blank_run += 1
            if blank_run >= MAX_BLANK_RUN:
                break
            continue
        blank_run = 0
        if number > max_rows + 1:
            raise BatchFileError(
                _("A file may hold at most %(max)d rows; split it into smaller files.")
                % {"max": max_rows}
            )
        if values is None:
            rows.problems.append(
                RowError(
                    number,
                    "",
                    _(
                        "This row cannot be read: a cell holds more than %(max)d characters "
                        "or a quotation mark is not closed."
                    )
                    % {"max": MAX_CELL_CHARS},
                )
            )
            continue
        cells: dict[str, str] = {}
        for name, index in positions.items():
            text = _text(values[index]) if index < len(values) else ""
            if len(text) > MAX_CELL_CHARS:
                rows.problems.append(RowError(number, name, _cell_too_long()))
                text = ""
            cells[name] = text
        rows.append((number, cells))
    return rows


def _csv_lines(stream: IO[bytes]) -> Lines:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    # The limit is the csv module's, for the whole process; gridvend reads no other CSV.
    csv.field_size_limit(MAX_CELL_CHARS)
    reader = csv.reader(text)
    try:
        while True:
            try:
                yield next(reader)
            except StopIteration:
                return
            except csv.Error:
                yield None
    except UnicodeDecodeError:
        raise BatchFileError(_("The CSV file must be saved as UTF-8.")) from None
    finally:
        text.detach()  # the upload stays open for its owner


class _StreamedSheet(ReadOnlyWorksheet):
    """openpyxl's read-only sheet without its size scan.

    Where a sheet lacks a <dimension> element (openpyxl's own write-only files, many other
    writers), the read-only sheet parses every row when it is opened, to learn its size: a
    million empty rows took seconds and a hundred megabytes before the first row came back.
    The rows are bounded by the caller's max_row and max_col instead.
    """

    def _get_size(self) -> None:
        return None


def _xlsx_lines(stream: IO[bytes], max_rows: int) -> Lines:
    unreadable = _("The file is not a readable XLSX workbook.")
    try:
        with zipfile.ZipFile(stream) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise BatchFileError(unreadable) from None
    # zipfile never returns more than a member's declared size, so the sum is a true bound.
    if unpacked > XLSX_EXPANSION * settings.IMPORT_MAX_BYTES:
        raise BatchFileError(_("The workbook is too large once unpacked; split it."))
    stream.seek(0)
    try:
        reader = ExcelReader(stream, read_only=True, data_only=True)
        # load_workbook's steps up to the sheets, which it would open (and scan) every one of.
        reader.read_manifest()
        reader.read_strings()
        reader.read_workbook()
        apply_stylesheet(reader.archive, reader.wb)
        found = [
            (sheet, rel)
            for sheet, rel in reader.parser.find_sheets()
            if rel.target in reader.valid_files and "chartsheet" not in rel.Type
        ]
    except Exception:  # openpyxl raises many kinds for a damaged or foreign file
        raise BatchFileError(unreadable) from None
    try:
        if not found:
            return
        sheet, rel = found[0]
        rows = _StreamedSheet(reader.wb, sheet.name, rel.target, reader.shared_strings)
        try:
            yield from rows.iter_rows(
                min_row=1,
                max_row=max_rows + MAX_BLANK_RUN + 1,
                min_col=1,
                max_col=MAX_COLUMNS,
                values_only=True,
            )
        except Exception:
            raise BatchFileError(unreadable) from None
    finally:
        reader.archive.close()


def _size(stream: IO[bytes]) -> int:
    size = getattr(stream, "size", None)
    if not isinstance(size, int):
        stream.seek(0, io.SEEK_END)
        size = stream.tell()
    stream.seek(0)
    return size


def read_rows(
    name: str, source: bytes | IO[bytes], *, columns: Columns, max_rows: int = MAX_ROWS
) -> Rows:
    """The file's data rows, numbered as the spreadsheet numbers them, or BatchFileError.

    ``source`` is the upload itself (or its bytes): its size is checked before it is read.
    """
    lowered = name.lower()
    if not lowered.endswith((".xlsx", ".csv", ".txt")):
        raise BatchFileError(_("Upload a .csv or .xlsx file."))
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    limit = settings.IMPORT_MAX_BYTES
    if _size(stream) > limit:
        raise BatchFileError(
            _("The file is larger than %(size)s; split it into smaller files.")
            % {"size": filesizeformat(limit)}
        )
    lines = _xlsx_lines(stream, max_rows) if lowered.endswith(".xlsx") else _csv_lines(stream)
    with closing(lines):
        rows = _table(columns, lines, max_rows)
    if not rows and not rows.problems:
        raise BatchFileError(_("The file has a header but no rows."))
    return rows
