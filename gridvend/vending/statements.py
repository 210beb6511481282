"""A customer's statement: every sale, reversal and debt movement in time order, with what was
paid and the debt still owed after each line. Read-only; built from the rows the vending and
customer services wrote, so it always agrees with them."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet, Sum

from gridvend.customers.models import Customer, Debt
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.money import Money
from gridvend.vending.models import Reversal, Sale, SaleKind

# Lines read per kind of movement; a longer period is cut short and says so.
MAX_LINES = 3000


class LineKind:
    SALE = "sale"
    REVERSAL = "reversal"
    DEBT = "debt"


@dataclass(frozen=True)
class StatementLine:
    """One movement. Money columns are None where the movement has no such part; ``debt`` is
    the change in what the customer owes (raised: positive, recovered: negative)."""

    at: datetime
    kind: str
    sale: Sale | None = None
    debt_item: Debt | None = None
    reversal: Reversal | None = None
    paid: Money | None = None
    fixed: Money | None = None
    tax: Money | None = None
    energy: Money | None = None
    debt: Money | None = None
    kwh: Decimal | None = None
    fbe_kwh: Decimal | None = None
    debt_after: Money | None = None


@dataclass
class Statement:
    customer: Customer
    currency: str
    date_from: date | None
    date_to: date | None
    opening_debt: Money
    lines: list[StatementLine] = field(default_factory=list)
    truncated: bool = False

    @property
    def closing_debt(self) -> Money:
        last = self.lines[-1].debt_after if self.lines else None
        return last if last is not None else self.opening_debt

    def _total(self, kind: str, attribute: str) -> Money:
        amounts = [
            getattr(line, attribute)
            for line in self.lines
            if line.kind == kind and getattr(line, attribute) is not None
        ]
        return Money.total((a for a in amounts if a.currency == self.currency), self.currency)

    @property
    def total_paid(self) -> Money:
        return self._total(LineKind.SALE, "paid")

    @property
    def total_refunded(self) -> Money:
        return -self._total(LineKind.REVERSAL, "paid")

    @property
    def net_paid(self) -> Money:
        return self.total_paid - self.total_refunded

    @property
    def total_kwh(self) -> Decimal:
        """The energy on the period's tokens. A sale's kWh are what all its energy tokens
        carry, its free basic electricity (``fbe_kwh``) already among them."""
        return sum(
            (line.kwh or Decimal(0) for line in self.lines if line.kind == LineKind.SALE),
            Decimal(0),
        )


def _bounds(date_from: date | None, date_to: date | None) -> tuple[datetime | None, ...]:
    """The period as instants: from the start of ``date_from`` to the end of ``date_to``, in the
    utility's time zone (a sale at 23:30 UTC may belong to the next local day)."""
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    start = datetime.combine(date_from, time.min, zone) if date_from else None
    end = datetime.combine(date_to + timedelta(days=1), time.min, zone) if date_to else None
    return start, end


def _between(prefix: str, start: datetime | None, end: datetime | None) -> Q:
    condition = Q()
    if start is not None:
        condition &= Q(**{f"{prefix}__gte": start})
    if end is not None:
        condition &= Q(**{f"{prefix}__lt": end})
    return condition


def _sum(queryset: QuerySet[Any], column: str) -> int:
    return int(queryset.aggregate(total=Sum(column))["total"] or 0)


def _opening_debt(customer: Customer, currency: str, start: datetime | None) -> Money:
    """What the customer owed at ``start``: debts raised, less recovered, plus given back."""
    if start is None:
        return Money.zero(currency)
    raised = _sum(
        Debt.objects.filter(customer=customer, currency=currency, opened_at__lt=start),
        "original_minor",
    )
    recovered = _sum(
        Sale.objects.filter(customer=customer, currency=currency, created_at__lt=start),
        "debt_recovered_minor",
    )
    restored = _sum(
        Reversal.objects.filter(
            sale__customer=customer, sale__currency=currency, created_at__lt=start
        ),
        "sale__debt_recovered_minor",
    )
    return Money(raised - recovered + restored, currency)


