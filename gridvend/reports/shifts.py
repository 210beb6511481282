"""Shift reports: the Z report of one shift and a vending point's banking slip for one day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings

from gridvend.identity import permissions
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.clock import day_bounds_utc
from gridvend.org.models import VendingPoint
from gridvend.vending.models import (
    BackOfficeRefund,
    Reversal,
    Sale,
    SaleKind,
    SaleStatus,
    Shift,
    ShiftStatus,
)
from gridvend.vending.permissions import SUPERVISOR_RANK, can_read_report, can_view_shifts
from gridvend.vending.selectors import expected_takings, refund_paid_elsewhere, shift_sales


@dataclass
class KindLine:
    """One line of the Z summary: every sale of a kind, those reversed in this shift, the rest."""

    kind: str
    count: int = 0
    amount_minor: int = 0
    reversed_count: int = 0
    reversed_minor: int = 0

    @property
    def net_count(self) -> int:
        return self.count - self.reversed_count

    @property
    def net_minor(self) -> int:
        return self.amount_minor - self.reversed_minor


@dataclass
class ZReport:
    shift: Shift
    sales: list[Sale]
    # Per kind: gross (every sale), reversed in this shift, and net.
    kinds: dict[str, KindLine] = field(default_factory=dict)
    # Completed credit sales per tender type (net of reversals).
    totals_by_tender: dict[str, int] = field(default_factory=dict)
    reversed_total_minor: int = 0
    reversed_count: int = 0
    # Sales of this shift reversed in it (the sale is undone in this drawer).
    reversed_here: set[int] = field(default_factory=set)
    # Sales of this (closed) shift reversed after it closed: refunded in another cash-up.
    refunded_later: set[int] = field(default_factory=set)
    # Sales of earlier, closed shifts refunded from this drawer.
    refunds: list[Reversal] = field(default_factory=list)
    refunds_total_minor: int = 0
    kwh_total: str = "0"
    expected: dict[str, int] = field(default_factory=dict)

    @property
    def net_takings_minor(self) -> int:
        return sum(self.totals_by_tender.values())

    @property
    def counts_by_kind(self) -> dict[str, int]:
        return {kind: line.count for kind, line in self.kinds.items()}

    @property
    def totals_by_kind(self) -> dict[str, int]:
        """Net amount per kind (reversed sales left out)."""
        return {kind: line.net_minor for kind, line in self.kinds.items()}

    @property
    def gross_count(self) -> int:
        return sum(line.count for line in self.kinds.values())

    @property
    def gross_minor(self) -> int:
        return sum(line.amount_minor for line in self.kinds.values())


def _reversed_in_own_shift(sale: Sale, closed_at: datetime | None) -> bool:
    if sale.status != SaleStatus.REVERSED:
        return False
    reversal = getattr(sale, "reversal", None)
    if reversal is None or refund_paid_elsewhere(reversal):
        return False
    # Reversals from before refunds had a place of their own, made after the close, belong
    # to no drawer count; a closed report never changes for them.
    return closed_at is None or reversal.created_at <= closed_at


def z_report(actor: User, shift: Shift) -> ZReport:
    """Every sale, free issue and reversal of the shift, with totals (open shifts: so far)."""
    require_unit_in_scope(actor, shift.vending_point.org_unit)
    if not can_read_report(actor, shift):
        permissions.require_rank(actor, SUPERVISOR_RANK)
    sales = list(shift_sales(shift))
    report = ZReport(shift=shift, sales=sales)
    kwh = Decimal(0)
    closed_at = shift.closed_at if shift.status == ShiftStatus.CLOSED else None
    for sale in sales:
        line = report.kinds.setdefault(sale.kind, KindLine(sale.kind))
        line.count += 1
        line.amount_minor += sale.tender_minor
        if _reversed_in_own_shift(sale, closed_at):
            line.reversed_count += 1
            line.reversed_minor += sale.tender_minor
            report.reversed_count += 1
            report.reversed_total_minor += sale.tender_minor
            report.reversed_here.add(sale.pk)
            continue
        if sale.status == SaleStatus.REVERSED:
            # Reversed after this shift closed: this drawer kept the money; the refund is in
            # the cash-up of whoever paid it.
            report.refunded_later.add(sale.pk)
        if sale.kind == SaleKind.CREDIT:
            method = sale.payment_method or "cash"
            report.totals_by_tender[method] = (
                report.totals_by_tender.get(method, 0) + sale.tender_minor
            )
        kwh += sale.kwh
    report.kwh_total = str(kwh)
    report.refunds = list(
        Reversal.objects.filter(refund_shift=shift)
        .select_related("sale", "sale__meter", "sale__shift")
        .order_by("created_at", "id")
    )
    report.refunds_total_minor = sum(r.sale.tender_minor for r in report.refunds)
    report.expected = (
        shift.expected if shift.status == ShiftStatus.CLOSED else expected_takings(shift)
    )
    return report


@dataclass(frozen=True)
class SlipShift:
    shift: Shift
    expected_cash_minor: int
    # None when nothing was counted (a force-closed shift): its cash is not on the slip.
    counted_cash_minor: int | None


@dataclass
class BankingSlip:
    """The cash a vending point banks for a business day: what was counted in the cash of the
    shifts closed that day, less what the back office refunded in cash that day."""

    vending_point: VendingPoint
    business_date: date
    currency: str
    shifts: list[SlipShift] = field(default_factory=list)
    refunds: list[BackOfficeRefund] = field(default_factory=list)
    # Shifts of the point still open: their cash is on the slip of the day they close.
    open_shifts: list[Shift] = field(default_factory=list)

    @property
    def counted_cash_minor(self) -> int:
        return sum(s.counted_cash_minor or 0 for s in self.shifts)

    @property
    def cash_refunds_minor(self) -> int:
        return sum(r.amount_minor for r in self.refunds if r.payment_method == "cash")

    @property
    def other_refunds_minor(self) -> int:
        return sum(r.amount_minor for r in self.refunds if r.payment_method != "cash")

    @property
    def to_bank_minor(self) -> int:
        return self.counted_cash_minor - self.cash_refunds_minor

    @property
    def uncounted(self) -> list[SlipShift]:
        return [s for s in self.shifts if s.counted_cash_minor is None]


def slip_shift(shift: Shift) -> SlipShift:
    """A closed shift's cash as the banking slip (and the cash-up report) takes it."""
    return SlipShift(
        shift=shift,
        expected_cash_minor=int(shift.expected.get("cash", 0)),
        # A force-closed shift's cash is banked once it is counted at its sign-off.
        counted_cash_minor=None
        if shift.is_force_closed and "cash" not in shift.counted
        else int(shift.counted.get("cash", 0)),
    )


