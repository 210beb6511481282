"""Shared set-up for the master-data tests: the shared world's tree and cast (tests/world.py)
under the names these tests use, the masterdata tariff and key, and the shared snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from gridvend.identity.models import User
from gridvend.tariffs.models import Tariff
from tests import factories
from tests.masterdata import factories as md
from tests.world import build_world, cast
from tests.world import snapshot as snapshot


@dataclass
class World:
    tree: factories.Tree
    tariff: Tariff  # published at the root, so it applies everywhere
    care: User  # vending-point manager with customer care, in North
    care_operator: User  # operator with customer care, in North SC
    field_agent: User  # operator with field agent, in North SC
    cashier: User  # operator with cashier only, in North SC
    finance: User  # vending-point manager with finance, in North
    ms_manager: User  # master-station manager without capabilities, in North
    care_south: User  # vending-point manager with customer care, in South


@pytest.fixture
def world() -> World:
    shared = build_world()
    people = cast(shared.tree)
    md.vending_key()
    return World(
        tree=shared.tree,
        tariff=md.default_tariff(),
        care=people["care"],
        care_operator=people["care_operator"],
        field_agent=people["field"],
        cashier=shared.cashier,
        finance=people["finance"],
        ms_manager=people["ms_manager"],
        care_south=people["south_care"],
    )


def payload(value: Any) -> dict[str, Any]:
    """An audit event's before/after as the dict the service wrote."""
    assert isinstance(value, dict)
    return value
