"""The detail reports as export sources (``gridvend.exports``): a CSV or XLSX of a detail report
that would hold more than GRIDVEND_EXPORT_INLINE_ROWS rows is written by an export job, which
reads the report's stored filters again as its owner (checked, and scoped to the owner's subtree
as it is when the job runs) and writes the same file the screen's export would: the title, the
filters, the user and the time of generation, then each table, its detail rows read in batches
(memory stays flat, a million rows or ten).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.db.models import QuerySet
from django.http import QueryDict
from django.utils.translation import get_language_bidi

from gridvend.exports import registry
from gridvend.exports.cells import safe_text
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.reports import render
from gridvend.reports.base import REPORTS, ReportSpec, ReportTable
from gridvend.reports.catalogue import _prepare
from gridvend.reports.paging import ROWS, DetailTable, Whole
from gridvend.reports.paging import exceeds_inline_rows as exceeds_inline_rows_of

PREFIX = "report-"


def source_name(slug: str) -> str:
    return f"{PREFIX}{slug}"


def _values(spec: ReportSpec, user: User, filters: Mapping[str, str]) -> dict[str, Any]:
    """The stored filters read again by the report's filter set (InvalidInput if bad)."""
    if not spec.may_read(user):
        raise AccessDenied()
    data = QueryDict(mutable=True)
    for name, value in filters.items():
        data[str(name)] = str(value)
    return dict(spec.filterset(data).values())


def _rows(spec: ReportSpec) -> Any:
    def rows(user: User, filters: Mapping[str, str]) -> QuerySet[Any]:
        """The first detail table's rows: whether the owner may read the report now."""
        f = _prepare(user, _values(spec, user, filters))
        return spec.details[0].queryset(f)

    return rows


def _streamed(detail: DetailTable, slug: str, f: Any, table: ReportTable) -> Iterator[list[Any]]:
    for batch in detail.batches(slug, f):
        for row in batch:
            yield render.sheet_values(table, row)


def _document(spec: ReportSpec) -> Any:
    def document(user: User, filters: Mapping[str, str]) -> registry.ExportDocument:
        """The report as its file: built without detail rows, which are then streamed."""
        values = _values(spec, user, filters)
        result = spec.run(user, {**values, ROWS: Whole(0)})
        f = _prepare(user, values)
        details = {detail.key: detail for detail in spec.details}
        sections = []
        for table in result.tables:
            detail = details.get(table.detail_key)
            rows: Any = (
                [render.sheet_values(table, row) for row in table.rows]
                if detail is None
                else _streamed(detail, spec.slug, f, table)
            )
            sections.append(
                registry.ExportSection(safe_text(str(table.title)), render.headings(table), rows)
            )
        return registry.ExportDocument(
            title=safe_text(str(result.title)),
            preamble=[
                [safe_text(label), safe_text(value)] for label, value in render.header_facts(result)
            ],
            sections=sections,
            expected=sum(detail.queryset(f).count() for detail in spec.details),
            right_to_left=get_language_bidi(),
        )

    return document


def register_sources() -> None:
    """An export source for every report with detail tables (called once the reports are
    registered)."""
    known = set(registry.source_names())
    for spec in list(REPORTS.values()):
        if not spec.details or source_name(spec.slug) in known:
            continue
        registry.register(
            registry.ExportSource(
                name=source_name(spec.slug),
                header=(),
                rows=_rows(spec),
                cells=list,
                allowed=spec.may_read,
                document=_document(spec),
            )
        )


def exceeds_inline_rows(spec: ReportSpec, user: User, values: Mapping[str, Any]) -> bool:
    """Whether a CSV or XLSX of the report holds too many detail rows to be made in the request
    (GRIDVEND_EXPORT_INLINE_ROWS): it is then written by an export job."""
    if not spec.details:
        return False
    return exceeds_inline_rows_of(spec.details, _prepare(user, values))
