"""Concurrent decisions on PostgreSQL: an approval and a rejection racing decide a request once."""

from __future__ import annotations

from collections import Counter

import pytest
from django.db import connection

from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import SystemClock
from gridvend.kernel.errors import DomainError
from gridvend.vending import services as vending
from gridvend.vending.models import RequestStatus, ReversalRequest, Sale, SaleStatus
from tests import factories
from tests.threads import run_threads
from tests.world import World, build_world

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live_world() -> World:
    assert connection.vendor == "postgresql"
    return build_world()


def _requested(world: World) -> ReversalRequest:
    sale = vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference="race",
        meter_number=world.add_meter().number,
        tender=world.money("500.00"),
        clock=SystemClock(),
    ).sale
    return vending.request_reversal(actor=world.cashier, sale=sale, reason="wrong meter")


def test_approve_and_reject_at_once_decide_the_request_exactly_once(live_world: World) -> None:
    deciders = [
        factories.user(live_world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
        for _ in range(6)
    ]
    request = _requested(live_world)

    def decide(i: int) -> str:
        mine = ReversalRequest.objects.get(pk=request.pk)
        if i % 2:
            vending.reject_reversal(actor=deciders[i], request=mine, note="no")
            return RequestStatus.REJECTED
        vending.approve_reversal(actor=deciders[i], request=mine, note="yes", clock=SystemClock())
        return RequestStatus.APPROVED

    results, errors = run_threads(len(deciders), decide)
    assert [e.code for e in errors if isinstance(e, DomainError)] == ["REQUEST_ALREADY_DECIDED"] * (
        len(deciders) - 1
    )
    assert len(errors) == len(deciders) - 1
    winner = next(r for r in results if r is not None)
    request.refresh_from_db()
    assert request.status == winner
    assert Counter(r for r in results if r is not None) == {winner: 1}
    reversed_ = Sale.objects.get(pk=request.sale_id).status == SaleStatus.REVERSED
    assert reversed_ == (winner == RequestStatus.APPROVED)
