"""Review of issue 20 (national-scale data): each test is a defect the reviewer found on main at
3af19b2 (exports, search); each failed there and passes since its fix."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from gridvend.customers import selectors as customer_selectors
from gridvend.customers import services as customer_services
from gridvend.customers.models import CustomerCategory
from gridvend.exports import services, tasks
from gridvend.exports.models import Export, ExportStatus
from gridvend.exports.selectors import export_directory
from gridvend.identity import services as identity
from gridvend.meters import selectors as meter_selectors
from gridvend.meters.models import Meter
from tests.backoffice.conftest import World
from tests.backoffice.conftest import world as world  # the back-office tests' fixture
from tests.signin import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _own_export_dir(settings: Any, tmp_path: Path) -> Path:
    settings.EXPORT_DIR = tmp_path / "exports"
    return tmp_path / "exports"


def _customer(world: World, **fields: Any) -> Any:
    return customer_services.create_customer(
        actor=world.care,
        org_unit=world.north.unit,
        tariff=world.tariff,
        category=CustomerCategory.RESIDENTIAL,
        **{"name": "Review Customer", **fields},
    )


def _found(world: World, text: str) -> set[str]:
    return set(
        customer_selectors.list_customers(world.care, search=text).values_list(
            "account_number", flat=True
        )
    )


# --- exports ------------------------------------------------------------------------------------


def test_a_retried_job_overlapping_a_running_one_leaves_a_ready_export_without_its_file(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """start_export_run takes a RUNNING export again ("its worker died"); when the first worker
    did not die (a job timeout retried while it still writes, or the queue delivering twice) the
    second run finishes the export, then the first one's finish_export finds it DONE, treats that
    as "deleted" (_Deleted) and rmtree()s the export's directory: the export stays DONE, listed
    as Ready, with its file gone (download 404 for the whole retention period)."""
    export = services.request_export(actor=world.care, source="customers", filters={}, format="csv")
    real = services.set_export_rows_expected
    overlapped: list[bool] = []

    def rows_expected(export_id: int, rows: int) -> None:
        real(export_id, rows)
        if not overlapped:  # the queue runs the same job again while this one writes
            overlapped.append(True)
            tasks.run_export(export_id)

    monkeypatch.setattr(services, "set_export_rows_expected", rows_expected)
    tasks.run_export(export.pk)
    export.refresh_from_db()
    assert export.status == ExportStatus.DONE
    assert (export_directory(export.pk) / export.file_name).is_file()
    response = signed_in(world.care).get(reverse("web:export-download", kwargs={"pk": export.pk}))
    assert response.status_code == 200


def test_an_owner_moved_to_another_region_still_downloads_the_old_regions_rows(
    world: World,
) -> None:
    """The job re-checks the owner's scope, but the download checks ownership only: a clerk moved
    from North to South (or whose role no longer allows the list) keeps downloading a file of
    North's customers for GRIDVEND_EXPORT_RETENTION_DAYS."""
    export = services.request_export(actor=world.care, source="customers", filters={}, format="csv")
    tasks.run_export(export.pk)
    export.refresh_from_db()
    assert export.status == ExportStatus.DONE
    identity.update_user(actor=world.admin, user=world.care, org_unit=world.south.unit)
    world.care.refresh_from_db()
    response: Any = signed_in(world.care).get(
        reverse("web:export-download", kwargs={"pk": export.pk})
    )
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert world.north.customer.account_number.encode() not in body
    assert response.status_code == 404
    assert Export.objects.filter(pk=export.pk).exists()


# --- search -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "stored", "typed"),
    [
        ("CN", "+8613812345678", "13812345678"),  # every Chinese mobile: 11 digits
        ("NG", "+2348031234567", "08031234567"),  # Nigerian mobile, local form
        ("EG", "+201012345678", "01012345678"),  # Egyptian mobile, local form
    ],
)
def test_a_local_phone_of_a_meters_length_finds_its_customer(
    world: World, settings: Any, country: str, stored: str, typed: str
) -> None:
    """classify() reads any 11- or 13-digit text without "+" as a meter number only, so in a
    country whose local mobile numbers have 11 digits (China, Nigeria, Egypt...) typing the
    customer's phone as people write it finds nothing; the old search matched the phone."""
    settings.DEFAULT_COUNTRY = country
    customer = _customer(world, phone=stored)
    assert customer.phone == stored
    assert _found(world, typed) == {customer.account_number}


def test_an_account_number_of_a_meters_length_finds_its_customer(world: World) -> None:
    """A chosen account number (1-20 letters/digits) of 11 or 13 digits - or the demo loader's own
    account numbers from its tenth centre on - is searched as a meter only: not found; the old
    search's account-number prefix found it."""
    customer = _customer(world, account_number="12345678901")
    assert _found(world, "12345678901") == {customer.account_number}


@pytest.mark.parametrize(
    ("stored", "typed"),
    [("QQ 12 34 56 C", "QQ 12 34 56 C"), ("Ab123456", "ab123456")],
)
def test_a_national_id_as_stored_or_in_another_case_finds_its_customer(
    world: World, stored: str, typed: str
) -> None:
    """The old search matched national_id__iexact; the new one searches a national id only for
    a text without spaces (else it is a name) and only as typed or upper-cased, so an id stored
    with spaces or in mixed case is no longer found even when typed exactly."""
    customer = _customer(world, national_id=stored)
    assert _found(world, typed) == {customer.account_number}


def test_a_killed_jobs_partial_file_is_never_deleted(world: World, settings: Any) -> None:
    """A worker killed mid-write (the queue's timeout, an OOM kill, a restart) runs no except
    clause, so its EXPORT_DIR/<id>/.<uuid>.part stays. The expiry sweep rmtree()s only DONE
    exports; the never-finished export is marked FAILED with its directory left on disk, so the
    partial files of a large export (gigabytes) accumulate forever."""
    export = services.request_export(actor=world.care, source="customers", filters={}, format="csv")
    assert services.start_export_run(export.pk) is not None  # the worker took it ...
    directory = export_directory(export.pk)
    directory.mkdir(parents=True)
    partial = directory / ".0123456789abcdef.part"
    partial.write_bytes(b"x" * 4096)  # ... wrote part of the file and was killed
    later = export.created_at + timedelta(days=settings.EXPORT_RETENTION_DAYS + 1)
    services.expire_old_exports(now=later)
    export.refresh_from_db()
    assert export.status == ExportStatus.FAILED
    assert not partial.exists()


def test_the_meters_list_finds_a_meter_number_typed_in_arabic_indic_digits(world: World) -> None:
    """classify() turns Arabic-Indic digits into a METER search, so list_meters drops the
    customer condition; but its own prefix condition is built only when the typed text is ASCII
    digits, so the condition is None and the list is empty. The customers list finds the same
    meter's customer for the same text."""
    meter = Meter.objects.filter(customer=world.north.customer).first()
    assert meter is not None
    arabic = meter.number.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert _found(world, arabic) == {world.north.customer.account_number}  # customers: found
    found = meter_selectors.list_meters(world.care, search=arabic)
    assert list(found.values_list("number", flat=True)) == [meter.number]
