"""Large exports leave the request path: over GRIDVEND_EXPORT_INLINE_ROWS a list's export is
queued, written by its job as its owner sees the rows when it runs, and downloaded by the owner
alone from "My exports"; files expire; one person has a limited number in progress."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook  # type: ignore[import-untyped]

from gridvend.audit.models import AuditEvent
from gridvend.exports import services, tasks
from gridvend.exports.errors import ExportLimitReached
from gridvend.exports.models import Export, ExportStatus
from gridvend.exports.selectors import export_directory
from gridvend.identity import services as identity
from gridvend.identity.errors import NotFound
from gridvend.identity.models import User
from gridvend.jobs.queue import queued_jobs, run_queued_jobs
from tests import factories
from tests.backoffice.conftest import World
from tests.signin import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _own_export_dir(settings: Any, tmp_path: Path) -> Path:
    settings.EXPORT_DIR = tmp_path / "exports"
    return tmp_path / "exports"


def _body(response: Any) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return bytes(response.content)


def _csv_rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def _xlsx_rows(body: bytes) -> list[list[Any]]:
    book = load_workbook(io.BytesIO(body), read_only=True)
    rows: list[list[Any]] = []
    for index, sheet in enumerate(book.worksheets):
        sheet_rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        rows.extend(sheet_rows if index == 0 else sheet_rows[1:])  # each sheet repeats the header
    return rows


def _inline(client: Client, name: str, fmt: str, query: str = "") -> bytes:
    response = client.get(reverse(name, kwargs={"fmt": fmt}) + query)
    assert response.status_code == 200
    return _body(response)


def _file(export: Export) -> Path:
    export.refresh_from_db()
    return export_directory(export.pk) / export.file_name


def test_over_the_threshold_the_request_queues_an_export_and_sends_no_file(
    world: World, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = signed_in(world.care)
    rows = len(_csv_rows(_inline(client, "backoffice:customer-export", "csv"))) - 1
    assert rows >= 1
    settings.EXPORT_INLINE_ROWS = rows  # exactly at the threshold: still streamed
    assert _inline(client, "backoffice:customer-export", "csv")
    assert not Export.objects.filter(owner=world.care).exists()

    settings.EXPORT_INLINE_ROWS = rows - 1
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.get(
            reverse("backoffice:customer-export", kwargs={"fmt": "csv"})
            + f"?unit={world.north.unit.pk}&q="
        )
    assert response.status_code == 302
    assert response["Location"] == reverse("web:export-list")
    assert response.content == b""
    export = Export.objects.get(owner=world.care)
    assert (export.owner, export.source, export.format) == (world.care, "customers", "csv")
    assert export.status == ExportStatus.QUEUED
    assert export.filters == {"unit": str(world.north.unit.pk)}
    # The job is queued once the request's transaction commits, and names this export.
    assert [getattr(c, "job_key", None) for c in callbacks] == [f"export:{export.pk}"]
    assert not queued_jobs()
    assert AuditEvent.objects.filter(
        event_type="export.requested", target_id=str(export.pk), actor_id=world.care.pk
    ).exists()
    page = client.get(reverse("web:export-list"))
    assert page.status_code == 200
    assert f'id="export-{export.pk}"' in page.content.decode()
    assert "hx-get" in page.content.decode()  # polls while the export waits


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize(
    ("name", "source", "reader"),
    [
        ("backoffice:customer-export", "customers", "care"),
        ("backoffice:debt-export", "debts", "maker"),
        ("backoffice:meter-export", "meters", "field"),
    ],
)
def test_the_job_writes_the_rows_of_the_inline_export(
    world: World, settings: Any, fmt: str, name: str, source: str, reader: str
) -> None:
    user = world.user(reader)
    inline = _inline(signed_in(user), name, fmt)
    settings.EXPORT_PROGRESS_ROWS = 1
    export = services.request_export(actor=user, source=source, filters={}, format=fmt)
    tasks.run_export(export.pk)
    path = _file(export)
    assert export.status == ExportStatus.DONE
    written = path.read_bytes()
    parse = _csv_rows if fmt == "csv" else _xlsx_rows
    assert parse(written) == parse(inline)
    assert export.rows_written == export.rows_expected == len(parse(inline)) - 1
    assert export.size_bytes == len(written)
    assert export.sha256 == hashlib.sha256(written).hexdigest()
    assert [p.name for p in path.parent.iterdir()] == [export.file_name]  # no partial file left


def test_an_xlsx_past_the_sheet_limit_continues_on_further_sheets(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    inline = _xlsx_rows(_inline(signed_in(world.auditor), "backoffice:user-export", "xlsx"))
    assert len(inline) > 4
    monkeypatch.setattr(tasks, "XLSX_MAX_ROWS", 3)  # a header and two rows a sheet
    export = services.request_export(actor=world.auditor, source="users", filters={}, format="xlsx")
    tasks.run_export(export.pk)
    book = load_workbook(_file(export), read_only=True)
    assert len(book.worksheets) == (len(inline) - 1 + 1) // 2
    assert all(len(list(sheet.iter_rows())) <= 3 for sheet in book.worksheets)
    assert _xlsx_rows(_file(export).read_bytes()) == inline


def test_running_the_job_twice_writes_the_file_once(world: World) -> None:
    export = services.request_export(actor=world.care, source="customers", filters={}, format="csv")
    tasks.run_export(export.pk)
    first = _file(export)
    digest, finished = export.sha256, export.finished_at
    first.write_bytes(b"changed by hand")  # a second run would put the real rows back
    tasks.run_export(export.pk)
    export.refresh_from_db()
    assert (export.sha256, export.finished_at) == (digest, finished)
    assert first.read_bytes() == b"changed by hand"


def test_a_filter_naming_another_region_is_refused_and_the_rows_stay_in_the_subtree(
    world: World,
) -> None:
    with pytest.raises(NotFound):
        services.request_export(
            actor=world.care,
            source="customers",
            filters={"unit": str(world.south.unit.pk)},
            format="csv",
        )
    assert not Export.objects.filter(owner=world.care).exists()
    export = services.request_export(actor=world.care, source="customers", filters={}, format="csv")
    tasks.run_export(export.pk)
    text = _file(export).read_text(encoding="utf-8-sig")
    assert world.north.customer.account_number in text
    assert world.south.customer.account_number not in text


def test_an_owner_moved_away_from_the_filtered_unit_gets_no_file(world: World) -> None:
    export = services.request_export(
        actor=world.care,
        source="customers",
        filters={"unit": str(world.north.unit.pk)},
        format="csv",
    )
    identity.update_user(actor=world.admin, user=world.care, org_unit=world.south.unit)
    tasks.run_export(export.pk)
    export.refresh_from_db()
    assert (export.status, export.error_code) == (ExportStatus.FAILED, "EXPORT_ACCESS_LOST")
    assert not export_directory(export.pk).exists() or not any(
        export_directory(export.pk).iterdir()
    )


def test_a_deactivated_owners_queued_export_fails(world: World) -> None:
    export = services.request_export(actor=world.care, source="customers", filters={}, format="csv")
    identity.update_user(actor=world.admin, user=world.care, is_active=False)
    tasks.run_export(export.pk)
    export.refresh_from_db()
    assert (export.status, export.error_code) == (ExportStatus.FAILED, "EXPORT_ACCESS_LOST")
    assert export.file_name == ""


def test_only_the_owner_sees_downloads_or_deletes_an_export(world: World) -> None:
    export = services.request_export(actor=world.care, source="customers", filters={}, format="csv")
    tasks.run_export(export.pk)
    path = _file(export)
    download = reverse("web:export-download", kwargs={"pk": export.pk})
    delete = reverse("web:export-delete", kwargs={"pk": export.pk})

    for other in (world.auditor, world.admin, world.field):
        client = signed_in(other)
        assert client.get(download).status_code == 404
        assert client.post(delete).status_code == 404
        assert (
            f'id="export-{export.pk}"'
            not in client.get(reverse("web:export-list")).content.decode()
        )
    assert path.is_file()
    assert not AuditEvent.objects.filter(event_type="export.downloaded").exists()

    owner = signed_in(world.care)
    response = owner.get(download)
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{export.file_name}"'
    assert "no-store" in response["Cache-Control"]
    body = _body(response)
    assert hashlib.sha256(body).hexdigest() == export.sha256
    assert (
        AuditEvent.objects.filter(
            event_type="export.downloaded", target_id=str(export.pk), actor_id=world.care.pk
        ).count()
        == 1
    )

    assert owner.post(delete).status_code == 302
    assert not Export.objects.filter(pk=export.pk).exists()
    assert not path.exists()


def test_expiry_deletes_old_files_and_keeps_the_row(world: World) -> None:
    old = services.request_export(actor=world.care, source="customers", filters={}, format="csv")
    new = services.request_export(actor=world.care, source="customers", filters={}, format="xlsx")
    for export in (old, new):
        tasks.run_export(export.pk)
    old_path, new_path = _file(old), _file(new)
    assert old.finished_at is not None
    Export.objects.filter(pk=old.pk).update(finished_at=old.finished_at - timedelta(days=8))

    stuck = services.request_export(actor=world.care, source="premises", filters={}, format="csv")
    Export.objects.filter(pk=stuck.pk).update(created_at=stuck.created_at - timedelta(days=8))
    waiting = services.request_export(actor=world.care, source="premises", filters={}, format="csv")

    assert tasks.expire_exports() == 1
    stuck.refresh_from_db()
    waiting.refresh_from_db()
    assert (stuck.status, stuck.error_code) == (ExportStatus.FAILED, "EXPORT_FAILED")
    assert waiting.status == ExportStatus.QUEUED
    old.refresh_from_db()
    assert old.status == ExportStatus.EXPIRED and old.expired_at is not None
    assert not old_path.exists()
    assert new_path.is_file()
    client = signed_in(world.care)
    assert client.get(reverse("web:export-download", kwargs={"pk": old.pk})).status_code == 404
    assert client.get(reverse("web:export-download", kwargs={"pk": new.pk})).status_code == 200
    assert tasks.expire_exports() == 0


def test_one_person_has_at_most_the_limit_of_exports_in_progress(
    world: World, settings: Any
) -> None:
    settings.EXPORT_MAX_ACTIVE = 2
    settings.EXPORT_INLINE_ROWS = 0
    first = services.request_export(actor=world.care, source="customers", filters={}, format="csv")
    services.request_export(actor=world.care, source="premises", filters={}, format="csv")
    with pytest.raises(ExportLimitReached) as refused:
        services.request_export(actor=world.care, source="customers", filters={}, format="xlsx")
    assert refused.value.code == "EXPORT_LIMIT_REACHED"

    # Through the screen: the person is sent to My exports with the sentence, nothing queued.
    client = signed_in(world.care)
    response = client.get(reverse("backoffice:customer-export", kwargs={"fmt": "csv"}), follow=True)
    assert response.redirect_chain[-1][0] == reverse("web:export-list")
    assert "2 exports waiting or running" in response.content.decode()
    assert Export.objects.filter(owner=world.care).count() == 2
    # Someone else is not held back by this person's exports.
    services.request_export(actor=world.auditor, source="users", filters={}, format="csv")

    tasks.run_export(first.pk)
    services.request_export(actor=world.care, source="customers", filters={}, format="xlsx")
    assert Export.objects.filter(owner=world.care).count() == 3


@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_a_committed_export_and_records_progress_as_it_writes(
    settings: Any,
) -> None:
    """Outside a test transaction, as in production: the request commits, the job is queued after
    the commit, and the worker writes the file in chunks while its progress commits row by row,
    in a thread of its own at a lower priority (Linux), the job's own thread left as it was."""
    tree = factories.Tree()
    for n in range(7):
        factories.user(tree.north_sc, username=f"export-reader-{n}")
    settings.EXPORT_PROGRESS_ROWS = 1
    settings.EXPORT_NICE = 7
    job_thread = threading.get_native_id()
    job_nice = os.getpriority(os.PRIO_PROCESS, job_thread)
    seen: list[int] = []
    writers: set[tuple[int, int]] = set()
    real = services.record_export_progress

    def watching(export_id: int, rows: int, *, run_token: Any) -> bool:
        writer = threading.get_native_id()
        writers.add((writer, os.getpriority(os.PRIO_PROCESS, writer)))
        stored = real(export_id, rows, run_token=run_token)
        # Committed at once: another connection would read it (autocommit, no transaction open).
        assert not connection.in_atomic_block
        seen.append(Export.objects.get(pk=export_id).rows_written)
        return stored

    services_progress = pytest.MonkeyPatch()
    services_progress.setattr(services, "record_export_progress", watching)
    try:
        export = services.request_export(actor=tree.admin, source="users", filters={}, format="csv")
        assert [job.func for job in queued_jobs()] == [services.RUN_JOB]
        assert run_queued_jobs() == 1
    finally:
        services_progress.undo()
    path = _file(export)
    assert export.status == ExportStatus.DONE
    users = User.objects.count()
    assert export.rows_written == export.rows_expected == users
    assert seen == list(range(1, users + 1))
    assert len(_csv_rows(path.read_bytes())) == users + 1
    if sys.platform == "linux":
        # One writing thread, not the job's, at the export's nice value (or lower still if the
        # process already ran lower); the job's thread keeps its own.
        ((writer, nice),) = writers
        assert writer != job_thread
        assert nice == max(7, job_nice)
        assert os.getpriority(os.PRIO_PROCESS, job_thread) == job_nice


