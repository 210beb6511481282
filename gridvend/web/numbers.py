"""Quantities as people read them on receipts and screens: energy to a tenth of a kWh, and
rates to the precision they were set with (never fewer decimals than the currency has).

The stored figures keep their full precision (a tariff block can price 19.396 kWh); only what
is printed or shown is rounded, half up, as a person rounds.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from gridvend.kernel.money import currency_exponent

TENTH = Decimal("0.1")


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def kwh_text(value: object) -> str:
    """``Decimal("19.3960000000000")`` → ``"19.4"`` (no unit); "" for nothing."""
    number = _decimal(value)
    if number is None:
        return ""
    return f"{number.quantize(TENTH, rounding=ROUND_HALF_UP):f}"


def rate_text(value: object, currency: str) -> str:
    """A rate per kWh as its tariff set it: ``12`` → ``"12.00"``, ``"12.3456000"`` →
    ``"12.3456"`` in a currency of two decimals; "" for nothing."""
    number = _decimal(value)
    if number is None:
        return ""
    places = currency_exponent(currency)
    shown = number.normalize()
    exponent = shown.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    if -exponent < places:
        shown = shown.quantize(Decimal(1).scaleb(-places))
    return f"{shown:f}"
