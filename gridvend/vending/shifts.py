"""Cashier shifts: opened with a declared float, closed with a cash count per tender type and a
Z report; a closed shift never changes again."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from gridvend.audit.services import record
from gridvend.identity import permissions
from gridvend.identity.models import User
from gridvend.identity.roles import Capability
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.errors import DomainError, InvalidAmount
from gridvend.kernel.money import Money
from gridvend.org.models import Channel, VendingPoint
from gridvend.vending.integrity.shifts import shift_binding
from gridvend.vending.models import Reversal, Sale, SaleKind, SaleStatus, Shift, ShiftStatus

# Counter channels hand over cash, so their sales belong to a shift that is counted at the end.
SHIFT_CHANNELS = frozenset({Channel.PAY_OFFICE, Channel.AGENT, Channel.HANDHELD})
TENDER_TYPES = ("cash", "card", "cheque", "transfer", "mobile_money")


class ShiftError(DomainError):
    pass


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


def require_open_shift(actor: User, point: VendingPoint) -> Shift | None:
    """The seller's open shift at this point, or SHIFT_NOT_OPEN where the channel needs one."""
    if not shift_required(point):
        return None
    shift = current_shift(actor, point)
    if shift is None:
        raise ShiftError(
            "SHIFT_NOT_OPEN",
            _("Open a shift at this vending point before selling."),
            vending_point=point.code,
        )
    return shift


def open_shift(
    *, actor: User, vending_point: VendingPoint, opening_float: Money, now: datetime | None = None
) -> Shift:
    permissions.require_capability(actor, Capability.CASHIER)
    require_unit_in_scope(actor, vending_point.org_unit)
    if opening_float.is_negative():
        raise InvalidAmount(value=str(opening_float), reason="the float cannot be negative")
    with transaction.atomic():
        if Shift.objects.filter(operator=actor, status=ShiftStatus.OPEN).exists():
            raise ShiftError(
                "SHIFT_ALREADY_OPEN", _("You already have an open shift; close it first.")
            )
        shift = Shift.objects.create(
            vending_point=vending_point,
            operator=actor,
            currency=opening_float.currency,
            opening_float_minor=opening_float.minor,
            opened_at=now or timezone.now(),
        )
        record(
            actor=actor,
            event_type="shift.opened",
            target=shift,
            after={
                "opening_float": opening_float.to_dict(),
                "vending_point": vending_point.code,
                # Binds the shift as opened; an edit to its float no longer matches.
                "digests": shift_binding(shift),
            },
        )
    return shift


def expected_takings(shift: Shift) -> dict[str, int]:
    """What each tender type should hold: the float in cash plus completed sales' tenders."""
    expected: dict[str, int] = defaultdict(int)
    expected["cash"] += shift.opening_float_minor
    for method, tender in Sale.objects.filter(shift=shift, status=SaleStatus.COMPLETED).values_list(
        "payment_method", "tender_minor"
    ):
        expected[method or "cash"] += tender
    # Refunds of sales from shifts that had already closed were paid from this drawer.
    for method, tender in Reversal.objects.filter(refund_shift=shift).values_list(
        "sale__payment_method", "sale__tender_minor"
    ):
        expected[method or "cash"] -= tender
    return dict(expected)


