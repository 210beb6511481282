"""Sale pricing as pure functions: tender or wanted kWh in, an exact breakdown of the money out.

Order of a sale (DESIGN §7): fixed charges due, debt recovery, taxes, then energy through the
tariff blocks starting at the month's cumulative kWh; free basic electricity is a separate token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, Decimal, localcontext
from typing import Any

from gridvend.kernel.clock import months_between
from gridvend.kernel.energy import PRICED_KWH_STEP, ZERO_KWH, round_kwh_up, to_kwh, token_kwh
from gridvend.kernel.errors import (
    AmountAboveMaximum,
    AmountBelowMinimum,
    CurrencyMismatch,
    InvalidAmount,
    TenderBelowChargesDue,
)
from gridvend.kernel.money import DECIMAL_PRECISION, Money, round_minor
from gridvend.kernel.tariffs import EnergyBlock, Period, TariffSpec, Tax

ONE = Decimal(1)


class BreakdownMismatch(ValueError):
    """A breakdown whose parts do not add up; always a programming error, never a user error."""


# Fixed charges ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FixedChargeLine:
    """One fixed charge collected by a sale: ``periods`` months or days of ``name``."""

    name: str
    period: Period
    periods: int
    amount: Money


@dataclass(frozen=True)
class FixedChargesDue:
    """What :func:`fixed_charges_due` found owing, and the date to store once a sale collects it."""

    currency: str
    lines: tuple[FixedChargeLine, ...]
    paid_through: date

    @property
    def total(self) -> Money:
        return Money.total((line.amount for line in self.lines), self.currency)


def fixed_charges_due(
    spec: TariffSpec, last_paid_through: date | None, today: date
) -> FixedChargesDue:
    """Fixed charges a sale on ``today`` must collect, given the business date they were last paid.

    Monthly charges are due once for every month boundary crossed since ``last_paid_through``
    (skipped months accumulate); daily charges once for every day. ``None`` means never paid:
    one period (this month, today) is due. Each charge's caps limit the accumulation. After the
    sale the caller stores ``paid_through`` (which is ``today``) as the new last paid date.
    """
    lines: list[FixedChargeLine] = []
    for charge in spec.fixed_charges:
        if last_paid_through is None:
            periods = 1
        elif charge.period == "month":
            periods = max(0, months_between(last_paid_through, today))
        else:
            periods = max(0, (today - last_paid_through).days)
        if charge.max_periods is not None:
            periods = min(periods, charge.max_periods)
        if periods == 0:
            continue
        amount = periods * charge.amount_minor
        if charge.max_amount_minor is not None:
            amount = min(amount, charge.max_amount_minor)
        lines.append(FixedChargeLine(charge.name, charge.period, periods, spec.money(amount)))
    # A date in the future (a back-dated correction) must not be moved backwards.
    paid_through = today if last_paid_through is None else max(today, last_paid_through)
    return FixedChargesDue(spec.currency, tuple(lines), paid_through)


# Sale context -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SaleContext:
    """The customer's state that pricing depends on, read by the caller under the meter lock.

    ``month_to_date_kwh``: kWh already priced through the blocks this business month (the sum of
    earlier sales' ``priced_kwh``). ``fixed_charges``: from :func:`fixed_charges_due`, or None
    when the tariff has none. ``debt_balance``: arrears still owed; ``debt_recovered_this_month``:
    recovered so far this month (for the monthly cap). ``fbe_issued_this_month``: whether this
    month's free basic electricity token has already been issued.
    """

    customer_category: str = ""
    month_to_date_kwh: Decimal = ZERO_KWH
    fixed_charges: FixedChargesDue | None = None
    debt_balance: Money | None = None
    debt_recovered_this_month: Money | None = None
    fbe_issued_this_month: bool = False


# Breakdown --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaxLine:
    """One tax of the sale. ``base`` is what it was computed on; the amount splits into the part
    on energy and the part on fixed charges."""

    code: str
    rate: Decimal
    inclusive: bool
    base: Money
    amount: Money
    energy_amount: Money
    fixed_amount: Money


@dataclass(frozen=True)
class BlockLine:
    """Energy bought in one tariff block (``index`` counts from 0) at its rate."""

    index: int
    kwh: Decimal
    rate: Decimal
    money: Money


@dataclass(frozen=True)
class Breakdown:
    """Where every minor unit of a tender went, and the energy it bought.

    Money identities, checked on construction:

    * ``tender = fixed_charges_total + exclusive fixed taxes + debt_recovered
      + energy_at_rates + exclusive energy taxes``
    * ``fixed_charges_total = fixed_charges_net + inclusive fixed taxes``
    * ``energy_at_rates = energy_net + inclusive energy taxes = sum of block money``

    hence ``tender = fixed_charges_net + debt_recovered + all taxes + energy_net`` — the credit
    side of the sale's journal entry.
    """

    tender: Money
    fixed_charges: tuple[FixedChargeLine, ...]
    fixed_charges_total: Money
    fixed_charges_net: Money
    debt_recovered: Money
    taxes: tuple[TaxLine, ...]
    energy_at_rates: Money
    energy_net: Money
    blocks: tuple[BlockLine, ...]
    priced_kwh: Decimal
    kwh: Decimal
    fbe_kwh: Decimal
    month_to_date_kwh_before: Decimal
    fixed_charges_paid_through: date | None = None

    def __post_init__(self) -> None:
        self.verify()

    @property
    def currency(self) -> str:
        return self.tender.currency

    @property
    def tax_total(self) -> Money:
        return Money.total((t.amount for t in self.taxes), self.currency)

    @property
    def month_to_date_kwh_after(self) -> Decimal:
        """What the caller stores as the month's cumulative kWh after this sale."""
        return self.month_to_date_kwh_before + self.priced_kwh

    def parts_total(self) -> Money:
        """Sum of the revenue-side parts; equals ``tender`` for every valid breakdown."""
        return self.fixed_charges_net + self.debt_recovered + self.tax_total + self.energy_net

    def verify(self) -> None:
        """Raise :class:`BreakdownMismatch` unless every money identity holds exactly."""
        cur = self.currency

        def total(amounts: Sequence[Money]) -> Money:
            return Money.total(amounts, cur)

        checks = [
            (
                "fixed charge lines",
                total([line.amount for line in self.fixed_charges]),
                self.fixed_charges_total,
            ),
            (
                "fixed charges net + inclusive taxes",
                self.fixed_charges_net + total([t.fixed_amount for t in self.taxes if t.inclusive]),
                self.fixed_charges_total,
            ),
            (
                "energy net + inclusive taxes",
                self.energy_net + total([t.energy_amount for t in self.taxes if t.inclusive]),
                self.energy_at_rates,
            ),
            ("block lines", total([b.money for b in self.blocks]), self.energy_at_rates),
            (
                "tax parts",
                total([t.amount for t in self.taxes]),
                total([t.energy_amount + t.fixed_amount for t in self.taxes]),
            ),
            ("parts", self.parts_total(), self.tender),
        ]
        for what, got, expected in checks:
            if got != expected:
                raise BreakdownMismatch(f"{what} add up to {got}, expected {expected}")
        negatives = [
            self.fixed_charges_net,
            self.debt_recovered,
            self.energy_net,
            *(t.amount for t in self.taxes),
            *(b.money for b in self.blocks),
        ]
        if any(amount.is_negative() for amount in negatives):
            raise BreakdownMismatch("a part of the breakdown is negative")
        if self.kwh != token_kwh(self.priced_kwh) or self.kwh < 0:
            raise BreakdownMismatch("token kWh must be priced kWh rounded up to what a token holds")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record of the breakdown for the sale row and the receipt."""
        return {
            "currency": self.currency,
            "tender_minor": self.tender.minor,
            "fixed_charges": [
                {
                    "name": line.name,
                    "period": line.period,
                    "periods": line.periods,
                    "amount_minor": line.amount.minor,
                }
                for line in self.fixed_charges
            ],
            "fixed_charges_total_minor": self.fixed_charges_total.minor,
            "fixed_charges_net_minor": self.fixed_charges_net.minor,
            "debt_recovered_minor": self.debt_recovered.minor,
            "taxes": [
                {
                    "code": t.code,
                    "rate": str(t.rate),
                    "inclusive": t.inclusive,
                    "base_minor": t.base.minor,
                    "amount_minor": t.amount.minor,
                    "energy_amount_minor": t.energy_amount.minor,
                    "fixed_amount_minor": t.fixed_amount.minor,
                }
                for t in self.taxes
            ],
            "energy_at_rates_minor": self.energy_at_rates.minor,
            "energy_net_minor": self.energy_net.minor,
            "blocks": [
                {
                    "index": b.index,
                    "kwh": str(b.kwh),
                    "rate": str(b.rate),
                    "money_minor": b.money.minor,
                }
                for b in self.blocks
            ],
            "priced_kwh": str(self.priced_kwh),
            "kwh": str(self.kwh),
            "fbe_kwh": str(self.fbe_kwh),
            "month_to_date_kwh_before": str(self.month_to_date_kwh_before),
            "fixed_charges_paid_through": None
            if self.fixed_charges_paid_through is None
            else self.fixed_charges_paid_through.isoformat(),
        }


# Helpers ----------------------------------------------------------------------------------------


def _major(minor: int, currency: str) -> Decimal:
    return Money(minor, currency).to_major()


def _round(value: Decimal, currency: str) -> int:
    return round_minor(value, currency).minor


def _apportion(total: int, taxes: Sequence[Tax]) -> list[int]:
    """Split ``total`` minor units among taxes in proportion to their rates, exactly.

    Largest-remainder method: everyone gets the floor of their share, and the leftover units go
    to the largest fractional parts (earlier taxes win ties), so parts are never negative and
    always add up to ``total``.
    """
    if not taxes:
        return []
    with localcontext() as ctx:
        ctx.prec = DECIMAL_PRECISION
        rate_sum = sum((t.rate for t in taxes), Decimal(0))
        shares = [Decimal(total) * t.rate / rate_sum for t in taxes]
        floors = [int(share) for share in shares]
        leftover = total - sum(floors)
        order = sorted(range(len(taxes)), key=lambda i: (-(shares[i] - floors[i]), i))
        for i in order[:leftover]:
            floors[i] += 1
    return floors


def _extract_inclusive(gross: int, taxes: Sequence[Tax], currency: str) -> tuple[int, list[int]]:
    """Split an amount that includes ``taxes`` into its net and each tax."""
    if not taxes:
        return gross, []
    with localcontext() as ctx:
        ctx.prec = DECIMAL_PRECISION
        divisor = ONE + sum((t.rate for t in taxes), Decimal(0))
        net = _round(_major(gross, currency) / divisor, currency)
    return net, _apportion(gross - net, taxes)


def _walk_blocks(
    blocks: Sequence[EnergyBlock], start_kwh: Decimal, money: Decimal
) -> list[tuple[int, Decimal, Decimal, Decimal]]:
    """Spend ``money`` (major units at tariff rates) on kWh from ``start_kwh`` up the blocks.

    Returns ``(block index, kWh, rate, exact cost)`` per block touched. Whole blocks are exact;
    the kWh of the block where the money runs out are rounded UP to the watt-hour.
    """
    result: list[tuple[int, Decimal, Decimal, Decimal]] = []
    position = start_kwh
    remaining = money
    with localcontext() as ctx:
        ctx.prec = DECIMAL_PRECISION
        for index, block in enumerate(blocks):
            if remaining <= 0:
                break
            upper = block.upper_kwh
            if upper is not None and position >= upper:
                continue
            room = None if upper is None else upper - position
            if room is not None and room * block.rate <= remaining:
                cost = room * block.rate
                result.append((index, room, block.rate, cost))
                remaining -= cost
                position = upper if upper is not None else position
                continue
            # The money runs out inside this block (its rate is above zero: free blocks always fit).
            kwh = round_kwh_up(remaining / block.rate, PRICED_KWH_STEP)
            result.append((index, kwh, block.rate, remaining))
            remaining = Decimal(0)
    return result


def _check_currency(spec: TariffSpec, amount: Money | None) -> None:
    if amount is not None and amount.currency != spec.currency:
        raise CurrencyMismatch(expected=spec.currency, got=amount.currency)


@dataclass(frozen=True)
class _Plan:
    """The parts of a sale that do not depend on the tender."""

    fixed_lines: tuple[FixedChargeLine, ...]
    fixed_total: int
    fixed_net: int
    fixed_tax: dict[str, int]
    fixed_gross: int
    debt_limit: int
    debt_min: int

    @property
    def required_minimum(self) -> int:
        return self.fixed_gross + self.debt_min


def _plan(spec: TariffSpec, ctx: SaleContext) -> _Plan:
    cur = spec.currency
    for amount in (ctx.debt_balance, ctx.debt_recovered_this_month):
        _check_currency(spec, amount)
    if ctx.fixed_charges is not None and ctx.fixed_charges.currency != cur:
        raise CurrencyMismatch(expected=cur, got=ctx.fixed_charges.currency)
    if ctx.month_to_date_kwh < 0:
        raise InvalidAmount(value=ctx.month_to_date_kwh, reason="month-to-date kWh is negative")

    fixed_lines = ctx.fixed_charges.lines if ctx.fixed_charges is not None else ()
    fixed_total = sum(line.amount.minor for line in fixed_lines)
    fixed_tax: dict[str, int] = {}
    exclusive = [t for t in spec.taxes if t.applies_to_fixed and not t.inclusive]
    inclusive = [t for t in spec.taxes if t.applies_to_fixed and t.inclusive]
    fixed_net, inclusive_parts = _extract_inclusive(fixed_total, inclusive, cur)
    for tax, part in zip(inclusive, inclusive_parts, strict=True):
        fixed_tax[tax.code] = part
    for tax in exclusive:
        # Forward direction: the stated amount is the net, so each tax is simply rate × amount.
        fixed_tax[tax.code] = _round(_major(fixed_total, cur) * tax.rate, cur)
    fixed_gross = fixed_total + sum(fixed_tax[t.code] for t in exclusive)

    debt_limit = 0
    debt_min = 0
    rule = spec.debt_recovery
    balance = ctx.debt_balance.minor if ctx.debt_balance is not None else 0
    if rule is not None and balance > 0:
        debt_limit = balance
        if rule.max_per_month_minor is not None:
            recovered = ctx.debt_recovered_this_month
            done = recovered.minor if recovered is not None else 0
            debt_limit = min(debt_limit, max(0, rule.max_per_month_minor - done))
        debt_min = min(rule.min_per_sale_minor, debt_limit)
    return _Plan(fixed_lines, fixed_total, fixed_net, fixed_tax, fixed_gross, debt_limit, debt_min)


def _debt_for(spec: TariffSpec, plan: _Plan, tender: int) -> int:
    rule = spec.debt_recovery
    if rule is None or plan.debt_limit == 0:
        return 0
    debt = _round(_major(tender, spec.currency) * rule.rate, spec.currency)
    debt = max(debt, plan.debt_min)
    if rule.max_per_sale_minor is not None:
        debt = min(debt, rule.max_per_sale_minor)
    # Never more than owed (or than the month's cap leaves), and never eat into the fixed charges.
    return min(debt, plan.debt_limit, tender - plan.fixed_gross)


def fbe_due(spec: TariffSpec, ctx: SaleContext) -> Decimal:
    """Free basic electricity kWh owed this month for the customer's category (0 once issued)."""
    if ctx.fbe_issued_this_month:
        return ZERO_KWH
    return token_kwh(spec.fbe_kwh.get(ctx.customer_category, ZERO_KWH))


def _price(spec: TariffSpec, tender: int, ctx: SaleContext, plan: _Plan) -> Breakdown | None:
    """Price ``tender`` minor units, ignoring sale limits; None if it does not cover the charges."""
    cur = spec.currency
    if tender < plan.required_minimum:
        return None
    debt = _debt_for(spec, plan, tender)
    energy_gross = tender - plan.fixed_gross - debt

    exclusive = [t for t in spec.taxes if t.applies_to_energy and not t.inclusive]
    inclusive = [t for t in spec.taxes if t.applies_to_energy and t.inclusive]
    with localcontext() as dctx:
        dctx.prec = DECIMAL_PRECISION
        # Exclusive taxes: derive the net from the gross by dividing, round it once, and let the
        # taxes take the remainder so the parts add up to the tender exactly.
        divisor = ONE + sum((t.rate for t in exclusive), Decimal(0))
        at_rates = _round(_major(energy_gross, cur) / divisor, cur) if exclusive else energy_gross
    exclusive_parts = _apportion(energy_gross - at_rates, exclusive)
    energy_net, inclusive_parts = _extract_inclusive(at_rates, inclusive, cur)
    energy_tax = dict(zip([t.code for t in exclusive], exclusive_parts, strict=True))
    energy_tax.update(zip([t.code for t in inclusive], inclusive_parts, strict=True))

    tax_lines = []
    for tax in spec.taxes:
        energy_part = energy_tax.get(tax.code, 0)
        fixed_part = plan.fixed_tax.get(tax.code, 0)
        base = 0
        if tax.applies_to_energy:
            base += energy_net if tax.inclusive else at_rates
        if tax.applies_to_fixed:
            base += plan.fixed_net if tax.inclusive else plan.fixed_total
        tax_lines.append(
            TaxLine(
                code=tax.code,
                rate=tax.rate,
                inclusive=tax.inclusive,
                base=Money(base, cur),
                amount=Money(energy_part + fixed_part, cur),
                energy_amount=Money(energy_part, cur),
                fixed_amount=Money(fixed_part, cur),
            )
        )

    walked = _walk_blocks(spec.blocks, ctx.month_to_date_kwh, _major(at_rates, cur))
    block_lines = []
    cumulative = Decimal(0)
    charged = 0
    with localcontext() as dctx:
        dctx.prec = DECIMAL_PRECISION
        for index, kwh, rate, cost in walked:
            # Round the running total, not each block, so lines never go negative and sum exactly.
            cumulative += cost
            upto = _round(cumulative, cur)
            block_lines.append(BlockLine(index, kwh, rate, Money(upto - charged, cur)))
            charged = upto
    priced = sum((line.kwh for line in block_lines), ZERO_KWH)

    return Breakdown(
        tender=Money(tender, cur),
        fixed_charges=plan.fixed_lines,
        fixed_charges_total=Money(plan.fixed_total, cur),
        fixed_charges_net=Money(plan.fixed_net, cur),
        debt_recovered=Money(debt, cur),
        taxes=tuple(tax_lines),
        energy_at_rates=Money(at_rates, cur),
        energy_net=Money(energy_net, cur),
        blocks=tuple(block_lines),
        priced_kwh=priced,
        kwh=token_kwh(priced),
        fbe_kwh=fbe_due(spec, ctx),
        month_to_date_kwh_before=ctx.month_to_date_kwh,
        fixed_charges_paid_through=(
            ctx.fixed_charges.paid_through if ctx.fixed_charges is not None else None
        ),
    )


def _check_limits(spec: TariffSpec, tender: int) -> None:
    if spec.min_sale_minor is not None and tender < spec.min_sale_minor:
        raise AmountBelowMinimum(minimum=spec.money(spec.min_sale_minor))
    if spec.max_sale_minor is not None and tender > spec.max_sale_minor:
        raise AmountAboveMaximum(maximum=spec.money(spec.max_sale_minor))


# Public entry points ----------------------------------------------------------------------------


def sale_limits(spec: TariffSpec, ctx: SaleContext) -> tuple[Money, Money | None]:
    """The smallest and largest tender a sale may have now: the tariff's limits, and at least
    what the charges due (fixed charges, their taxes, the minimum debt recovery) take."""
    plan = _plan(spec, ctx)
    smallest = max(spec.min_sale_minor or 0, plan.required_minimum)
    largest = spec.max_sale_minor
    if largest is not None and largest < smallest:
        smallest = largest
    return spec.money(smallest), (spec.money(largest) if largest is not None else None)


def price_by_tender(spec: TariffSpec, tender: Money, ctx: SaleContext) -> Breakdown:
    """Price a sale of a given amount of money.

    Raises CURRENCY_MISMATCH, INVALID_AMOUNT (not above zero), AMOUNT_BELOW_MINIMUM /
    AMOUNT_ABOVE_MAXIMUM (sale limits, with ``minimum`` / ``maximum``), and
    TENDER_BELOW_CHARGES_DUE (with ``required_minimum``: fixed charges due, their taxes and the
    minimum debt recovery).
    """
    _check_currency(spec, tender)
    if tender.minor <= 0:
        raise InvalidAmount(value=tender, reason="it must be above zero")
    _check_limits(spec, tender.minor)
    plan = _plan(spec, ctx)
    breakdown = _price(spec, tender.minor, ctx, plan)
    if breakdown is None:
        raise TenderBelowChargesDue(required_minimum=spec.money(plan.required_minimum))
    return breakdown


def _cost_estimate(spec: TariffSpec, ctx: SaleContext, plan: _Plan, kwh: Decimal) -> int:
    """A close guess of the tender buying ``kwh``; the exact answer is searched from here."""
    cur = spec.currency
    with localcontext() as dctx:
        dctx.prec = DECIMAL_PRECISION
        position = ctx.month_to_date_kwh
        end = position + kwh
        cost = Decimal(0)
        lower = Decimal(0)
        for block in spec.blocks:
            upper = block.upper_kwh
            lo = max(lower, position)
            hi = end if upper is None else min(upper, end)
            if hi > lo:
                cost += (hi - lo) * block.rate
            if upper is not None:
                lower = upper
        exclusive = sum(
            (t.rate for t in spec.taxes if t.applies_to_energy and not t.inclusive), Decimal(0)
        )
        energy = round_minor(cost * (ONE + exclusive), cur, ROUND_CEILING).minor
    guess = plan.fixed_gross + energy + plan.debt_min
    # Debt recovery is a share of the tender it is part of; a few fixed-point steps settle it.
    for _ in range(30):
        following = plan.fixed_gross + energy + _debt_for(spec, plan, max(guess, 1))
        if following == guess:
            break
        guess = following
    return max(guess, 1)


def price_by_energy(spec: TariffSpec, kwh_wanted: Decimal, ctx: SaleContext) -> Breakdown:
    """Price the smallest tender (in whole minor units) whose token carries at least ``kwh_wanted``.

    The token's kWh never fall as the tender rises (debt recovery takes at most 100 % of each
    extra unit), so an estimate is refined by galloping and bisection to the exact minimum.
    Raises INVALID_AMOUNT for kWh not above zero, and the sale-limit errors of
    :func:`price_by_tender` when the minimal tender falls outside them.
    """
    wanted = to_kwh(kwh_wanted)
    if wanted <= 0:
        raise InvalidAmount(value=kwh_wanted, reason="the kWh wanted must be above zero")
    plan = _plan(spec, ctx)

    cache: dict[int, Breakdown | None] = {}

    def priced(tender: int) -> Breakdown | None:
        if tender not in cache:
            cache[tender] = _price(spec, tender, ctx, plan) if tender >= 1 else None
        return cache[tender]

    def enough(tender: int) -> bool:
        breakdown = priced(tender)
        return breakdown is not None and breakdown.kwh >= wanted

    ceiling = spec.max_sale_minor
    if ceiling is not None and not enough(ceiling):
        raise AmountAboveMaximum(maximum=spec.money(ceiling))

    guess = _cost_estimate(spec, ctx, plan, wanted)
    if ceiling is not None:
        guess = min(guess, ceiling)
    if enough(guess):
        high, step = guess, 1
        low = high - step
        while low >= 1 and enough(low):
            high, step = low, step * 2
            low = high - step
        low = max(low, 0)
    else:
        low, step = guess, 1
        high = low + step
        while not enough(high):
            low, step = high, step * 2
            high = low + step
            if ceiling is not None:
                high = min(high, ceiling)
    # Invariant: enough(high) and not enough(low) (tender 0 is never enough).
    while high - low > 1:
        middle = (low + high) // 2
        if enough(middle):
            high = middle
        else:
            low = middle
    _check_limits(spec, high)
    result = priced(high)
    assert result is not None  # enough(high) holds, so it priced
    return result


# Postpaid bills ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsumptionCharges:
    """A postpaid bill's charges for metered kWh: the same blocks, fixed charges and taxes a sale
    is priced with, read the other way (energy used in, money owed out).

    Identities, checked on construction:

    * ``energy_at_rates = sum of block money = energy_net + inclusive energy taxes``
    * ``fixed_charges_total = sum of fixed lines = fixed_charges_net + inclusive fixed taxes``
    * ``total = energy_at_rates + fixed_charges_total + exclusive taxes
      = energy_net + fixed_charges_net + all taxes`` (the credit side of the bill's entry)
    """

    currency: str
    kwh: Decimal
    blocks: tuple[BlockLine, ...]
    energy_at_rates: Money
    energy_net: Money
    fixed_charges: tuple[FixedChargeLine, ...]
    fixed_charges_total: Money
    fixed_charges_net: Money
    taxes: tuple[TaxLine, ...]
    total: Money

    def __post_init__(self) -> None:
        cur = self.currency

        def total(amounts: Sequence[Money]) -> Money:
            return Money.total(amounts, cur)

        taxes = total([t.amount for t in self.taxes])
        inclusive_energy = total([t.energy_amount for t in self.taxes if t.inclusive])
        inclusive_fixed = total([t.fixed_amount for t in self.taxes if t.inclusive])
        exclusive = total([t.amount for t in self.taxes if not t.inclusive])
        checks = [
            ("block lines", total([b.money for b in self.blocks]), self.energy_at_rates),
            ("energy net", self.energy_net + inclusive_energy, self.energy_at_rates),
            (
                "fixed lines",
                total([line.amount for line in self.fixed_charges]),
                self.fixed_charges_total,
            ),
            ("fixed net", self.fixed_charges_net + inclusive_fixed, self.fixed_charges_total),
            ("gross", self.energy_at_rates + self.fixed_charges_total + exclusive, self.total),
            ("net", self.energy_net + self.fixed_charges_net + taxes, self.total),
        ]
        for what, got, expected in checks:
            if got != expected:
                raise BreakdownMismatch(f"{what} add up to {got}, expected {expected}")
        parts = [self.energy_net, self.fixed_charges_net, *(t.amount for t in self.taxes)]
        if any(amount.is_negative() for amount in parts):
            raise BreakdownMismatch("a part of the bill is negative")


def price_consumption(spec: TariffSpec, kwh: Decimal, *, days: int) -> ConsumptionCharges:
    """Charges for ``kwh`` used over a billing period of ``days`` days.

    Energy walks the tariff blocks from zero (a bill is one month's consumption, so the blocks
    are the month's); each block's money is the running total rounded once, so lines sum
    exactly. Monthly fixed charges are due once per bill, daily ones once per day (caps apply).
    Inclusive taxes are extracted from what they are inside of; exclusive ones are added on top,
    each rounded once on its whole base.
    """
    cur = spec.currency
    used = to_kwh(kwh)
    if used < 0:
        raise InvalidAmount(value=kwh, reason="consumption must not be negative")
    if days < 1:
        raise InvalidAmount(value=days, reason="a billing period has at least one day")
    block_lines: list[BlockLine] = []
    with localcontext() as dctx:
        dctx.prec = DECIMAL_PRECISION
        lower = ZERO_KWH
        cumulative = Decimal(0)
        charged = 0
        for index, block in enumerate(spec.blocks):
            if used <= lower:
                break
            upper = used if block.upper_kwh is None else min(block.upper_kwh, used)
            in_block = upper - lower
            if in_block > 0:
                cumulative += in_block * block.rate
                upto = _round(cumulative, cur)
                block_lines.append(
                    BlockLine(index, in_block, block.rate, Money(upto - charged, cur))
                )
                charged = upto
            if block.upper_kwh is None:
                break
            lower = block.upper_kwh
    at_rates = sum((b.money.minor for b in block_lines), 0)

    fixed_lines: list[FixedChargeLine] = []
    for charge in spec.fixed_charges:
        periods = 1 if charge.period == "month" else days
        if charge.max_periods is not None:
            periods = min(periods, charge.max_periods)
        amount = periods * charge.amount_minor
        if charge.max_amount_minor is not None:
            amount = min(amount, charge.max_amount_minor)
        if amount:
            fixed_lines.append(
                FixedChargeLine(charge.name, charge.period, periods, Money(amount, cur))
            )
    fixed_total = sum((line.amount.minor for line in fixed_lines), 0)

    inclusive_energy = [t for t in spec.taxes if t.applies_to_energy and t.inclusive]
    inclusive_fixed = [t for t in spec.taxes if t.applies_to_fixed and t.inclusive]
    energy_net, energy_parts = _extract_inclusive(at_rates, inclusive_energy, cur)
    fixed_net, fixed_parts = _extract_inclusive(fixed_total, inclusive_fixed, cur)
    energy_tax = dict(zip([t.code for t in inclusive_energy], energy_parts, strict=True))
    fixed_tax = dict(zip([t.code for t in inclusive_fixed], fixed_parts, strict=True))

    tax_lines: list[TaxLine] = []
    exclusive_total = 0
    with localcontext() as dctx:
        dctx.prec = DECIMAL_PRECISION
        for tax in spec.taxes:
            if tax.inclusive:
                energy_part = energy_tax.get(tax.code, 0)
                fixed_part = fixed_tax.get(tax.code, 0)
                base = (energy_net if tax.applies_to_energy else 0) + (
                    fixed_net if tax.applies_to_fixed else 0
                )
                amount = energy_part + fixed_part
            else:
                base = (at_rates if tax.applies_to_energy else 0) + (
                    fixed_total if tax.applies_to_fixed else 0
                )
                amount = _round(_major(base, cur) * tax.rate, cur)
                energy_part = (
                    min(amount, _round(_major(at_rates, cur) * tax.rate, cur))
                    if tax.applies_to_energy
                    else 0
                )
                fixed_part = amount - energy_part
                exclusive_total += amount
            tax_lines.append(
                TaxLine(
                    code=tax.code,
                    rate=tax.rate,
                    inclusive=tax.inclusive,
                    base=Money(base, cur),
                    amount=Money(amount, cur),
                    energy_amount=Money(energy_part, cur),
                    fixed_amount=Money(fixed_part, cur),
                )
            )
    return ConsumptionCharges(
        currency=cur,
        kwh=used,
        blocks=tuple(block_lines),
        energy_at_rates=Money(at_rates, cur),
        energy_net=Money(energy_net, cur),
        fixed_charges=tuple(fixed_lines),
        fixed_charges_total=Money(fixed_total, cur),
        fixed_charges_net=Money(fixed_net, cur),
        taxes=tuple(tax_lines),
        total=Money(at_rates + fixed_total + exclusive_total, cur),
    )


def late_fee(spec: TariffSpec, unpaid: Money) -> Money:
    """The late-payment charge on ``unpaid`` under the tariff's rule (zero without one)."""
    _check_currency(spec, unpaid)
    rule = spec.late_payment
    if rule is None or unpaid.minor <= 0:
        return spec.money(0)
    with localcontext() as dctx:
        dctx.prec = DECIMAL_PRECISION
        share = _round(_major(unpaid.minor, spec.currency) * rule.rate, spec.currency)
    return spec.money(share + rule.fixed_minor)
