"""Importing a meter-data file: a result for every row (accepted, exception, refused with its
code), a refused file writing nothing, and the same file (or the same meter and time) twice."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gridvend.audit.models import AuditEvent
from gridvend.identity.errors import AccessDenied
from gridvend.kernel.errors import DomainError
from gridvend.meters import services as meter_services
from gridvend.readings.imports import import_readings
from gridvend.readings.models import MeterReading, ReadingException, ReadingImport, ReadingStatus
from tests.readings.conftest import Scene

pytestmark = pytest.mark.django_db

HEADER = "meter_number,read_at,register_kwh,reader,book_code,note"


def csv(*lines: str) -> bytes:
    return ("\n".join([HEADER, *lines]) + "\n").encode()


def when(s: Scene, day: int) -> str:
    return s.at(day).isoformat()


def results(upload: ReadingImport) -> list[tuple[int, str, str]]:
    return [(r["row"], r["result"], r["code"]) for r in upload.results]


def test_each_row_is_accepted_raised_or_refused_with_its_code(scene: Scene) -> None:
    s = scene
    meter_services.retire_meter(actor=s.world.admin, meter=s.b, reason="Burnt")
    content = csv(
        f"{s.a.number},{when(s, 0)},1000,{s.reader.username},n-01,first",
        f"{s.a.number},{when(s, 30)},1300,,,",
        f"{s.a.number},{when(s, 60)},1200,,,lower than the last",
        f"{s.b.number},{when(s, 60)},10,,,",  # retired
        f"{s.south_meter.number},{when(s, 60)},10,,,",  # not in the importer's area
        f"{s.a.number},{when(s, 30)},1301,,,",  # the same meter and time again
        f"{s.a.number},not a time,1301,,,",
        f"{s.a.number},{when(s, 90)},1e9,,,",
        f"{s.a.number},{when(s, 91)},1400,nobody,,",
    )
    upload = import_readings(actor=s.reader, filename="route.csv", content=content)
    assert results(upload) == [
        (2, "accepted", ""),
        (3, "accepted", ""),
        (4, "exception", "negative_consumption"),
        (5, "refused", "READING_METER_RETIRED"),
        (6, "refused", "READING_METER_UNKNOWN"),
        (7, "refused", "READING_DUPLICATE"),
        (8, "refused", "READING_TIME_INVALID"),
        (9, "refused", "READING_VALUE_INVALID"),
        (10, "refused", "READING_READER_UNKNOWN"),
    ]
    assert (upload.row_count, upload.accepted_count, upload.exception_count) == (9, 2, 1)
    assert upload.refused_count == 6
    readings = MeterReading.objects.filter(reading_import=upload).order_by("read_at")
    assert [(r.register_kwh, r.status) for r in readings] == [
        (Decimal("1000"), ReadingStatus.VALID),
        (Decimal("1300"), ReadingStatus.VALID),
        (Decimal("1200"), ReadingStatus.EXCEPTION),
    ]
    assert readings[0].reader == s.reader and readings[0].note == "first"
    assert ReadingException.objects.filter(reading=readings[2]).exists()
    assert AuditEvent.objects.filter(event_type="reading_import.completed").count() == 1


def test_the_same_file_twice_is_refused_and_writes_nothing(scene: Scene) -> None:
    content = csv(f"{scene.a.number},{when(scene, 0)},1000,,,")
    first = import_readings(actor=scene.reader, filename="a.csv", content=content)
    before = MeterReading.objects.count(), ReadingImport.objects.count()
    with pytest.raises(DomainError) as caught:
        import_readings(actor=scene.reader, filename="renamed.csv", content=content)
    assert caught.value.code == "READING_FILE_DUPLICATE"
    assert caught.value.params["import_id"] == first.pk
    assert (MeterReading.objects.count(), ReadingImport.objects.count()) == before


def test_a_file_with_the_same_readings_under_another_digest_refuses_each_row(scene: Scene) -> None:
    import_readings(
        actor=scene.reader, filename="a.csv", content=csv(f"{scene.a.number},{when(scene, 0)},1,,,")
    )
    again = import_readings(
        actor=scene.reader,
        filename="b.csv",
        content=csv(f"{scene.a.number},{when(scene, 0)},1,,,", ""),
    )
    assert results(again) == [(2, "refused", "READING_DUPLICATE")]
    assert MeterReading.objects.count() == 1


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("readings.xlsx", b"PK\x03\x04"),
        ("readings.csv", b"meter,when\n1,2\n"),  # the required columns are missing
        ("readings.csv", b"meter_number,read_at,register_kwh\n" + b"\xff\xfe,1,2\n"),
        ("readings.csv", HEADER.encode() + b"\n"),  # a header and no rows
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole(
    scene: Scene, name: str, content: bytes
) -> None:
    with pytest.raises(DomainError) as caught:
        import_readings(actor=scene.reader, filename=name, content=content)
    assert caught.value.code == "READING_FILE_INVALID"
    assert not ReadingImport.objects.exists() and not MeterReading.objects.exists()


def test_the_size_and_row_caps_are_checked_before_parsing(scene: Scene, settings: Any) -> None:
    settings.IMPORT_MAX_BYTES = 200
    big = csv(*[f"{scene.a.number},{when(scene, d)},{d},,," for d in range(10)])
    with pytest.raises(DomainError) as caught:
        import_readings(actor=scene.reader, filename="big.csv", content=big)
    assert caught.value.code == "READING_FILE_INVALID"
    settings.IMPORT_MAX_BYTES = 10_000_000
    from gridvend.readings import imports

    long = csv(*[f"{scene.a.number},{when(scene, d)},{d},,," for d in range(imports.MAX_ROWS + 1)])
    with pytest.raises(DomainError):
        import_readings(actor=scene.reader, filename="long.csv", content=long)
    assert not MeterReading.objects.exists()


def test_only_readers_and_supervisors_import(scene: Scene) -> None:
    with pytest.raises(AccessDenied):
        import_readings(
            actor=scene.world.cashier,
            filename="a.csv",
            content=csv(f"{scene.a.number},{when(scene, 0)},1,,,"),
        )
    assert not ReadingImport.objects.exists()
