"""The reading screens through the test client: a book made and ordered, a reading entered, a
reading sheet, a meter-data file and its per-row result, an exception decided by a second
supervisor, the readings list's filters; and the customer's kind of account edited and audited."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from gridvend.audit.models import AuditEvent
from gridvend.customers.models import AccountKind
from gridvend.readings.models import (
    MeterReading,
    ReadingBook,
    ReadingException,
    ReadingImport,
    ReadingStatus,
)
from tests.readings.conftest import Scene
from tests.signin import signed_in

pytestmark = pytest.mark.django_db


def local(s: Scene, day: int) -> str:
    """A datetime-local value for the screen (the utility's time)."""
    from django.utils import timezone

    return timezone.localtime(s.at(day)).strftime("%Y-%m-%dT%H:%M")


def test_a_supervisor_builds_and_orders_a_book_on_screen(scene: Scene) -> None:
    client = signed_in(scene.supervisor)
    tree = scene.world.tree
    response = client.post(
        "/reading-books/new/",
        {
            "org_unit": tree.north_sc.pk,
            "code": "N-02",
            "name": "North route 2",
            "cycle_day": 10,
            "reader": scene.reader.pk,
        },
    )
    book = ReadingBook.objects.get(code="n-02")
    assert response.status_code == 302 and book.reader == scene.reader
    c = scene.world.add_meter(name="Screen C")
    client.post(f"/reading-books/{book.pk}/", {"add-meter_number": c.number})
    # Meter a is already in book n-01: refused beside the field, nothing added.
    refused = client.post(f"/reading-books/{book.pk}/", {"add-meter_number": scene.a.number})
    assert refused.status_code == 200 and "already in book n-01" in refused.content.decode()
    assert [e.meter for e in book.entries.all()] == [c]
    client.post(f"/reading-books/{scene.book.pk}/", {"action": "down", "meter": scene.a.pk})
    assert [e.meter for e in scene.book.entries.order_by("position")] == [scene.b, scene.a]
    page = client.get(f"/reading-books/{scene.book.pk}/").content.decode()
    assert page.index(scene.b.number) < page.index(scene.a.number)


def test_a_reader_enters_a_reading_and_a_sheet(scene: Scene) -> None:
    client = signed_in(scene.reader)
    response = client.post(
        "/readings/new/",
        {"meter_number": scene.a.number, "register_kwh": "1000", "read_at": local(scene, 0)},
    )
    assert response.status_code == 302
    assert MeterReading.objects.get(meter=scene.a).register_kwh == Decimal("1000")
    sheet = f"/reading-books/{scene.book.pk}/sheet/"
    entries = list(scene.book.entries.order_by("position"))
    answer = client.post(
        sheet,
        {"read_at": local(scene, 30), f"m{entries[0].pk}": "900", f"m{entries[1].pk}": "55"},
    )
    body = answer.content.decode()
    assert answer.status_code == 200 and "negative_consumption" in body
    assert MeterReading.objects.get(meter=scene.b).status == ReadingStatus.VALID
    # A value that is not a number never reaches the service.
    bad = client.post(sheet, {"read_at": local(scene, 40), f"m{entries[1].pk}": "1e9"})
    assert bad.status_code == 200 and MeterReading.objects.count() == 3
    listed = client.get(f"/readings/?meter={scene.a.number}&status=exception").content.decode()
    assert "900" in listed


def test_a_file_is_imported_and_its_rows_shown(scene: Scene) -> None:
    client = signed_in(scene.reader)
    content = (
        "meter_number,read_at,register_kwh\n"
        f"{scene.a.number},{scene.at(0).isoformat()},1000\n"
        f"{scene.a.number},{scene.at(1).isoformat()},abc\n"
    ).encode()
    answer = client.post(
        "/readings/import/", {"file": SimpleUploadedFile("route.csv", content, "text/csv")}
    )
    upload = ReadingImport.objects.get()
    assert answer.status_code == 302 and answer["Location"].endswith(f"/{upload.pk}/")
    shown = client.get(answer["Location"]).content.decode()
    assert "READING_VALUE_INVALID" in shown
    again = client.post(
        "/readings/import/", {"file": SimpleUploadedFile("again.csv", content, "text/csv")}
    )
    assert again.status_code == 200 and ReadingImport.objects.count() == 1
    assert "already imported" in again.content.decode()


def test_a_second_supervisor_decides_an_exception_on_screen(scene: Scene) -> None:
    scene.read(scene.a, 0, "1000", by=scene.supervisor)
    reading = scene.read(scene.a, 30, "900", by=scene.supervisor)
    exception = ReadingException.objects.get(reading=reading)
    own = signed_in(scene.supervisor).post(
        f"/readings/exceptions/{exception.pk}/", {"action": "accept", "note": ""}
    )
    assert own.status_code == 200 and "another reading supervisor" in own.content.decode()
    client = signed_in(scene.second)
    assert str(scene.a.number) in client.get("/readings/exceptions/").content.decode()
    no_reason = client.post(f"/readings/exceptions/{exception.pk}/", {"action": "reread"})
    assert no_reason.status_code == 200
    exception.refresh_from_db()
    assert exception.is_pending
    done = client.post(
        f"/readings/exceptions/{exception.pk}/", {"action": "reread", "note": "misread"}
    )
    assert done.status_code == 302
    reading.refresh_from_db()
    assert reading.status == ReadingStatus.REREAD


def test_the_south_cannot_open_the_norths_book_or_exception(scene: Scene) -> None:
    scene.read(scene.a, 0, "1000")
    exception = ReadingException.objects.get(reading=scene.read(scene.a, 30, "900"))
    client = signed_in(scene.south_supervisor)
    assert client.get(f"/reading-books/{scene.book.pk}/").status_code == 404
    assert client.get(f"/readings/exceptions/{exception.pk}/").status_code == 404
    assert scene.a.number not in client.get("/readings/").content.decode()


def test_the_kind_of_account_is_edited_with_the_customer_and_audited(scene: Scene) -> None:
    customer = scene.a.customer
    assert customer is not None and customer.account_kind == AccountKind.PREPAID
    care = signed_in(scene.world.supervisor)  # customer care in the north
    response = care.post(
        f"/customers/{customer.pk}/edit/",
        {
            "name": customer.name,
            "category": customer.category,
            "account_kind": "both",
            "org_unit": customer.org_unit_id,
            "tariff": customer.tariff_id,
        },
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.account_kind == AccountKind.BOTH
    event = AuditEvent.objects.filter(event_type="customer.updated").latest("id")
    assert event.before is not None and event.after is not None
    assert (event.before["account_kind"], event.after["account_kind"]) == ("prepaid", "both")
