"""Scoped reads of reading books, readings, reading files and open exceptions.

Books are scoped by their service centre, readings and exceptions by their meter's unit, reading
files by the unit of whoever imported them: out of scope answers NotFound, as everywhere.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import Q, QuerySet

from gridvend.approvals.models import RequestStatus
from gridvend.identity.models import User
from gridvend.identity.scoping import get_scoped, scoped
from gridvend.kernel.clock import day_bounds_utc
from gridvend.kernel.readings import HISTORY_READINGS, Point, expected_range
from gridvend.meters.models import Meter
from gridvend.meters.selectors import normalise_meter_number
from gridvend.org.models import OrgUnit
from gridvend.readings.models import (
    BookMeter,
    MeterReading,
    ReadingBook,
    ReadingException,
    ReadingImport,
    ReadingSource,
    ReadingStatus,
)

_READING_PATH = "meter__org_unit__path"


def list_books(
    actor: User, *, search: str = "", unit: OrgUnit | None = None
) -> QuerySet[ReadingBook]:
    books = scoped(ReadingBook.objects.all(), actor).select_related("org_unit", "reader")
    if unit is not None:
        books = books.filter(org_unit__path__startswith=unit.path)
    text = search.strip()
    if text:
        books = books.filter(Q(code__icontains=text) | Q(name__icontains=text))
    return books.order_by("code")


def get_book(actor: User, pk: int) -> ReadingBook:
    return get_scoped(ReadingBook.objects.select_related("org_unit", "reader"), actor, pk=pk)


def get_book_by_code(actor: User, code: str) -> ReadingBook | None:
    return scoped(ReadingBook.objects.all(), actor).filter(code=code.strip().lower()).first()


def book_entries(book: ReadingBook) -> QuerySet[BookMeter]:
    """The book's meters in reading order, with each meter's customer and premise."""
    return (
        BookMeter.objects.filter(book=book)
        .select_related("meter", "meter__customer", "meter__premise")
        .order_by("position", "id")
    )


def list_readings(
    actor: User,
    *,
    meter: str = "",
    status: str = "",
    source: str = "",
    book: int | None = None,
    unit: OrgUnit | None = None,
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
) -> QuerySet[MeterReading]:
    readings = scoped(MeterReading.objects.all(), actor, path=_READING_PATH).select_related(
        "meter", "reader", "book", "meter__org_unit"
    )
    if unit is not None:
        readings = readings.filter(meter__org_unit__path__startswith=unit.path)
    number = normalise_meter_number(meter)
    if number:
        readings = readings.filter(meter__number=number)
    if status:
        readings = readings.filter(status=status)
    if source:
        readings = readings.filter(source=source)
    if book is not None:
        readings = readings.filter(book_id=book)
    zone = settings.TIME_ZONE
    if date_from is not None:
        readings = readings.filter(read_at__gte=day_bounds_utc(date_from, zone)[0])
    if date_to is not None:
        readings = readings.filter(read_at__lt=day_bounds_utc(date_to, zone)[1])
    return readings.order_by("-read_at", "-id")


def get_reading(actor: User, pk: int) -> MeterReading:
    return get_scoped(
        MeterReading.objects.select_related("meter", "meter__org_unit"),
        actor,
        path=_READING_PATH,
        pk=pk,
    )


def meter_readings(meter: Meter, limit: int = 24) -> list[MeterReading]:
    """A meter's latest readings, newest first (the caller has the meter in scope)."""
    return list(
        MeterReading.objects.filter(meter=meter)
        .select_related("reader")
        .order_by("-read_at", "-id")[:limit]
    )


def list_open_exceptions(
    actor: User, *, unit: OrgUnit | None = None, kind: str = ""
) -> QuerySet[ReadingException]:
    """Exceptions waiting for a decision in the actor's subtree, oldest first."""
    found = scoped(
        ReadingException.objects.filter(status=RequestStatus.PENDING),
        actor,
        path=f"reading__{_READING_PATH}",
    ).select_related("reading", "reading__meter", "reading__meter__customer", "requested_by")
    if unit is not None:
        found = found.filter(reading__meter__org_unit__path__startswith=unit.path)
    if kind:
        found = found.filter(exception_kind=kind)
    return found.order_by("requested_at", "id")


