"""A sale by kWh asks for a sum cash can pay: the price rounded up to whole coins of the
smallest coin in circulation, the extra buying energy (GRIDVEND_SMALLEST_COIN_MINOR)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gridvend.kernel.money import Money
from gridvend.vending import services as vending
from tests.world import World

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("kwh", ["1.0", "37.3", "120.5", "451.1"])
def test_kwh_sales_ask_for_whole_coins_and_give_the_energy_for_them(
    world: World, settings: Any, kwh: str
) -> None:
    meter = world.add_meter()
    exact = vending.trial_vend(actor=world.cashier, meter_number=meter.number, kwh=Decimal(kwh))
    settings.SMALLEST_COIN_MINOR = 500
    quote = vending.trial_vend(actor=world.cashier, meter_number=meter.number, kwh=Decimal(kwh))
    tender = quote.breakdown.tender
    assert tender.minor % 500 == 0
    assert exact.breakdown.tender <= tender < exact.breakdown.tender + Money(500, tender.currency)
    # Rounding up never costs the customer energy: the whole sum buys it.
    assert quote.breakdown.kwh >= exact.breakdown.kwh >= Decimal(kwh)
    sale = vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference=f"k{kwh}",
        meter_number=meter.number,
        kwh=Decimal(kwh),
    ).sale
    # sale.kwh is what the tokens carry, the month's free basic electricity included.
    assert (sale.tender_minor, sale.kwh - sale.fbe_kwh) == (tender.minor, quote.breakdown.kwh)


def test_with_one_minor_unit_coins_kwh_prices_are_exact(world: World) -> None:
    meter = world.add_meter()
    quote = vending.trial_vend(actor=world.cashier, meter_number=meter.number, kwh=Decimal("37.3"))
    assert quote.breakdown.tender.minor % 100 != 0  # pennies, as priced
