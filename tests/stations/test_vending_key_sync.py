"""The station's side of ``POST vending-keys`` in its sync cycle, against a master double on a
real loopback HTTP server: a meter pulled with a key the station does not hold makes the cycle
ask for it, and the key sealed for the station is opened, checked and kept; a key that does not
open stops the cycle and keeps nothing."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from gridvend.keys import crypto
from gridvend.keys.models import VendingKeyRecord
from gridvend.keys.services import load_vending_key
from gridvend.meters.models import Meter
from gridvend.stations.client import MasterClient
from gridvend.stations.services import vending_keys
from gridvend.stations.services.sync import run_sync_cycle
from tests.stations.master_double import KeyingDouble
from tests.stations.station_world import CODE, StationSetUp, station_mode_forgotten
from tests.world import build_world

pytestmark = pytest.mark.django_db

MISSING = "vk-added-later"


@pytest.fixture(autouse=True)
def _station_mode() -> Iterator[None]:
    with station_mode_forgotten():
        yield


@pytest.fixture
def master_double(station_setup: StationSetUp) -> KeyingDouble:
    return KeyingDouble(
        station=CODE, station_public_hex=station_setup.key.public_hex, key=station_setup.master
    )


def _meter_of_a_new_supply_group() -> Meter:
    """A meter as a pull would bring it: of a supply group whose key the station was never sent."""
    world = build_world()
    meter = world.add_meter()
    Meter.objects.filter(pk=meter.pk).update(sgc="700123", key_ref=MISSING)
    return meter


def test_a_cycle_asks_for_a_key_its_meters_need_and_keeps_it(
    master_double: KeyingDouble, master_url: str, pull_stand_in: list[MasterClient]
) -> None:
    _meter_of_a_new_supply_group()
    secret = secrets.token_bytes(8)
    master_double.held_here = {MISSING: secret}
    assert vending_keys.missing_key_refs() == [MISSING]
    result = run_sync_cycle(force=True)
    assert result.ok, result.failure
    assert f"vending key {MISSING} received" in result.notes
    assert [sorted(a) for a in master_double.asked] == [["exchange_key", "held"]]
    assert MISSING not in master_double.asked[0]["held"]
    kept = VendingKeyRecord.objects.get(key_ref=MISSING)
    assert kept.check_value == crypto.check_value(secret)
    assert load_vending_key(MISSING)[0].secret_bytes() == secret
    assert vending_keys.missing_key_refs() == []
    # Nothing missing: the next cycle does not ask.
    assert run_sync_cycle(force=True).ok
    assert len(master_double.asked) == 1


def test_a_key_that_does_not_open_stops_the_cycle_and_keeps_nothing(
    master_double: KeyingDouble, master_url: str, pull_stand_in: list[MasterClient]
) -> None:
    _meter_of_a_new_supply_group()
    master_double.held_here = {MISSING: secrets.token_bytes(8)}
    master_double.wrong = True
    result = run_sync_cycle(force=True)
    assert not result.ok and "cannot be kept" in str(result.failure)
    assert not VendingKeyRecord.objects.filter(key_ref=MISSING).exists()
