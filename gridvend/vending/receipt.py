"""What a sale's receipt says, built once from the stored sale so every layout agrees: the
cashier's 80 mm page and A4 PDF (gridvend.web.receipts) and the customer portal's copy
(gridvend.portal) read the same data."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import segno
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridvend.identity.models import User
from gridvend.kernel.money import Money
from gridvend.vending import sale_hooks
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
    # The code of the offline station that sold it ("" when sold on the master, online): the
    # receipt says so, as the sale reaches the master's books only when the station syncs.
    offline_station: str = ""

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
        offline_station=sale_hooks.offline_seller(sale) or "",
    )
