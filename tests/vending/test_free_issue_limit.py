"""The free-issue approval limit is cumulative: per meter and per issuer over a period, pending
requests included, so splitting a large free issue into small ones still needs a second person."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings

from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.errors import DomainError
from gridvend.meters.models import Meter
from gridvend.vending import services as vending
from gridvend.vending.models import FreeIssueRequest, Sale, SaleKind, Token
from tests import factories
from tests.world import World

pytestmark = pytest.mark.django_db

_ref = itertools.count(1)


def _finance(world: World) -> User:
    return factories.user(world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))


def _give(world: World, actor: User, meter: Meter, kwh: str) -> vending.SaleResult:
    return vending.issue_free_credit(
        actor=actor,
        vending_point=world.point,
        client_reference=f"free-{next(_ref)}",
        meter_number=meter.number,
        kwh=Decimal(kwh),
        reason="outage compensation",
        clock=world.clock,
    )


def _state() -> tuple[int, int, int]:
    return Sale.objects.count(), Token.objects.count(), FreeIssueRequest.objects.count()


def _needs_approval(world: World, actor: User, meter: Meter, kwh: str) -> None:
    before = _state()
    with pytest.raises(DomainError) as err:
        _give(world, actor, meter, kwh)
    assert err.value.code == "FREE_ISSUE_NEEDS_APPROVAL", err.value
    assert _state() == before


def test_free_issues_split_across_issuers_to_one_meter_need_an_approver(world: World) -> None:
    meter = world.add_meter()
    first, second, third = (_finance(world) for _ in range(3))
    _give(world, first, meter, "20")
    world.clock.advance(timedelta(seconds=20))
    # 20 kWh more to the same meter within the period: the meter's total would be 40.
    _needs_approval(world, second, meter, "20")
    _needs_approval(world, third, meter, "0.1")
    assert Sale.objects.filter(kind=SaleKind.FREE_ISSUE, meter=meter).count() == 1


def test_free_issues_split_across_meters_by_one_issuer_need_an_approver(world: World) -> None:
    issuer = _finance(world)
    meters = [world.add_meter() for _ in range(3)]
    _give(world, issuer, meters[0], "8")
    _give(world, issuer, meters[1], "12")
    _needs_approval(world, issuer, meters[2], "0.1")
    # Someone else may still give that meter its units alone.
    _give(world, _finance(world), meters[2], "20")


def test_pending_requests_count_towards_the_limit(world: World) -> None:
    meter = world.add_meter()
    requester, other = _finance(world), _finance(world)
    vending.request_free_issue(
        actor=requester,
        vending_point=world.point,
        client_reference="big",
        meter_number=meter.number,
        kwh=Decimal("30"),
        reason="long outage",
        clock=world.clock,
    )
    _needs_approval(world, other, meter, "1")  # the meter has 30 kWh waiting
    _needs_approval(world, requester, world.add_meter(), "1")  # and so has the requester


def test_the_limit_counts_only_the_period(world: World) -> None:
    meter = world.add_meter()
    issuer = _finance(world)
    _give(world, issuer, meter, "20")
    world.clock.advance(timedelta(hours=23, minutes=59))
    _needs_approval(world, issuer, meter, "1")
    world.clock.advance(timedelta(minutes=2))
    _give(world, issuer, meter, "20")


@override_settings(FREE_ISSUE_PERIOD_HOURS=1)
def test_the_period_is_configurable(world: World) -> None:
    meter = world.add_meter()
    issuer = _finance(world)
    _give(world, issuer, meter, "15")
    world.clock.advance(timedelta(minutes=59))
    _needs_approval(world, issuer, meter, "6")
    world.clock.advance(timedelta(minutes=2))
    _give(world, issuer, meter, "15")


def test_an_approved_request_is_issued_whatever_was_given_before(world: World) -> None:
    meter = world.add_meter()
    requester, approver = _finance(world), _finance(world)
    _give(world, requester, meter, "20")
    request = vending.request_free_issue(
        actor=requester,
        vending_point=world.point,
        client_reference="more",
        meter_number=meter.number,
        kwh=Decimal("15"),
        reason="outage went on",
        clock=world.clock,
    )
    result = vending.approve_free_issue(
        actor=approver, request=request, note="checked", clock=world.clock
    )
    assert result.sale.kind == SaleKind.FREE_ISSUE and result.sale.kwh == Decimal("15.0")
    # The meter has had 35 kWh free in the period: anyone's next unit needs a second person.
    _needs_approval(world, _finance(world), meter, "0.1")
