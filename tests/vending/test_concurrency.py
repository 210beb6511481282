"""Concurrent sales on PostgreSQL: every sale once, TIDs unique and increasing, books balanced."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection

from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import SystemClock
from gridvend.kernel.errors import DomainError
from gridvend.ledger import selectors as ledger_selectors
from gridvend.vending import services as vending
from gridvend.vending.models import Sale, SaleKind, Token
from tests import factories
from tests.threads import run_threads
from tests.world import World, build_world

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live_world() -> World:
    assert connection.vendor == "postgresql"
    return build_world()


def _sell(world: World, number: str, ref: str) -> vending.SaleResult:
    return vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference=ref,
        meter_number=number,
        tender=world.money("300.00"),
        clock=SystemClock(),
    )


def test_twenty_threads_selling_to_one_meter(live_world: World) -> None:
    meter = live_world.add_meter()
    _results, errors = run_threads(20, lambda i: _sell(live_world, meter.number, f"one-{i}"))
    assert errors == []
    assert Sale.objects.filter(meter=meter).count() == 20
    tokens = list(
        Token.objects.filter(meter=meter).order_by("sale__created_at", "sale_id", "sequence")
    )
    tids = [t.tid for t in tokens if t.tid is not None]
    assert len(set(tids)) == len(tids)
    # Sales were serialised by the meter lock, so TIDs rise in the order the sales committed.
    by_sale_id = [
        t.tid for t in sorted(tokens, key=lambda t: (t.sale_id, t.sequence)) if t.tid is not None
    ]
    assert by_sale_id == sorted(by_sale_id)
    sim = live_world.simulator(meter)
    for token in tokens:
        assert sim.enter(token.digits).accepted
    assert ledger_selectors.unbalanced_entries() == []
    assert ledger_selectors.reconcile_balances() == []


def test_twenty_threads_selling_to_twenty_meters(live_world: World) -> None:
    meters = [live_world.add_meter() for _ in range(20)]
    _results, errors = run_threads(20, lambda i: _sell(live_world, meters[i].number, f"many-{i}"))
    assert errors == []
    assert Sale.objects.count() == 20
    for meter in meters:
        sale = Sale.objects.get(meter=meter)
        sim = live_world.simulator(meter)
        assert all(sim.enter(t.digits).accepted for t in sale.tokens.all())
    assert ledger_selectors.unbalanced_entries() == []
    assert ledger_selectors.reconcile_balances() == []


def test_same_client_reference_sent_concurrently_yields_one_sale(live_world: World) -> None:
    meter = live_world.add_meter()
    results, errors = run_threads(10, lambda i: _sell(live_world, meter.number, "same-everywhere"))
    assert errors == []
    assert Sale.objects.count() == 1
    assert {r.sale.pk for r in results} == {Sale.objects.get().pk}
    assert sum(1 for r in results if not r.replayed) == 1


def _give(world: World, actor: User, number: str, ref: str) -> vending.SaleResult:
    return vending.issue_free_credit(
        actor=actor,
        vending_point=world.point,
        client_reference=ref,
        meter_number=number,
        kwh=Decimal("20"),
        reason="outage compensation",
        clock=SystemClock(),
    )


def _finance(world: World) -> User:
    return factories.user(world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))


def _only_approval_refusals(errors: list[BaseException]) -> None:
    assert all(isinstance(e, DomainError) for e in errors), errors
    assert {e.code for e in errors if isinstance(e, DomainError)} <= {"FREE_ISSUE_NEEDS_APPROVAL"}


def test_concurrent_free_issues_to_one_meter_cannot_split_the_limit(live_world: World) -> None:
    meter = live_world.add_meter()
    issuers = [_finance(live_world) for _ in range(6)]
    _results, errors = run_threads(
        6, lambda i: _give(live_world, issuers[i], meter.number, f"split-{i}")
    )
    _only_approval_refusals(errors)
    # 20 kWh is the limit: one issue of 20 kWh goes through alone, the others need an approver.
    assert Sale.objects.filter(kind=SaleKind.FREE_ISSUE, meter=meter).count() == 1
    assert len(errors) == 5


def test_concurrent_free_issues_by_one_issuer_cannot_split_the_limit(live_world: World) -> None:
    meters = [live_world.add_meter() for _ in range(6)]
    issuer = _finance(live_world)
    _results, errors = run_threads(
        6, lambda i: _give(live_world, issuer, meters[i].number, f"spread-{i}")
    )
    _only_approval_refusals(errors)
    assert Sale.objects.filter(kind=SaleKind.FREE_ISSUE, operator=issuer).count() == 1
    assert len(errors) == 5
