"""Domain errors: every code is stable, messages are plain words, params carry the numbers."""

from __future__ import annotations

import json

import pytest

from gridvend.kernel import errors
from gridvend.kernel.errors import DomainError, ErrorCode
from gridvend.kernel.money import Money

CASES = [
    (errors.MeterNotFound(meter_number="01234567890"), "METER_NOT_FOUND", "meter_number"),
    (errors.MeterBlocked(meter_number="01234567890", reason="tamper"), "METER_BLOCKED", "reason"),
    (errors.MeterRetired(meter_number="01234567890"), "METER_RETIRED", "meter_number"),
    (errors.AmountBelowMinimum(minimum=Money(1000, "KES")), "AMOUNT_BELOW_MINIMUM", "minimum"),
    (errors.AmountAboveMaximum(maximum=Money(10**7, "KES")), "AMOUNT_ABOVE_MAXIMUM", "maximum"),
    (errors.TariffNotFound(meter_number="01234567890"), "TARIFF_NOT_FOUND", "meter_number"),
    (errors.TariffInvalid(field="taxes[0]", problem="bad"), "TARIFF_INVALID", "field"),
    (errors.KeyRevisionExpired(reason="ken", tid=5, ken=0), "KEY_REVISION_EXPIRED", "tid"),
    (
        errors.KeyChangeSameKey(meter_number="04000000017"),
        "KEY_CHANGE_SAME_KEY",
        "meter_number",
    ),
    (errors.DuplicateRequest(reference="R-1"), "DUPLICATE_REQUEST", "reference"),
    (
        errors.InsufficientFloat(available=Money(5, "KES"), required=Money(9, "KES")),
        "INSUFFICIENT_FLOAT",
        "available",
    ),
    (
        errors.TenderBelowChargesDue(required_minimum=Money(28200, "KES")),
        "TENDER_BELOW_CHARGES_DUE",
        "required_minimum",
    ),
    (errors.CurrencyMismatch(expected="KES", got="UGX"), "CURRENCY_MISMATCH", "expected"),
    (errors.UnknownCurrency(currency="XXX"), "UNKNOWN_CURRENCY", "currency"),
    (errors.InvalidAmount(value="-1", reason="it must be above zero"), "INVALID_AMOUNT", "value"),
    (errors.ReasonRequired(), "REASON_REQUIRED", None),
]


@pytest.mark.parametrize(("error", "code", "param"), CASES, ids=[c[1] for c in CASES])
def test_each_error_has_its_stable_code_a_plain_message_and_params(error, code, param):
    assert isinstance(error, DomainError)
    assert error.code == code == ErrorCode(code)
    assert param is None or param in error.params
    assert error.message and error.message[0].isupper() and error.message.endswith(".")
    assert code not in error.message  # the cashier sees words, not codes
    assert str(error) == f"{code}: {error.message}"
    data = json.loads(json.dumps(error.as_dict()))
    assert data["code"] == code


def test_every_code_has_an_error_class():
    covered = {code for _, code, _ in CASES}
    assert covered == {code.value for code in ErrorCode}


def test_codes_are_upper_snake():
    for code in ErrorCode:
        assert code.value == code.name and code.value.replace("_", "").isalpha()
        assert code.value.isupper()


def test_money_params_serialise_to_minor_units():
    error = errors.AmountBelowMinimum(minimum=Money(1000, "KES"))
    assert error.as_dict()["params"] == {"minimum": {"minor": 1000, "currency": "KES"}}
    assert "KES 10.00" in error.message


def test_base_error_takes_any_code_and_params():
    error = DomainError("CUSTOM_CODE", "Something plain.", count=3)
    assert (error.code, error.params) == ("CUSTOM_CODE", {"count": 3})
    assert "CUSTOM_CODE" in repr(error)
