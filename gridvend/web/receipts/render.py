"""What a receipt and a Z report say, built once from the stored sale so every layout agrees."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import segno
from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridvend.identity.models import User
from gridvend.kernel.money import Money
from gridvend.reports.shifts import ZReport
from gridvend.vending.models import Sale, SaleKind, SaleStatus, Token, TokenKind
from gridvend.vending.services import ENERGY_TOKEN_KINDS
from gridvend.vending.visibility import mask

PAYMENT_METHOD_LABELS = {
    "cash": gettext_lazy("Cash"),
    "card": gettext_lazy("Card"),
    "cheque": gettext_lazy("Cheque"),
    "transfer": gettext_lazy("Bank transfer"),
    "mobile_money": gettext_lazy("Mobile money"),
    "wallet": gettext_lazy("Wallet"),
    "float": gettext_lazy("Agent float"),
}

# One QR recipe for the HTML, the PDF and the tests: a scanner at the counter reads it back.
QR_ERROR = "m"


def make_qr(text: str) -> Any:
    """The receipt's QR code (segno): the receipt number, nothing else, so it leaks nothing."""
    return segno.make(text, error=QR_ERROR, micro=False)


def group_digits(digits: str) -> tuple[str, ...]:
    """``12345678...`` → ``("1234", "5678", ...)``: tokens are read out and typed in fours."""
    return tuple(digits[i : i + 4] for i in range(0, len(digits), 4))


def payment_method_label(method: str) -> str:
    if not method:
        return ""
    return str(PAYMENT_METHOD_LABELS.get(method, method))


def percent(rate: Decimal | str) -> str:
    """A tax rate stored as a fraction (``0.16``) as the percentage people read (``16``)."""
    value = (Decimal(rate) * 100).normalize()
    return f"{value:f}"


def utility_time(moment: datetime) -> datetime:
    """A stored instant in the utility's own time zone (a receipt is read at the counter)."""
    return moment.astimezone(zoneinfo.ZoneInfo(settings.TIME_ZONE))


def format_time(moment: datetime) -> str:
    local = utility_time(moment)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname() or ''}".strip()


def _person(user: User | None) -> str:
    if user is None:
        return ""
    return user.full_name or user.username


@dataclass(frozen=True)
class ReceiptToken:
    sequence: int
    kind: str
    kind_label: str
    digits: str  # as the reader may see them: live, or masked to the last four
    groups: tuple[str, ...]
    tid: int | None
    units: Decimal | None
    is_energy: bool
    description: str

    @property
    def grouped(self) -> str:
        return " ".join(self.groups)


@dataclass(frozen=True)
class FixedChargeLine:
    name: str
    periods: int
    period: str
    amount: Money


@dataclass(frozen=True)
class TaxLine:
    code: str
    rate_percent: str
    inclusive: bool
    amount: Money


@dataclass(frozen=True)
class EnergyLine:
    block: int  # counted from 1, as on the tariff sheet
    kwh: Decimal
    rate: Decimal
    amount: Money


@dataclass(frozen=True)
class ReceiptData:
    utility_name: str
    receipt_number: str
    kind: str
    kind_label: str
    is_reversed: bool
    status_label: str
    is_reprint: bool
    is_copy: bool  # someone else's view of the seller's receipt: not the original
    tokens_masked: bool
    issued_at: datetime  # in the utility's time zone
    issued_at_text: str
    vending_point_name: str
    vending_point_code: str
    vending_point_address: str
    meter_number: str
    customer_name: str
    account_number: str
    premise_address: str
    operator_name: str
    tokens: tuple[ReceiptToken, ...]
    total_kwh: Decimal
    currency: str
    tender: Money
    payment_method: str
    payment_method_label: str
    fixed_charges: tuple[FixedChargeLine, ...]
    fixed_charges_total: Money
    debt_recovered: Money
    taxes: tuple[TaxLine, ...]
    energy: tuple[EnergyLine, ...]
    energy_total: Money
    fbe_kwh: Decimal
    has_breakdown: bool
    reason: str
    qr_text: str
    qr_svg_data_uri: str
    qr_matrix: tuple[tuple[bool, ...], ...]
    # The slip, cheque or transaction code of a non-cash tender; the cash handed over and the
    # change given, when the cashier entered the cash received.
    payment_reference: str = ""
    cash_received: Money | None = None
    change: Money | None = None
    tariff_name: str = ""
    # What the customer still owed after this sale (None when not known: no customer, a free
    # issue, or a sale from before it was recorded).
    debt_balance_after: Money | None = None
    # The meter key the tokens were made for: "600675 / 01 / 2", or "" when not recorded.
    meter_key_text: str = ""
    tax_registration_number: str = ""
    helpline: str = ""

    @property
    def shows_debt(self) -> bool:
        """The debt still owed is printed when there was debt to speak of."""
        balance = self.debt_balance_after
        return balance is not None and (balance.minor > 0 or self.debt_recovered.minor > 0)


def meter_key_text(sale: Sale) -> str:
    """SGC / TI / KRN as printed on receipts: what a technician checks against the meter."""
    if not sale.key_sgc or sale.key_ti is None or sale.key_krn is None:
        return ""
    return f"{sale.key_sgc} / {sale.key_ti:02d} / {sale.key_krn}"


