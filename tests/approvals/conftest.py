"""The vending world for approval tests (the reversal decision is the one exercised)."""

from __future__ import annotations

import pytest

from tests.world import World, build_world


@pytest.fixture
def world(db: None) -> World:
    return build_world()
