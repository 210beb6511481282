"""Two uploads of one meter-data file at once, and two readings of one meter at one time at
once: the database decides (the file's unique digest, the unique standing reading per meter and
time), one goes through and the other is refused with its code, nothing is written twice."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection

from gridvend.kernel.errors import DomainError
from gridvend.readings import services
from gridvend.readings.imports import import_readings
from gridvend.readings.models import MeterReading, ReadingImport
from tests.readings.conftest import Scene
from tests.threads import run_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def codes(errors: list[BaseException]) -> list[str]:
    return [str(e.code) if isinstance(e, DomainError) else repr(e) for e in errors]


def test_the_same_file_uploaded_twice_at_once_is_imported_once(scene: Scene) -> None:
    assert connection.vendor == "postgresql"
    content = (
        "meter_number,read_at,register_kwh\n"
        f"{scene.a.number},{scene.at(0).isoformat()},1000\n"
        f"{scene.b.number},{scene.at(0).isoformat()},2000\n"
    ).encode()
    results, errors = run_threads(
        2,
        lambda i: import_readings(actor=scene.reader, filename=f"{i}.csv", content=content).pk,
    )
    assert codes(errors) == ["READING_FILE_DUPLICATE"]
    assert [r for r in results if r is not None] == [ReadingImport.objects.get().pk]
    assert ReadingImport.objects.count() == 1
    assert MeterReading.objects.count() == 2


def test_one_meter_read_twice_at_one_time_at_once_keeps_one_reading(scene: Scene) -> None:
    assert connection.vendor == "postgresql"
    results, errors = run_threads(
        2,
        lambda i: (
            services.record_reading(
                actor=scene.reader,
                meter=scene.a,
                register_kwh=Decimal(1000 + i),
                read_at=scene.at(0),
            ).pk
        ),
    )
    assert codes(errors) == ["READING_DUPLICATE"]
    assert [r for r in results if r is not None] == [MeterReading.objects.get().pk]
    assert MeterReading.objects.count() == 1
