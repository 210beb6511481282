"""Scoped reads of sales, tokens and shifts, the meter confirmation a seller sees before selling,
and the reads the vending use cases decide on (open shift, expected takings, float, free kWh)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet

from gridvend.customers.models import Customer, Debt
from gridvend.identity.models import User
from gridvend.identity.scoping import get_scoped, scoped
from gridvend.kernel.clock import day_bounds_utc
from gridvend.kernel.money import Money
from gridvend.ledger.models import Account
from gridvend.ledger.selectors import account_balance
from gridvend.meters.models import Meter
from gridvend.meters.selectors import find_meter, pending_key_change
from gridvend.org.models import VendingPoint
from gridvend.vending.models import (
    PAID_BY_BACK_OFFICE,
    PAID_FROM_DRAWER,
    PAID_FROM_OWN_SHIFT,
    PAID_THROUGH_CHANNEL,
    SHIFT_CHANNELS,
    BackOfficeRefund,
    Reversal,
    Sale,
    SaleStatus,
    Shift,
    ShiftStatus,
    Token,
)


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


# --- shifts and their drawers -------------------------------------------------------------------


def shift_required(point: VendingPoint) -> bool:
    return point.channel in SHIFT_CHANNELS


def current_shift(actor: User, point: VendingPoint | None = None) -> Shift | None:
    qs = Shift.objects.filter(operator=actor, status=ShiftStatus.OPEN).select_related(
        "vending_point", "vending_point__org_unit"
    )
    if point is not None:
        qs = qs.filter(vending_point=point)
    # At most one open shift per operator (a unique constraint), so no ordering is needed.
    found = list(qs.order_by()[:1])
    return found[0] if found else None


def abandon_after() -> timedelta:
    return timedelta(hours=settings.SHIFT_ABANDON_HOURS)


def is_abandoned(shift: Shift, now: datetime) -> bool:
    """Open for longer than GRIDVEND_SHIFT_ABANDON_HOURS: a supervisor may force-close it."""
    return shift.status == ShiftStatus.OPEN and now - shift.opened_at >= abandon_after()


def expected_takings(shift: Shift) -> dict[str, int]:
    """What each tender type should hold: the float in cash plus completed sales' tenders."""
    expected: dict[str, int] = defaultdict(int)
    expected["cash"] += shift.opening_float_minor
    for method, tender in (
        Sale.objects.filter(shift=shift, status=SaleStatus.COMPLETED)
        .exclude(payment_method="wallet")
        .values_list("payment_method", "tender_minor")
    ):
        # A sale paid from a customer's wallet brought no money into the drawer.
        expected[method or "cash"] += tender
    # Refunds of sales from shifts that had already closed were paid from this drawer.
    for method, tender in Reversal.objects.filter(refund_shift=shift).values_list(
        "sale__payment_method", "sale__tender_minor"
    ):
        expected[method or "cash"] -= tender
    # Postpaid bills paid in cash at this till (billing.BillPayment.shift), not cancelled: the
    # relation is billing's, read by name, so vending imports nothing from the layer above it.
    paid = shift.bill_payments.filter(status="received").values_list("amount_minor", flat=True)
    for amount in paid:
        expected["cash"] += amount
    # Cash paid into customers' wallets at this till (wallet.WalletTopUp.shift), read by name
    # like the bill payments above.
    for amount in shift.wallet_top_ups.values_list("amount_minor", flat=True):
        expected["cash"] += amount
    return dict(expected)


def shift_sales(shift: Shift) -> QuerySet[Sale]:
    return (
        Sale.objects.filter(shift=shift)
        .select_related("meter", "customer", "operator", "reversal", "reversal__back_office_refund")
        .prefetch_related("tokens")
        .order_by("created_at", "id")
    )


def refund_paid_elsewhere(reversal: Reversal) -> bool:
    """The refund came out of another drawer or the back office, not the sale's own shift."""
    if reversal.refund_shift_id is not None:
        return True
    try:
        return reversal.back_office_refund is not None
    except BackOfficeRefund.DoesNotExist:
        return False


def refund_paid_from(reversal: Reversal) -> str:
    """Which cash-up a reversal's refund is in (one of the PAID_* values)."""
    if reversal.refund_shift_id is not None:
        return PAID_FROM_DRAWER
    if refund_paid_elsewhere(reversal):
        return PAID_BY_BACK_OFFICE
    if reversal.sale.shift_id is None or reversal.sale.payment_method == "wallet":
        return PAID_THROUGH_CHANNEL
    return PAID_FROM_OWN_SHIFT


# --- floats and free issues ---------------------------------------------------------------------


def float_account_code(point: VendingPoint) -> str:
    """The ledger account a prefunded point sells from: a partner's shared float, or its own."""
    return point.float_account or f"float:{point.code}"


def float_available(point: VendingPoint, currency: str) -> Money:
    """What a prefunded point may still sell: what its float holds (a liability, so a credit
    balance) plus the credit line the account's limit grants."""
    account = Account.objects.filter(code=float_account_code(point)).first()
    held = float_balance(account, currency)
    credit = account.limit_minor if account is not None and account.limit_minor > 0 else 0
    return Money(held.minor + credit, currency)


def float_balance(account: Account | None, currency: str) -> Money:
    """What a float holds: its kept balance (a liability, so negative while it holds money)
    negated."""
    return Money(-(account_balance(account) if account is not None else 0), currency)


def free_issue_period() -> timedelta:
    return timedelta(hours=settings.FREE_ISSUE_PERIOD_HOURS)
