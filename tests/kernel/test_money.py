"""Money and energy: exact minor units, one currency at a time, no floats, rounding in one place."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridvend.kernel.energy import round_kwh_up, to_kwh
from gridvend.kernel.errors import CurrencyMismatch, ErrorCode, InvalidAmount, UnknownCurrency
from gridvend.kernel.money import CURRENCY_EXPONENTS, Money, currency_exponent, round_minor


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [("KES", 2), ("NGN", 2), ("ZAR", 2), ("UGX", 0), ("XOF", 0), ("RWF", 0), ("JOD", 3),
     ("KWD", 3), ("BHD", 3), ("IQD", 3), ("USD", 2), ("MWK", 2), ("CNY", 2)],
)  # fmt: skip
def test_currency_exponents_follow_iso_4217(currency, exponent):
    assert currency_exponent(currency) == exponent


def test_unknown_currency_is_refused():
    with pytest.raises(UnknownCurrency) as caught:
        Money(1, "XXX")
    assert caught.value.code == ErrorCode.UNKNOWN_CURRENCY


@pytest.mark.parametrize("bad", [1.0, 0.1, float("nan")])
def test_money_never_accepts_float(bad):
    with pytest.raises(TypeError):
        Money(bad, "KES")
    with pytest.raises(TypeError):
        Money.from_major(bad, "KES")
    with pytest.raises(TypeError):
        round_minor(bad, "KES")
    with pytest.raises(TypeError):
        Money(100, "KES").apply_rate(bad)
    with pytest.raises(TypeError):
        Money(100, "KES") * bad


@given(st.floats(allow_nan=True, allow_infinity=True))
@settings(max_examples=50, deadline=None)
def test_no_float_of_any_value_becomes_money(value):
    with pytest.raises(TypeError):
        Money.from_major(value, "KES")


def test_bool_and_decimal_minor_units_are_refused():
    with pytest.raises(TypeError):
        Money(True, "KES")
    with pytest.raises(TypeError):
        Money(Decimal(1), "KES")  # type: ignore[arg-type]


def test_from_major_reads_exact_amounts():
    assert Money.from_major("12.50", "KES") == Money(1250, "KES")
    assert Money.from_major(Decimal("1.234"), "KWD") == Money(1234, "KWD")
    assert Money.from_major(5000, "UGX") == Money(5000, "UGX")
    assert Money.from_major("12.500", "KES") == Money(1250, "KES")  # trailing zeros are fine


@pytest.mark.parametrize(
    ("value", "currency"), [("12.505", "KES"), ("0.5", "UGX"), ("1.2345", "KWD")]
)
def test_from_major_refuses_more_precision_than_the_minor_unit(value, currency):
    with pytest.raises(InvalidAmount) as caught:
        Money.from_major(value, currency)
    assert caught.value.code == ErrorCode.INVALID_AMOUNT


@pytest.mark.parametrize("value", ["abc", "NaN", "Infinity", ""])
def test_from_major_refuses_non_numbers(value):
    with pytest.raises(InvalidAmount):
        Money.from_major(value, "KES")


def test_to_major_keeps_the_currency_decimals():
    assert Money(1250, "KES").to_major() == Decimal("12.50")
    assert str(Money(1250, "KES").to_major()) == "12.50"
    assert str(Money(5, "KWD").to_major()) == "0.005"
    assert str(Money(5000, "UGX").to_major()) == "5000"


def test_arithmetic_within_one_currency():
    a, b = Money(1000, "KES"), Money(250, "KES")
    assert a + b == Money(1250, "KES")
    assert a - b == Money(750, "KES")
    assert -a == Money(-1000, "KES")
    assert abs(Money(-5, "KES")) == Money(5, "KES")
    assert a * 3 == 3 * a == Money(3000, "KES")
    assert sum([a, b]) == Money(1250, "KES")
    assert Money.total([], "KES") == Money(0, "KES")
    assert b < a and a > b and a >= a and b <= a
    assert not Money.zero("KES") and Money(1, "KES")


def test_mixing_currencies_raises_currency_mismatch():
    kes, ugx = Money(100, "KES"), Money(100, "UGX")
    for operation in (
        lambda: kes + ugx,
        lambda: kes - ugx,
        lambda: kes < ugx,
        lambda: kes >= ugx,
        lambda: Money.total([kes, ugx], "KES"),
    ):
        with pytest.raises(CurrencyMismatch) as caught:
            operation()
        assert caught.value.code == ErrorCode.CURRENCY_MISMATCH
        assert caught.value.params == {"expected": "KES", "got": "UGX"}


def test_money_cannot_be_multiplied_by_a_decimal_without_rounding():
    with pytest.raises(TypeError):
        Money(100, "KES") * Decimal("1.5")  # type: ignore[operator]
    assert Money(100, "KES").apply_rate(Decimal("0.155")) == Money(16, "KES")  # 15.5 -> 16


def test_round_minor_defaults_to_half_up_and_takes_other_modes():
    assert round_minor(Decimal("1.005"), "KES") == Money(101, "KES")
    assert round_minor(Decimal("1.005"), "KES", ROUND_DOWN) == Money(100, "KES")
    assert round_minor(Decimal("1.025"), "KES", ROUND_HALF_EVEN) == Money(102, "KES")
    assert round_minor(Decimal("-1.005"), "KES") == Money(-101, "KES")
    assert round_minor(Decimal("2.5"), "UGX") == Money(3, "UGX")
    assert round_minor(Decimal("0.0005"), "KWD") == Money(1, "KWD")


def test_divide_by_rounds_through_round_minor():
    assert Money(10000, "KES").divide_by(Decimal("1.16")) == Money(8621, "KES")
    with pytest.raises(ZeroDivisionError):
        Money(1, "KES").divide_by(Decimal(0))


def test_format_is_plain_and_grouped():
    assert Money(123450, "KES").format() == "KES 1,234.50"
    assert Money(-5, "KWD").format() == "KWD -0.005"
    assert Money(1500000, "UGX").format(grouping=False) == "UGX 1500000"
    assert str(Money(0, "ZAR")) == "ZAR 0.00"


def test_to_dict_round_trips():
    money = Money(1250, "KES")
    assert Money.from_dict(money.to_dict()) == money


@given(st.sampled_from(sorted(CURRENCY_EXPONENTS)), st.integers(-(10**15), 10**15))
@settings(max_examples=100, deadline=None)
def test_major_conversion_round_trips(currency, minor):
    money = Money(minor, currency)
    assert Money.from_major(money.to_major(), currency) == money
    assert round_minor(money.to_major(), currency) == money


@given(st.integers(-(10**9), 10**9), st.integers(1, 10**6))
@settings(max_examples=100, deadline=None)
def test_round_minor_is_never_more_than_half_a_minor_unit_off(numerator, denominator):
    value = Decimal(numerator) / Decimal(denominator)
    rounded = round_minor(value, "KES")
    assert abs(rounded.to_major() - value) <= Decimal("0.005")


def test_kwh_parsing_refuses_floats_and_junk():
    assert to_kwh("12.5") == Decimal("12.5")
    assert to_kwh(3) == Decimal(3)
    with pytest.raises(TypeError):
        to_kwh(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        to_kwh(True)
    with pytest.raises(InvalidAmount):
        to_kwh("lots")
    with pytest.raises(InvalidAmount):
        to_kwh("Infinity")


@pytest.mark.parametrize(
    ("kwh", "token"),
    [("0", "0.0"), ("0.01", "0.1"), ("12.3", "12.3"), ("12.30001", "12.4"), ("99.95", "100.0")],
)
def test_kwh_round_up_to_the_token_tenth_in_the_customers_favour(kwh, token):
    assert round_kwh_up(Decimal(kwh)) == Decimal(token)


def test_kwh_round_up_refuses_float():
    with pytest.raises(TypeError):
        round_kwh_up(1.25)  # type: ignore[arg-type]
