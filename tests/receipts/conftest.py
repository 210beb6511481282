"""Fixtures for the receipt screens: a vending world with real sales, and signed-in clients."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from gridvend.identity.models import User
from tests.signin import signed_in
from tests.world import World, build_world


@pytest.fixture
def world(db: None) -> World:
    return build_world()


@pytest.fixture
def client_for() -> Callable[[User], Client]:
    return signed_in
