"""Cashier shifts: opened with a declared float, closed with a cash count per tender type and a
Z report; a closed shift never changes again, except for a supervisor's sign-off. Also the
supervisor's side: force-closing an abandoned shift and the day's banking slip per point."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from gridvend.audit.services import record
from gridvend.identity import permissions
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role, rank
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.clock import day_bounds_utc
from gridvend.kernel.errors import DomainError, InvalidAmount
from gridvend.kernel.money import Money
from gridvend.org.models import Channel, VendingPoint
from gridvend.vending.integrity.shifts import shift_binding
from gridvend.vending.models import (
    BackOfficeRefund,
    Reversal,
    Sale,
    SaleKind,
    SaleStatus,
    Shift,
    ShiftStatus,
)

# Counter channels hand over cash, so their sales belong to a shift that is counted at the end.
SHIFT_CHANNELS = frozenset({Channel.PAY_OFFICE, Channel.AGENT, Channel.HANDHELD})
TENDER_TYPES = ("cash", "card", "cheque", "transfer", "mobile_money")


# Where the money of a reversed sale is handed back; each refund is in exactly one cash-up.
PAID_FROM_OWN_SHIFT = "own_shift"  # the sale's shift is still open: the sale is undone there
PAID_FROM_DRAWER = "drawer"  # the requester's open drawer (Reversal.refund_shift)
PAID_BY_BACK_OFFICE = "back_office"  # no open drawer: a BackOfficeRefund on the banking slip
PAID_THROUGH_CHANNEL = "channel"  # never in a drawer (float, mobile money): no cash moves here

# Signing off and force-closing shifts: a vending-point manager or above, in the point's subtree.
SUPERVISOR_RANK = rank(Role.VENDING_POINT_MANAGER)


class ShiftError(DomainError):
    pass


def can_view_shifts(actor: User) -> bool:
    """The supervisors' shift list and banking slips: managers and people with finance."""
    return actor.is_active and (
        actor.rank >= SUPERVISOR_RANK or actor.has_capability(Capability.FINANCE)
    )


def can_supervise_shifts(actor: User) -> bool:
    """Sign-off and force-close (each also needs the shift's point in the actor's subtree)."""
    return actor.is_active and actor.rank >= SUPERVISOR_RANK


def abandon_after() -> timedelta:
    return timedelta(hours=settings.SHIFT_ABANDON_HOURS)


def is_abandoned(shift: Shift, now: datetime) -> bool:
    """Open for longer than GRIDVEND_SHIFT_ABANDON_HOURS: a supervisor may force-close it."""
    return shift.status == ShiftStatus.OPEN and now - shift.opened_at >= abandon_after()


