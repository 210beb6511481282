"""Hand-worked pricing examples: each expected figure is derived in the comments beside it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from gridvend.kernel.errors import ErrorCode, InvalidAmount, TenderBelowChargesDue
from gridvend.kernel.money import Money
from gridvend.kernel.pricing import (
    Breakdown,
    BreakdownMismatch,
    SaleContext,
    fbe_due,
    fixed_charges_due,
    price_by_energy,
    price_by_tender,
)
from gridvend.kernel.tariffs import DebtRecoveryRule, FixedCharge, TariffSpec, Tax


def kes(major: str) -> Money:
    return Money.from_major(major, "KES")


def test_blocks_with_exclusive_vat_split_100_kes_after_30_kwh(block_tariff, bought_30kwh):
    b = price_by_tender(block_tariff, kes("100.00"), bought_30kwh)
    # Net of VAT: 100.00 / 1.16 = 86.2069 -> 86.21; VAT is the remainder 100.00 - 86.21 = 13.79.
    assert b.energy_at_rates == kes("86.21")
    assert [(t.code, t.base, t.amount) for t in b.taxes] == [("VAT", kes("86.21"), kes("13.79"))]
    # Block 1 has 50 - 30 = 20 kWh left at 1.00 = 20.00; 66.21 is left for block 2 at 2.00,
    # which buys 33.105 kWh.
    assert [(line.index, line.kwh, line.money) for line in b.blocks] == [
        (0, Decimal("20"), kes("20.00")),
        (1, Decimal("33.105"), kes("66.21")),
    ]
    assert b.priced_kwh == Decimal("53.105")
    # The token carries tenths of a kWh, rounded up for the customer: 53.105 -> 53.2.
    assert b.kwh == Decimal("53.2")
    assert b.month_to_date_kwh_after == Decimal("83.105")
    assert b.energy_net == kes("86.21")
    assert b.parts_total() == b.tender


def test_sale_starting_inside_the_top_block_uses_its_rate_only(block_tariff):
    ctx = SaleContext(month_to_date_kwh=Decimal("200"))
    b = price_by_tender(block_tariff, kes("34.80"), ctx)
    # 34.80 / 1.16 = 30.00 net, at 3.00/kWh = 10 kWh exactly.
    assert [(line.index, line.kwh) for line in b.blocks] == [(2, Decimal("10.000"))]
    assert b.kwh == Decimal("10.0")


def test_sale_crossing_all_blocks(block_tariff):
    b = price_by_tender(block_tariff, kes("464.00"), SaleContext())
    # 464.00 / 1.16 = 400.00 net: 50 kWh x 1.00 = 50, 100 kWh x 2.00 = 200, then 150 / 3.00 = 50.
    assert [(line.kwh, line.money) for line in b.blocks] == [
        (Decimal("50"), kes("50.00")),
        (Decimal("100"), kes("200.00")),
        (Decimal("50.000"), kes("150.00")),
    ]
    assert b.kwh == Decimal("200.0")


def test_flat_rate_in_a_currency_without_minor_units():
    spec = TariffSpec.flat("UGX", "750")
    b = price_by_tender(spec, Money(10_000, "UGX"), SaleContext())
    # 10 000 / 750 = 13.3333 kWh: priced to the Wh rounding up (13.334), token up to 13.4.
    assert b.priced_kwh == Decimal("13.334")
    assert b.kwh == Decimal("13.4")
    assert b.taxes == ()


def test_inclusive_vat_is_extracted_from_the_rate():
    spec = TariffSpec.flat("KES", "25.00", taxes=(Tax("VAT", Decimal("0.16"), inclusive=True),))
    b = price_by_tender(spec, kes("1000.00"), SaleContext())
    # The rate already holds VAT, so the whole 1000.00 buys energy: 1000 / 25 = 40 kWh.
    assert b.kwh == Decimal("40.0")
    assert b.energy_at_rates == kes("1000.00")
    # VAT inside it: net 1000 / 1.16 = 862.0690 -> 862.07, VAT 137.93.
    assert b.energy_net == kes("862.07")
    assert b.taxes[0].amount == kes("137.93")
    assert b.taxes[0].base == kes("862.07")


def test_two_exclusive_taxes_share_the_remainder_by_rate():
    spec = TariffSpec.flat(
        "KES",
        "10.00",
        taxes=(Tax("VAT", Decimal("0.16")), Tax("LEVY", Decimal("0.05"))),
    )
    b = price_by_tender(spec, kes("100.00"), SaleContext())
    # Net = 100 / 1.21 = 82.6446 -> 82.64; taxes 17.36 split 16:5 -> 13.2267 and 4.1333:
    # floors 13.22 + 4.13 = 17.35, the leftover cent goes to the larger fraction (VAT 0.67).
    assert b.energy_at_rates == kes("82.64")
    assert [(t.code, t.amount) for t in b.taxes] == [("VAT", kes("13.23")), ("LEVY", kes("4.13"))]


def test_fixed_charge_with_vat_is_collected_before_energy():
    spec = TariffSpec.flat(
        "KES",
        "20.00",
        fixed_charges=(FixedCharge("Service charge", 20_000, "month"),),
        taxes=(Tax("VAT", Decimal("0.16")),),
    )
    due = fixed_charges_due(spec, date(2025, 5, 20), date(2025, 6, 3))
    b = price_by_tender(spec, kes("1000.00"), SaleContext(fixed_charges=due))
    # Fixed 200.00 + VAT 32.00 = 232.00; energy gross 768.00 / 1.16 = 662.0690 -> 662.07;
    # energy VAT = 768.00 - 662.07 = 105.93; total VAT 137.93 on a base of 662.07 + 200.00.
    assert b.fixed_charges_total == kes("200.00")
    assert b.fixed_charges_net == kes("200.00")
    assert b.energy_at_rates == kes("662.07")
    vat = b.taxes[0]
    assert (vat.energy_amount, vat.fixed_amount, vat.amount) == (
        kes("105.93"),
        kes("32.00"),
        kes("137.93"),
    )
    assert vat.base == kes("862.07")
    # 662.07 / 20.00 = 33.1035 kWh -> 33.104 priced, 33.2 on the token.
    assert b.priced_kwh == Decimal("33.104")
    assert b.kwh == Decimal("33.2")
    assert b.fixed_charges_paid_through == date(2025, 6, 3)


def test_inclusive_tax_on_fixed_charge_is_extracted():
    spec = TariffSpec.flat(
        "KES",
        "20.00",
        fixed_charges=(FixedCharge("Service charge", 11_600, "month"),),
        taxes=(Tax("VAT", Decimal("0.16"), applies_to_energy=False, inclusive=True),),
    )
    due = fixed_charges_due(spec, None, date(2025, 6, 3))
    b = price_by_tender(spec, kes("316.00"), SaleContext(fixed_charges=due))
    # 116.00 includes VAT: net 100.00, VAT 16.00; the other 200.00 buys 10 kWh untaxed.
    assert b.fixed_charges_net == kes("100.00")
    assert b.taxes[0].fixed_amount == kes("16.00")
    assert b.taxes[0].energy_amount == kes("0.00")
    assert b.kwh == Decimal("10.0")


DEBT = DebtRecoveryRule(
    rate=Decimal("0.25"),
    min_per_sale_minor=5_000,
    max_per_sale_minor=30_000,
    max_per_month_minor=50_000,
)


@pytest.mark.parametrize(
    ("tender", "balance", "recovered", "expected"),
    [
        ("1000.00", "1000.00", "0", "250.00"),  # 25 % of 1000.00
        ("100.00", "1000.00", "0", "50.00"),  # 25.00 is below the 50.00 minimum per sale
        ("2000.00", "1000.00", "0", "300.00"),  # 500.00 is above the 300.00 maximum per sale
        ("1000.00", "40.00", "0", "40.00"),  # never more than is owed
        ("1000.00", "1000.00", "400.00", "100.00"),  # month cap 500.00 leaves 100.00
        ("1000.00", "1000.00", "500.00", "0.00"),  # month cap used up
        ("1000.00", "0.00", "0", "0.00"),  # nothing owed
    ],
)
def test_debt_recovery_takes_its_share_within_limits(tender, balance, recovered, expected):
    spec = TariffSpec.flat("KES", "10.00", debt_recovery=DEBT)
    ctx = SaleContext(debt_balance=kes(balance), debt_recovered_this_month=kes(recovered))
    b = price_by_tender(spec, kes(tender), ctx)
    assert b.debt_recovered == kes(expected)
    # The rest buys energy at 10.00/kWh.
    assert b.energy_at_rates == kes(tender) - kes(expected)


def _charges_spec() -> TariffSpec:
    return TariffSpec.flat(
        "KES",
        "10.00",
        fixed_charges=(FixedCharge("Service charge", 20_000, "month"),),
        taxes=(Tax("VAT", Decimal("0.16")),),
        debt_recovery=DEBT,
    )


def test_tender_below_charges_due_is_refused_with_the_minimum():
    spec = _charges_spec()
    ctx = SaleContext(
        fixed_charges=fixed_charges_due(spec, None, date(2025, 6, 1)),
        debt_balance=kes("900.00"),
    )
    # Required: fixed 200.00 + VAT 32.00 + minimum debt recovery 50.00 = 282.00.
    with pytest.raises(TenderBelowChargesDue) as caught:
        price_by_tender(spec, kes("281.99"), ctx)
    assert caught.value.code == ErrorCode.TENDER_BELOW_CHARGES_DUE
    assert caught.value.params["required_minimum"] == kes("282.00")
    assert "282.00" in caught.value.message


def test_tender_exactly_covering_charges_buys_no_energy():
    spec = _charges_spec()
    ctx = SaleContext(
        fixed_charges=fixed_charges_due(spec, None, date(2025, 6, 1)),
        debt_balance=kes("900.00"),
    )
    b = price_by_tender(spec, kes("282.00"), ctx)
    # 25 % of 282.00 is 70.50, but only 282.00 - 232.00 = 50.00 is left after fixed charges.
    assert b.debt_recovered == kes("50.00")
    assert b.energy_at_rates == kes("0.00")
    assert b.kwh == Decimal("0.0")
    assert b.blocks == ()


def test_fbe_is_a_separate_zero_money_allowance():
    spec = TariffSpec.flat("KES", "10.00", fbe_kwh={"lifeline": Decimal("50")})
    b = price_by_tender(spec, kes("100.00"), SaleContext(customer_category="lifeline"))
    assert b.fbe_kwh == Decimal("50.0")
    assert b.kwh == Decimal("10.0")  # the paid energy is not affected
    assert b.parts_total() == kes("100.00")
    issued = SaleContext(customer_category="lifeline", fbe_issued_this_month=True)
    assert fbe_due(spec, issued) == Decimal("0")
    assert fbe_due(spec, SaleContext(customer_category="commercial")) == Decimal("0")


def test_price_by_energy_finds_the_smallest_tender(block_tariff, bought_30kwh):
    b = price_by_energy(block_tariff, Decimal("100"), bought_30kwh)
    # The token needs priced kWh above 99.9: 20 kWh at 1.00 + 79.9 kWh at 2.00 = 179.80 buys
    # exactly 99.9, so the energy money must be 179.81. Gross g with round(g / 1.16) >= 179.81
    # means g >= 208.5738: g = 208.58 (208.57 / 1.16 = 179.8017 -> 179.80, not enough).
    assert b.tender == kes("208.58")
    assert b.energy_at_rates == kes("179.81")
    assert b.kwh == Decimal("100.0")
    assert price_by_tender(block_tariff, kes("208.57"), bought_30kwh).kwh == Decimal("99.9")


def test_price_by_energy_solves_debt_recovery_circularity():
    spec = TariffSpec.flat("KES", "10.00", debt_recovery=DebtRecoveryRule(rate=Decimal("0.20")))
    ctx = SaleContext(debt_balance=kes("10000.00"))
    b = price_by_energy(spec, Decimal("40"), ctx)
    # A 40.0 kWh token needs priced kWh above 39.9, i.e. energy of at least 399.01 (39.901 kWh).
    # Debt takes 20 % of the tender t, so we need t - round(0.2 t) >= 399.01:
    #   t = 498.76: 20 % = 99.752 -> 99.75, energy 399.01 -> 39.901 kWh -> token 40.0 (enough);
    #   t = 498.75: 20 % = 99.75, energy 399.00 -> 39.9 kWh exactly (not enough).
    assert b.tender == kes("498.76")
    assert b.debt_recovered == kes("99.75")
    assert b.kwh == Decimal("40.0")


def test_price_by_energy_refuses_non_positive_kwh(block_tariff):
    with pytest.raises(InvalidAmount):
        price_by_energy(block_tariff, Decimal("0"), SaleContext())


def test_breakdown_refuses_parts_that_do_not_add_up(block_tariff, bought_30kwh):
    good = price_by_tender(block_tariff, kes("100.00"), bought_30kwh)
    with pytest.raises(BreakdownMismatch):
        Breakdown(**{**good.__dict__, "tender": kes("100.01")})
    with pytest.raises(BreakdownMismatch):
        Breakdown(**{**good.__dict__, "kwh": Decimal("53.1")})


def test_breakdown_to_dict_is_json_ready(block_tariff, bought_30kwh):
    import json

    data = price_by_tender(block_tariff, kes("100.00"), bought_30kwh).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["tender_minor"] == 10_000
    assert data["kwh"] == "53.2"


class TestFixedChargesDue:
    spec = TariffSpec.flat(
        "KES",
        "10.00",
        fixed_charges=(
            FixedCharge("Service", 10_000, "month", max_periods=3),
            FixedCharge("Meter rent", 500, "day", max_amount_minor=3_000),
        ),
    )

    def test_first_sale_ever_collects_one_period_of_each(self):
        due = fixed_charges_due(self.spec, None, date(2025, 3, 11))
        assert [(line.name, line.periods, line.amount) for line in due.lines] == [
            ("Service", 1, kes("100.00")),
            ("Meter rent", 1, kes("5.00")),
        ]
        assert due.paid_through == date(2025, 3, 11)

    def test_skipped_months_accumulate_up_to_the_period_cap(self):
        # Last paid in January, now May: Feb, Mar, Apr, May = 4 months, capped at 3.
        due = fixed_charges_due(self.spec, date(2025, 1, 15), date(2025, 5, 2))
        assert due.lines[0].periods == 3
        assert due.lines[0].amount == kes("300.00")

    def test_daily_charge_accumulates_up_to_the_amount_cap(self):
        # 1 → 11 March is 10 days x 5.00 = 50.00, capped at 30.00.
        due = fixed_charges_due(self.spec, date(2025, 3, 1), date(2025, 3, 11))
        # The monthly charge is not due again within March, so the daily one is the only line.
        assert [(line.name, line.periods, line.amount) for line in due.lines] == [
            ("Meter rent", 10, kes("30.00"))
        ]

    def test_second_sale_the_same_day_owes_nothing(self):
        due = fixed_charges_due(self.spec, date(2025, 3, 11), date(2025, 3, 11))
        assert due.lines == ()
        assert due.total == kes("0.00")

    def test_year_boundary_counts_one_month(self):
        due = fixed_charges_due(self.spec, date(2024, 12, 31), date(2025, 1, 1))
        assert due.lines[0].periods == 1

    def test_paid_ahead_date_is_kept(self):
        due = fixed_charges_due(self.spec, date(2025, 4, 1), date(2025, 3, 11))
        assert due.lines == ()
        assert due.paid_through == date(2025, 4, 1)
