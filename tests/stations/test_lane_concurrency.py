"""Stations registered at the same moment for units that share meters never share a TID lane:
the registrations lock the units from the top down and take turns (PostgreSQL, real threads)."""

from __future__ import annotations

import pytest

from gridvend.org.models import Channel
from gridvend.stations.models import Station
from gridvend.stations.services.registration import register_station
from tests import factories
from tests.stations.conftest import Scene
from tests.threads import run_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_simultaneous_registrations_above_and_below_take_different_lanes(scene: Scene) -> None:
    tree = scene.world.tree
    units = [tree.north_sc, tree.north_bu, tree.north_sc, tree.north_bu, tree.north_sc]
    points = [factories.vending_point(u, channel=Channel.OFFLINE_STATION) for u in units]

    def work(i: int) -> int | None:
        station, _code = register_station(
            actor=scene.manager,
            code=f"race-st{i}",
            name=f"Race {i}",
            org_unit=units[i],
            vending_point=points[i],
        )
        return station.tid_lane

    lanes, errors = run_threads(len(units), work)
    assert not errors, errors
    assert sorted(lane for lane in lanes if lane is not None) == [1, 2, 3, 4, 5]
    assert Station.objects.count() == len(units)
