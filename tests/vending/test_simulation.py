"""A simulation prices exactly as a trial vend and a sale do, for any spec, writing nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gridvend.customers import services as customers
from gridvend.identity.errors import NotFound
from gridvend.kernel.errors import DomainError
from gridvend.kernel.tariffs import TariffSpec
from gridvend.tariffs.selectors import spec_in_force
from gridvend.vending import services as vending
from gridvend.vending import simulation
from tests import factories
from tests.tariffs.factories import residential_spec
from tests.vending.test_vend import _sell, _state
from tests.world import World

pytestmark = pytest.mark.django_db


def test_the_spec_in_force_gives_the_trial_vends_breakdown(world: World) -> None:
    meter = world.add_meter()
    customer = world.customer(meter)
    customers.open_debt(
        actor=world.supervisor, customer=customer, amount=world.money("80.00"), reason="bill"
    )
    _sell(world, meter.number, "900.00", "first")
    state = _state(world)
    _version, spec = spec_in_force(customer.tariff, world.clock.now())
    for tender, kwh in ((world.money("640.00"), None), (None, Decimal("42.5"))):
        quote = vending.trial_vend(
            actor=world.cashier,
            meter_number=meter.number,
            tender=tender,
            kwh=kwh,
            clock=world.clock,
        )
        simulated = simulation.price_for_customer(
            actor=world.supervisor,
            customer=customer,
            spec=spec,
            now=world.clock.now(),
            tender=tender,
            kwh=kwh,
        )
        assert simulated == quote.breakdown
    assert _state(world) == state


@pytest.mark.parametrize("kwh", ["10", "37.3"])
def test_a_simulation_by_kwh_asks_for_whole_coins_as_the_till_does(
    world: World, settings: Any, kwh: str
) -> None:
    settings.SMALLEST_COIN_MINOR = 500
    meter = world.add_meter()
    customer = world.customer(meter)
    _version, spec = spec_in_force(customer.tariff, world.clock.now())
    quote = vending.trial_vend(
        actor=world.cashier, meter_number=meter.number, kwh=Decimal(kwh), clock=world.clock
    )
    simulated = simulation.price_for_customer(
        actor=world.supervisor,
        customer=customer,
        spec=spec,
        now=world.clock.now(),
        kwh=Decimal(kwh),
    )
    assert simulated.tender.minor % 500 == 0
    assert simulated == quote.breakdown


def test_another_spec_prices_the_same_customer_state(world: World) -> None:
    meter = world.add_meter()
    customer = world.customer(meter)
    _sell(world, meter.number, "1500.00", "first")  # the month is now into the second block
    cheaper = TariffSpec.from_dict(residential_spec(energy={"type": "flat", "rate": "10.00"}))
    result = simulation.price_for_customer(
        actor=world.supervisor,
        customer=customer,
        spec=cheaper,
        now=world.clock.now(),
        tender=world.money("116.00"),
    )
    assert result.month_to_date_kwh_before > 50
    assert result.fixed_charges == ()  # paid by the first sale this month
    assert result.energy_net == world.money("100.00")
    assert result.kwh == Decimal("10.0")


def test_refusals_are_those_of_a_sale(world: World) -> None:
    meter = world.add_meter()
    customer = world.customer(meter)
    spec = TariffSpec.from_dict(residential_spec(min_sale_minor=20000))
    with pytest.raises(DomainError) as refused:
        simulation.price_for_customer(
            actor=world.supervisor,
            customer=customer,
            spec=spec,
            now=world.clock.now(),
            tender=world.money("150.00"),
        )
    assert refused.value.code == "AMOUNT_BELOW_MINIMUM"
    south = factories.user(world.tree.south, capabilities=("finance",))
    with pytest.raises(NotFound):
        simulation.price_for_customer(
            actor=south, customer=customer, spec=spec, now=world.clock.now(), kwh=Decimal(5)
        )
