"""What a receipt and a Z report say, built once from the stored sale so every layout agrees.

The sale's receipt data lives in :mod:`gridvend.vending.receipt` (the portal prints it too);
it is re-exported here for the cashier's screens."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _

from gridvend.kernel.money import Money
from gridvend.reports.shifts import ZReport
from gridvend.vending.models import Sale, SaleKind, SaleStatus
from gridvend.vending.receipt import (
    PAYMENT_METHOD_LABELS,
    QR_ERROR,
    EnergyLine,
    FixedChargeLine,
    ReceiptData,
    ReceiptToken,
    TaxLine,
    _person,
    build_receipt,
    format_time,
    group_digits,
    make_qr,
    meter_key_text,
    payment_method_label,
    percent,
    utility_time,
)

__all__ = [
    "PAYMENT_METHOD_LABELS",
    "QR_ERROR",
    "EnergyLine",
    "FixedChargeLine",
    "ReceiptData",
    "ReceiptToken",
    "TaxLine",
    "build_receipt",
    "format_time",
    "group_digits",
    "make_qr",
    "meter_key_text",
    "payment_method_label",
    "percent",
    "utility_time",
]


def receipt_urls(sale: Sale) -> dict[str, str]:
    """Where the cashier screen links for a sale's receipt: ``thermal`` (80 mm) and ``pdf`` (A4)."""
    return {
        "thermal": reverse("receipts:thermal", args=[sale.reference]),
        "pdf": reverse("receipts:pdf", args=[sale.reference]),
    }


# --- Z report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShiftSaleRow:
    time_text: str
    reference: str
    meter_number: str
    kind: str
    kind_label: str
    payment_method_label: str
    tender: Money
    kwh: Decimal
    is_reversed: bool  # reversed in this shift: the drawer handed the money back
    refunded_later: bool  # reversed after the close: refunded in another cash-up
    status_label: str
    payment_reference: str = ""


@dataclass(frozen=True)
class KindTotal:
    kind: str
    label: str
    count: int  # every sale of the kind (gross)
    amount: Money
    reversed_count: int  # reversed in this shift
    reversed_amount: Money
    net_count: int
    net_amount: Money


@dataclass(frozen=True)
class TenderLine:
    method: str
    label: str
    takings: Money  # completed credit sales paid this way
    expected: Money | None  # including the float for cash, less refunds paid from the drawer
    counted: Money | None
    difference: Money | None  # counted - expected


@dataclass(frozen=True)
class RefundRow:
    """A sale of an earlier, closed shift refunded from this drawer."""

    time_text: str
    reference: str
    meter_number: str
    original_shift_id: int | None
    payment_method_label: str
    amount: Money


@dataclass(frozen=True)
class ShiftReportData:
    utility_name: str
    shift_id: int
    is_closed: bool
    status_label: str
    vending_point_name: str
    vending_point_code: str
    operator_name: str
    opened_at_text: str
    closed_at_text: str
    currency: str
    opening_float: Money
    rows: tuple[ShiftSaleRow, ...]
    kinds: tuple[KindTotal, ...]
    tenders: tuple[TenderLine, ...]
    net_takings: Money
    reversed_count: int
    reversed_total: Money
    kwh_total: Decimal
    expected_total: Money
    counted_total: Money | None
    over_short: Money | None
    close_note: str
    # Every kind together: gross, reversed in this shift, net.
    gross_count: int = 0
    gross_total: Money | None = None
    net_count: int = 0
    net_total: Money | None = None
    refunds: tuple[RefundRow, ...] = ()
    refunds_total: Money | None = None
    # Closed by a supervisor without a count: no counted amounts and no over/short.
    is_force_closed: bool = False
    force_close_reason: str = ""
    closed_by_name: str = ""
    signed_off_by_name: str = ""
    signed_off_at_text: str = ""
    sign_off_note: str = ""
    # Blind counting: the cashier of the open shift sees no amounts at all.
    blind: bool = False
    # Postpaid bills paid in cash at this till, counted apart from the token sales.
    bill_payment_count: int = 0
    bill_payment_total: Money | None = None

    @property
    def is_counted(self) -> bool:
        # A force-closed shift is counted once, with a witness, at its sign-off.
        return self.is_closed and (not self.is_force_closed or bool(self.signed_off_by_name))