def test_removing_an_exports_files_never_follows_a_link_out_of_its_folder(
    world: World, tmp_path: Path, _own_export_dir: Path
) -> None:
    kept = tmp_path / "elsewhere"
    kept.mkdir()
    (kept / "precious.csv").write_text("keep")
    _own_export_dir.mkdir(parents=True, exist_ok=True)
    (_own_export_dir / "41").symlink_to(kept, target_is_directory=True)
    services.remove_export_files(41)
    assert (kept / "precious.csv").read_text() == "keep"


def test_a_run_taken_over_removes_only_its_own_partial_file(world: World) -> None:
    export = services.request_export(actor=world.care, source="customers", filters={}, format="csv")
    first = services.start_export_run(export.pk)
    assert first is not None and first.run_token is not None
    tasks.run_export(export.pk)  # the queue ran it again and this run finished it
    path = _file(export)
    assert export.status == ExportStatus.DONE
    stale = export_directory(export.pk) / ".stale.part"
    stale.write_text("the first run's rows")
    finished = services.finish_export(
        export.pk,
        run_token=first.run_token,
        partial=stale,
        file_name=export.file_name,
        rows=1,
        size=1,
        sha256="0" * 64,
        scope_path=world.care.org_unit.path,
    )
    assert not finished
    services.fail_export(export.pk, code="EXPORT_FAILED", run_token=first.run_token)
    export.refresh_from_db()
    assert export.status == ExportStatus.DONE
    assert hashlib.sha256(path.read_bytes()).hexdigest() == export.sha256
