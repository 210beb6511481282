"""Property tests for pricing: exact sums, independent kWh reference, minimal tenders, rounding."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from math import ceil

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gridvend.kernel.energy import token_kwh
from gridvend.kernel.errors import DomainError, ErrorCode
from gridvend.kernel.ledger import SaleAccounts, credit_sale_journal
from gridvend.kernel.money import Money
from gridvend.kernel.pricing import Breakdown, SaleContext, price_by_energy, price_by_tender
from gridvend.kernel.tariffs import TariffSpec

from .strategies import (
    as_fraction,
    contexts,
    exact_kwh_for,
    minor_fraction,
    scaled,
    tariffs,
    value_of_kwh,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ACCOUNTS = SaleAccounts(
    source="cash_drawer:VP1",
    energy_revenue="energy_revenue",
    fixed_charge_revenue="fixed_charge_revenue",
    customer_debt="customer_debt:C1",
    tax_payable={"T0": "vat_payable"},
)


def _token_tenths(tenths: int) -> int:
    """The smallest amount (in 0.1 kWh) an STS amount field holds at or above ``tenths``: a 2-bit
    exponent e and a 14-bit mantissa m stand for m·10^e + Σ_{n=1..e} 2^14·10^(n−1). Beyond the
    largest such amount pricing keeps the tenths (the token engine refuses the sale)."""
    for exponent in range(4):
        start = sum(2**14 * 10 ** (n - 1) for n in range(1, exponent + 1))
        mantissa = max(0, ceil(Fraction(tenths - start, 10**exponent)))
        if mantissa < 2**14:
            return start + mantissa * 10**exponent
    return tenths


def test_token_kwh_steps_like_the_amount_field() -> None:
    assert token_kwh(Decimal("1638.3")) == Decimal("1638.3")
    assert token_kwh(Decimal("1638.31")) == Decimal("1638.4")
    assert token_kwh(Decimal("3633.7")) == Decimal("3634.4")
    assert token_kwh(Decimal("3634.4")) == Decimal("3634.4")
    assert token_kwh(Decimal("2000")) == Decimal("2000.4")  # the example in sts/STS.md
    assert token_kwh(Decimal("18022.41")) == Decimal("18032.4")
    for tenths in range(0, 400_000, 997):
        kwh = Fraction(tenths, 10)
        assert Fraction(token_kwh(Decimal(tenths) / 10)) == Fraction(_token_tenths(tenths), 10)
        assert token_kwh(Decimal(tenths) / 10) >= Decimal(tenths) / 10, kwh


@st.composite
def sales(draw: st.DrawFn) -> tuple[TariffSpec, SaleContext, Money]:
    spec = draw(tariffs())
    ctx = draw(contexts(spec))
    tender = Money(draw(st.integers(1, 5_000_000)), spec.currency)
    return spec, ctx, tender


def priced_or_refused(spec: TariffSpec, tender: Money, ctx: SaleContext):
    try:
        return price_by_tender(spec, tender, ctx)
    except DomainError as error:
        assert error.code == ErrorCode.TENDER_BELOW_CHARGES_DUE
        assert error.params["required_minimum"] > tender
        return None


@st.composite
def priced_sales(draw: st.DrawFn) -> tuple[TariffSpec, SaleContext, Money, Breakdown]:
    """A sale and its breakdown; sales the tariff refuses are not drawn (checked on the way)."""
    spec, ctx, tender = draw(sales())
    b = priced_or_refused(spec, tender, ctx)
    assume(b is not None)
    return spec, ctx, tender, b


@FAST
@given(priced_sales())
def test_breakdown_parts_add_up_exactly_to_the_tender(priced):
    _spec, _ctx, tender, b = priced
    assert b.parts_total() == tender
    assert b.fixed_charges_net + b.debt_recovered + b.tax_total + b.energy_net == tender
    b.verify()


@FAST
@given(priced_sales())
def test_sale_journal_sums_to_zero(priced):
    spec, _ctx, tender, b = priced
    draft = credit_sale_journal(b, ACCOUNTS)
    assert draft.is_balanced()
    assert draft.totals() in ({}, {spec.currency: Money.zero(spec.currency)})
    debit = [p for p in draft.postings if p.amount.is_positive()]
    assert debit == [type(debit[0])("cash_drawer:VP1", tender)]


@FAST
@given(priced_sales())
def test_kwh_match_an_independent_fraction_calculation(priced):
    spec, ctx, _tender, b = priced
    exact = exact_kwh_for(spec.blocks, ctx.month_to_date_kwh, as_fraction(b.energy_at_rates))
    # Priced kWh are the exact kWh rounded up to the Wh, the token up to the tenth and then up to
    # what the token's amount field can hold.
    assert Fraction(b.priced_kwh) == Fraction(ceil(exact * 1000), 1000)
    assert Fraction(b.kwh) == Fraction(_token_tenths(ceil(exact * 10)), 10)
    assert sum(line.kwh for line in b.blocks) == b.priced_kwh


@FAST
@given(priced_sales())
def test_rounding_never_costs_the_customer_more_than_one_minor_unit(priced):
    spec, ctx, tender, b = priced
    one = minor_fraction(tender)
    delivered = value_of_kwh(spec.blocks, ctx.month_to_date_kwh, b.kwh)
    # Against what the blocks charged...
    assert delivered >= as_fraction(b.energy_at_rates) - one
    # ...and against the exact untaxed share of what was left after charges and debt.
    gross = as_fraction(tender - b.fixed_charges_total - b.debt_recovered) - sum(
        (as_fraction(t.fixed_amount) for t in b.taxes if not t.inclusive), Fraction(0)
    )
    exclusive = sum(
        (Fraction(t.rate) for t in spec.taxes if t.applies_to_energy and not t.inclusive),
        Fraction(0),
    )
    assert delivered >= gross / (1 + exclusive) - one
    # Each block line is the block's share of the money, so it never goes negative.
    assert all(line.money.minor >= 0 for line in b.blocks)


@FAST
@given(priced_sales())
def test_more_money_never_buys_less_energy(priced):
    spec, ctx, tender, b = priced
    more = price_by_tender(spec, tender + Money(1, spec.currency), ctx)
    assert more.kwh >= b.kwh
    assert more.debt_recovered >= b.debt_recovered


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_price_by_energy_gives_the_minimal_tender(data):
    spec = data.draw(tariffs())
    ctx = data.draw(contexts(spec))
    wanted = data.draw(scaled(1, 20_000, 1))
    b = price_by_energy(spec, wanted, ctx)
    assert b.kwh >= wanted
    below = b.tender - Money(1, spec.currency)
    if below.minor >= 1:
        smaller = priced_or_refused(spec, below, ctx)
        assert smaller is None or smaller.kwh < wanted


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_price_by_energy_respects_sale_limits(data):
    spec = data.draw(tariffs(limits=True))
    ctx = data.draw(contexts(spec))
    wanted = data.draw(scaled(1, 20_000, 1))
    try:
        b = price_by_energy(spec, wanted, ctx)
    except DomainError as error:
        assert error.code in (ErrorCode.AMOUNT_BELOW_MINIMUM, ErrorCode.AMOUNT_ABOVE_MAXIMUM)
        return
    assert b.kwh >= wanted
    assert spec.min_sale_minor is None or b.tender.minor >= spec.min_sale_minor
    assert spec.max_sale_minor is None or b.tender.minor <= spec.max_sale_minor


@FAST
@given(tariffs(limits=True))
def test_tariff_spec_round_trips_through_plain_data(spec):
    import json

    data = json.loads(json.dumps(spec.to_dict()))
    assert TariffSpec.from_dict(data) == spec


def test_one_minor_unit_tender_is_priced_without_error():
    spec = TariffSpec.flat("KWD", "0.015")
    b = price_by_tender(spec, Money(1, "KWD"), SaleContext())
    # 0.001 KWD at 0.015 KWD/kWh = 0.0667 kWh -> 0.067 priced, 0.1 on the token.
    assert b.priced_kwh == Decimal("0.067")
    assert b.kwh == Decimal("0.1")
