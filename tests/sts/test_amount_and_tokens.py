"""Amount encoding, CRC, class-bit transposition and the 20-digit codec."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridvend.sts.amount import (
    MAX_BASE_UNITS,
    MAX_CURRENCY_BASE_UNITS,
    decode_amount,
    decode_currency_amount,
    encode_amount,
    encode_currency_amount,
    from_base_units,
    to_base_units,
)
from gridvend.sts.crc import token_crc
from gridvend.sts.errors import AmountInvalid, AmountOutOfRange, TokenFormatInvalid
from gridvend.sts.tokens import (
    extract_class,
    format_digits,
    group_digits,
    insert_class,
    parse_digits,
)


@pytest.mark.parametrize(
    ("units", "field", "decoded"),
    [
        (1, 0x0001, 1),
        (256, 0x0100, 256),
        (10_000, 0x2710, 10_000),
        (16_383, 0x3FFF, 16_383),
        (16_384, 0x4000, 16_384),
        (20_000, 0x416A, 20_004),
        (180_214, 0x7FFF, 180_214),
        (180_223, 0x8000, 180_224),
        (1_818_623, 0xC000, 1_818_624),
        (1_822_620, 0xC004, 1_822_624),
        (1_822_640, 0xC005, 1_823_624),
        (18_201_624, 0xFFFF, 18_201_624),
    ],
)
def test_amount_table_from_the_brief(units, field, decoded):
    assert encode_amount(units) == field
    assert decode_amount(field) == decoded


def test_amount_above_the_maximum_is_refused():
    with pytest.raises(AmountOutOfRange):
        encode_amount(MAX_BASE_UNITS + 1)
    with pytest.raises(AmountInvalid):
        encode_amount(-1)


def test_human_amounts_round_up_to_base_units():
    assert to_base_units(Decimal("0.11"), Decimal("0.1")) == 2
    assert to_base_units("2000", Decimal("0.1")) == 20_000
    with pytest.raises(AmountInvalid):
        to_base_units("ten", Decimal("0.1"))


def test_currency_amounts_span_the_five_bit_exponent():
    assert encode_currency_amount(MAX_CURRENCY_BASE_UNITS) == (7, 0xFFFF)
    assert encode_currency_amount(-MAX_CURRENCY_BASE_UNITS) == (15, 0xFFFF)
    assert decode_currency_amount(7, 0xFFFF) == MAX_CURRENCY_BASE_UNITS
    with pytest.raises(AmountOutOfRange):
        encode_currency_amount(MAX_CURRENCY_BASE_UNITS + 1)


CURRENCY_RESOLUTION = Decimal("0.00001")


@settings(max_examples=200, deadline=None)
@given(units=st.integers(min_value=-MAX_CURRENCY_BASE_UNITS, max_value=MAX_CURRENCY_BASE_UNITS))
def test_base_unit_conversions_are_exact_across_the_currency_range(units):
    # 36-digit amounts exceed Decimal's default 28-digit precision, which used to round them.
    human = Decimal(f"{units}E-5")
    assert to_base_units(human, CURRENCY_RESOLUTION) == units
    assert from_base_units(units, CURRENCY_RESOLUTION) == human
    just_above = Decimal(f"{units * 10 + 1}E-6")
    assert to_base_units(just_above, CURRENCY_RESOLUTION) == units + 1


def test_absurdly_large_amounts_are_out_of_range_before_any_arithmetic():
    with pytest.raises(AmountOutOfRange):
        to_base_units(Decimal("1E+999999"), Decimal("0.1"))


def _next_smaller(field: int) -> int | None:
    exponent, mantissa = field >> 14, field & 0x3FFF
    if mantissa:
        return decode_amount(field - 1)
    if exponent:
        return decode_amount((exponent - 1) << 14 | 0x3FFF)
    return None


@settings(max_examples=300, deadline=None)
@given(units=st.integers(min_value=0, max_value=MAX_BASE_UNITS))
def test_amount_never_rounds_against_the_customer_and_is_minimal(units):
    field = encode_amount(units)
    assert decode_amount(field) >= units
    smaller = _next_smaller(field)
    assert smaller is None or smaller < units


@settings(max_examples=200, deadline=None)
@given(units=st.integers(min_value=-MAX_CURRENCY_BASE_UNITS, max_value=MAX_CURRENCY_BASE_UNITS))
def test_currency_amount_rounds_away_from_zero_minimally(units):
    s_and_e, field = encode_currency_amount(units)
    value = decode_currency_amount(s_and_e, field)
    assert abs(value) >= abs(units)
    assert (value < 0) == (units < 0)
    smaller = _next_smaller_currency(s_and_e, field)
    assert smaller is None or smaller < abs(units)


def _next_smaller_currency(s_and_e: int, field: int) -> int | None:
    exponent = (s_and_e & 7) << 2 | field >> 14
    mantissa = field & 0x3FFF
    if mantissa:
        return abs(decode_currency_amount(s_and_e, field - 1))
    if exponent:
        e = exponent - 1
        return abs(decode_currency_amount(e >> 2, (e & 3) << 14 | 0x3FFF))
    return None


def test_currency_vector_amount():
    assert encode_currency_amount(10_000_000) == (0, 0xDFF6)
    assert decode_currency_amount(0, 0xDFF6) == 10_000_624


@pytest.mark.parametrize(
    ("first50", "crc"),
    [(0x005C02A552710, 0x1970), (0x00B19EB230100, 0xC207), (0x0004A2D900FF2, 0x0FFA)],
)
def test_crc_vectors(first50, crc):
    assert token_crc(first50) == crc


def test_currency_crc_differs_from_the_normal_crc():
    assert token_crc(0x0004A2D900FF2, currency=True) != token_crc(0x0004A2D900FF2)


def test_transposition_of_the_ctsa01_block():
    assert insert_class(0, 0x492083C0AE7CE455) == 0x1492083C0A67CE455


@settings(max_examples=300, deadline=None)
@given(token_class=st.integers(0, 3), block=st.integers(0, (1 << 64) - 1))
def test_transposition_and_digit_codec_round_trip(token_class, block):
    digits = format_digits(insert_class(token_class, block))
    assert len(digits) == 20
    assert extract_class(parse_digits(digits)) == (token_class, block)
    assert parse_digits(group_digits(digits)) == parse_digits(digits)


@pytest.mark.parametrize(
    "bad", ["1234", "7378697629483820646" + "4", "a" * 20, "1" * 21, "73786976294838206464"]
)
def test_parse_rejects_malformed_tokens(bad):
    with pytest.raises(TokenFormatInvalid):
        parse_digits(bad)


def test_parse_accepts_the_largest_66_bit_value():
    assert parse_digits("73786976294838206463") == (1 << 66) - 1
