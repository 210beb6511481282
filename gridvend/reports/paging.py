"""The detail tables of reports (one row per sale, reversal, reprint, token or fault), read three
ways: a keyset page at a time on the screen (:class:`Pages`, ``PAGE_SIZE`` rows, links to the
pages before and after, no count of the rows), every row up to a limit for a file made in the
request or sent by e-mail (:class:`Whole`), and in batches by an export job (:meth:`DetailTable.
batches`) when a CSV or XLSX would hold more than GRIDVEND_EXPORT_INLINE_ROWS rows.

Each detail table reads its rows in a total order (its time, then its id) through the
``gridvend.keyset`` machinery the back-office lists use: a page is one index range scan of
``PAGE_SIZE + 1`` rows wherever it lies, and a cursor is signed with the report's slug and the
table's key, so a tampered or foreign one is a 400 (``INVALID_INPUT``, ``invalid_filter``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils.functional import Promise
from django.utils.translation import gettext as _

from gridvend.identity.models import User
from gridvend.keyset import Keyset
from gridvend.reports.base import Column, ReportRow, ReportTable, TablePaging
from gridvend.reports.filters import ReportFilters

# Rows one page of a detail table shows on the screen.
PAGE_SIZE = 100
# Rows a file made outside an export job holds at most (an e-mailed report): more are cut, and
# the file says so.
FILE_ROW_LIMIT = 1000
# Rows a job turns into cells at once (one query for their tokens, approvals... per batch).
BATCH_ROWS = 1000
# Where the values a report's builder takes say how much of its detail tables to read.
ROWS = "rows"
# A cursor's query-string parameter ends so; a table's key goes before it.
CURSOR_SUFFIX = "_cursor"


@dataclass(frozen=True)
class Pages:
    """The screen: one page of each detail table, at the cursor given for it (by parameter)."""

    cursors: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Whole:
    """A file: every row up to ``limit`` (more are cut, with a sentence). ``limit`` 0 reads no
    rows: an export job writes them itself, batch by batch."""

    limit: int


def wanted(values: Mapping[str, Any]) -> Pages | Whole:
    """What the builder was asked for; a report built without saying (an e-mailed one) is a
    file of at most FILE_ROW_LIMIT rows a table."""
    found = values.get(ROWS)
    return found if isinstance(found, Pages | Whole) else Whole(FILE_ROW_LIMIT)


def truncation_note(shown: int) -> str:
    return _(
        "Only the first %(rows)s rows are in this file: more rows match. Narrow the period or "
        "the filters, or export the report as CSV or XLSX from its screen."
    ) % {"rows": f"{shown:,}"}


@dataclass(frozen=True)
class DetailTable:
    """One detail table of a report.

    ``queryset(f)`` is every row the resolved filters select, scoped to their unit (unordered);
    ``ordering`` a total order of it (made total by ``id`` if need be); ``rows(actor, items)``
    turns a batch of those rows into report rows, reading what they need (tokens, approvals)
    for the whole batch at once; ``columns()`` the table's columns in the active language.
    """

    key: str
    title: str | Promise
    columns: Callable[[], list[Column]]
    queryset: Callable[[ReportFilters], QuerySet[Any]]
    ordering: tuple[str, ...]
    rows: Callable[[User, Sequence[Any]], list[ReportRow]]

    @property
    def param(self) -> str:
        return f"{self.key}{CURSOR_SUFFIX}"

    def keyset(self, slug: str) -> Keyset:
        return Keyset(f"report.{slug}.{self.key}", self.ordering, PAGE_SIZE, field=self.param)

    def ordered(self, slug: str, f: ReportFilters) -> QuerySet[Any]:
        return self.keyset(slug).order(self.queryset(f))

    def table(self, slug: str, f: ReportFilters, want: Pages | Whole) -> ReportTable:
        """The table as the screen (a page) or a file (every row up to a limit) shows it."""
        table = ReportTable(title=self.title, columns=self.columns(), detail_key=self.key)
        if isinstance(want, Pages):
            page = self.keyset(slug).page(self.queryset(f), want.cursors.get(self.param) or None)
            table.rows = self.rows(f.actor, page.object_list)
            table.paging = TablePaging(
                param=self.param,
                previous_cursor=page.previous_cursor,
                next_cursor=page.next_cursor,
                is_first=page.is_first,
            )
            return table
        if want.limit <= 0:
            return table
        items = list(self.ordered(slug, f)[: want.limit + 1])
        for start in range(0, min(len(items), want.limit), BATCH_ROWS):
            table.rows += self.rows(f.actor, items[start : min(start + BATCH_ROWS, want.limit)])
        if len(items) > want.limit:
            table.truncated_note = truncation_note(want.limit)
        return table

    def batches(self, slug: str, f: ReportFilters) -> Iterator[list[ReportRow]]:
        """Every row in order, BATCH_ROWS at a time, read through a server-side cursor on
        PostgreSQL (chunks elsewhere): memory holds one batch whatever the rows."""
        batch: list[Any] = []
        for item in self.ordered(slug, f).iterator(chunk_size=BATCH_ROWS):
            batch.append(item)
            if len(batch) >= BATCH_ROWS:
                yield self.rows(f.actor, batch)
                batch = []
        if batch:
            yield self.rows(f.actor, batch)


def cursors(details: Sequence[DetailTable], query: Mapping[str, Any]) -> Pages:
    """The cursors a query string carries for ``details`` (each checked when its page is read)."""
    found = {}
    for detail in details:
        raw = query.get(detail.param)
        if raw:
            found[detail.param] = str(raw)
    return Pages(found)


def exceeds_inline_rows(details: Sequence[DetailTable], f: ReportFilters) -> bool:
    """Whether a file of the detail tables would hold more than GRIDVEND_EXPORT_INLINE_ROWS
    rows (each table counted to at most one row past the limit)."""
    limit = settings.EXPORT_INLINE_ROWS
    total = 0
    for detail in details:
        total += detail.queryset(f).order_by().values("pk")[: limit + 1].count()
        if total > limit:
            return True
    return False
