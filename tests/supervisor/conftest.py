"""A vending world with the people the supervisor screens are tried as."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from tests import factories
from tests.world import World, build_world


@dataclass
class People:
    """Everyone besides the world's cashier, supervisor (north, VP manager with cashier, finance
    and customer care) and administrator."""

    approver: User  # a second north finance user, to decide the supervisor's requests
    auditor: User  # north, operator, auditor only: no supervisor screen at all
    care_operator: User  # north, operator with customer care: below the manager rank
    field_agent: User  # north, operator, field agent
    ms_manager: User  # north master-station manager, no capability
    south: User  # south master-station manager holding every capability


@pytest.fixture
def world(db: None) -> World:
    return build_world()


@pytest.fixture
def people(world: World) -> People:
    tree = world.tree
    return People(
        approver=factories.user(tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,)),
        auditor=factories.user(tree.north_sc, Role.OPERATOR, (Capability.AUDITOR,)),
        care_operator=factories.user(tree.north_sc, Role.OPERATOR, (Capability.CUSTOMER_CARE,)),
        field_agent=factories.user(tree.north_sc, Role.OPERATOR, (Capability.FIELD_AGENT,)),
        ms_manager=factories.user(tree.north, Role.MASTER_STATION_MANAGER),
        south=factories.user(
            tree.south,
            Role.MASTER_STATION_MANAGER,
            (
                Capability.CASHIER,
                Capability.FINANCE,
                Capability.CUSTOMER_CARE,
                Capability.FIELD_AGENT,
            ),
        ),
    )