def expected_hidden(actor: User, shift: Shift) -> bool:
    """Blind counting: the cashier of an open shift never sees what the drawer should hold."""
    return (
        settings.BLIND_CASH_COUNT
        and shift.status == ShiftStatus.OPEN
        and shift.operator_id == actor.pk
    )


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
        locked.closed_by = actor
        locked.expected = expected
        locked.counted = counted_minor
        locked.over_short_minor = over_short
        locked.close_note = note[:255]
        locked.save(
            update_fields=[
                "status",
                "closed_at",
                "closed_by",
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


def _lock_for_supervisor(actor: User, shift: Shift) -> Shift:
    permissions.require_rank(actor, SUPERVISOR_RANK)
    locked = (
        Shift.objects.select_for_update(of=("self",))
        .select_related("vending_point__org_unit")
        .get(pk=shift.pk)
    )
    require_unit_in_scope(actor, locked.vending_point.org_unit)
    return locked


def force_close_shift(
    *, actor: User, shift: Shift, reason: str, now: datetime | None = None
) -> Shift:
    """Close a shift its cashier abandoned, without a count: a supervisor of the point's subtree,
    with a reason, once it has been open GRIDVEND_SHIFT_ABANDON_HOURS. The Z report says so."""
    reason = reason.strip()
    if not reason:
        raise ShiftError("REASON_REQUIRED", _("A reason is required."))
    moment = now or timezone.now()
    with transaction.atomic():
        locked = _lock_for_supervisor(actor, shift)
        if locked.status != ShiftStatus.OPEN:
            raise ShiftError("SHIFT_CLOSED", _("This shift is closed and cannot change."))
        if locked.operator_id == actor.pk:
            raise ShiftError(
                "SHIFT_FORCE_CLOSE_OWN", _("Close your own shift with a count of the drawer.")
            )
        if not is_abandoned(locked, moment):
            raise ShiftError(
                "SHIFT_NOT_ABANDONED",
                _("A shift can be force-closed only after it has been open %(hours)s hours.")
                % {"hours": settings.SHIFT_ABANDON_HOURS},
                hours=settings.SHIFT_ABANDON_HOURS,
            )
        expected = expected_takings(locked)
        locked.status = ShiftStatus.CLOSED
        locked.closed_at = moment
        locked.closed_by = actor
        locked.is_force_closed = True
        locked.force_close_reason = reason[:255]
        locked.expected = expected
        # Nothing was counted: no count per tender and no over/short to report.
        locked.counted = {}
        locked.over_short_minor = 0
        locked.save(
            update_fields=[
                "status",
                "closed_at",
                "closed_by",
                "is_force_closed",
                "force_close_reason",
                "expected",
                "counted",
                "over_short_minor",
            ]
        )
        record(
            actor=actor,
            event_type="shift.force_closed",
            target=locked,
            before={"status": ShiftStatus.OPEN},
            after={
                "status": ShiftStatus.CLOSED,
                "expected": expected,
                "reason": reason[:255],
                "digests": shift_binding(locked),
            },
        )
    return locked


def sign_off_shift(
    *,
    actor: User,
    shift: Shift,
    note: str = "",
    witnessed_cash: Money | None = None,
    now: datetime | None = None,
) -> Shift:
    """A supervisor's check of a closed shift's count; never by the shift's own cashier.

    A force-closed shift was never counted: its sign-off is the count. Someone other than the
    supervisor who force-closed it counts the drawer with a witness and enters the cash found
    (``witnessed_cash``); it becomes the shift's cash count and goes on the banking slip."""
    with transaction.atomic():
        locked = _lock_for_supervisor(actor, shift)
        if locked.status != ShiftStatus.CLOSED:
            raise ShiftError("SHIFT_NOT_CLOSED", _("Only a closed shift can be signed off."))
        if locked.operator_id == actor.pk:
            raise ShiftError(
                "MAKER_CHECKER_VIOLATION",
                _("Someone other than the shift's cashier must sign it off."),
            )
        if locked.signed_off_by_id is not None:
            raise ShiftError(
                "SHIFT_ALREADY_SIGNED_OFF", _("This shift has already been signed off.")
            )
        fields = ["signed_off_by", "signed_off_at", "sign_off_note"]
        if locked.is_force_closed:
            if locked.closed_by_id == actor.pk:
                raise ShiftError(
                    "MAKER_CHECKER_VIOLATION",
                    _("Someone other than the supervisor who force-closed it must sign it off."),
                )
            if witnessed_cash is None or witnessed_cash.currency != locked.currency:
                raise ShiftError(
                    "COUNT_REQUIRED",
                    _("Count the drawer with a witness and enter the cash found."),
                    field="witnessed_cash",
                )
            expected_cash = int(locked.expected.get("cash", 0))
            locked.counted = {"cash": witnessed_cash.minor}
            locked.over_short_minor = witnessed_cash.minor - expected_cash
            fields += ["counted", "over_short_minor"]
        locked.signed_off_by = actor
        locked.signed_off_at = now or timezone.now()
        locked.sign_off_note = note.strip()[:255]
        locked.save(update_fields=fields)
        record(
            actor=actor,
            event_type="shift.signed_off",
            target=locked,
            after={
                "note": locked.sign_off_note,
                "over_short_minor": locked.over_short_minor,
                **({"witnessed_count": locked.counted} if locked.is_force_closed else {}),
                "digests": shift_binding(locked),
            },
        )
    return locked


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
    if reversal.sale.shift_id is None:
        return PAID_THROUGH_CHANNEL
    return PAID_FROM_OWN_SHIFT


def _reversed_in_own_shift(sale: Sale, closed_at: datetime | None) -> bool:
    if sale.status != SaleStatus.REVERSED:
        return False
    reversal = getattr(sale, "reversal", None)
    if reversal is None or refund_paid_elsewhere(reversal):
        return False
    # Reversals from before refunds had a place of their own, made after the close, belong
    # to no drawer count; a closed report never changes for them.
    return closed_at is None or reversal.created_at <= closed_at


def can_read_report(actor: User, shift: Shift) -> bool:
    """A Z report is read by its cashier, by finance and auditors, and by managers (in scope)."""
    return actor.is_active and (
        shift.operator_id == actor.pk
        or actor.has_capability(Capability.FINANCE)
        or actor.has_capability(Capability.AUDITOR)
        or actor.rank >= SUPERVISOR_RANK
    )


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


# --- the banking slip ---------------------------------------------------------------------------


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
        slip.shifts.append(
            SlipShift(
                shift=shift,
                expected_cash_minor=int(shift.expected.get("cash", 0)),
                # A force-closed shift's cash is banked once it is counted at its sign-off.
                counted_cash_minor=None
                if shift.is_force_closed and "cash" not in shift.counted
                else int(shift.counted.get("cash", 0)),
            )
        )
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
