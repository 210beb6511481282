"""A vending world with the people the supervisor screens are tried as, taken from the shared
cast (tests/world.py) but for a south manager holding every capability."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from tests import factories
from tests.world import World, build_world, cast


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
    named = cast(tree)
    return People(
        approver=named["finance"],
        auditor=named["auditor"],
        care_operator=named["care_operator"],
        field_agent=named["field"],
        ms_manager=named["ms_manager"],
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
