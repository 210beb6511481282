"""Lists leave the system as CSV (streamed) or XLSX (openpyxl write-only) with their filters on.

Headers are stable snake_case keys rather than translated labels, so that a file exported in one
language reads the same in another and customer and meter files can be imported back.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from operator import attrgetter
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from openpyxl import Workbook  # type: ignore[import-untyped]

from gridvend.exports.cells import cell
from gridvend.identity.errors import NotFound
from gridvend.kernel.money import Money
from gridvend.web.caching import forbid_storing

FORMATS = ("csv", "xlsx")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Column:
    key: str
    value: Callable[[Any], Any]


def attribute_columns(*names: str) -> list[Column]:
    """Columns that show the object's attribute of the same name, as it is."""
    return [Column(name, attrgetter(name)) for name in names]


def money_major(minor: int, currency: str) -> Decimal:
    return Money(minor, currency).to_major()


def _rows(columns: list[Column], items: Iterable[Any]) -> Iterator[list[Any]]:
    yield [c.key for c in columns]
    for item in items:
        yield [cell(c.value(item)) for c in columns]


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(name: str, columns: list[Column], items: Iterable[Any]) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def stream() -> Iterator[str]:
        yield "\ufeff"  # so that spreadsheet programs read the file as UTF-8
        for row in _rows(columns, items):
            yield writer.writerow(row)

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return forbid_storing(response)


def xlsx_bytes(columns: list[Column], items: Iterable[Any], *, title: str = "export") -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    for row in _rows(columns, items):
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def xlsx_response(name: str, columns: list[Column], items: Iterable[Any]) -> HttpResponse:
    response = HttpResponse(xlsx_bytes(columns, items, title=name), content_type=XLSX_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{name}.xlsx"'
    return forbid_storing(response)


def respond(fmt: str, name: str, columns: list[Column], items: Iterable[Any]) -> HttpResponse:
    if fmt not in FORMATS:
        raise NotFound()
    stamped = f"{name}-{timezone.now():%Y%m%d-%H%M}"
    if fmt == "csv":
        return csv_response(stamped, columns, items)  # type: ignore[return-value]
    return xlsx_response(stamped, columns, items)


# The columns of each list ------------------------------------------------------------------------

CUSTOMER_COLUMNS = [
    *attribute_columns("account_number", "name", "category", "status", "account_kind"),
    Column("unit_code", lambda c: c.org_unit.code),
    Column("tariff_code", lambda c: c.tariff.code),
    *attribute_columns("national_id", "phone", "email"),
    Column("meters", lambda c: " ".join(m.number for m in c.meters.all())),
    Column("created_at", lambda c: c.created_at),
]

PREMISE_COLUMNS = [
    Column("premise_id", lambda p: p.pk),
    Column("address", lambda p: p.address),
    Column("unit_code", lambda p: p.org_unit.code),
    *attribute_columns("latitude", "longitude", "feeder", "transformer", "created_at"),
]

METER_COLUMNS = [
    Column("meter_number", lambda m: m.number),
    Column("status", lambda m: m.status),
    Column("unit_code", lambda m: m.org_unit.code),
    *attribute_columns("make", "model", "phases", "carrier"),
    *attribute_columns("sgc", "ti", "krn", "kt", "ken", "ea", "dkga", "base_date_year", "key_ref"),
    Column("account_number", lambda m: m.customer.account_number if m.customer else ""),
    *attribute_columns("premise_id", "created_at"),
]

TARIFF_COLUMNS = [
    Column("tariff_code", lambda t: t.code),
    Column("name", lambda t: t.name),
    Column("unit_code", lambda t: t.org_unit.code),
    *attribute_columns("currency", "created_at"),
]

DEBT_COLUMNS = [
    Column("debt_id", lambda d: d.pk),
    Column("account_number", lambda d: d.customer.account_number),
    Column("name", lambda d: d.customer.name),
    *attribute_columns("reason", "currency"),
    Column("original", lambda d: money_major(d.original_minor, d.currency)),
    Column("balance", lambda d: money_major(d.balance_minor, d.currency)),
    *attribute_columns("source", "opened_at"),
    Column("opened_by", lambda d: d.opened_by.username if d.opened_by else ""),
]

POINT_COLUMNS = [
    *attribute_columns("code", "name", "channel", "status"),
    Column("unit_code", lambda p: p.org_unit.code),
    *attribute_columns("address", "ip_allow_list"),
]

USER_COLUMNS = [
    *attribute_columns("username", "full_name", "role"),
    Column("capabilities", lambda u: " ".join(sorted(c.capability for c in u.capabilities.all()))),
    Column("unit_code", lambda u: u.org_unit.code),
    *attribute_columns("is_active", "email", "phone"),
]
