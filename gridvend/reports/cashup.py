"""The shift and daily cash-up report (issue 13): per vending point and business day, the shifts
closed that day, what they should have held, what was counted, the difference, the reversals paid
back from their drawers, the back office's refunds and the cash to bank. Every figure is the one
the shift's Z report and the point's banking slip show (``gridvend.reports.shifts``): a closed
shift's expected takings, count and over/short as stored at its close, a refund as the Z report
places it, the cash as the slip counts it.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.db.models import Count, F, Q, Sum
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridvend.identity.models import User
from gridvend.kernel.clock import business_date
from gridvend.org.models import VendingPoint
from gridvend.reports.base import (
    CellKind,
    Column,
    ReportResult,
    ReportRow,
    ReportSpec,
    ReportTable,
    RowRole,
    register,
)
from gridvend.reports.catalogue import _prepare, _result
from gridvend.reports.filters import Grouping, ReportFilters, UngroupedFilterSet
from gridvend.reports.permissions import can_read_reports
from gridvend.reports.shifts import slip_shift
from gridvend.vending.models import BackOfficeRefund, Reversal, Shift, ShiftStatus

# Closed shifts one report reads at most (a busy point closes a few a day): past it the report
# stops at the last whole point-day and says so.
SHIFT_LIMIT = 5000
TITLE = gettext_lazy("Shift and daily cash-up")


@dataclass
class CashUp:
    """One vending point's business day (or a sum of them)."""

    shifts: int = 0
    uncounted: int = 0
    expected_minor: int = 0
    counted_minor: int = 0
    over_short_minor: int = 0
    expected_cash_minor: int = 0
    counted_cash_minor: int = 0
    reversed_count: int = 0
    reversed_minor: int = 0
    refunds_count: int = 0
    refunds_minor: int = 0
    back_office_cash_minor: int = 0
    back_office_other_minor: int = 0
    shift_ids: list[int] = field(default_factory=list)

    @property
    def to_bank_minor(self) -> int:
        return self.counted_cash_minor - self.back_office_cash_minor

    def add(self, other: CashUp) -> None:
        for name in (
            "shifts",
            "uncounted",
            "expected_minor",
            "counted_minor",
            "over_short_minor",
            "expected_cash_minor",
            "counted_cash_minor",
            "reversed_count",
            "reversed_minor",
            "refunds_count",
            "refunds_minor",
            "back_office_cash_minor",
            "back_office_other_minor",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def cells(self) -> dict[str, Any]:
        return {
            "shifts": self.shifts,
            "uncounted": self.uncounted,
            "expected": self.expected_minor,
            "counted": self.counted_minor,
            "difference": self.over_short_minor,
            "reversed_count": self.reversed_count,
            "reversed": self.reversed_minor,
            "refunds_count": self.refunds_count,
            "refunds": self.refunds_minor,
            "back_office": self.back_office_cash_minor + self.back_office_other_minor,
            "to_bank": self.to_bank_minor,
        }


def _points(f: ReportFilters) -> Q:
    q = Q(vending_point__org_unit__path__startswith=f.unit.path)
    if f.point is not None:
        q &= Q(vending_point_id=f.point.pk)
    if f.channel:
        q &= Q(vending_point__channel=f.channel)
    if f.partner is not None:
        q &= Q(vending_point__partner_point__partner_id=f.partner.pk)
    return q


Key = tuple[str, int, datetime.date]  # currency, vending point, business day


class CashupFilterSet(UngroupedFilterSet):
    """A cash-up is of vending points (who, where, which channel or partner): the sale's
    tariff, supply group and tariff index are not offered, as they would change nothing."""

    tariff = None  # type: ignore[assignment]
    sgc = None  # type: ignore[assignment]
    ti = None  # type: ignore[assignment]


def _closed_on(shift: Shift) -> datetime.date:
    """The business day a closed shift is banked on: the local day of its close."""
    assert shift.closed_at is not None
    return business_date(shift.closed_at, settings.TIME_ZONE)


def cash_ups(f: ReportFilters) -> tuple[dict[Key, CashUp], bool]:
    """The cash-up of every vending point and day of the period with a shift closed or a back-
    office refund paid, and whether the shifts were cut at SHIFT_LIMIT. Four queries: the
    closed shifts (closed_at in the period's UTC bounds), their own reversals, the refunds their
    drawers paid, and the back office's refunds (by business date)."""
    shifts_q = Shift.objects.filter(
        _points(f),
        status=ShiftStatus.CLOSED,
        closed_at__gte=f.start_utc,
        closed_at__lt=f.end_utc,
    )
    if f.operator is not None:
        shifts_q = shifts_q.filter(operator_id=f.operator.pk)
    shifts = list(shifts_q.order_by("vending_point_id", "closed_at", "id")[: SHIFT_LIMIT + 1])
    cut = len(shifts) > SHIFT_LIMIT
    if cut:
        # Drop the last point-day, which may be partial.
        last = shifts[SHIFT_LIMIT - 1]
        last_key = (last.vending_point_id, _closed_on(last))
        shifts = [
            s for s in shifts[:SHIFT_LIMIT] if (s.vending_point_id, _closed_on(s)) != last_key
        ]
    found: dict[Key, CashUp] = {}
    key_of: dict[int, Key] = {}
    for shift in shifts:
        key = (shift.currency, shift.vending_point_id, _closed_on(shift))
        key_of[shift.pk] = key
        day = found.setdefault(key, CashUp())
        slip = slip_shift(shift)
        day.shifts += 1
        day.shift_ids.append(shift.pk)
        day.expected_minor += sum(int(v) for v in shift.expected.values())
        day.counted_minor += sum(int(v) for v in shift.counted.values())
        day.over_short_minor += shift.over_short_minor
        day.expected_cash_minor += slip.expected_cash_minor
        if slip.counted_cash_minor is None:
            day.uncounted += 1
        else:
            day.counted_cash_minor += slip.counted_cash_minor
    ids = list(key_of)
    # Sales of the shift reversed in it, as the Z report's reversed_here: the refund came out
    # of the sale's own drawer (no other drawer, no back office), before the shift closed.
    own = (
        Reversal.objects.filter(
            sale__shift_id__in=ids,
            refund_shift__isnull=True,
            back_office_refund__isnull=True,
            created_at__lte=F("sale__shift__closed_at"),
        )
        .order_by()
        .values("sale__shift_id")
        .annotate(n=Count("id"), minor=Sum("sale__tender_minor"))
    )
    for row in own:
        day = found[key_of[row["sale__shift_id"]]]
        day.reversed_count += row["n"]
        day.reversed_minor += int(row["minor"] or 0)
    # Sales of earlier, closed shifts refunded from this drawer (the Z report's refunds).
    paid = (
        Reversal.objects.filter(refund_shift_id__in=ids)
        .order_by()
        .values("refund_shift_id")
        .annotate(n=Count("id"), minor=Sum("sale__tender_minor"))
    )
    for paid_row in paid:
        day = found[key_of[paid_row["refund_shift_id"]]]
        day.refunds_count += paid_row["n"]
        day.refunds_minor += int(paid_row["minor"] or 0)
    if f.operator is None:
        refunds = (
            BackOfficeRefund.objects.filter(
                _points(f), business_date__gte=f.date_from, business_date__lte=f.date_to
            )
            .order_by()
            .values("currency", "vending_point_id", "business_date", "payment_method")
            .annotate(minor=Sum("amount_minor"))
        )
        for refund in refunds:
            key = (refund["currency"], refund["vending_point_id"], refund["business_date"])
            if cut and key not in found:
                continue  # a point-day past the cut
            day = found.setdefault(key, CashUp())
            if refund["payment_method"] == "cash":
                day.back_office_cash_minor += int(refund["minor"] or 0)
            else:
                day.back_office_other_minor += int(refund["minor"] or 0)
    return found, cut


def _columns() -> list[Column]:
    return [
        Column("point", _("Vending point")),
        Column("day", _("Day"), CellKind.DATE),
        Column("shifts", _("Shifts"), CellKind.INT),
        Column("uncounted", _("Not counted"), CellKind.INT),
        Column("expected", _("Expected"), CellKind.MONEY),
        Column("counted", _("Counted"), CellKind.MONEY),
        Column("difference", _("Over/short"), CellKind.MONEY),
        Column("reversed_count", _("Reversed in the shift"), CellKind.INT),
        Column("reversed", _("Reversed amount"), CellKind.MONEY),
        Column("refunds_count", _("Refunds of earlier shifts"), CellKind.INT),
        Column("refunds", _("Refunded amount"), CellKind.MONEY),
        Column("back_office", _("Back-office refunds"), CellKind.MONEY),
        Column("to_bank", _("Cash to bank"), CellKind.MONEY),
    ]


def build_shift_cash_up(actor: User, values: Mapping[str, Any]) -> ReportResult:
    """Per vending point and day (a subtotal per point): the shifts closed, expected takings,
    counted, over/short, reversals and refunds, back-office refunds and the cash to bank."""
    f = replace(_prepare(actor, values, Grouping.POINT, grouped=False), group=Grouping.POINT)
    found, cut = cash_ups(f)
    names = {
        p.pk: str(p) for p in VendingPoint.objects.filter(pk__in={point for _c, point, _d in found})
    }
    per_currency: dict[str, dict[int, dict[datetime.date, CashUp]]] = {}
    for (currency, point, day), cash in found.items():
        per_currency.setdefault(currency, {}).setdefault(point, {})[day] = cash
    if not per_currency:
        per_currency[str(settings.CURRENCY)] = {}
    tables = []
    for currency, points in sorted(per_currency.items()):
        rows: list[ReportRow] = []
        total = CashUp()
        for point in sorted(points, key=lambda p: (names.get(p, ""), p)):
            subtotal = CashUp()
            for day in sorted(points[point]):
                cash = points[point][day]
                subtotal.add(cash)
                rows.append(
                    ReportRow({"point": names.get(point, ""), "day": day} | cash.cells(), depth=1)
                )
            total.add(subtotal)
            label = _("Total %(unit)s") % {"unit": names.get(point, "")}
            rows.append(ReportRow({"point": label} | subtotal.cells(), RowRole.SUBTOTAL, 0))
        rows.append(ReportRow({"point": _("Total")} | total.cells(), RowRole.TOTAL))
        tables.append(
            ReportTable(
                title=_("Cash-up in %(currency)s") % {"currency": currency},
                columns=_columns(),
                rows=rows,
                currency=currency,
                truncated_note=_(
                    "Only the first %(shifts)s shifts are read: more match. Narrow the "
                    "period or the filters."
                )
                % {"shifts": f"{SHIFT_LIMIT:,}"}
                if cut
                else "",
            )
        )
    notes = [
        _(
            "A shift counts on the day it closed, with the expected takings, count and "
            "over/short stored at its close (its Z report's); a shift still open is in the day "
            "it closes. A force-closed shift not yet counted is under Not counted, and its cash "
            "is not in the cash to bank."
        ),
        _(
            "Reversed in the shift: its own sales refunded from its drawer before it closed. "
            "Refunds of earlier shifts: sales of closed shifts refunded from this drawer. The "
            "cash to bank is the counted cash less the back office's cash refunds of the day, "
            "as on the banking slip."
        ),
        _(
            "The tariff, SGC and TI filters do not apply to shifts; with an operator chosen, "
            "the back office's refunds are left out."
        ),
    ]
    return _result("shift-cash-up", TITLE, f, tables, notes)


register(
    ReportSpec(
        slug="shift-cash-up",
        title=TITLE,
        summary=gettext_lazy(
            "Per vending point and day: shifts, expected takings, counted, over/short, "
            "reversals refunded and the cash to bank."
        ),
        filterset=CashupFilterSet,
        build=build_shift_cash_up,
        may_read=can_read_reports,
    )
)
