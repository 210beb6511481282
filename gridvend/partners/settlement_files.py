"""Reading a partner's daily settlement file (docs/settlement-files.md) into checked lines.

The file is measured before it is parsed (bytes, then lines), read with the csv module from a
bounded in-memory stream, and every cell is checked by the shared bounded parsers. A wrong header
refuses the file at once; bad rows are all collected, each with its line number and a stable
code, and then refuse the file whole, so that a reconciliation never runs on part of a file.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from gridvend.batches.files import MAX_CELL_CHARS
from gridvend.kernel.inputs import InvalidInput, parse_int
from gridvend.partners.errors import (
    SettlementFileBadHeader,
    SettlementFileBadRows,
    SettlementFileNotUtf8,
    SettlementFileTooLarge,
    SettlementFileTooManyRows,
)

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 200_000
# Problems listed in the refusal; the count says how many there were in all.
MAX_PROBLEMS = 1000
# The largest amount one line may carry (minor units): far above any sale, far below overflow.
MAX_AMOUNT_MINOR = 10**13

COLUMNS = (
    "business_date",
    "request_id",
    "sale_reference",
    "meter_number",
    "amount_minor",
    "currency",
    "type",
    "partner_time",
)
SALE = "SALE"
REVERSAL = "REVERSAL"

_REQUEST_ID = re.compile(r"^[\x21-\x7e](?:[\x20-\x7e]{0,62}[\x21-\x7e])?$", re.ASCII)
_SALE_REFERENCE = re.compile(r"^[A-Za-z0-9-]{1,24}$", re.ASCII)
_METER = re.compile(r"^[0-9]{1,20}$", re.ASCII)
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", re.ASCII)
_CURRENCY = re.compile(r"^[A-Z]{3}$", re.ASCII)
# ISO 8601 with seconds and an offset or Z, e.g. 2026-03-01T09:15:00+02:00.
_TIME = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})$",
    re.ASCII,
)


@dataclass(frozen=True)
class SettlementLine:
    """One line of the file as checked: the partner's word about one request."""

    line: int
    request_id: str
    sale_reference: str
    meter_number: str
    amount_minor: int
    type: str  # SALE or REVERSAL
    partner_time: datetime


@dataclass(frozen=True)
class Problem:
    line: int
    code: str  # stable lower_snake: see docs/settlement-files.md
    column: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"line": self.line, "code": self.code, "column": self.column}


def check_size(content: bytes) -> None:
    """The caps, before anything is parsed: bytes, then line breaks (a conservative line count:
    a quoted field with a line break in it counts twice)."""
    if len(content) > MAX_BYTES:
        raise SettlementFileTooLarge(max_bytes=MAX_BYTES)
    if content.count(b"\n") > MAX_ROWS + 1:
        raise SettlementFileTooManyRows(max_rows=MAX_ROWS)


def parse(content: bytes, *, business_date: date, currency: str) -> list[SettlementLine]:
    """The file's lines, checked against the day and the partner's currency, or a refusal."""
    check_size(content)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SettlementFileNotUtf8() from None
    # The csv module's limit is process-wide; batches.files sets the same one.
    csv.field_size_limit(MAX_CELL_CHARS)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header = _next(reader)
    if header is None or [h.strip().lower() for h in header] != list(COLUMNS):
        raise SettlementFileBadHeader(expected=",".join(COLUMNS))
    lines: list[SettlementLine] = []
    problems: list[Problem] = []
    count = 0
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error:
            problems.append(Problem(start, "unreadable_line"))
            continue
        if not row or all(not cell.strip() for cell in row):
            continue
        count += 1
        if count > MAX_ROWS:
            raise SettlementFileTooManyRows(max_rows=MAX_ROWS)
        parsed = _line(start, row, business_date, currency)
        if isinstance(parsed, Problem):
            problems.append(parsed)
        else:
            lines.append(parsed)
    problems.extend(_pairing(lines))
    if problems:
        problems.sort(key=lambda p: p.line)
        raise SettlementFileBadRows(
            count=len(problems),
            first_line=problems[0].line,
            problems=[p.as_dict() for p in problems[:MAX_PROBLEMS]],
        )
    return lines


def _next(reader: Iterator[list[str]]) -> list[str] | None:
    try:
        return next(reader)
    except (StopIteration, csv.Error):
        return None


def _line(number: int, row: list[str], day: date, currency: str) -> SettlementLine | Problem:
    if len(row) != len(COLUMNS):
        return Problem(number, "column_count")
    cells = dict(zip(COLUMNS, (cell.strip() for cell in row), strict=True))
    for name in ("business_date", "request_id", "amount_minor", "currency", "type"):
        if not cells[name]:
            return Problem(number, "required", name)
    if not _DATE.fullmatch(cells["business_date"]):
        return Problem(number, "bad_date", "business_date")
    try:
        line_day = date.fromisoformat(cells["business_date"])
    except ValueError:
        return Problem(number, "bad_date", "business_date")
    if line_day != day:
        return Problem(number, "date_mismatch", "business_date")
    # The id as sent (not stripped): a partner's id with surrounding spaces is another id.
    request_id = row[1]
    if not _REQUEST_ID.fullmatch(request_id):
        return Problem(number, "bad_request_id", "request_id")
    if cells["sale_reference"] and not _SALE_REFERENCE.fullmatch(cells["sale_reference"]):
        return Problem(number, "bad_sale_reference", "sale_reference")
    if not _METER.fullmatch(cells["meter_number"]):
        return Problem(number, "bad_meter_number", "meter_number")
    try:
        amount = parse_int(cells["amount_minor"], minimum=1, maximum=MAX_AMOUNT_MINOR)
    except InvalidInput:
        return Problem(number, "bad_amount", "amount_minor")
    if not _CURRENCY.fullmatch(cells["currency"]):
        return Problem(number, "bad_currency", "currency")
    if cells["currency"] != currency:
        return Problem(number, "currency_mismatch", "currency")
    kind = cells["type"].upper()
    if kind not in (SALE, REVERSAL):
        return Problem(number, "bad_type", "type")
    if not _TIME.fullmatch(cells["partner_time"]):
        return Problem(number, "bad_time", "partner_time")
    try:
        moment = datetime.fromisoformat(cells["partner_time"].replace("Z", "+00:00"))
    except ValueError:
        return Problem(number, "bad_time", "partner_time")
    return SettlementLine(
        line=number,
        request_id=request_id,
        sale_reference=cells["sale_reference"].upper(),
        meter_number=cells["meter_number"],
        amount_minor=amount,
        type=kind,
        partner_time=moment,
    )


def _pairing(lines: list[SettlementLine]) -> list[Problem]:
    """Each request once as a sale and at most once as its reversal, of the same amount; a
    reversal follows its sale in the same file."""
    problems: list[Problem] = []
    sales: dict[str, SettlementLine] = {}
    reversed_ids: set[str] = set()
    for line in lines:
        if line.type == SALE:
            if line.request_id in sales:
                problems.append(Problem(line.line, "duplicate_line", "request_id"))
            else:
                sales[line.request_id] = line
            continue
        sale = sales.get(line.request_id)
        if sale is None:
            problems.append(Problem(line.line, "reversal_without_sale", "request_id"))
        elif line.request_id in reversed_ids:
            problems.append(Problem(line.line, "duplicate_line", "request_id"))
        elif line.amount_minor != sale.amount_minor:
            problems.append(Problem(line.line, "reversal_amount_differs", "amount_minor"))
        else:
            reversed_ids.add(line.request_id)
    return problems
