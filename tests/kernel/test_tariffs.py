"""Tariff specs: plain-data round trips, clear validation errors, and sale-limit refusals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gridvend.kernel.errors import (
    AmountAboveMaximum,
    AmountBelowMinimum,
    CurrencyMismatch,
    ErrorCode,
    InvalidAmount,
    TariffInvalid,
)
from gridvend.kernel.money import Money
from gridvend.kernel.pricing import SaleContext, price_by_energy, price_by_tender
from gridvend.kernel.tariffs import EnergyBlock, TariffSpec

from .conftest import block_tariff_dict

FULL: dict[str, Any] = block_tariff_dict(
    fixed_charges=[
        {
            "name": "Service charge",
            "amount_minor": 20000,
            "period": "month",
            "max_periods": 3,
            "max_amount_minor": None,
        }
    ],
    taxes=[
        {
            "code": "VAT",
            "rate": "0.16",
            "applies_to_energy": True,
            "applies_to_fixed": True,
            "inclusive": False,
        },
        {
            "code": "LEVY",
            "rate": "0.05",
            "applies_to_energy": True,
            "applies_to_fixed": False,
            "inclusive": True,
        },
    ],
    fbe_kwh={"lifeline": "50"},
    debt_recovery={
        "rate": "0.25",
        "min_per_sale_minor": 5000,
        "max_per_sale_minor": 30000,
        "max_per_month_minor": 50000,
    },
    min_sale_minor=1000,
    max_sale_minor=5000000,
)


def test_full_tariff_round_trips_both_ways():
    spec = TariffSpec.from_dict(FULL)
    assert spec.to_dict() == FULL
    assert TariffSpec.from_dict(spec.to_dict()) == spec
    assert spec.blocks[1] == EnergyBlock(Decimal("150"), Decimal("2.00"))
    assert spec.min_sale == Money(1000, "KES") and spec.max_sale == Money(5000000, "KES")


def test_flat_tariff_is_written_as_flat():
    spec = TariffSpec.from_dict({"currency": "UGX", "energy": {"type": "flat", "rate": "750"}})
    assert spec.is_flat
    assert spec.to_dict()["energy"] == {"type": "flat", "rate": "750"}
    assert spec.taxes == () and spec.debt_recovery is None and spec.min_sale is None


def _with(**changes: Any) -> dict[str, Any]:
    return {**FULL, **changes}


def _blocks(*pairs: tuple[str | None, str]) -> dict[str, Any]:
    return {"type": "blocks", "blocks": [{"up_to_kwh": u, "rate": r} for u, r in pairs]}


INVALID = {
    "unknown currency": _with(currency="XXX"),
    "no energy type": _with(energy={"rate": "1"}),
    "no blocks": _with(energy={"type": "blocks", "blocks": []}),
    "blocks not increasing": _with(energy=_blocks(("50", "1"), ("40", "2"), (None, "3"))),
    "equal block limits": _with(energy=_blocks(("50", "1"), ("50", "2"), (None, "3"))),
    "negative rate": _with(energy=_blocks(("50", "-1"), (None, "3"))),
    "bounded last block": _with(energy=_blocks(("50", "1"), ("100", "2"))),
    "open middle block": _with(energy=_blocks((None, "1"), (None, "2"))),
    "free last block": _with(energy=_blocks(("50", "1"), (None, "0"))),
    "float rate": _with(energy={"type": "flat", "rate": 1.5}),
    "rate not a number": _with(energy={"type": "flat", "rate": "one"}),
    "rate infinite": _with(energy={"type": "flat", "rate": "Infinity"}),
    "zero block limit": _with(energy=_blocks(("0", "1"), (None, "2"))),
    "negative fixed charge": _with(
        fixed_charges=[{"name": "S", "amount_minor": -1, "period": "month"}]
    ),
    "fixed charge in major units": _with(
        fixed_charges=[{"name": "S", "amount_minor": "2.00", "period": "month"}]
    ),
    "bad period": _with(fixed_charges=[{"name": "S", "amount_minor": 1, "period": "week"}]),
    "unnamed fixed charge": _with(
        fixed_charges=[{"name": " ", "amount_minor": 1, "period": "day"}]
    ),
    "duplicate fixed charge": _with(
        fixed_charges=[
            {"name": "S", "amount_minor": 1, "period": "day"},
            {"name": "S", "amount_minor": 2, "period": "month"},
        ]
    ),
    "zero max periods": _with(
        fixed_charges=[{"name": "S", "amount_minor": 1, "period": "day", "max_periods": 0}]
    ),
    "negative amount cap": _with(
        fixed_charges=[{"name": "S", "amount_minor": 1, "period": "day", "max_amount_minor": -1}]
    ),
    "zero tax": _with(taxes=[{"code": "VAT", "rate": "0"}]),
    "tax above 100 %": _with(taxes=[{"code": "VAT", "rate": "1.5"}]),
    "tax without a code": _with(taxes=[{"code": "", "rate": "0.1"}]),
    "duplicate tax": _with(taxes=[{"code": "VAT", "rate": "0.1"}, {"code": "VAT", "rate": "0.2"}]),
    "tax applying to nothing": _with(
        taxes=[
            {"code": "VAT", "rate": "0.1", "applies_to_energy": False, "applies_to_fixed": False}
        ]
    ),
    "negative fbe": _with(fbe_kwh={"lifeline": "-1"}),
    "debt rate above 100 %": _with(debt_recovery={"rate": "1.01"}),
    "negative debt rate": _with(debt_recovery={"rate": "-0.1"}),
    "negative debt minimum": _with(debt_recovery={"rate": "0.1", "min_per_sale_minor": -1}),
    "debt maximum below minimum": _with(
        debt_recovery={"rate": "0.1", "min_per_sale_minor": 10, "max_per_sale_minor": 5}
    ),
    "negative monthly debt cap": _with(debt_recovery={"rate": "0.1", "max_per_month_minor": -5}),
    "zero minimum sale": _with(min_sale_minor=0),
    "minimum sale as float": _with(min_sale_minor=10.0),
    "maximum below minimum sale": _with(min_sale_minor=1000, max_sale_minor=999),
    "zero maximum sale": _with(min_sale_minor=None, max_sale_minor=0),
    "missing energy": {"currency": "KES"},
    # Found in review: these reached pricing and stopped every sale on the tariff, or printed
    # a reordered name on receipts.
    "rate too fine": _with(energy={"type": "flat", "rate": "1e-25"}),
    "rate too large": _with(energy={"type": "flat", "rate": "1e700000"}),
    "threshold too large": _with(
        energy={
            "type": "blocks",
            "blocks": [{"up_to_kwh": "1e700000", "rate": "10"}, {"up_to_kwh": None, "rate": "20"}],
        }
    ),
    "rate of 41 characters": _with(energy={"type": "flat", "rate": "1" + "0" * 40}),
    "charge of 10^16 minor units": _with(
        fixed_charges=[{"name": "Service", "amount_minor": 10**16, "period": "month"}]
    ),
    "charge name with NUL": _with(
        fixed_charges=[{"name": "Service\x00charge", "amount_minor": 100, "period": "month"}]
    ),
    "charge name with a direction override": _with(
        fixed_charges=[{"name": "Service\u202e egrahc", "amount_minor": 100, "period": "month"}]
    ),
    "tax code too long": _with(taxes=[{"code": "V" * 21, "rate": "0.1"}]),
    "not a mapping": _with(energy="flat"),
}


@pytest.mark.parametrize("data", list(INVALID.values()), ids=list(INVALID))
def test_invalid_tariffs_are_refused_with_a_clear_error(data):
    with pytest.raises(TariffInvalid) as caught:
        TariffSpec.from_dict(data)
    error = caught.value
    assert error.code == ErrorCode.TARIFF_INVALID
    assert error.params["field"] and error.params["problem"]


def test_direct_construction_is_validated_too():
    with pytest.raises(TariffInvalid):
        TariffSpec("KES", (EnergyBlock(Decimal("10"), Decimal("1")),))


def test_sale_limits_refuse_with_the_limit(block_tariff):
    spec = TariffSpec.from_dict(block_tariff_dict(min_sale_minor=1000, max_sale_minor=50000))
    with pytest.raises(AmountBelowMinimum) as low:
        price_by_tender(spec, Money(999, "KES"), SaleContext())
    assert low.value.code == ErrorCode.AMOUNT_BELOW_MINIMUM
    assert low.value.params["minimum"] == Money(1000, "KES")
    with pytest.raises(AmountAboveMaximum) as high:
        price_by_tender(spec, Money(50001, "KES"), SaleContext())
    assert high.value.code == ErrorCode.AMOUNT_ABOVE_MAXIMUM
    assert high.value.params["maximum"] == Money(50000, "KES")
    # The limits themselves are allowed.
    price_by_tender(spec, Money(1000, "KES"), SaleContext())
    price_by_tender(spec, Money(50000, "KES"), SaleContext())


def test_price_by_energy_refuses_outside_sale_limits():
    spec = TariffSpec.from_dict(block_tariff_dict(min_sale_minor=1000, max_sale_minor=50000))
    with pytest.raises(AmountBelowMinimum):
        price_by_energy(spec, Decimal("0.5"), SaleContext())  # costs 0.58
    with pytest.raises(AmountAboveMaximum):
        price_by_energy(spec, Decimal("1000"), SaleContext())  # costs thousands


def test_wrong_currency_tender_is_refused(block_tariff):
    with pytest.raises(CurrencyMismatch):
        price_by_tender(block_tariff, Money(100, "UGX"), SaleContext())


def test_wrong_currency_debt_is_refused(block_tariff):
    with pytest.raises(CurrencyMismatch):
        price_by_tender(block_tariff, Money(100, "KES"), SaleContext(debt_balance=Money(1, "ZAR")))


@pytest.mark.parametrize("minor", [0, -100])
def test_non_positive_tender_is_invalid(block_tariff, minor):
    with pytest.raises(InvalidAmount) as caught:
        price_by_tender(block_tariff, Money(minor, "KES"), SaleContext())
    assert caught.value.code == ErrorCode.INVALID_AMOUNT


def test_negative_month_to_date_is_invalid(block_tariff):
    with pytest.raises(InvalidAmount):
        price_by_tender(block_tariff, Money(100, "KES"), SaleContext(month_to_date_kwh=Decimal(-1)))


def test_free_first_block_is_given_once_money_reaches_it():
    spec = TariffSpec.from_dict({"currency": "KES", "energy": _blocks(("10", "0"), (None, "2.00"))})
    b = price_by_tender(spec, Money(200, "KES"), SaleContext())
    # The first 10 kWh are free; 2.00 buys 1 more kWh at 2.00.
    assert [(line.index, line.kwh, line.money) for line in b.blocks] == [
        (0, Decimal("10"), Money(0, "KES")),
        (1, Decimal("1.000"), Money(200, "KES")),
    ]
