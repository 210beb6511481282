"""The export jobs: write one export's file as its owner sees the rows now, and expire old files.

The file is written beside its final name and renamed into place, so a download never meets a
half-written file; memory stays flat (rows are read in chunks, XLSX is written write-only, and a
sheet that reaches the format's row limit is continued on the next sheet).
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings

from gridvend.exports import registry, services
from gridvend.exports.errors import ExportAccessLost, ExportFailed
from gridvend.exports.models import Export, ExportFormat
from gridvend.exports.selectors import export_directory
from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.kernel.errors import DomainError

logger = logging.getLogger(__name__)

CHUNK_ROWS = 2000
# Rows of one XLSX sheet, its header included (the format's limit).
XLSX_MAX_ROWS = 1_048_576


class _Deleted(Exception):
    """The export was deleted while its job wrote it."""


def file_name(export: Export) -> str:
    return f"{export.source}-{export.created_at:%Y%m%d-%H%M}.{export.format}"


def _counted(export_id: int, rows: Iterable[list[Any]]) -> Iterator[list[Any]]:
    """The rows, recording progress every GRIDVEND_EXPORT_PROGRESS_ROWS of them."""
    every = settings.EXPORT_PROGRESS_ROWS
    for written, row in enumerate(rows, start=1):
        yield row
        if written % every == 0 and not services.record_export_progress(export_id, written):
            raise _Deleted()


def _write_csv(path: Path, header: tuple[str, ...], rows: Iterable[list[Any]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("\ufeff")  # as the streamed export: spreadsheet programs then read UTF-8
        writer = csv.writer(out)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
        out.flush()
        os.fsync(out.fileno())
    return count


def _write_xlsx(path: Path, title: str, header: tuple[str, ...], rows: Iterable[list[Any]]) -> int:
    from openpyxl import Workbook  # type: ignore[import-untyped]

    workbook = Workbook(write_only=True)
    sheets = 0
    sheet: Any = None
    in_sheet = XLSX_MAX_ROWS
    count = 0
    for row in rows:
        if in_sheet >= XLSX_MAX_ROWS:
            sheets += 1
            name = title[:31] if sheets == 1 else f"{title[:25]}-{sheets}"
            sheet = workbook.create_sheet(title=name)
            sheet.append(list(header))
            in_sheet = 1
        sheet.append(row)
        in_sheet += 1
        count += 1
    if sheet is None:
        workbook.create_sheet(title=title[:31]).append(list(header))
    workbook.save(str(path))
    return count


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _write(export: Export, source: registry.ExportSource) -> None:
    owner = export.owner
    if not owner.is_active or not source.allowed(owner):
        raise ExportAccessLost()
    try:
        # The owner's scope and the filters are read again now: a unit the owner no longer
        # reaches is not found, and so the export is refused.
        queryset = source.rows(owner, export.filters)
        services.set_export_rows_expected(export.pk, queryset.count())
    except (NotFound, AccessDenied):
        raise ExportAccessLost() from None
    items = queryset.iterator(chunk_size=CHUNK_ROWS)
    rows = _counted(export.pk, (source.cells(item) for item in items))
    directory = export_directory(export.pk)
    directory.mkdir(parents=True, exist_ok=True)
    name = file_name(export)
    partial = directory / f".{uuid.uuid4().hex}.part"
    try:
        if export.format == ExportFormat.XLSX:
            count = _write_xlsx(partial, export.source, source.header, rows)
        else:
            count = _write_csv(partial, source.header, rows)
        final = directory / name
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if not services.finish_export(
        export.pk, file_name=name, rows=count, size=final.stat().st_size, sha256=_digest(final)
    ):
        raise _Deleted()


def run_export(export_id: int) -> None:
    """Write export ``export_id``'s file (the job queued by ``services.request_export``).
    Idempotent: a finished, failed or deleted export is left as it is."""
    export = services.start_export_run(export_id)
    if export is None:
        return
    try:
        _write(export, registry.get_source(export.source))
    except _Deleted:
        shutil.rmtree(export_directory(export_id), ignore_errors=True)
    except DomainError as exc:
        services.fail_export(export_id, code=str(exc.code))
    except Exception:
        logger.exception("export %s failed", export_id)
        services.fail_export(export_id, code=ExportFailed.code)


def expire_exports() -> int:
    """The periodic job: delete files past GRIDVEND_EXPORT_RETENTION_DAYS."""
    return services.expire_old_exports()
