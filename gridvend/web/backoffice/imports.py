"""Bulk import of customers and meters from CSV or XLSX rows, through the ordinary services.

Each row is read with the back-office screens' own forms, so an import refuses what a screen
refuses; the file itself is bounded (bytes, rows, cell length) before anything in it is parsed.

A dry run and a real run are the same code: every row goes through the services inside one
transaction, each row in its own savepoint so that one bad row does not hide the next one's
errors. A dry run always rolls the transaction back; a real run commits only if no row failed,
so an import writes everything or nothing.
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
from collections.abc import Generator, Sequence
from contextlib import closing, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl.reader.excel import ExcelReader  # type: ignore[import-untyped]
from openpyxl.styles.stylesheet import apply_stylesheet  # type: ignore[import-untyped]
from openpyxl.worksheet._read_only import ReadOnlyWorksheet  # type: ignore[import-untyped]

from gridvend.audit import services as audit_services
from gridvend.customers import selectors as customer_selectors
from gridvend.customers import services as customer_services
from gridvend.customers.models import Customer, Premise
from gridvend.identity.errors import NotFound
from gridvend.identity.models import User
from gridvend.kernel.errors import DomainError
from gridvend.meters import services as meter_services
from gridvend.meters.models import TokenCarrier
from gridvend.org import selectors as org_selectors
from gridvend.org.models import OrgUnit
from gridvend.tariffs import selectors as tariff_selectors
from gridvend.tariffs.models import Tariff
from gridvend.web.backoffice import forms as bo_forms
from gridvend.web.errors import describe
from gridvend.web.fields import TextField

MAX_ROWS = 5000
CUSTOMERS = "customers"
METERS = "meters"
KINDS = {CUSTOMERS: gettext_lazy("Customers"), METERS: gettext_lazy("Meters")}

# (column, required); the order is the order of the template file.
COLUMNS: dict[str, list[tuple[str, bool]]] = {
    CUSTOMERS: [
        ("account_number", False),
        ("name", True),
        ("category", True),
        ("unit_code", True),
        ("tariff_code", True),
        ("national_id", False),
        ("phone", False),
        ("email", False),
        ("address", False),
        ("latitude", False),
        ("longitude", False),
        ("feeder", False),
        ("transformer", False),
    ],
    METERS: [
        ("meter_number", True),
        ("unit_code", True),
        ("sgc", True),
        ("ti", True),
        ("krn", True),
        ("kt", False),
        ("ken", False),
        ("ea", False),
        ("dkga", False),
        ("base_date_year", False),
        ("key_ref", True),
        ("make", False),
        ("model", False),
        ("phases", False),
        ("carrier", False),
        ("account_number", False),
        ("premise_id", False),
        ("address", False),
    ],
}

EXAMPLES: dict[str, list[str]] = {
    CUSTOMERS: [
        "",
        "Amina Wanjiru",
        "residential",
        "kitale-sc",
        "residential",
        "12345678",
        "+254700000001",
        "amina@example.org",
        "Plot 12, Market Road",
        "1.015200",
        "35.006200",
        "F12",
        "T-204",
    ],
    METERS: [
        "04000000010",
        "kitale-sc",
        "600675",
        "1",
        "1",
        "2",
        "255",
        "07",
        "02",
        "2014",
        "demo-vk",
        "Conlog",
        "BEC23",
        "1",
        "keypad",
        "",
        "",
        "",
    ],
}

# Which column a refused service call is about, when the error does not name a form field.
_CODE_COLUMNS = {
    "ACCOUNT_NUMBER_TAKEN": "account_number",
    "ACCOUNT_NUMBER_INVALID": "account_number",
    "TARIFF_NOT_APPLICABLE": "tariff_code",
    "CUSTOMER_CLOSED": "account_number",
    "METER_NUMBER_INVALID": "meter_number",
    "METER_NUMBER_TAKEN": "meter_number",
    "METER_RETIRED": "meter_number",
    "METER_ALREADY_INSTALLED": "account_number",
    "METER_KEY_PARAMS_INVALID": "sgc",
    "VENDING_KEY_NOT_FOUND": "key_ref",
    "VENDING_KEY_MISMATCH": "key_ref",
}


class ImportFileError(Exception):
    """The file as a whole cannot be read: wrong type, no header, missing columns, too long."""


@dataclass(frozen=True)
class RowError:
    row: int  # as the spreadsheet numbers it: the header is row 1
    column: str
    message: str


@dataclass
class ImportReport:
    kind: str
    rows: int
    errors: list[RowError] = field(default_factory=list)
    committed: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def failed_rows(self) -> int:
        return len({e.row for e in self.errors})


Row = tuple[int, dict[str, str]]


class Rows(list[Row]):
    """A file's data rows, numbered as the spreadsheet numbers them, and the problems met while
    reading them: a cell over MAX_CELL_CHARS, a CSV line that could not be split into cells."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[RowError] = []


