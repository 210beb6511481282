"""The stations' scene on the master: the shared world (a vending key, meters of the north
service centre), a vending-point manager of the north region and an offline-station vending
point there."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.org.models import Channel, VendingPoint
from gridvend.stations.services import signing
from tests import factories
from tests.world import World, build_world


@dataclass
class Scene:
    world: World
    manager: User  # vending-point manager of the north region
    auditor: User  # auditor of the north region (sees, changes nothing)
    south_manager: User
    point: VendingPoint  # offline-station point of the north service centre

    def point_of(self, unit: object) -> VendingPoint:
        return factories.vending_point(unit, channel=Channel.OFFLINE_STATION)  # type: ignore[arg-type]


@pytest.fixture
def scene() -> Iterator[Scene]:
    signing.forget()
    world = build_world()
    tree = world.tree
    yield Scene(
        world=world,
        manager=factories.user(tree.north, Role.VENDING_POINT_MANAGER),
        auditor=factories.user(tree.north, Role.OPERATOR, (Capability.AUDITOR,)),
        south_manager=factories.user(tree.south, Role.VENDING_POINT_MANAGER),
        point=factories.vending_point(tree.north_sc, channel=Channel.OFFLINE_STATION),
    )
    signing.forget()