def close_shift(
    *,
    actor: User,
    shift: Shift,
    counted: dict[str, Money],
    note: str = "",
    now: datetime | None = None,
) -> Shift:
    """Record the count per tender type; the difference against the sales is the over/short."""
    with transaction.atomic():
        locked = (
            Shift.objects.select_for_update()
            .select_related("vending_point__org_unit")
            .get(pk=shift.pk)
        )
        require_unit_in_scope(actor, locked.vending_point.org_unit)
        if locked.operator_id != actor.pk:
            permissions.require_capability(actor, Capability.FINANCE)
        if locked.status != ShiftStatus.OPEN:
            raise ShiftError("SHIFT_CLOSED", _("This shift is closed and cannot change."))
        for method, amount in counted.items():
            if method not in TENDER_TYPES:
                raise ShiftError("TENDER_TYPE_INVALID", _("Unknown tender type."), method=method)
            if amount.currency != locked.currency:
                raise InvalidAmount(value=str(amount), reason=f"counts are in {locked.currency}")
            if amount.is_negative():
                raise InvalidAmount(value=str(amount), reason="a count cannot be negative")
        expected = expected_takings(locked)
        counted_minor = {m: a.minor for m, a in counted.items()}
        methods = set(expected) | set(counted_minor)
        over_short = sum(counted_minor.get(m, 0) - expected.get(m, 0) for m in methods)
        locked.status = ShiftStatus.CLOSED
        locked.closed_at = now or timezone.now()
        locked.expected = expected
        locked.counted = counted_minor
        locked.over_short_minor = over_short
        locked.close_note = note[:255]
        locked.save(
            update_fields=[
                "status",
                "closed_at",
                "expected",
                "counted",
                "over_short_minor",
                "close_note",
            ]
        )
        record(
            actor=actor,
            event_type="shift.closed",
            target=locked,
            after={
                "expected": expected,
                "counted": counted_minor,
                "over_short_minor": over_short,
                # Binds the closed shift whole: it never changes again.
                "digests": shift_binding(locked),
            },
        )
    return locked


@dataclass
class ZReport:
    shift: Shift
    sales: list[Sale]
    totals_by_kind: dict[str, int] = field(default_factory=dict)
    counts_by_kind: dict[str, int] = field(default_factory=dict)
    totals_by_tender: dict[str, int] = field(default_factory=dict)
    reversed_total_minor: int = 0
    reversed_count: int = 0
    # Sales of earlier, closed shifts refunded from this drawer.
    refunds: list[Reversal] = field(default_factory=list)
    refunds_total_minor: int = 0
    kwh_total: str = "0"
    expected: dict[str, int] = field(default_factory=dict)

    @property
    def net_takings_minor(self) -> int:
        return sum(self.totals_by_tender.values())


def shift_sales(shift: Shift) -> QuerySet[Sale]:
    return (
        Sale.objects.filter(shift=shift)
        .select_related("meter", "customer", "operator", "reversal")
        .prefetch_related("tokens")
        .order_by("created_at", "id")
    )


def z_report(actor: User, shift: Shift) -> ZReport:
    """Every sale, free issue and reversal of the shift, with totals (open shifts: so far)."""
    require_unit_in_scope(actor, shift.vending_point.org_unit)
    if shift.operator_id != actor.pk and not (
        actor.has_capability(Capability.FINANCE) or actor.has_capability(Capability.AUDITOR)
    ):
        permissions.require_rank(actor, 2)
    sales = list(shift_sales(shift))
    report = ZReport(shift=shift, sales=sales)
    from decimal import Decimal

    kwh = Decimal(0)
    closed_at = shift.closed_at if shift.status == ShiftStatus.CLOSED else None
    for sale in sales:
        report.counts_by_kind[sale.kind] = report.counts_by_kind.get(sale.kind, 0) + 1
        # A closed shift's report never changes: reversals made after the close belong to the
        # day they were made, not to this drawer count.
        reversal = getattr(sale, "reversal", None) if sale.status == SaleStatus.REVERSED else None
        reversed_here = reversal is not None and (
            closed_at is None or reversal.created_at <= closed_at
        )
        if reversed_here:
            report.reversed_count += 1
            report.reversed_total_minor += sale.tender_minor
            continue
        report.totals_by_kind[sale.kind] = (
            report.totals_by_kind.get(sale.kind, 0) + sale.tender_minor
        )
        if sale.kind == SaleKind.CREDIT:
            method = sale.payment_method or "cash"
            report.totals_by_tender[method] = (
                report.totals_by_tender.get(method, 0) + sale.tender_minor
            )
        kwh += sale.kwh
    report.kwh_total = str(kwh)
    report.refunds = list(
        Reversal.objects.filter(refund_shift=shift).select_related("sale", "sale__meter")
    )
    report.refunds_total_minor = sum(r.sale.tender_minor for r in report.refunds)
    report.expected = (
        shift.expected if shift.status == ShiftStatus.CLOSED else expected_takings(shift)
    )
    return report
