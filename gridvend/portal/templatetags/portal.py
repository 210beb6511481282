"""Template filters of the portal pages."""

from __future__ import annotations

from decimal import Decimal

from django import template

from gridvend.kernel.money import Money
from gridvend.vending.models import Sale

register = template.Library()


@register.filter
def grouped(digits: str) -> str:
    """A token in groups of four digits (1234 5678 9012 3456 7890)."""
    text = str(digits)
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


@register.filter
def kwh(value: Decimal | None) -> str:
    """Energy with one decimal, as tokens carry it."""
    if value is None:
        return ""
    return f"{Decimal(value).quantize(Decimal('0.1'))}"


@register.filter
def paid(sale: Sale) -> str:
    """What a sale was paid, in its currency."""
    return Money(sale.tender_minor, sale.currency).format()
