"""Running a batch: every row through the services inside one transaction, all or nothing.

Each row runs in its own savepoint, so one bad row does not hide the next one's errors. A dry
run is an audit rehearsal and is always rolled back; a real run commits only if no row failed.
Row errors carry the spreadsheet's row number, the column they are about and, when a service
refused the row, the domain error's stable code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

from django.db import transaction

from gridvend.audit import services as audit_services
from gridvend.batches.files import Row, RowError, Rows
from gridvend.kernel.errors import DomainError

# (column, message) of one problem in a row.
Problem = tuple[str, str]

# Runs one row through the services; adds to ``problems`` and raises RowRefused for a row it
# will not pass on, and lets a service's DomainError through.
ApplyRow = Callable[[dict[str, str], list[Problem]], None]


class RowRefused(Exception):
    """The row was refused before any service saw it, with every problem found in it."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems


@dataclass
class BatchReport:
    rows: int
    errors: list[RowError] = field(default_factory=list)
    committed: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def failed_rows(self) -> int:
        return len({e.row for e in self.errors})


def run_batch(
    *,
    rows: Sequence[Row],
    apply_row: ApplyRow,
    commit: bool,
    describe: Callable[[DomainError], str],
    columns_by_code: Mapping[str, str] | None = None,
) -> BatchReport:
    """Try every row; keep the result only if ``commit`` and no row failed.

    ``apply_row`` calls the services' bodies, not their durable use cases: the batch is one
    transaction. ``describe`` words a refusal for the channel that shows the report;
    ``columns_by_code`` names the column a refusal is about when the error names no field.
    Problems met while reading the file (``Rows.problems``) are reported against their rows;
    a row that could not be read at all is reported without being run.
    """
    read: dict[int, list[Problem]] = {}
    for problem in rows.problems if isinstance(rows, Rows) else []:
        read.setdefault(problem.row, []).append((problem.column, problem.message))
    unread = sorted(set(read) - {number for number, _row in rows})
    report = BatchReport(rows=len(rows) + len(unread))
    with transaction.atomic(durable=True), nullcontext() if commit else audit_services.rehearsal():
        for number, row in rows:
            problems = list(read.get(number, []))
            try:
                with transaction.atomic():
                    apply_row(row, problems)
            except RowRefused as exc:
                report.errors.extend(RowError(number, c, m) for c, m in exc.problems)
            except DomainError as exc:
                column = exc.params.get("field") or (columns_by_code or {}).get(exc.code, "")
                report.errors.append(RowError(number, str(column), describe(exc), exc.code))
        for number in unread:
            report.errors.extend(RowError(number, c, m) for c, m in read[number])
        report.errors.sort(key=lambda error: error.row)
        report.committed = commit and report.ok
        if not report.committed:
            transaction.set_rollback(True)
    return report