def build_shift_report(report: ZReport, *, blind: bool = False) -> ShiftReportData:
    """A Z report laid out for printing; the numbers are the ones z_report() computed.

    ``blind``: for the cashier of an open shift under GRIDVEND_BLIND_CASH_COUNT; every amount
    is left out, so nothing on the page tells what the drawer should hold.
    """
    shift = report.shift
    currency = shift.currency
    closed = shift.closed_at is not None and shift.status == "closed"
    counted_here = closed and not shift.is_force_closed

    def money(minor: int) -> Money:
        return Money(int(minor), currency)

    def row_status(sale: Sale) -> str:
        if sale.pk in report.refunded_later:
            return _("Refunded later")
        return str(SaleStatus(sale.status).label)

    rows = tuple(
        ShiftSaleRow(
            time_text=format_time(sale.created_at),
            reference=sale.reference,
            meter_number=sale.meter.number,
            kind=sale.kind,
            kind_label=str(SaleKind(sale.kind).label)
            if sale.kind in SaleKind.values
            else sale.kind,
            payment_method_label=payment_method_label(sale.payment_method),
            tender=money(sale.tender_minor),
            kwh=sale.kwh,
            is_reversed=sale.pk in report.reversed_here,
            refunded_later=sale.pk in report.refunded_later,
            status_label=row_status(sale),
            payment_reference=sale.payment_reference or "",
        )
        for sale in report.sales
    )
    order = [k for k in SaleKind.values if k in report.kinds] + sorted(
        k for k in report.kinds if k not in SaleKind.values
    )
    kinds = tuple(
        KindTotal(
            kind=kind,
            label=str(SaleKind(kind).label) if kind in SaleKind.values else kind,
            count=line.count,
            amount=money(line.amount_minor),
            reversed_count=line.reversed_count,
            reversed_amount=money(line.reversed_minor),
            net_count=line.net_count,
            net_amount=money(line.net_minor),
        )
        for kind in order
        for line in [report.kinds[kind]]
    )
    methods = list(report.totals_by_tender) + [
        m for m in report.expected if m not in report.totals_by_tender
    ]
    if closed:
        methods += [m for m in shift.counted if m not in methods]
    tenders = tuple(
        TenderLine(
            method=method,
            label=payment_method_label(method),
            takings=money(report.totals_by_tender.get(method, 0)),
            expected=money(report.expected.get(method, 0)),
            counted=money(shift.counted.get(method, 0)) if counted_here else None,
            difference=(
                money(shift.counted.get(method, 0) - report.expected.get(method, 0))
                if counted_here
                else None
            ),
        )
        for method in methods
    )
    refunds = tuple(
        RefundRow(
            time_text=format_time(r.created_at),
            reference=r.sale.reference,
            meter_number=r.sale.meter.number,
            original_shift_id=r.sale.shift_id,
            payment_method_label=payment_method_label(r.sale.payment_method or "cash"),
            amount=money(r.sale.tender_minor),
        )
        for r in report.refunds
    )
    bill_amounts = list(
        shift.bill_payments.filter(status="received").values_list("amount_minor", flat=True)
    )
    return ShiftReportData(
        bill_payment_count=len(bill_amounts),
        bill_payment_total=money(sum(bill_amounts)),
        utility_name=settings.UTILITY_NAME,
        shift_id=shift.pk,
        is_closed=closed,
        status_label=str(shift.get_status_display()),
        vending_point_name=shift.vending_point.name,
        vending_point_code=shift.vending_point.code,
        operator_name=_person(shift.operator),
        opened_at_text=format_time(shift.opened_at),
        closed_at_text=format_time(shift.closed_at) if shift.closed_at else "",
        currency=currency,
        opening_float=money(shift.opening_float_minor),
        rows=rows,
        kinds=kinds,
        tenders=tenders,
        net_takings=money(report.net_takings_minor),
        reversed_count=report.reversed_count,
        reversed_total=money(report.reversed_total_minor),
        kwh_total=Decimal(report.kwh_total),
        expected_total=money(sum(report.expected.values())),
        counted_total=money(sum(shift.counted.values())) if counted_here else None,
        over_short=money(shift.over_short_minor) if counted_here else None,
        close_note=shift.close_note,
        gross_count=report.gross_count,
        gross_total=money(report.gross_minor),
        net_count=report.gross_count - report.reversed_count,
        net_total=money(report.gross_minor - report.reversed_total_minor),
        refunds=refunds,
        refunds_total=money(report.refunds_total_minor),
        is_force_closed=bool(closed and shift.is_force_closed),
        force_close_reason=shift.force_close_reason,
        closed_by_name=_person(shift.closed_by) if closed else "",
        signed_off_by_name=_person(shift.signed_off_by),
        signed_off_at_text=format_time(shift.signed_off_at) if shift.signed_off_at else "",
        sign_off_note=shift.sign_off_note,
        blind=blind and not closed,
    )
