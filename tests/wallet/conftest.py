"""Fixtures for wallet tests: the shared world, one meter and its customer's open wallet."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gridvend.meters.models import Meter
from gridvend.wallet import services as wallet_services
from gridvend.wallet.models import Wallet
from tests.world import World, build_world


@dataclass
class WalletWorld:
    world: World
    meter: Meter
    wallet: Wallet


def wallet_world() -> WalletWorld:
    world = build_world()
    meter = world.add_meter()
    wallet = wallet_services.open_wallet(actor=world.admin, customer=world.customer(meter))
    return WalletWorld(world, meter, wallet)


@pytest.fixture
def ww(db: None) -> WalletWorld:
    return wallet_world()
