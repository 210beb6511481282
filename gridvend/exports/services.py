"""Every write of the exports app: requesting an export, the job's steps, downloading, deleting
and expiring. Requests and downloads are audited."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from gridvend.audit import services as audit
from gridvend.exports import registry
from gridvend.exports.errors import ExportFailed, ExportFormatInvalid, ExportLimitReached
from gridvend.exports.events import ExportEvent
from gridvend.exports.models import ACTIVE_STATUSES, Export, ExportFormat, ExportStatus
from gridvend.exports.selectors import export_directory, get_export
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.jobs.queue import enqueue_after_commit

logger = logging.getLogger(__name__)

RUN_JOB = "gridvend.exports.tasks.run_export"
# Filters are query-string values a filter set has already read; these bounds keep a stored
# export small whatever a future source declares.
MAX_FILTERS = 30
MAX_FILTER_LENGTH = 200


def exceeds_inline_limit(queryset: QuerySet[Any], limit: int | None = None) -> bool:
    """True when the rows are more than ``limit`` (GRIDVEND_EXPORT_INLINE_ROWS): counted through
    a LIMIT limit+1 subquery, so a million-row list costs no more than a small one."""
    limit = settings.EXPORT_INLINE_ROWS if limit is None else limit
    return queryset.order_by().values("pk")[: limit + 1].count() > limit


def _clean_filters(filters: Mapping[str, Any]) -> dict[str, str]:
    cleaned = {
        str(name)[:64]: str(value)[:MAX_FILTER_LENGTH]
        for name, value in filters.items()
        if value not in (None, "")
    }
    return dict(sorted(cleaned.items())[:MAX_FILTERS])


def request_export(
    *, actor: User, source: str, filters: Mapping[str, Any], format: str, language: str = ""
) -> Export:
    """Queue an export of ``source`` as ``actor`` sees it with ``filters`` (query-string values of
    the source's filter set), written as ``format``; the job runs after commit.

    The filters are read once here, so a bad one is refused now rather than failing in the job.
    At most GRIDVEND_EXPORT_MAX_ACTIVE exports of one person wait or run at a time. ``language``
    (one of LANGUAGES, else the owner's) is what a report's file is written in."""
    found = registry.get_source(source)
    if format not in ExportFormat.values:
        raise ExportFormatInvalid(format=str(format)[:16])
    if not actor.is_active or not found.allowed(actor):
        raise AccessDenied()
    cleaned = _clean_filters(filters)
    known = {code for code, _name in settings.LANGUAGES}
    language = language if language in known else ""
    found.rows(actor, cleaned)  # raises for a bad filter or a unit outside the subtree
    with transaction.atomic():
        # The owner's row is the lock: two requests at once cannot both pass the count.
        User.objects.select_for_update().filter(pk=actor.pk).first()
        active = Export.objects.filter(owner=actor, status__in=ACTIVE_STATUSES).count()
        if active >= settings.EXPORT_MAX_ACTIVE:
            raise ExportLimitReached(limit=settings.EXPORT_MAX_ACTIVE)
        export = Export.objects.create(
            owner=actor, source=found.name, filters=cleaned, format=format, language=language
        )
        audit.record(
            actor=actor,
            event_type=ExportEvent.EXPORT_REQUESTED,
            target=export,
            after={"source": found.name, "format": format, "filters": cleaned},
        )
        enqueue_after_commit(RUN_JOB, export.pk, key=f"export:{export.pk}")
    return export


def record_download(*, actor: User, export: Export) -> None:
    """Audit that ``actor`` (its owner; the selector made sure) took the file."""
    with transaction.atomic():
        audit.record(
            actor=actor,
            event_type=ExportEvent.EXPORT_DOWNLOADED,
            target=export,
            after={"sha256": export.sha256, "size_bytes": export.size_bytes},
        )


def delete_export(*, actor: User, pk: int) -> None:
    """Delete one of the actor's exports and its file. A job still writing it finds the row gone
    and removes what it wrote."""
    with transaction.atomic():
        export = get_export(actor, pk)
        audit.record(actor=actor, event_type=ExportEvent.EXPORT_DELETED, target=export)
        export.delete()
    remove_export_files(pk)


def remove_export_files(export_id: int) -> None:
    """Delete EXPORT_DIR/<id>/ and all it holds (the file, partial files of runs that died). A
    folder that resolves anywhere else (a symbolic link) is left alone and logged."""
    base = Path(settings.EXPORT_DIR).resolve()
    directory = export_directory(export_id)
    try:
        resolved = directory.resolve()
    except OSError:
        return
    if resolved != base / str(export_id):
        logger.warning("export %s: %s is not a folder in EXPORT_DIR, left", export_id, directory)
        return
    shutil.rmtree(resolved, ignore_errors=True)


# --- the job's steps, each its own short transaction ----------------------------------------
# A run holds the export through the token start_export_run gave it. When a run is taken over
# (its worker was thought dead but still writes), the older run's steps match no row: it stops,
# removes its own partial file and leaves the folder to the run that holds the export.


def start_export_run(export_id: int) -> Export | None:
    """Mark the export running under a new run token and return it; None when there is nothing
    to do (it is finished, failed, expired or deleted: a job run twice does its work once). A
    running one is taken again: its worker died, and the file is written afresh."""
    with transaction.atomic():
        export = Export.objects.select_for_update().filter(pk=export_id).first()
        if export is None or export.status not in ACTIVE_STATUSES:
            return None
        export.status = ExportStatus.RUNNING
        export.run_token = uuid.uuid4()
        export.started_at = timezone.now()
        export.rows_written = 0
        export.error_code = ""
        export.save(
            update_fields=["status", "run_token", "started_at", "rows_written", "error_code"]
        )
    return export


def _held(export_id: int, run_token: uuid.UUID) -> QuerySet[Export]:
    return Export.objects.filter(pk=export_id, status=ExportStatus.RUNNING, run_token=run_token)


def set_export_rows_expected(export_id: int, rows: int) -> None:
    """The progress bar's denominator; a run taken over may still set it (the bar stays below
    100% until the export is done, so it cannot mislead)."""
    Export.objects.filter(pk=export_id, status=ExportStatus.RUNNING).update(rows_expected=rows)


def record_export_progress(export_id: int, rows: int, *, run_token: uuid.UUID) -> bool:
    """Store how many rows are written; False when the export was deleted meanwhile or another
    run took it over."""
    return bool(_held(export_id, run_token).update(rows_written=rows))


def finish_export(
    export_id: int,
    *,
    run_token: uuid.UUID,
    partial: Path,
    file_name: str,
    rows: int,
    size: int,
    sha256: str,
    scope_path: str,
) -> bool:
    """Move the run's ``partial`` file to ``file_name`` in the export's folder and mark the export
    done; False, with nothing moved, when it was deleted meanwhile or another run took it over
    (the caller removes its partial file). The row stays locked while the file is moved, so a run
    taking the export over waits until this one has finished it, and then finds it done."""
    with transaction.atomic():
        export = _held(export_id, run_token).select_for_update().first()
        if export is None:
            return False
        os.replace(partial, export_directory(export_id) / file_name)
        export.status = ExportStatus.DONE
        export.file_name = file_name
        export.rows_written = rows
        export.size_bytes = size
        export.sha256 = sha256
        export.scope_path = scope_path
        export.finished_at = timezone.now()
        export.save(
            update_fields=[
                "status",
                "file_name",
                "rows_written",
                "size_bytes",
                "sha256",
                "scope_path",
                "finished_at",
            ]
        )
    return True


def fail_export(export_id: int, *, code: str, run_token: uuid.UUID) -> None:
    """Mark the export failed and delete whatever its runs left in its folder; nothing when it
    was deleted meanwhile or another run holds it."""
    failed = Export.objects.filter(
        pk=export_id, status__in=ACTIVE_STATUSES, run_token=run_token
    ).update(status=ExportStatus.FAILED, error_code=code[:64], finished_at=timezone.now())
    if failed:
        remove_export_files(export_id)


def clear_lost_run(export_id: int) -> None:
    """After a run found its export gone: a run deleted under it may have made the folder again
    after ``delete_export`` removed it. A run that was only taken over leaves the folder alone."""
    if not Export.objects.filter(pk=export_id).exists():
        remove_export_files(export_id)


def expire_old_exports(*, now: Any = None, batch: int = 500) -> int:
    """Delete the files of exports finished more than GRIDVEND_EXPORT_RETENTION_DAYS ago; a done
    export becomes expired (its row stays). An export its jobs never finished is failed and its
    folder deleted; so is any folder still on disk of a failed or expired export (a worker killed
    mid-write runs no clean-up and leaves its partial file). Returns how many exports were
    expired."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.EXPORT_RETENTION_DAYS)
    expired = 0
    while True:
        ids = list(
            Export.objects.filter(status=ExportStatus.DONE, finished_at__lt=cutoff)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            break
        for pk in ids:
            remove_export_files(pk)
        expired += Export.objects.filter(pk__in=ids, status=ExportStatus.DONE).update(
            status=ExportStatus.EXPIRED, expired_at=timezone.now()
        )
    # An export its jobs never finished (they kept failing or timing out) is given up.
    Export.objects.filter(status__in=ACTIVE_STATUSES, created_at__lt=cutoff).update(
        status=ExportStatus.FAILED, error_code=ExportFailed.code, finished_at=timezone.now()
    )
    _remove_dead_folders(batch)
    return expired


def _remove_dead_folders(batch: int) -> None:
    """Delete the folders in EXPORT_DIR of failed and expired exports. The folders on disk are
    read rather than every failed export's row, so the sweep's cost follows what is on disk."""
    try:
        with os.scandir(settings.EXPORT_DIR) as entries:
            names = [entry.name for entry in entries]
    except FileNotFoundError:
        return
    # Only names export_directory makes: ASCII digits without a leading zero.
    ids = sorted(
        int(name) for name in names if name.isascii() and name.isdigit() and name == str(int(name))
    )
    for start in range(0, len(ids), batch):
        dead = Export.objects.filter(
            pk__in=ids[start : start + batch],
            status__in=(ExportStatus.FAILED, ExportStatus.EXPIRED),
        ).values_list("pk", flat=True)
        for pk in dead:
            remove_export_files(pk)
