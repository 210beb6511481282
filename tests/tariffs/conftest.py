"""Shared set-up for the tariff tests: the shared world's tree, maker and checker
(tests/world.py), a tariff of their own in North, and the shared snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from gridvend.identity.models import User
from gridvend.tariffs import services
from gridvend.tariffs.models import Tariff, TariffVersion
from tests import factories
from tests.tariffs.factories import residential_spec
from tests.world import cast
from tests.world import snapshot as snapshot


@dataclass
class Cast:
    tree: factories.Tree
    maker: User  # vending-point manager with finance, in North
    checker: User  # master-station manager with finance, in North
    tariff: Tariff  # defined in North, no versions yet

    def draft(self, *, actor: User | None = None, **overrides: Any) -> TariffVersion:
        return services.create_tariff_draft(
            actor=actor or self.maker, tariff=self.tariff, spec=residential_spec(**overrides)
        )

    def submitted(self, *, actor: User | None = None, **overrides: Any) -> TariffVersion:
        version = self.draft(actor=actor, **overrides)
        return services.submit_tariff_version(actor=actor or self.maker, version=version)


@pytest.fixture(name="cast")
def cast_fixture() -> Cast:
    tree = factories.Tree()
    people = cast(tree)
    maker, checker = people["finance"], people["checker"]
    tariff = services.create_tariff(
        actor=maker,
        code="north-res",
        name="North residential",
        org_unit=tree.north,
        currency="KES",
    )
    return Cast(tree=tree, maker=maker, checker=checker, tariff=tariff)