# Reading files ------------------------------------------------------------------------------------
#
# A file is measured before it is opened and read as a stream: the rows stop at the row cap or
# after a run of empty rows, every cell is capped before any field looks at it, and an XLSX
# workbook may not unpack to more than a fixed multiple of the upload limit.

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


def check_header(kind: str, header: list[str]) -> None:
    missing = [name for name, required in COLUMNS[kind] if required and name not in header]
    if missing:
        raise ImportFileError(
            _("The file lacks these columns: %(columns)s. Start from the template file.")
            % {"columns": ", ".join(missing)}
        )


def _table(kind: str, lines: Lines) -> Rows:
    """The data rows below the header, from a file's lines (None for a line that could not be
    split), reading no further than the row cap or a run of MAX_BLANK_RUN empty lines."""
    first = next(lines, ())
    if first is None:
        raise ImportFileError(_("The first row, the column names, cannot be read."))
    if not first:
        raise ImportFileError(_("The file is empty."))
    header = [_text(v).lower().lstrip("\ufeff") for v in first[:MAX_COLUMNS]]
    check_header(kind, header)
    positions: dict[str, int] = {}
    for name, _required in COLUMNS[kind]:
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
        if number > MAX_ROWS + 1:
            raise ImportFileError(
                _("A file may hold at most %(max)d rows; split it into smaller files.")
                % {"max": MAX_ROWS}
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
        raise ImportFileError(_("The CSV file must be saved as UTF-8.")) from None
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


def _xlsx_lines(stream: IO[bytes]) -> Lines:
    unreadable = _("The file is not a readable XLSX workbook.")
    try:
        with zipfile.ZipFile(stream) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise ImportFileError(unreadable) from None
    # zipfile never returns more than a member's declared size, so the sum is a true bound.
    if unpacked > XLSX_EXPANSION * settings.IMPORT_MAX_BYTES:
        raise ImportFileError(_("The workbook is too large once unpacked; split it."))
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
        raise ImportFileError(unreadable) from None
    try:
        if not found:
            return
        sheet, rel = found[0]
        rows = _StreamedSheet(reader.wb, sheet.name, rel.target, reader.shared_strings)
        try:
            yield from rows.iter_rows(
                min_row=1,
                max_row=MAX_ROWS + MAX_BLANK_RUN + 1,
                min_col=1,
                max_col=MAX_COLUMNS,
                values_only=True,
            )
        except Exception:
            raise ImportFileError(unreadable) from None
    finally:
        reader.archive.close()


def _size(stream: IO[bytes]) -> int:
    size = getattr(stream, "size", None)
    if not isinstance(size, int):
        stream.seek(0, io.SEEK_END)
        size = stream.tell()
    stream.seek(0)
    return size


def load(kind: str, name: str, source: bytes | IO[bytes]) -> Rows:
    """The file's data rows, numbered as the spreadsheet numbers them, or ImportFileError.

    ``source`` is the upload itself (or its bytes): its size is checked before it is read.
    """
    if kind not in COLUMNS:
        raise ImportFileError(_("Unknown kind of import."))
    lowered = name.lower()
    if not lowered.endswith((".xlsx", ".csv", ".txt")):
        raise ImportFileError(_("Upload a .csv or .xlsx file."))
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    limit = settings.IMPORT_MAX_BYTES
    if _size(stream) > limit:
        raise ImportFileError(
            _("The file is larger than %(size)s; split it into smaller files.")
            % {"size": filesizeformat(limit)}
        )
    lines = _xlsx_lines(stream) if lowered.endswith(".xlsx") else _csv_lines(stream)
    with closing(lines):
        rows = _table(kind, lines)
    if not rows and not rows.problems:
        raise ImportFileError(_("The file has a header but no rows."))
    return rows


# Running an import -------------------------------------------------------------------------------
#
# A row calls the services' bodies (_create_customer, _register_meter …), not their durable use
# cases: every row runs inside the import's one transaction, each in its own savepoint.

# (column, message) of one problem in a row.
Problem = tuple[str, str]

# Unit and tariff codes are read as text like any other cell before they are looked up, so
# a refusal never echoes a control or bidi-override character into the report.
_CODE = TextField(max_length=40)

_PREMISE_COLUMNS = ("address", "latitude", "longitude", "feeder", "transformer")

# What the register screen preselects, for the optional columns a file leaves empty.
_METER_DEFAULTS = {
    "kt": "2",
    "ken": "255",
    "ea": "07",
    "dkga": "02",
    "base_date_year": "2014",
    "phases": "1",
    "carrier": TokenCarrier.KEYPAD.value,
}


class _RowRefused(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems


def _has(problems: list[Problem], column: str) -> bool:
    return any(known == column for known, _message in problems)


def _checked_form(
    form_class: type[forms.Form],
    data: dict[str, str],
    problems: list[Problem],
    columns: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The screen's form over the row's cells: its cleaned data, or every error it found.

    ``columns`` renames form fields to the file's columns; "this field is required" is left
    out where the column is already reported empty.
    """
    form = form_class(data=data)
    if form.is_valid():
        return dict(form.cleaned_data)
    for name, messages in form.errors.items():
        column = (columns or {}).get(name, name)
        if form.has_error(name, "required") and _has(problems, column):
            continue
        problems.extend((column, str(message)) for message in messages)
    return {}


def _checked_field(field: forms.Field, raw: str, column: str, problems: list[Problem]) -> Any:
    try:
        return field.clean(raw)
    except ValidationError as exc:
        problems.extend((column, str(message)) for message in exc.messages)
        return None


@dataclass
class _Lookups:
    """Units and tariffs the actor may use, read once per import rather than once per row."""

    actor: User
    units: dict[str, OrgUnit]
    tariffs: dict[str, Tariff]

    @classmethod
    def for_actor(cls, actor: User) -> _Lookups:
        units = {u.code: u for u in org_selectors.list_units(actor)}
        tariffs = {t.code: t for t in tariff_selectors.list_tariffs(actor)}
        # Tariffs defined above the actor's unit apply to their customers too.
        for tariff in tariff_selectors.tariffs_available_for_unit(actor.org_unit):
            tariffs.setdefault(tariff.code, tariff)
        return cls(actor, units, tariffs)

    def unit(self, row: dict[str, str], problems: list[Problem]) -> OrgUnit | None:
        code = _checked_field(_CODE, row.get("unit_code", ""), "unit_code", problems)
        if not code:
            return None
        unit = self.units.get(code)
        if unit is None:
            problems.append(
                ("unit_code", _("No organisation unit %(code)s in your area.") % {"code": code})
            )
        return unit

    def tariff(self, row: dict[str, str], problems: list[Problem]) -> Tariff | None:
        code = _checked_field(_CODE, row.get("tariff_code", ""), "tariff_code", problems)
        if not code:
            return None
        tariff = self.tariffs.get(code)
        if tariff is None:
            problems.append(("tariff_code", _("No tariff %(code)s.") % {"code": code}))
        return tariff

    def customer(self, account_number: str, problems: list[Problem]) -> Customer | None:
        try:
            return customer_selectors.get_customer_by_account(self.actor, account_number)
        except NotFound:
            problems.append(
                (
                    "account_number",
                    _("No customer with account number %(number)s in your area.")
                    % {"number": account_number},
                )
            )
            return None

    def premise(self, pk: int, problems: list[Problem]) -> Premise | None:
        try:
            return customer_selectors.get_premise(self.actor, pk)
        except NotFound:
            problems.append(("premise_id", _("No premise %(id)s in your area.") % {"id": pk}))
            return None


def _missing(kind: str, row: dict[str, str]) -> list[Problem]:
    return [
        (name, _("This column must not be empty."))
        for name, required in COLUMNS[kind]
        if required and not row.get(name, "").strip()
    ]


def _import_customer(lookups: _Lookups, row: dict[str, str], problems: list[Problem]) -> None:
    unit = lookups.unit(row, problems)
    tariff = lookups.tariff(row, problems)
    details = _checked_form(
        bo_forms.CustomerDetailsForm,
        {
            "account_number": row.get("account_number", ""),
            "name": row.get("name", ""),
            "category": row.get("category", "").lower(),
            "national_id": row.get("national_id", ""),
            "phone": row.get("phone", ""),
            "email": row.get("email", ""),
        },
        problems,
    )
    premise: dict[str, Any] | None = None
    if any(row.get(name, "").strip() for name in _PREMISE_COLUMNS):
        if not row.get("address", "").strip():
            problems.append(("address", _("A premise needs an address.")))
        premise = _checked_form(
            bo_forms.PremiseDetailsForm,
            {name: row.get(name, "") for name in _PREMISE_COLUMNS},
            problems,
        )
    if problems:
        raise _RowRefused(problems)
    assert unit is not None and tariff is not None
    customer = customer_services._create_customer(
        actor=lookups.actor, org_unit=unit, tariff=tariff, **details
    )
    if premise is not None:
        customer_services._create_premise(
            actor=lookups.actor, org_unit=customer.org_unit, **premise
        )


def _import_meter(lookups: _Lookups, row: dict[str, str], problems: list[Problem]) -> None:
    unit = lookups.unit(row, problems)
    fields = bo_forms.MeterRegisterDetailsForm.base_fields
    data = {name: row.get(name, "") for name in fields if name != "number"}
    data["number"] = row.get("meter_number", "")
    for name, default in _METER_DEFAULTS.items():
        data[name] = data[name].strip() or default
    meter = _checked_form(
        bo_forms.MeterRegisterDetailsForm, data, problems, columns={"number": "meter_number"}
    )
    install = bo_forms.MeterInstallForm.base_fields
    account = row.get("account_number", "").strip()
    premise_id = row.get("premise_id", "").strip()
    address = row.get("address", "").strip()
    customer = premise = None
    cleaned_address = ""
    if account:
        number = _checked_field(install["account_number"], account, "account_number", problems)
        if number:
            customer = lookups.customer(number, problems)
    if premise_id:
        pk = _checked_field(install["premise"], premise_id, "premise_id", problems)
        if pk:
            premise = lookups.premise(pk, problems)
    if address:
        field = bo_forms.PremiseDetailsForm.base_fields["address"]
        cleaned_address = _checked_field(field, address, "address", problems) or ""
    if not account and (premise_id or address):
        problems.append(("account_number", _("Say which customer the meter is installed for.")))
    if account and not premise_id and not address:
        problems.append(
            ("address", _("Give the premise to install the meter at: premise_id or address."))
        )
    if problems:
        raise _RowRefused(problems)
    assert unit is not None
    registered = meter_services._register_meter(actor=lookups.actor, org_unit=unit, **meter)
    if customer is not None:
        if premise is None:
            premise = customer_services._create_premise(
                actor=lookups.actor, org_unit=customer.org_unit, address=cleaned_address
            )
        meter_services._install_meter(
            actor=lookups.actor, meter=registered, customer=customer, premise=premise
        )


_IMPORTERS = {CUSTOMERS: _import_customer, METERS: _import_meter}


def run_import(*, actor: User, kind: str, rows: list[Row], commit: bool) -> ImportReport:
    """Try every row; keep the result only if ``commit`` and no row failed.

    Each row is read with the screens' own forms and every problem found is reported, each
    beside its column; only a row without any goes on to the services. Raises AccessDenied
    only through the caller's own check: a refusal inside a row (a unit out of reach, say) is
    reported against that row like any other error.
    """
    importer = _IMPORTERS[kind]
    read: dict[int, list[Problem]] = {}
    for problem in rows.problems if isinstance(rows, Rows) else []:
        read.setdefault(problem.row, []).append((problem.column, problem.message))
    unread = sorted(set(read) - {number for number, _row in rows})
    report = ImportReport(kind=kind, rows=len(rows) + len(unread))
    with transaction.atomic(), nullcontext() if commit else audit_services.rehearsal():
        lookups = _Lookups.for_actor(actor)
        for number, row in rows:
            problems = list(read.get(number, []))
            problems += [p for p in _missing(kind, row) if not _has(problems, p[0])]
            try:
                with transaction.atomic():
                    importer(lookups, row, problems)
            except _RowRefused as exc:
                report.errors.extend(RowError(number, c, m) for c, m in exc.problems)
            except DomainError as exc:
                column = exc.params.get("field") or _CODE_COLUMNS.get(exc.code, "")
                report.errors.append(RowError(number, str(column), describe(exc)))
        for number in unread:
            report.errors.extend(RowError(number, c, m) for c, m in read[number])
        report.errors.sort(key=lambda error: error.row)
        report.committed = commit and report.ok
        if not report.committed:
            transaction.set_rollback(True)
    return report


def template_rows(kind: str) -> tuple[list[str], list[str]]:
    """The header and one example row of the template file for ``kind``."""
    return [name for name, _required in COLUMNS[kind]], EXAMPLES[kind]
