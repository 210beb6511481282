"""Readings through the services: each check raising an exception for a supervisor, roll-over,
refusals that write nothing, the exception decisions by a second person, estimates and their
correction, books, and scoping (the south never sees the north's books, readings or exceptions)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from gridvend.approvals.errors import MakerCheckerViolation, RequestAlreadyDecided
from gridvend.approvals.models import RequestStatus
from gridvend.audit.models import AuditEvent
from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.kernel.errors import DomainError, ReasonRequired
from gridvend.meters import services as meter_services
from gridvend.readings import estimates, selectors, services
from gridvend.readings.models import (
    ExceptionKind,
    MeterReading,
    ReadingException,
    ReadingSource,
    ReadingStatus,
)
from tests.readings.conftest import Scene

pytestmark = pytest.mark.django_db


def history(s: Scene) -> None:
    """Meter a: 1,000 then 300 kWh every 30 days (10 kWh a day), on days 0, 30 and 60."""
    for day, value in ((0, "1000"), (30, "1300"), (60, "1600")):
        assert s.read(s.a, day, value).status == ReadingStatus.VALID


def refused(code: str, call: object) -> None:
    before = MeterReading.objects.count(), AuditEvent.objects.count()
    with pytest.raises(DomainError) as caught:
        call()  # type: ignore[operator]
    assert caught.value.code == code
    assert (MeterReading.objects.count(), AuditEvent.objects.count()) == before


def test_a_valid_reading_records_its_consumption_book_and_audit_event(scene: Scene) -> None:
    history(scene)
    reading = scene.read(scene.a, 90, "1900.5")
    assert reading.status == ReadingStatus.VALID
    assert reading.consumption_kwh == Decimal("300.50")
    assert reading.book == scene.book and reading.source == ReadingSource.SCREEN
    assert reading.previous is not None and reading.previous.register_kwh == Decimal("1600")
    event = AuditEvent.objects.filter(event_type="reading.recorded").latest("id")
    assert event.target_id == str(reading.pk)


@pytest.mark.parametrize(
    ("day", "value", "kind"),
    [
        (90, "1500", ExceptionKind.NEGATIVE_CONSUMPTION),
        (90, "1600", ExceptionKind.ZERO_CONSUMPTION),
        (90, "2501", ExceptionKind.SPIKE),  # 901 kWh in 30 days against 10 a day
        (45, "1450", ExceptionKind.OUT_OF_SEQUENCE),
    ],
)
def test_each_check_records_an_exception_waiting_for_a_supervisor(
    scene: Scene, day: int, value: str, kind: str
) -> None:
    history(scene)
    reading = scene.read(scene.a, day, value)
    assert (reading.status, reading.exception_kind) == (ReadingStatus.EXCEPTION, kind)
    exception = ReadingException.objects.get(reading=reading)
    assert exception.status == RequestStatus.PENDING and exception.requested_by == scene.reader
    assert list(selectors.list_open_exceptions(scene.supervisor)) == [exception]


def test_a_register_rolling_over_its_digits_is_valid_consumption(scene: Scene) -> None:
    meter_services.update_meter(actor=scene.world.admin, meter=scene.a, register_digits=5)
    scene.a.refresh_from_db()
    scene.read(scene.a, 0, "99990")
    reading = scene.read(scene.a, 1, "12")
    assert reading.status == ReadingStatus.VALID
    assert reading.is_roll_over and reading.consumption_kwh == Decimal("22")


def test_a_value_past_the_register_is_refused(scene: Scene) -> None:
    meter_services.update_meter(actor=scene.world.admin, meter=scene.a, register_digits=5)
    scene.a.refresh_from_db()
    refused("READING_ABOVE_REGISTER", lambda: scene.read(scene.a, 0, "100000"))


def test_a_retired_meter_takes_no_reading(scene: Scene) -> None:
    meter_services.retire_meter(actor=scene.world.admin, meter=scene.a, reason="Burnt")
    scene.a.refresh_from_db()
    refused("READING_METER_RETIRED", lambda: scene.read(scene.a, 0, "10"))


def test_a_reading_in_the_future_is_refused(scene: Scene) -> None:
    def call() -> None:
        services.record_reading(
            actor=scene.reader,
            meter=scene.a,
            register_kwh=Decimal("10"),
            read_at=timezone.now() + timedelta(minutes=5),
        )

    refused("READING_IN_FUTURE", call)


def test_a_second_reading_at_the_same_time_is_refused(scene: Scene) -> None:
    scene.read(scene.a, 0, "10")
    refused("READING_DUPLICATE", lambda: scene.read(scene.a, 0, "11"))


def test_someone_who_does_not_read_meters_may_not_enter_a_reading(scene: Scene) -> None:
    with pytest.raises(AccessDenied):
        scene.read(scene.a, 0, "10", by=scene.world.cashier)
    assert not MeterReading.objects.exists()


# Exceptions -------------------------------------------------------------------------------------


def exception_on_a(scene: Scene, value: str = "1500") -> ReadingException:
    history(scene)
    return ReadingException.objects.get(reading=scene.read(scene.a, 90, value))


def test_a_supervisor_accepts_an_exception_and_it_becomes_the_base(scene: Scene) -> None:
    exception = exception_on_a(scene)
    standing = services.decide_exception(
        actor=scene.supervisor, exception=exception, action="accept", note="meter reset"
    )
    assert standing.status == ReadingStatus.VALID and standing.consumption_kwh == Decimal("-100")
    exception.refresh_from_db()
    assert (exception.status, exception.action) == (RequestStatus.APPROVED, "accept")
    assert exception.decided_by == scene.supervisor
    # The next reading is reckoned from the accepted one.
    assert scene.read(scene.a, 120, "1800").consumption_kwh == Decimal("300")


def test_whoever_recorded_the_reading_may_not_decide_its_exception(scene: Scene) -> None:
    history(scene)
    reading = scene.read(scene.a, 90, "1500", by=scene.supervisor)
    exception = ReadingException.objects.get(reading=reading)
    with pytest.raises(MakerCheckerViolation):
        services.decide_exception(actor=scene.supervisor, exception=exception, action="accept")
    with pytest.raises(AccessDenied):
        services.decide_exception(actor=scene.reader, exception=exception, action="accept")
    services.decide_exception(actor=scene.second, exception=exception, action="accept")
    with pytest.raises(RequestAlreadyDecided):
        services.decide_exception(actor=scene.supervisor, exception=exception, action="reread",
                                  note="again")  # fmt: skip


def test_a_re_read_needs_a_reason_and_leaves_the_reading_out_of_the_history(scene: Scene) -> None:
    exception = exception_on_a(scene)
    with pytest.raises(ReasonRequired):
        services.decide_exception(actor=scene.supervisor, exception=exception, action="reread")
    services.decide_exception(
        actor=scene.supervisor, exception=exception, action="reread", note="digits misread"
    )
    exception.reading.refresh_from_db()
    assert exception.reading.status == ReadingStatus.REREAD
    # The re-read at the same hour is welcome, and reckoned from day 60.
    again = scene.read(scene.a, 90, "1900")
    assert again.status == ReadingStatus.VALID and again.consumption_kwh == Decimal("300")


def test_an_exception_replaced_by_an_estimate_from_the_meters_average(scene: Scene) -> None:
    exception = exception_on_a(scene, "9000")  # a spike
    estimate = services.decide_exception(
        actor=scene.supervisor, exception=exception, action="estimate", note="implausible"
    )
    # 10 kWh a day for the 30 days since day 60.
    assert (estimate.status, estimate.source) == (ReadingStatus.ESTIMATED, ReadingSource.ESTIMATE)
    assert estimate.register_kwh == Decimal("1900.00")
    assert estimate.consumption_kwh == Decimal("300.00")
    exception.refresh_from_db()
    exception.reading.refresh_from_db()
    assert exception.estimate == estimate and exception.action == "estimate"
    assert exception.reading.status == ReadingStatus.REPLACED
    assert exception.reading.replaced_by == estimate


def test_an_estimate_needs_history(scene: Scene) -> None:
    scene.read(scene.a, 0, "1000")
    exception = ReadingException.objects.get(reading=scene.read(scene.a, 30, "1000"))
    with pytest.raises(DomainError) as caught:
        services.decide_exception(actor=scene.supervisor, exception=exception, action="estimate")
    assert caught.value.code == "READING_NO_HISTORY"
    exception.refresh_from_db()
    assert exception.status == RequestStatus.PENDING


# Estimates --------------------------------------------------------------------------------------


def test_a_book_estimates_its_unread_meters_and_the_next_actual_corrects_it(scene: Scene) -> None:
    history(scene)  # meter a read up to day 60; meter b never read
    # The cycle ending on the last 25th before day 130 starts after day 69, whatever today is.
    on = scene.at(130).date()
    run = estimates.estimate_book(actor=scene.supervisor, book=scene.book, on=on)
    assert [r.meter for r in run.estimated] == [scene.a]
    assert run.skipped == [(scene.b.number, "READING_NO_HISTORY")]
    estimate = run.estimated[0]
    expected_days = (estimate.read_at - scene.at(60)).total_seconds() / 86400
    assert estimate.consumption_kwh == (Decimal(10) * Decimal(expected_days)).quantize(
        Decimal("0.01")
    )
    # Running again estimates nothing twice.
    again = estimates.estimate_book(actor=scene.supervisor, book=scene.book, on=on)
    assert again.estimated == [] and again.read == [scene.a.number]
    # The actual reading replaces it, and its consumption is reckoned from the last actual.
    actual = scene.read(scene.a, 140, "2400")
    estimate.refresh_from_db()
    assert estimate.status == ReadingStatus.REPLACED and estimate.replaced_by == actual
    assert actual.consumption_kwh == Decimal("800") and actual.previous is not None
    assert actual.previous.register_kwh == Decimal("1600")


def test_the_cycle_ends_on_the_last_cycle_day() -> None:
    import datetime

    assert estimates.cycle_bounds(25, datetime.date(2026, 3, 10)) == (
        datetime.date(2026, 1, 26),
        datetime.date(2026, 2, 25),
    )
    assert estimates.cycle_bounds(5, datetime.date(2026, 1, 5)) == (
        datetime.date(2025, 12, 6),
        datetime.date(2026, 1, 5),
    )


# Books ------------------------------------------------------------------------------------------


def test_a_book_keeps_its_order_and_a_meter_is_in_one_book(scene: Scene) -> None:
    s = scene
    c = s.world.add_meter(name="Reading C")
    services.add_book_meter(actor=s.supervisor, book=s.book, meter=c)
    services.move_book_meter(actor=s.supervisor, book=s.book, meter=c, offset=-1)
    assert [e.meter for e in selectors.book_entries(s.book)] == [s.a, c, s.b]
    services.remove_book_meter(actor=s.supervisor, book=s.book, meter=s.a)
    assert [(e.meter, e.position) for e in selectors.book_entries(s.book)] == [(c, 1), (s.b, 2)]
    other = services.create_book(
        actor=s.supervisor, org_unit=s.world.tree.north_sc, code="n-02", name="Two", cycle_day=3
    )
    with pytest.raises(DomainError) as caught:
        services.add_book_meter(actor=s.supervisor, book=other, meter=c)
    assert caught.value.code == "BOOK_METER_IN_A_BOOK"


def test_a_book_takes_only_meters_of_its_service_centre(scene: Scene) -> None:
    with pytest.raises(DomainError) as caught:
        services.add_book_meter(actor=scene.world.admin, book=scene.book, meter=scene.south_meter)
    assert caught.value.code == "BOOK_METER_OTHER_UNIT"


def test_a_book_belongs_to_a_service_centre_and_a_reader_of_its_area(scene: Scene) -> None:
    tree = scene.world.tree
    with pytest.raises(DomainError) as caught:
        services.create_book(
            actor=scene.supervisor, org_unit=tree.north_bu, code="bu", name="BU", cycle_day=1
        )
    assert caught.value.code == "BOOK_UNIT_INVALID"
    with pytest.raises(DomainError) as caught:
        services.update_book(actor=scene.supervisor, book=scene.book, reader=scene.supervisor)
    assert caught.value.code == "BOOK_READER_INVALID"
    with pytest.raises(DomainError) as caught:
        services.update_book(actor=scene.supervisor, book=scene.book, cycle_day=31)
    assert caught.value.code == "BOOK_CYCLE_DAY_INVALID"


# Scoping ----------------------------------------------------------------------------------------


def test_the_south_never_sees_the_norths_books_readings_or_exceptions(scene: Scene) -> None:
    exception = exception_on_a(scene)
    south = scene.south_supervisor
    assert not selectors.list_books(south).exists()
    assert not selectors.list_readings(south).exists()
    assert not selectors.list_open_exceptions(south).exists()
    for call in (
        lambda: selectors.get_book(south, scene.book.pk),
        lambda: selectors.get_reading(south, exception.reading_id),
        lambda: selectors.get_exception(south, exception.pk),
        lambda: services.decide_exception(actor=south, exception=exception, action="accept"),
        lambda: services.add_book_meter(actor=south, book=scene.book, meter=scene.a),
    ):
        with pytest.raises(NotFound):
            call()
    assert selectors.list_readings(scene.supervisor).count() == 4


def test_the_estimate_command_estimates_each_book_as_its_supervisor(scene: Scene) -> None:
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    history(scene)
    out = StringIO()
    call_command(
        "readings",
        "estimate",
        "--as",
        scene.supervisor.username,
        "--on",
        scene.at(130).date().isoformat(),
        stdout=out,
    )
    text = out.getvalue()
    assert "n-01" in text and "1 estimated" in text
    assert f"skipped {scene.b.number}: READING_NO_HISTORY" in text
    assert MeterReading.objects.filter(meter=scene.a, status=ReadingStatus.ESTIMATED).count() == 1
    # The south's supervisor has no north book to estimate.
    with pytest.raises(CommandError):
        call_command("readings", "estimate", "--as", scene.south_supervisor.username,
                     "--book", "n-01")  # fmt: skip
