"""Hypothesis strategies for tariffs, sale contexts and tenders in the kernel property tests."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import strategies as st

from gridvend.kernel.money import Money, currency_exponent
from gridvend.kernel.pricing import SaleContext, fixed_charges_due
from gridvend.kernel.tariffs import (
    DebtRecoveryRule,
    EnergyBlock,
    FixedCharge,
    TariffSpec,
    Tax,
)

CURRENCIES = ["KES", "UGX", "KWD", "ZAR"]


def scaled(low: int, high: int, places: int) -> st.SearchStrategy[Decimal]:
    """Decimals with at most ``places`` decimals, built from integers so no float ever appears."""
    return st.integers(low, high).map(lambda n: Decimal(n).scaleb(-places))


@st.composite
def block_lists(draw: st.DrawFn) -> tuple[EnergyBlock, ...]:
    count = draw(st.integers(1, 4))
    # Upper limits on the 0.1 kWh grid, as operators write them.
    uppers = sorted(draw(st.sets(st.integers(1, 3000), min_size=count - 1, max_size=count - 1)))
    rates = [draw(scaled(0, 50_000, 4)) for _ in range(count - 1)]
    rates.append(draw(scaled(1, 50_000, 4)))
    bounds: list[Decimal | None] = [Decimal(u).scaleb(-1) for u in uppers]
    bounds.append(None)
    return tuple(EnergyBlock(upper, rate) for upper, rate in zip(bounds, rates, strict=True))


@st.composite
def tax_lists(draw: st.DrawFn) -> tuple[Tax, ...]:
    count = draw(st.integers(0, 3))
    taxes = []
    for index in range(count):
        energy = draw(st.booleans())
        taxes.append(
            Tax(
                code=f"T{index}",
                rate=draw(scaled(1, 3000, 4)),
                applies_to_energy=energy,
                applies_to_fixed=draw(st.booleans()) or not energy,
                inclusive=draw(st.booleans()),
            )
        )
    return tuple(taxes)


@st.composite
def fixed_charge_lists(draw: st.DrawFn) -> tuple[FixedCharge, ...]:
    count = draw(st.integers(0, 2))
    return tuple(
        FixedCharge(
            name=f"charge {index}",
            amount_minor=draw(st.integers(0, 50_000)),
            period=draw(st.sampled_from(["month", "day"])),
            max_periods=draw(st.none() | st.integers(1, 12)),
            max_amount_minor=draw(st.none() | st.integers(0, 200_000)),
        )
        for index in range(count)
    )


@st.composite
def debt_rules(draw: st.DrawFn) -> DebtRecoveryRule | None:
    if draw(st.booleans()):
        return None
    minimum = draw(st.integers(0, 5_000))
    return DebtRecoveryRule(
        rate=draw(scaled(0, 100, 2)),
        min_per_sale_minor=minimum,
        max_per_sale_minor=draw(st.none() | st.integers(minimum, minimum + 100_000)),
        max_per_month_minor=draw(st.none() | st.integers(0, 300_000)),
    )


@st.composite
def tariffs(draw: st.DrawFn, *, limits: bool = False) -> TariffSpec:
    min_sale = draw(st.none() | st.integers(1, 1_000)) if limits else None
    max_sale = draw(st.none() | st.integers(10_000, 10_000_000)) if limits else None
    return TariffSpec(
        currency=draw(st.sampled_from(CURRENCIES)),
        blocks=draw(block_lists()),
        fixed_charges=draw(fixed_charge_lists()),
        taxes=draw(tax_lists()),
        fbe_kwh=draw(st.dictionaries(st.sampled_from(["", "lifeline"]), scaled(0, 1000, 1))),
        debt_recovery=draw(debt_rules()),
        min_sale_minor=min_sale,
        max_sale_minor=max_sale,
    )


@st.composite
def contexts(draw: st.DrawFn, spec: TariffSpec) -> SaleContext:
    today = date(2025, 6, 15)
    last = draw(st.none() | st.integers(0, 120).map(lambda days: today - timedelta(days=days)))
    cur = spec.currency
    return SaleContext(
        customer_category=draw(st.sampled_from(["", "lifeline", "commercial"])),
        month_to_date_kwh=draw(scaled(0, 400_000, 3)),
        fixed_charges=fixed_charges_due(spec, last, today),
        debt_balance=Money(draw(st.integers(0, 500_000)), cur),
        debt_recovered_this_month=Money(draw(st.integers(0, 100_000)), cur),
        fbe_issued_this_month=draw(st.booleans()),
    )


def exact_kwh_for(blocks: tuple[EnergyBlock, ...], start: Decimal, money: Fraction) -> Fraction:
    """Independent reference: kWh that ``money`` (major units) buys from ``start``, in Fractions."""
    position = Fraction(start)
    remaining = money
    bought = Fraction(0)
    lower = Fraction(0)
    for block in blocks:
        upper = None if block.upper_kwh is None else Fraction(block.upper_kwh)
        rate = Fraction(block.rate)
        if upper is not None and position >= upper:
            lower = upper
            continue
        if remaining <= 0:
            break
        here = max(position, lower)
        if upper is not None and (upper - here) * rate <= remaining:
            remaining -= (upper - here) * rate
            bought += upper - here
            position = upper
        else:
            bought += remaining / rate
            remaining = Fraction(0)
        if upper is not None:
            lower = upper
    return bought


def value_of_kwh(blocks: tuple[EnergyBlock, ...], start: Decimal, kwh: Decimal) -> Fraction:
    """Reference: what ``kwh`` from ``start`` cost at the tariff's block rates, in Fractions."""
    begin = Fraction(start)
    end = begin + Fraction(kwh)
    lower = Fraction(0)
    total = Fraction(0)
    for block in blocks:
        upper = None if block.upper_kwh is None else Fraction(block.upper_kwh)
        lo = max(lower, begin)
        hi = end if upper is None else min(upper, end)
        if hi > lo:
            total += (hi - lo) * Fraction(block.rate)
        if upper is not None:
            lower = upper
    return total


def minor_fraction(money: Money) -> Fraction:
    """One minor unit of ``money``'s currency, as a Fraction of a major unit."""
    return Fraction(1, 10 ** currency_exponent(money.currency))


def as_fraction(money: Money) -> Fraction:
    return Fraction(money.minor, 10 ** currency_exponent(money.currency))
