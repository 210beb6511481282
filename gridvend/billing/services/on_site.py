"""The bill on site: what the central run will bill a meter for the cycle of a reading just
taken, computed by the run's own pricing (``runs.price_reading``) and written nowhere. The
handheld shows and prints it as an estimate; the posted bill is the one that counts."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from gridvend.billing.errors import AccountNotPostpaid, BillOnSiteUnavailable
from gridvend.billing.models import BillLine
from gridvend.billing.permissions import can_bill_on_site
from gridvend.billing.selectors import POSTPAID_KINDS
from gridvend.billing.services.common import _require
from gridvend.billing.services.runs import _billed_already, _period_bounds, price_reading
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.clock import business_date
from gridvend.readings.estimates import cycle_bounds
from gridvend.readings.models import BookMeter, MeterReading, ReadingStatus


@dataclass(frozen=True)
class BillOnSite:
    account_number: str
    name: str
    meter_number: str
    period_start: datetime.date
    period_end: datetime.date
    previous_register_kwh: Decimal
    current_register_kwh: Decimal
    consumption_kwh: Decimal
    currency: str
    lines: list[BillLine]
    amount_minor: int


def cycle_of(cycle_day: int, day: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The book's cycle that holds ``day``: the one ending on the first cycle day on or after it."""
    first, last = cycle_bounds(cycle_day, day)
    if last >= day:
        return first, last
    month_on = (last.replace(day=1) + datetime.timedelta(days=32)).replace(day=cycle_day)
    return last + datetime.timedelta(days=1), month_on


def bill_on_site(*, actor: User, reading: MeterReading) -> BillOnSite:
    """The bill the central run would make from ``reading`` for the cycle it was taken in, if
    the run found it the cycle's latest standing reading. Refused (BillOnSiteUnavailable) where
    the run would bill nothing: the reading waits for a supervisor, the period is billed already,
    and so on."""
    _require(can_bill_on_site(actor))
    meter = reading.meter
    require_unit_in_scope(actor, meter.org_unit)
    customer = meter.customer
    if customer is None or customer.account_kind not in POSTPAID_KINDS:
        raise AccountNotPostpaid(account_number=customer.account_number if customer else "")
    entry = BookMeter.objects.filter(meter=meter).select_related("book").first()
    if entry is None:
        raise BillOnSiteUnavailable(reason="not_on_a_route")
    if reading.status == ReadingStatus.EXCEPTION:
        raise BillOnSiteUnavailable(reason="open_exception")
    if reading.status not in (ReadingStatus.VALID, ReadingStatus.ESTIMATED):
        raise BillOnSiteUnavailable(reason="not_standing")
    start, end = cycle_of(entry.book.cycle_day, business_date(reading.read_at, settings.TIME_ZONE))
    billed = _billed_already(meter.pk, start, end)
    if billed is not None:
        raise BillOnSiteUnavailable(reason=billed)
    low, high = _period_bounds(start, end)
    if MeterReading.objects.filter(
        meter=meter, read_at__gte=low, read_at__lt=high, status=ReadingStatus.EXCEPTION
    ).exists():
        raise BillOnSiteUnavailable(reason="open_exception")
    latest = (
        MeterReading.objects.filter(
            meter=meter,
            read_at__gte=low,
            read_at__lt=high,
            status__in=[ReadingStatus.VALID, ReadingStatus.ESTIMATED],
        )
        .order_by("-read_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )
    if latest != reading.pk:
        # A later reading of the cycle is the one the run bills (runs._compute): this one's
        # figure would be on no bill.
        raise BillOnSiteUnavailable(reason="superseded")
    problems: list[dict[str, str]] = []
    computed = price_reading(meter, customer, reading, start, end, problems)
    if computed is None:
        raise BillOnSiteUnavailable(reason=problems[0]["problem"] if problems else "currency")
    return BillOnSite(
        account_number=customer.account_number,
        name=customer.name,
        meter_number=meter.number,
        period_start=start,
        period_end=end,
        previous_register_kwh=computed.previous_register,
        current_register_kwh=reading.register_kwh,
        consumption_kwh=computed.consumption,
        currency=settings.CURRENCY,
        lines=computed.lines,
        amount_minor=computed.amount_minor,
    )