def _tokens(sale: Sale, tokens: list[Token] | None, *, visible: bool) -> tuple[ReceiptToken, ...]:
    rows = tokens if tokens is not None else list(sale.tokens.order_by("sequence"))
    return tuple(
        ReceiptToken(
            sequence=t.sequence,
            kind=t.kind,
            kind_label=str(TokenKind(t.kind).label) if t.kind in TokenKind.values else t.kind,
            digits=t.digits if visible else mask(t.digits),
            groups=group_digits(t.digits if visible else mask(t.digits)),
            tid=t.tid,
            units=t.units,
            is_energy=t.kind in ENERGY_TOKEN_KINDS,
            description=t.description,
        )
        for t in sorted(rows, key=lambda t: t.sequence)
    )


def build_receipt(
    sale: Sale,
    *,
    reprint: bool = False,
    copy: bool = False,
    tokens_visible: bool = True,
    tokens: list[Token] | None = None,
) -> ReceiptData:
    """Everything printed on a sale's receipt, from the stored sale and its stored tokens only.

    ``tokens`` lets a caller pass the tokens it already holds (a reprint returns them); the
    receipt never asks for new ones. ``copy`` marks someone else's view of the receipt;
    without ``tokens_visible`` the digits never enter the data, only their masked form.
    """
    currency = sale.currency
    breakdown: dict[str, Any] = sale.breakdown or {}

    def money(minor: Any) -> Money:
        return Money(int(minor or 0), currency)

    fixed = tuple(
        FixedChargeLine(
            name=str(line["name"]),
            periods=int(line["periods"]),
            period=str(line["period"]),
            amount=money(line["amount_minor"]),
        )
        for line in breakdown.get("fixed_charges", [])
    )
    taxes = tuple(
        TaxLine(
            code=str(tax["code"]),
            rate_percent=percent(tax["rate"]),
            inclusive=bool(tax["inclusive"]),
            amount=money(tax["amount_minor"]),
        )
        for tax in breakdown.get("taxes", [])
    )
    energy = tuple(
        EnergyLine(
            block=int(block["index"]) + 1,
            kwh=Decimal(block["kwh"]),
            rate=Decimal(block["rate"]),
            amount=money(block["money_minor"]),
        )
        for block in breakdown.get("blocks", [])
    )
    receipt_tokens = _tokens(sale, tokens, visible=tokens_visible)
    total_kwh = sum(
        (t.units for t in receipt_tokens if t.is_energy and t.units is not None), Decimal(0)
    )
    meter = sale.meter
    customer = sale.customer
    point = sale.vending_point
    premise = meter.premise
    qr = make_qr(sale.reference)
    local = utility_time(sale.created_at)
    return ReceiptData(
        utility_name=settings.UTILITY_NAME,
        receipt_number=sale.reference,
        kind=sale.kind,
        kind_label=str(SaleKind(sale.kind).label) if sale.kind in SaleKind.values else sale.kind,
        is_reversed=sale.status == SaleStatus.REVERSED,
        status_label=str(SaleStatus(sale.status).label),
        is_reprint=reprint,
        is_copy=copy,
        tokens_masked=not tokens_visible,
        issued_at=local,
        issued_at_text=format_time(sale.created_at),
        vending_point_name=point.name if point is not None else _("Back office"),
        vending_point_code=point.code if point is not None else "",
        vending_point_address=point.address if point is not None else "",
        meter_number=meter.number,
        customer_name=customer.name if customer is not None else "",
        account_number=customer.account_number if customer is not None else "",
        premise_address=premise.address if premise is not None else "",
        operator_name=_person(sale.operator),
        tokens=receipt_tokens,
        total_kwh=total_kwh,
        currency=currency,
        tender=money(sale.tender_minor),
        payment_method=sale.payment_method,
        payment_method_label=payment_method_label(sale.payment_method),
        fixed_charges=fixed,
        fixed_charges_total=money(breakdown.get("fixed_charges_total_minor", 0)),
        debt_recovered=money(sale.debt_recovered_minor),
        taxes=taxes,
        energy=energy,
        energy_total=money(breakdown.get("energy_at_rates_minor", 0)),
        fbe_kwh=sale.fbe_kwh,
        has_breakdown=bool(breakdown),
        reason=sale.reason,
        qr_text=sale.reference,
        qr_svg_data_uri=qr.svg_data_uri(scale=3, border=2),
        qr_matrix=tuple(tuple(bool(cell) for cell in row) for row in qr.matrix),
        payment_reference=sale.payment_reference or "",
        cash_received=money(sale.cash_received_minor)
        if sale.cash_received_minor is not None
        else None,
        change=money(sale.change_minor) if sale.change_minor is not None else None,
        tariff_name=sale.tariff_version.tariff.name if sale.tariff_version is not None else "",
        debt_balance_after=money(sale.debt_balance_after_minor)
        if sale.debt_balance_after_minor is not None
        else None,
        meter_key_text=meter_key_text(sale),
        tax_registration_number=settings.TAX_REGISTRATION_NUMBER,
        helpline=settings.HELPLINE,
    )


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
