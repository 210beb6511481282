"""A tree with a north and a south region, people with and without rights, and one of each
record on both sides, all made through the services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from gridvend.audit.models import AuditEvent
from gridvend.customers import services as customer_services
from gridvend.customers.models import Customer, Debt, Premise
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.money import Money
from gridvend.meters.models import Installation, Meter
from gridvend.org.models import OrgUnit
from gridvend.tariffs import services as tariff_services
from gridvend.tariffs.models import Tariff, TariffVersion
from tests import factories
from tests.masterdata import factories as md
from tests.tariffs.factories import published_tariff, residential_spec


@dataclass
class Side:
    """The records of one region."""

    unit: OrgUnit
    customer: Customer
    premise: Premise
    meter: Meter
    tariff: Tariff
    draft: TariffVersion


@dataclass
class World:
    tree: factories.Tree
    admin: User
    care: User  # vending-point manager, customer care, North
    field: User  # operator, field agent, North
    maker: User  # vending-point manager, finance, North: drafts tariffs
    checker: User  # master-station manager, finance, North: reviews tariffs
    auditor: User  # operator, auditor, North: reads everything, changes nothing
    cashier: User  # operator, cashier only, North SC: no back-office screen at all
    south_maker: User
    north: Side
    south: Side

    def user(self, key: str) -> User:
        value = getattr(self, key)
        assert isinstance(value, User)
        return value


def _side(unit: OrgUnit, maker: User) -> Side:
    customer = md.customer(org_unit=unit)
    premise = md.premise(org_unit=unit)
    meter = md.meter(org_unit=unit, customer=customer, premise=premise)
    tariff = published_tariff(actor=maker, org_unit=unit)
    draft = tariff_services.create_tariff_draft(
        actor=maker, tariff=tariff, spec=residential_spec(min_sale_minor=6000)
    )
    customer_services.open_debt(
        actor=factories.root_and_admin()[1],
        customer=customer,
        amount=Money(2500, "KES"),
        reason="Old arrears",
    )
    customer.refresh_from_db()
    return Side(unit, customer, premise, meter, tariff, draft)


@pytest.fixture
def world(db: None) -> World:
    tree = factories.Tree()
    md.vending_key()
    md.default_tariff()
    north, south = tree.north, tree.south
    maker = factories.user(north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,), "maker")
    south_maker = factories.user(south, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    return World(
        tree=tree,
        admin=tree.admin,
        care=factories.user(north, Role.VENDING_POINT_MANAGER, (Capability.CUSTOMER_CARE,)),
        field=factories.user(north, Role.OPERATOR, (Capability.FIELD_AGENT,)),
        maker=maker,
        checker=factories.user(north, Role.MASTER_STATION_MANAGER, (Capability.FINANCE,)),
        auditor=factories.user(north, Role.OPERATOR, (Capability.AUDITOR,)),
        cashier=factories.user(tree.north_sc, Role.OPERATOR, (Capability.CASHIER,)),
        south_maker=south_maker,
        north=_side(tree.north_sc, maker),
        south=_side(tree.south_sc, south_maker),
    )


def snapshot() -> tuple[Any, ...]:
    """Every row a refused back-office request must leave exactly as it was."""
    return (
        list(Customer.objects.order_by("pk").values()),
        list(Premise.objects.order_by("pk").values()),
        list(Debt.objects.order_by("pk").values()),
        list(Meter.objects.order_by("pk").values()),
        Installation.objects.count(),
        Tariff.objects.count(),
        list(TariffVersion.objects.order_by("pk").values("pk", "status", "spec", "notes")),
        AuditEvent.objects.count(),
    )
