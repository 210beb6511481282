"""The back-office tests' view of the shared world (tests/world.py): both regions' records and
the cast under the names these tests use, and an open debt on each region's customer."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gridvend.customers import services as customer_services
from gridvend.identity.models import User
from gridvend.kernel.money import Money
from gridvend.tariffs.models import Tariff
from tests import factories
from tests.masterdata import factories as md
from tests.world import Region, build_world, with_regions
from tests.world import snapshot as snapshot


@dataclass
class World:
    tree: factories.Tree
    tariff: Tariff  # published at the root: both regions' customers are on it
    admin: User
    care: User  # vending-point manager, customer care, North
    field: User  # operator, field agent, North SC
    maker: User  # vending-point manager, finance, North: drafts tariffs
    checker: User  # master-station manager, finance, North: reviews tariffs
    auditor: User  # operator, auditor, North: reads everything, changes nothing
    cashier: User  # operator, cashier only, North SC: no back-office screen at all
    south_maker: User
    north: Region
    south: Region

    def user(self, key: str) -> User:
        value = getattr(self, key)
        assert isinstance(value, User)
        return value


@pytest.fixture
def world(db: None) -> World:
    shared = build_world()
    regions = with_regions(shared)
    md.vending_key()  # the meter files to import name it
    for region in (regions.north, regions.south):
        customer_services.open_debt(
            actor=shared.admin,
            customer=region.customer,
            amount=Money(2500, "KES"),
            reason="Old arrears",
        )
        region.customer.refresh_from_db()
    people = regions.people
    return World(
        tree=shared.tree,
        tariff=shared.tariff,
        admin=shared.admin,
        care=people["care"],
        field=people["field"],
        maker=people["finance"],
        checker=people["checker"],
        auditor=people["auditor"],
        cashier=people["cashier"],
        south_maker=people["south_finance"],
        north=regions.north,
        south=regions.south,
    )