def _money(minor: int, currency: str) -> Money:
    return Money(minor, currency)


def _sale_line(sale: Sale) -> StatementLine:
    cur = sale.currency
    priced = sale.kind == SaleKind.CREDIT
    return StatementLine(
        at=sale.created_at,
        kind=LineKind.SALE,
        sale=sale,
        paid=_money(sale.tender_minor, cur) if priced else None,
        fixed=_money(sale.fixed_charges_minor, cur) if priced else None,
        tax=_money(sale.tax_minor, cur) if priced else None,
        energy=_money(sale.energy_minor, cur) if priced else None,
        debt=-_money(sale.debt_recovered_minor, cur) if sale.debt_recovered_minor else None,
        kwh=sale.kwh,
        fbe_kwh=sale.fbe_kwh if priced and sale.fbe_kwh else None,
    )


def _reversal_line(reversal: Reversal) -> StatementLine:
    sale = reversal.sale
    cur = sale.currency
    return StatementLine(
        at=reversal.created_at,
        kind=LineKind.REVERSAL,
        sale=sale,
        reversal=reversal,
        paid=-_money(sale.tender_minor, cur),
        fixed=-_money(sale.fixed_charges_minor, cur),
        tax=-_money(sale.tax_minor, cur),
        energy=-_money(sale.energy_minor, cur),
        debt=_money(sale.debt_recovered_minor, cur) if sale.debt_recovered_minor else None,
    )


def _debt_line(debt: Debt) -> StatementLine:
    return StatementLine(
        at=debt.opened_at,
        kind=LineKind.DEBT,
        debt_item=debt,
        debt=_money(debt.original_minor, debt.currency),
    )


# Within one instant: a debt raised before the sale that recovers it, a sale before its reversal.
_ORDER = {LineKind.DEBT: 0, LineKind.SALE: 1, LineKind.REVERSAL: 2}


def customer_statement(
    actor: User,
    customer: Customer,
    *,
    date_from: date | None = None,
    date_to: date | None = None,
) -> Statement:
    """The customer's movements from ``date_from`` to ``date_to`` (local dates, both included),
    oldest first, each with the debt owed after it; the debt owed before the period opens it."""
    require_unit_in_scope(actor, customer.org_unit)
    currency = customer.tariff.currency
    start, end = _bounds(date_from, date_to)
    sales = list(
        Sale.objects.filter(Q(customer=customer) & _between("created_at", start, end))
        .select_related("meter", "vending_point", "operator")
        .order_by("created_at", "id")[: MAX_LINES + 1]
    )
    reversals = list(
        Reversal.objects.filter(Q(sale__customer=customer) & _between("created_at", start, end))
        .select_related("sale", "sale__meter", "reversed_by")
        .order_by("created_at", "id")[: MAX_LINES + 1]
    )
    debts = list(
        Debt.objects.filter(Q(customer=customer) & _between("opened_at", start, end))
        .select_related("opened_by")
        .order_by("opened_at", "id")[: MAX_LINES + 1]
    )
    truncated = any(len(rows) > MAX_LINES for rows in (sales, reversals, debts))
    lines = [
        *(_sale_line(s) for s in sales[:MAX_LINES]),
        *(_reversal_line(r) for r in reversals[:MAX_LINES]),
        *(_debt_line(d) for d in debts[:MAX_LINES]),
    ]
    lines.sort(key=lambda line: (line.at, _ORDER[line.kind]))
    opening = _opening_debt(customer, currency, start)
    owed = opening
    running: list[StatementLine] = []
    for line in lines:
        if line.debt is not None and line.debt.currency == currency:
            owed = owed + line.debt
        running.append(replace(line, debt_after=owed))
    return Statement(customer, currency, date_from, date_to, opening, running, truncated)
