"""The export jobs: write one export's file as its owner sees the rows now, and expire old files.

The file is written beside its final name and renamed into place, so a download never meets a
half-written file; memory stays flat (rows are read in chunks, XLSX is written write-only, and a
sheet that reaches the format's row limit is continued on the next sheet). A report's file is a
document (``registry.ExportDocument``): its header lines, then each table as a section (CSV) or
a sheet (XLSX, right to left in Arabic), written in the language of the request.

On Linux an export is written by a thread of its own whose nice value is GRIDVEND_EXPORT_NICE
(each Linux thread has its own), so that a million-row export takes only the CPU the web
server's sales leave idle, and the worker's other jobs keep their priority: an unprivileged
process can lower its priority but never raise it again, so the job's own thread is never
lowered. The thread has its own database connection, closed when it ends.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import re
import sys
import threading
import uuid
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections
from django.utils import translation

from gridvend.exports import registry, services
from gridvend.exports.errors import ExportAccessLost, ExportFailed
from gridvend.exports.models import Export, ExportFormat
from gridvend.exports.permissions import owner_rows
from gridvend.exports.selectors import export_directory
from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.kernel.errors import DomainError

logger = logging.getLogger(__name__)

CHUNK_ROWS = 2000
# Rows of one XLSX sheet, its header included (the format's limit).
XLSX_MAX_ROWS = 1_048_576
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


class _Lost(Exception):
    """The export was deleted, or taken over by another run, while this run wrote it."""


def file_name(export: Export) -> str:
    return f"{export.source}-{export.created_at:%Y%m%d-%H%M}.{export.format}"


class _Progress:
    """Counts the rows written, across every section of a file, recording progress every
    GRIDVEND_EXPORT_PROGRESS_ROWS of them."""

    def __init__(self, export_id: int, token: uuid.UUID) -> None:
        self.export_id = export_id
        self.token = token
        self.written = 0

    def count(self, rows: Iterable[list[Any]]) -> Iterator[list[Any]]:
        every = settings.EXPORT_PROGRESS_ROWS
        for row in rows:
            yield row
            self.written += 1
            if self.written % every == 0 and not services.record_export_progress(
                self.export_id, self.written, run_token=self.token
            ):
                raise _Lost()


def _counted(export_id: int, token: uuid.UUID, rows: Iterable[list[Any]]) -> Iterator[list[Any]]:
    """The rows, recording progress every GRIDVEND_EXPORT_PROGRESS_ROWS of them."""
    return _Progress(export_id, token).count(rows)


def _write_csv(path: Path, header: tuple[str, ...], rows: Iterable[list[Any]]) -> int:
    document = registry.ExportDocument(
        title="", preamble=[], sections=[registry.ExportSection("", list(header), rows)], expected=0
    )
    return _write_document_csv(path, document)


def _csv_value(value: Any) -> Any:
    """A typed sheet value as CSV text: numbers without exponent, times to the second."""
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else value


def _write_document_csv(path: Path, document: registry.ExportDocument) -> int:
    """The preamble's lines, then each section: a blank line and its title (when it has one),
    its heading and its rows. Returns the rows written (headings and preamble aside)."""
    count = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("\ufeff")  # as the streamed export: spreadsheet programs then read UTF-8
        writer = csv.writer(out)
        if document.title:
            writer.writerow([document.title])
        for line in document.preamble:
            writer.writerow(line)
        for section in document.sections:
            if section.title:
                writer.writerow([])
                writer.writerow([section.title])
            writer.writerow(section.header)
            for row in section.rows:
                writer.writerow([_csv_value(value) for value in row])
                count += 1
        out.flush()
        os.fsync(out.fileno())
    return count


def _write_xlsx(path: Path, title: str, header: tuple[str, ...], rows: Iterable[list[Any]]) -> int:
    from openpyxl import Workbook  # type: ignore[import-untyped]

    workbook = Workbook(write_only=True)
    count = _append_sheets(workbook, title, list(header), rows, set(), rtl=False)
    workbook.save(str(path))
    return count


def _sheet_name(title: str, taken: set[str]) -> str:
    base = _SHEET_FORBIDDEN.sub(" ", title).strip().strip("'")[:25] or "Sheet"
    name, number = base, 2
    while name.lower() in taken:
        name = f"{base[:22]}-{number}"
        number += 1
    taken.add(name.lower())
    return name


def _append_sheets(
    workbook: Any,
    title: str,
    header: list[Any],
    rows: Iterable[list[Any]],
    taken: set[str],
    *,
    rtl: bool,
) -> int:
    """The rows on sheets named after ``title``, each starting with ``header``; a sheet that
    reaches the format's row limit is continued on the next one."""
    sheet: Any = None
    in_sheet = XLSX_MAX_ROWS
    count = 0

    def new_sheet() -> Any:
        made = workbook.create_sheet(title=_sheet_name(title, taken))
        made.sheet_view.rightToLeft = rtl
        made.append(header)
        return made

    for row in rows:
        if in_sheet >= XLSX_MAX_ROWS:
            sheet = new_sheet()
            in_sheet = 1
        sheet.append(row)
        in_sheet += 1
        count += 1
    if sheet is None:
        new_sheet()
    return count


