"""Two (and more) purchases at once from one wallet never overspend it: real threads, each on
its own PostgreSQL connection, buying from a wallet that covers exactly some of them; the
wallet ends at exactly zero and ties to the ledger."""

from __future__ import annotations

import pytest
from django.db import connection

from gridvend.customers import services as customers
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import SystemClock
from gridvend.kernel.errors import DomainError
from gridvend.ledger import selectors as ledger_selectors
from gridvend.ledger.checks import run_checks
from gridvend.meters import services as meters
from gridvend.vending.models import Sale
from gridvend.vending.shifts import open_shift
from gridvend.wallet import services
from gridvend.wallet.selectors import balance
from tests import factories
from tests.threads import run_threads
from tests.wallet.conftest import wallet_world

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(("buyers", "fits"), [(2, 1), (8, 3)])
def test_purchases_at_once_never_overspend_one_wallet(buyers: int, fits: int) -> None:
    assert connection.vendor == "postgresql"
    ww = wallet_world()
    w = ww.world
    price = w.money("300.00")
    services.top_up_cash(
        actor=w.cashier,
        wallet=ww.wallet,
        amount=price * fits,
        receipt="float-for-the-race",
    )
    cashiers = []
    for _ in range(buyers):
        cashier = factories.user(w.unit, Role.OPERATOR, (Capability.CASHIER,))
        open_shift(actor=cashier, vending_point=w.point, opening_float=w.money("0"))
        cashiers.append(cashier)
    # Another meter of the same customer for half the buyers: meter locks do not serialise them.
    second = w.add_meter()
    premise = customers.create_premise(actor=w.admin, org_unit=w.unit, address="2 Test Rd")
    meters.install_meter(actor=w.admin, meter=second, customer=ww.wallet.customer, premise=premise)
    numbers = [ww.meter.number, second.number]

    def buy(i: int) -> str:
        try:
            services.buy_from_wallet(
                actor=cashiers[i],
                vending_point=w.point,
                wallet=ww.wallet,
                meter_number=numbers[i % 2],
                request_id=f"race-{i}",
                amount=price,
                clock=SystemClock(),
            )
        except DomainError as exc:
            return exc.code
        return "sold"

    results, errors = run_threads(buyers, buy)
    assert errors == []
    assert results.count("sold") == fits
    assert set(results) - {"sold"} <= {"WALLET_INSUFFICIENT"}
    assert Sale.objects.filter(payment_method="wallet").count() == fits
    assert balance(ww.wallet) == w.money("0")
    assert ledger_selectors.reconcile_balances() == []
    assert ledger_selectors.unbalanced_entries() == []
    assert run_checks() == []