def banking_slip(actor: User, point: VendingPoint, day: date) -> BankingSlip:
    """A vending point's banking slip for one business day (the utility's time zone). A shift
    belongs to the day it closed; a back-office refund to the day it was paid."""
    if not can_view_shifts(actor):
        permissions.require_rank(actor, SUPERVISOR_RANK)
    require_unit_in_scope(actor, point.org_unit)
    start, end = day_bounds_utc(day, settings.TIME_ZONE)
    closed = (
        Shift.objects.filter(
            vending_point=point,
            status=ShiftStatus.CLOSED,
            closed_at__gte=start,
            closed_at__lt=end,
        )
        .select_related("operator", "signed_off_by", "closed_by")
        .order_by("closed_at", "id")
    )
    slip = BankingSlip(vending_point=point, business_date=day, currency=settings.CURRENCY)
    for shift in closed:
        slip.currency = shift.currency
        slip.shifts.append(slip_shift(shift))
    slip.refunds = list(
        BackOfficeRefund.objects.filter(vending_point=point, business_date=day).select_related(
            "reversal__sale", "reversal__sale__meter", "requested_by", "paid_by"
        )
    )
    slip.open_shifts = list(
        Shift.objects.filter(vending_point=point, status=ShiftStatus.OPEN)
        .select_related("operator")
        .order_by("opened_at", "id")
    )
    return slip
