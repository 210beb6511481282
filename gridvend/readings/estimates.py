"""Estimated readings for a book's meters that were not read in the cycle.

A book is read once a month around its cycle day: the cycle ending on a date is the month up to
and including the last cycle day on or before it. A meter of the book with no standing reading
(valid, exception or estimated) in the cycle gets an estimate dated at the cycle's end, from its
last actual reading and its own average daily use; one without enough history is skipped and
named. Running it twice estimates nothing twice. The next actual reading corrects the estimate
(``services.record_actual``).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.clock import business_date, day_bounds_utc
from gridvend.kernel.errors import DomainError
from gridvend.meters.locks import lock_meter
from gridvend.meters.models import MeterStatus
from gridvend.readings import permissions, selectors
from gridvend.readings.models import LIVE_STATUSES, MeterReading, ReadingBook
from gridvend.readings.services import estimate_at


def _month_back(day: datetime.date) -> datetime.date:
    year, month = (day.year - 1, 12) if day.month == 1 else (day.year, day.month - 1)
    return day.replace(year=year, month=month)


def cycle_bounds(cycle_day: int, on: datetime.date) -> tuple[datetime.date, datetime.date]:
    """(first day, last day) of the cycle of a book read on ``cycle_day`` (1-28) that ends on
    the last cycle day on or before ``on``."""
    end = (
        on.replace(day=cycle_day) if on.day >= cycle_day else _month_back(on).replace(day=cycle_day)
    )
    return _month_back(end) + datetime.timedelta(days=1), end


@dataclass
class EstimateRun:
    book: ReadingBook
    first_day: datetime.date
    last_day: datetime.date
    estimated: list[MeterReading] = field(default_factory=list)
    read: list[str] = field(default_factory=list)  # meters with a standing reading in the cycle
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (meter, refusal code)


def estimate_book(
    *,
    actor: User,
    book: ReadingBook,
    on: datetime.date | None = None,
    now: datetime.datetime | None = None,
) -> EstimateRun:
    """Estimate every meter of ``book`` not read in the cycle ending on or before ``on``
    (default today), in one transaction (a meter that cannot be estimated is skipped)."""
    if not permissions.can_review_readings(actor):
        raise AccessDenied()
    require_unit_in_scope(actor, book.org_unit)
    moment = now or timezone.now()
    zone = settings.TIME_ZONE
    first, last = cycle_bounds(book.cycle_day, on or business_date(moment, zone))
    since = day_bounds_utc(first, zone)[0]
    # The end of the cycle's last day, or now if the cycle ends today.
    at = min(day_bounds_utc(last, zone)[1] - datetime.timedelta(seconds=1), moment)
    run = EstimateRun(book, first, last)
    with transaction.atomic(durable=True):
        for entry in selectors.book_entries(book):
            meter = lock_meter(entry.meter)
            if meter.status == MeterStatus.RETIRED:
                continue
            standing = MeterReading.objects.filter(
                meter=meter, status__in=LIVE_STATUSES, read_at__gte=since, read_at__lte=at
            )
            if standing.exists():
                run.read.append(meter.number)
                continue
            try:
                with transaction.atomic():
                    run.estimated.append(
                        estimate_at(actor=actor, meter=meter, at=at, now=moment, book=book)
                    )
            except DomainError as exc:
                run.skipped.append((meter.number, str(exc.code)))
    return run
