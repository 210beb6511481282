"""Meter numbers, PANs and Luhn check digits."""

from __future__ import annotations

import pytest

from gridvend.sts.errors import MeterNumberCheckDigit, MeterNumberInvalid, PanCheckDigit, PanInvalid
from gridvend.sts.identity import MeterNumber, Pan, luhn_check_digit, parse_meter_or_pan


@pytest.mark.parametrize(
    ("payload", "digit"),
    [
        ("1234567890", 3),
        ("43135625623", 7),
        ("7861754265922", 0),
        ("010000000000", 8),
        ("1111111111", 5),
    ],
)
def test_luhn_check_digit_matches_published_examples(payload, digit):
    assert luhn_check_digit(payload) == digit


@pytest.mark.parametrize(
    ("meter", "pan"),
    [
        ("00000000000", "600727000000000009"),
        ("0100000000008", "000001000000000082"),
        ("11111111115", "600727111111111153"),
    ],
)
def test_meter_number_gives_the_published_pan(meter, pan):
    assert MeterNumber.parse(meter).pan.digits == pan
    assert Pan.parse(pan).meter_number.digits == meter


def test_eleven_digit_meter_has_two_digit_manufacturer_and_iin_600727():
    meter = MeterNumber.parse("11111111115")
    assert (meter.manufacturer_code, meter.serial, meter.check_digit, meter.iin) == (
        "11",
        "11111111",
        5,
        "600727",
    )


def test_thirteen_digit_meter_has_four_digit_manufacturer_and_iin_0000():
    meter = MeterNumber.parse("0100000000008")
    assert (meter.manufacturer_code, meter.serial, meter.iin) == ("0100", "00000000", "0000")


def test_from_parts_appends_the_luhn_digit():
    assert MeterNumber.from_parts("01", "00000000").digits == "01000000008"
    assert MeterNumber.from_parts("0100", 0).digits == "0100000000008"


@pytest.mark.parametrize("bad", ["1234567890", "123456789012", "0000000000a", "", "00000-0000"])
def test_malformed_meter_number_is_rejected_with_a_stable_code(bad):
    with pytest.raises(MeterNumberInvalid) as info:
        MeterNumber.parse(bad)
    assert info.value.code == "METER_NUMBER_INVALID"


def test_wrong_check_digit_is_its_own_error():
    with pytest.raises(MeterNumberCheckDigit) as info:
        MeterNumber.parse("11111111116")
    assert info.value.code == "METER_NUMBER_CHECK_DIGIT"
    assert str(info.value).startswith("METER_NUMBER_CHECK_DIGIT")


def test_pan_with_wrong_check_digit_or_unknown_iin_is_rejected():
    with pytest.raises(PanCheckDigit):
        Pan.parse("600727000000000008")
    with pytest.raises(PanInvalid):
        body = "12345600000000000"
        Pan.parse(body + str(luhn_check_digit(body)))


def test_meter_or_pan_accepts_either_form():
    assert parse_meter_or_pan("600727000000000009") == parse_meter_or_pan("000 0000 0000")
