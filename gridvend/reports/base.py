"""What every report is made of, whatever it counts: a report is built by a selector-like function
from the actor and its typed filters into a :class:`ReportResult` (tables of typed cells, with
subtotal and total rows marked), and rendered by one set of renderers: the screen, CSV, XLSX and
PDF. A renderer never computes a figure; a builder never formats one.

Reports register in :data:`REPORTS` (``register``) under a stable slug; the screens list those
the user may read, and the export and scheduled-delivery machinery find them there.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.utils.functional import Promise

from gridvend.identity.models import User
from gridvend.routers import report_reads

if TYPE_CHECKING:
    from gridvend.reports.paging import DetailTable


class CellKind(enum.StrEnum):
    """How a column's values are typed (and so aligned, summed and written to a sheet)."""

    TEXT = "text"
    INT = "int"  # a count
    MONEY = "money"  # minor units (int) in the report's currency
    KWH = "kwh"  # Decimal kWh
    DATE = "date"  # datetime.date
    DATETIME = "datetime"  # aware datetime, shown in the utility's time zone
    PERCENT = "percent"  # Decimal, 0-100


@dataclass(frozen=True)
class Column:
    key: str
    label: str | Promise
    kind: CellKind = CellKind.TEXT


class RowRole(enum.StrEnum):
    DETAIL = "detail"
    SUBTOTAL = "subtotal"  # a group's total; ``depth`` says which level of grouping
    TOTAL = "total"  # the table's grand total, last


@dataclass
class ReportRow:
    # By column key; a missing key is an empty cell.
    cells: Mapping[str, Any]
    role: RowRole = RowRole.DETAIL
    # Grouping depth: 0 for the outermost group (e.g. a region), deeper levels below it.
    depth: int = 0


@dataclass
class ReportTable:
    title: str | Promise
    columns: Sequence[Column]
    rows: list[ReportRow] = field(default_factory=list)
    # Money cells' currency (ISO 4217), when the table has money columns.
    currency: str = ""
    # A table may be cut at a row limit: it then says so (renderers print the sentence).
    truncated_note: str | Promise = ""
    # A detail table (``gridvend.reports.paging``): its key, and on the screen the links to the
    # pages around the one shown.
    detail_key: str = ""
    paging: TablePaging | None = None

    def currency_of(self, row: ReportRow) -> str:
        """The currency of a row's money cells: a detail table's rows say their own (a page may
        hold sales in two currencies); a figure table's are the table's."""
        return str(row.cells.get("currency") or self.currency)

    def headings_name_currency(self) -> bool:
        """Whether money headings carry the currency: not when a column gives each row's."""
        return not any(column.key == "currency" for column in self.columns)


@dataclass(frozen=True)
class TablePaging:
    """The keyset page of a detail table the screen shows: the query-string parameter its
    cursor travels in, and the cursors of the pages before and after (None at either end)."""

    param: str
    previous_cursor: str | None
    next_cursor: str | None
    is_first: bool


class ChartKind(enum.StrEnum):
    BAR = "bar"
    LINE = "line"
    SHARE = "share"  # each label's share of the whole (a pie)


@dataclass(frozen=True)
class ChartSpec:
    """A chart of figures the report's tables already hold, drawn the same on the screen and in
    the PDF (:mod:`gridvend.reports.charts`). ``series`` are (name, one value per label), the
    values plain numbers: money in major units, kWh, counts."""

    kind: ChartKind
    title: str | Promise
    labels: Sequence[str | Promise]
    series: Sequence[tuple[str | Promise, Sequence[int | Decimal]]]


@dataclass
class ReportResult:
    slug: str
    title: str | Promise
    generated_at: datetime
    generated_by: User
    # The filters as a person reads them, label then value, printed on every rendering.
    filters: list[tuple[str | Promise, str]]
    tables: list[ReportTable]
    # Where the figures stand, e.g. "Sales up to 14:05 included" (a roll-up's freshness).
    notes: list[str | Promise] = field(default_factory=list)
    charts: list[ChartSpec] = field(default_factory=list)


@dataclass(frozen=True)
class ReportSpec:
    slug: str
    title: str | Promise
    # A one-line description for the index of reports.
    summary: str | Promise
    # The typed filter set of the report (django-filter): ``filterset(query).values()`` gives
    # the cleaned values ``build`` takes, or InvalidInput (400). The figure reports share
    # gridvend.reports.filters.ReportFilterSet (this layer may not import gridvend.web's).
    filterset: type[Any]
    # build(actor, cleaned_filters) -> ReportResult; scoped to the actor's subtree, raising the
    # identity/scoping errors for a unit outside it.
    build: Callable[[User, Mapping[str, Any]], ReportResult]
    # may_read(actor) -> bool: who may see the report at all.
    may_read: Callable[[User], bool]
    # The detail tables (one row per sale, reversal, fault...): paged on the screen, and a file
    # of them past GRIDVEND_EXPORT_INLINE_ROWS rows is written by an export job.
    details: Sequence[DetailTable] = ()

    def run(self, actor: User, values: Mapping[str, Any]) -> ReportResult:
        """``build``, its reads sent to the replica when one is configured (gridvend.routers)."""
        with report_reads():
            return self.build(actor, values)


REPORTS: dict[str, ReportSpec] = {}


def register(spec: ReportSpec) -> ReportSpec:
    if spec.slug in REPORTS and REPORTS[spec.slug] is not spec:
        raise ValueError(f"report {spec.slug!r} is registered twice")
    REPORTS[spec.slug] = spec
    return spec


def readable_reports(actor: User) -> list[ReportSpec]:
    return [spec for spec in REPORTS.values() if spec.may_read(actor)]
