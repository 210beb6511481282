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


def test_a_move_and_a_registration_at_the_same_moment_never_share_a_lane(scene: Scene) -> None:
    """North SC moves under South BU (whose station has lane 1) while a station is registered
    at North SC: the registration takes lane 1 and the move is refused, or the move goes first
    and the registration takes lane 2; never both in lane 1."""
    from gridvend.kernel.errors import DomainError
    from gridvend.org import services as org
    from gridvend.org.models import OrgUnit

    tree = scene.world.tree
    south_point = factories.vending_point(tree.south_bu, channel=Channel.OFFLINE_STATION)
    register_station(
        actor=tree.admin,
        code="south-st",
        name="South",
        org_unit=tree.south_bu,
        vending_point=south_point,
    )

    def work(i: int) -> str:
        try:
            if i == 0:
                org.move_unit(actor=tree.admin, unit=tree.north_sc, new_parent=tree.south_bu)
                return "moved"
            register_station(
                actor=tree.admin,
                code="north-st",
                name="North",
                org_unit=tree.north_sc,
                vending_point=scene.point,
            )
            return "registered"
        except DomainError as refused:
            return str(refused.code)

    results, errors = run_threads(2, work)
    assert not errors, errors
    assert results[1] == "registered"
    north = Station.objects.get(code="north-st")
    moved = OrgUnit.objects.get(pk=tree.north_sc.pk).path.startswith(tree.south_bu.path)
    if results[0] == "moved":
        assert moved and north.tid_lane == 2
    else:
        assert results[0] == "STATION_MOVE_LANE_CLASH"
        assert not moved and north.tid_lane == 1