def _write_document_xlsx(path: Path, document: registry.ExportDocument) -> int:
    """A first sheet with the title and the preamble, then each section on sheets of its own,
    right to left when the document is."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    taken: set[str] = set()
    first = workbook.create_sheet(title=_sheet_name(document.title or "Export", taken))
    first.sheet_view.rightToLeft = document.right_to_left
    first.column_dimensions["A"].width = 24
    first.column_dimensions["B"].width = 60
    if document.title:
        first.append([document.title])
    for line in document.preamble:
        first.append(line)
    count = 0
    for section in document.sections:
        count += _append_sheets(
            workbook,
            section.title or document.title,
            section.header,
            section.rows,
            taken,
            rtl=document.right_to_left,
        )
    workbook.save(str(path))
    return count


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _document(
    export: Export, token: uuid.UUID, source: registry.ExportSource
) -> registry.ExportDocument:
    """The report's document as the owner reads it now, its rows counted as they are written."""
    assert source.document is not None
    try:
        document = source.document(export.owner, export.filters)
    except (NotFound, AccessDenied):
        raise ExportAccessLost() from None
    services.set_export_rows_expected(export.pk, document.expected)
    progress = _Progress(export.pk, token)
    document.sections = [
        registry.ExportSection(section.title, section.header, progress.count(section.rows))
        for section in document.sections
    ]
    return document


def _write(export: Export, token: uuid.UUID, source: registry.ExportSource) -> None:
    language = export.language or export.owner.language or settings.LANGUAGE_CODE
    with translation.override(language):
        _write_file(export, token, source)


def _write_file(export: Export, token: uuid.UUID, source: registry.ExportSource) -> None:
    # The owner's scope and the filters are read again now: a unit the owner no longer reaches
    # is not found, and so the export is refused.
    queryset = owner_rows(export, source)
    # The subtree the rows come from: a download is refused once the owner no longer reaches it.
    scope_path = export.owner.org_unit.path
    document: registry.ExportDocument | None = None
    rows: Iterable[list[Any]] = ()
    if source.document is not None:
        document = _document(export, token, source)
    else:
        services.set_export_rows_expected(export.pk, queryset.count())
        items = queryset.iterator(chunk_size=CHUNK_ROWS)
        rows = _counted(export.pk, token, (source.cells(item) for item in items))
    directory = export_directory(export.pk)
    directory.mkdir(parents=True, exist_ok=True)
    name = file_name(export)
    # This run's own file: the only one it ever deletes, whether it fails or loses the export.
    partial = directory / f".{uuid.uuid4().hex}.part"
    try:
        if document is not None and export.format == ExportFormat.XLSX:
            count = _write_document_xlsx(partial, document)
        elif document is not None:
            count = _write_document_csv(partial, document)
        elif export.format == ExportFormat.XLSX:
            count = _write_xlsx(partial, export.source, source.header, rows)
        else:
            count = _write_csv(partial, source.header, rows)
        finished = services.finish_export(
            export.pk,
            run_token=token,
            partial=partial,
            file_name=name,
            rows=count,
            size=partial.stat().st_size,
            sha256=_digest(partial),
            scope_path=scope_path,
        )
        if not finished:
            raise _Lost()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def run_export(export_id: int) -> None:
    """Write export ``export_id``'s file (the job queued by ``services.request_export``).
    Idempotent: a finished, failed or deleted export is left as it is."""
    nice = settings.EXPORT_NICE
    if nice <= 0 or sys.platform != "linux":
        _run_export(export_id)
        return
    raised: list[BaseException] = []
    thread = threading.Thread(
        target=_run_lowered, args=(export_id, nice, raised), name=f"export-{export_id}"
    )
    thread.start()
    thread.join()
    if raised:
        # What _run_export lets through (the database gone, say): the job system's retry sees it.
        raise raised[0]


def _run_lowered(export_id: int, nice: int, raised: list[BaseException]) -> None:
    try:
        thread = threading.get_native_id()
        # Never below what it inherited: lowering a nice value needs a privilege.
        os.setpriority(os.PRIO_PROCESS, thread, max(nice, os.getpriority(os.PRIO_PROCESS, thread)))
        _run_export(export_id)
    except BaseException as exc:
        raised.append(exc)
    finally:
        connections.close_all()  # this thread's own connections


def _run_export(export_id: int) -> None:
    export = services.start_export_run(export_id)
    if export is None or export.run_token is None:  # start_export_run gives every run a token
        return
    token = export.run_token
    try:
        _write(export, token, registry.get_source(export.source))
    except _Lost:
        services.clear_lost_run(export_id)
    except DomainError as exc:
        services.fail_export(export_id, code=str(exc.code), run_token=token)
    except Exception:
        logger.exception("export %s failed", export_id)
        services.fail_export(export_id, code=ExportFailed.code, run_token=token)


def expire_exports() -> int:
    """The periodic job: delete files past GRIDVEND_EXPORT_RETENTION_DAYS."""
    return services.expire_old_exports()