def get_exception(actor: User, pk: int) -> ReadingException:
    return get_scoped(
        ReadingException.objects.select_related(
            "reading", "reading__meter", "reading__meter__org_unit", "requested_by"
        ),
        actor,
        path=f"reading__{_READING_PATH}",
        pk=pk,
    )


def list_imports(actor: User) -> QuerySet[ReadingImport]:
    return scoped(ReadingImport.objects.all(), actor).select_related("imported_by")


def get_import(actor: User, pk: int) -> ReadingImport:
    return get_scoped(ReadingImport.objects.select_related("imported_by"), actor, pk=pk)


# Unscoped reads for the services, which have the meter in scope and locked ---------------------


def last_valid(meter: Meter, *, before: datetime.datetime | None = None) -> MeterReading | None:
    """The meter's latest accepted actual reading (before ``before``, if given)."""
    found = MeterReading.objects.filter(meter=meter, status=ReadingStatus.VALID)
    if before is not None:
        found = found.filter(read_at__lt=before)
    return found.order_by("-read_at", "-id").first()


def history(meter: Meter, *, upto: MeterReading) -> list[Point]:
    """The accepted actual readings up to and including ``upto``, oldest first (at most
    HISTORY_READINGS), for the meter's average daily use."""
    rows = list(
        MeterReading.objects.filter(
            meter=meter, status=ReadingStatus.VALID, read_at__lte=upto.read_at
        )
        .order_by("-read_at", "-id")
        .values_list("read_at", "register_kwh", "consumption_kwh")[:HISTORY_READINGS]
    )
    rows.reverse()
    return [Point(read_at, register, used) for read_at, register, used in rows]


def point_of(reading: MeterReading) -> Point:
    return Point(reading.read_at, reading.register_kwh, reading.consumption_kwh)


def open_estimates(
    meter: Meter, *, after: datetime.datetime | None, before: datetime.datetime
) -> QuerySet[MeterReading]:
    """Estimates standing between the last actual reading and a new one."""
    found = MeterReading.objects.filter(
        meter=meter,
        status=ReadingStatus.ESTIMATED,
        source=ReadingSource.ESTIMATE,
        read_at__lt=before,
    )
    if after is not None:
        found = found.filter(read_at__gt=after)
    return found


def reader_books(actor: User, *, unit: OrgUnit | None = None) -> QuerySet[ReadingBook]:
    """The books ``actor`` reads (the routes they are the reader of), in their scope."""
    books = scoped(ReadingBook.objects.filter(reader=actor), actor).select_related("org_unit")
    if unit is not None:
        books = books.filter(org_unit__path__startswith=unit.path)
    return books.order_by("code")


def book_entries_of_reader(actor: User, *, unit: OrgUnit | None = None) -> QuerySet[BookMeter]:
    """The meters on the books ``actor`` reads, with their book."""
    return BookMeter.objects.filter(book__in=reader_books(actor, unit=unit)).select_related(
        "book", "meter", "meter__org_unit"
    )


@dataclass(frozen=True)
class RouteStop:
    """A meter on a route as the reader takes it out: its last accepted actual reading and the
    register values a reading now may take without an exception (None: anything, or nothing
    to judge by)."""

    entry: BookMeter
    last: MeterReading | None
    expected: tuple[Decimal, Decimal] | None


def route_stops(entries: list[BookMeter], *, at: datetime.datetime) -> list[RouteStop]:
    """Each entry's last reading and expected range at ``at`` (a few queries per meter: the
    caller bounds the page)."""
    stops = []
    for entry in entries:
        meter = entry.meter
        last = last_valid(meter)
        expected = expected_range(
            last=point_of(last) if last else None,
            history=history(meter, upto=last) if last else [],
            at=at,
            digits=meter.register_digits,
        )
        stops.append(RouteStop(entry, last, expected))
    return stops
