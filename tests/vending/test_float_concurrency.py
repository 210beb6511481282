"""Never sell beyond the float, under concurrency (issue 11): sixteen cashiers of one prefunded
agent sell at once, each in its own process, through its own shift and connection, 200 sales
for a float that covers exactly 100; exactly 100 are sold, the others refused, and the float
ends at exactly zero."""

from __future__ import annotations

import pytest
from django.db import connection

from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import SystemClock
from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money
from gridvend.ledger import selectors as ledger_selectors
from gridvend.meters.models import Meter
from gridvend.org import services as org
from gridvend.org.models import VendingPoint
from gridvend.vending import services as vending
from gridvend.vending.models import Sale
from gridvend.vending.selectors import float_account_code
from gridvend.vending.shifts import open_shift
from tests import factories
from tests.threads import run_processes
from tests.world import World, build_world

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKERS = 16
ATTEMPTS = 200
FITS = 100
TENDER = "300.00"


def _float_point(world: World) -> VendingPoint:
    point = org.create_vending_point(
        actor=world.admin, org_unit=world.unit, name="Agent Float", channel="agent"
    )
    point.uses_float = True
    point.save(update_fields=["uses_float"])
    return point


def _cashier(world: World, point: VendingPoint) -> User:
    """A cashier of the point with an open shift there (the agent channel needs one)."""
    cashier = factories.user(world.unit, Role.OPERATOR, (Capability.CASHIER,))
    open_shift(actor=cashier, vending_point=point, opening_float=world.money("0"))
    return cashier


def _sell_share(
    world: World, point: VendingPoint, cashier: User, meter: Meter, worker: int, count: int
) -> tuple[int, list[str]]:
    """``count`` sales, one after another: how many sold, and the codes of the refusals."""
    sold, refused = 0, []
    for n in range(count):
        try:
            vending.vend_credit(
                actor=cashier,
                vending_point=point,
                client_reference=f"w{worker}-{n}",
                meter_number=meter.number,
                tender=world.money(TENDER),
                clock=SystemClock(),
            )
            sold += 1
        except DomainError as exc:
            refused.append(exc.code)
    return sold, refused


def test_sixteen_sellers_through_one_float_sell_exactly_what_it_covers() -> None:
    assert connection.vendor == "postgresql"
    world = build_world()
    point = _float_point(world)
    tender = world.money(TENDER)
    vending.top_up_float(
        actor=world.supervisor,
        vending_point=point,
        amount=Money(tender.minor * FITS, tender.currency),
        reference="dep-100-sales",
    )
    cashiers = [_cashier(world, point) for _ in range(WORKERS)]
    meters = [world.add_meter() for _ in range(WORKERS)]
    shares = [ATTEMPTS // WORKERS + (1 if i < ATTEMPTS % WORKERS else 0) for i in range(WORKERS)]
    assert sum(shares) == ATTEMPTS

    results, errors = run_processes(
        WORKERS,
        lambda i: _sell_share(world, point, cashiers[i], meters[i], i, shares[i]),
    )

    assert errors == []
    assert sum(sold for sold, _refused in results) == FITS
    refusals = [code for _sold, refused in results for code in refused]
    assert len(refusals) == ATTEMPTS - FITS
    assert set(refusals) == {"INSUFFICIENT_FLOAT"}
    assert Sale.objects.filter(vending_point=point).count() == FITS
    assert ledger_selectors.account_balance(float_account_code(point)) == 0
    assert vending.float_available(point, tender.currency) == world.money("0")
    assert ledger_selectors.reconcile_balances() == []
    assert ledger_selectors.unbalanced_entries() == []
