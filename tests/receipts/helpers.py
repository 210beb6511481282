"""Real sales for receipt tests, made through the vending services."""

from __future__ import annotations

import itertools
from decimal import Decimal

from gridvend.identity.models import User
from gridvend.meters.models import Meter
from gridvend.vending import services as vending
from gridvend.vending.models import Sale
from tests.world import World

_ref = itertools.count(1)


def sell(
    world: World,
    meter: Meter,
    amount: str = "1000.00",
    *,
    method: str = "cash",
    actor: User | None = None,
) -> Sale:
    return vending.vend_credit(
        actor=actor or world.cashier,
        vending_point=world.point,
        client_reference=f"rcpt-{next(_ref)}",
        meter_number=meter.number,
        tender=world.money(amount),
        payment_method=method,
        clock=world.clock,
    ).sale


def give(world: World, meter: Meter, actor: User, kwh: str = "20") -> Sale:
    return vending.issue_free_credit(
        actor=actor,
        vending_point=world.point,
        client_reference=f"free-{next(_ref)}",
        meter_number=meter.number,
        kwh=Decimal(kwh),
        reason="outage compensation",
        clock=world.clock,
    ).sale
