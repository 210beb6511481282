"""Scoped reads of sales and tokens, and the meter confirmation a seller sees before selling."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db.models import QuerySet

from gridvend.customers.models import Customer, Debt
from gridvend.identity.models import User
from gridvend.identity.scoping import get_scoped, scoped
from gridvend.kernel.clock import day_bounds_utc
from gridvend.kernel.money import Money
from gridvend.meters.models import Meter
from gridvend.meters.selectors import find_meter, pending_key_change
from gridvend.org.models import VendingPoint
from gridvend.vending.models import Sale, Shift, Token


@dataclass(frozen=True)
class MeterConfirmation:
    meter: Meter
    customer: Customer | None
    debt_balance: Money | None
    recent_sales: list[Sale]
    key_change_pending: bool


def confirm_meter(actor: User, meter_number: str, *, recent: int = 5) -> MeterConfirmation:
    """Who and what a sale would be for: customer, status, debt and the last purchases."""
    meter = find_meter(actor, meter_number)
    customer = meter.customer
    debt = None
    if customer is not None:
        currency = customer.tariff.currency
        debt = Money(
            sum(
                Debt.objects.filter(customer=customer, currency=currency).values_list(
                    "balance_minor", flat=True
                )
            ),
            currency,
        )
    sales = list(
        Sale.objects.filter(meter=meter).prefetch_related("tokens").order_by("-created_at")[:recent]
    )
    return MeterConfirmation(meter, customer, debt, sales, pending_key_change(meter) is not None)


def list_sales(
    actor: User,
    *,
    meter: Meter | None = None,
    vending_point_id: int | None = None,
    operator: User | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    kind: str = "",
) -> QuerySet[Sale]:
    qs = scoped(
        Sale.objects.select_related("meter", "customer", "vending_point", "operator"),
        actor,
        path="meter__org_unit__path",
    )
    if meter is not None:
        qs = qs.filter(meter=meter)
    if vending_point_id is not None:
        qs = qs.filter(vending_point_id=vending_point_id)
    if operator is not None:
        qs = qs.filter(operator=operator)
    if date_from is not None:
        qs = qs.filter(business_date__gte=date_from)
    if date_to is not None:
        qs = qs.filter(business_date__lte=date_to)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("-created_at", "-id")


def recent_sales_of_meter(actor: User, number: str, *, limit: int = 10) -> list[Sale]:
    """The meter's latest sales, newest first, if the meter is in the actor's scope (none
    otherwise: a meter outside the region looks like a meter without sales)."""
    qs = scoped(
        Sale.objects.select_related("meter", "customer", "vending_point", "operator", "shift"),
        actor,
        path="meter__org_unit__path",
    )
    return list(qs.filter(meter__number=number).order_by("-created_at", "-id")[:limit])


def get_sale(actor: User, reference: str) -> Sale:
    return get_scoped(
        Sale.objects.select_related("meter", "customer", "vending_point", "operator", "shift"),
        actor,
        path="meter__org_unit__path",
        reference=reference,
    )


def token_history(actor: User, meter: Meter) -> QuerySet[Token]:
    return scoped(
        Token.objects.filter(meter=meter).select_related("sale", "sale__shift"),
        actor,
        path="meter__org_unit__path",
    ).order_by("-created_at", "-sequence")


def own_vending_point(actor: User, choices: Iterable[VendingPoint]) -> int | None:
    """The vending point a form may preselect for this user among ``choices``: the only one in
    the user's own organisation unit, else the one of the user's latest shift. None when neither
    picks one out: the user then chooses, rather than selling or issuing at someone else's
    point because it came first in the list."""
    points = {p.pk: p for p in choices}
    own = [pk for pk, p in points.items() if p.org_unit_id == actor.org_unit_id]
    if len(own) == 1:
        return own[0]
    last = (
        Shift.objects.filter(operator=actor)
        .order_by("-opened_at", "-id")
        .values_list("vending_point_id", flat=True)
        .first()
    )
    return last if last in points else None


_SHIFT_PATH = "vending_point__org_unit__path"


def _shifts() -> QuerySet[Shift]:
    return Shift.objects.select_related(
        "vending_point", "vending_point__org_unit", "operator", "closed_by", "signed_off_by"
    )


def list_shifts(
    actor: User,
    *,
    vending_point_id: int | None = None,
    status: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[Shift]:
    """Shifts at the vending points of the actor's subtree, newest first. The dates are business
    days (the utility's time zone) on which the shift was opened."""
    qs = scoped(_shifts(), actor, path=_SHIFT_PATH)
    if vending_point_id is not None:
        qs = qs.filter(vending_point_id=vending_point_id)
    if status:
        qs = qs.filter(status=status)
    if date_from is not None:
        qs = qs.filter(opened_at__gte=day_bounds_utc(date_from, settings.TIME_ZONE)[0])
    if date_to is not None:
        qs = qs.filter(opened_at__lt=day_bounds_utc(date_to, settings.TIME_ZONE)[1])
    return qs.order_by("-opened_at", "-id")


def get_shift(actor: User, pk: int) -> Shift:
    """A shift at a vending point in the actor's subtree, or NotFound whatever the reason."""
    return get_scoped(_shifts(), actor, path=_SHIFT_PATH, pk=pk)
