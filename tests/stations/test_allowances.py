"""Allowances on the master: the next sequence, signed by the master's key for this station only,
a top-up never below the last ceiling, bounded amounts and validity, issued only by the
station's managers, refused for revoked stations and relays, audited."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from gridvend.audit.models import AuditEvent
from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.stations import protocol
from gridvend.stations.errors import StationAllowanceInvalid, StationStateInvalid
from gridvend.stations.events import StationEvent
from gridvend.stations.models import Station, StationAllowance, StationRole
from gridvend.stations.services import signing
from gridvend.stations.services.allowances import (
    allowance_left_minor,
    issue_allowance,
    latest_allowance,
)
from gridvend.stations.services.registration import register_station, revoke_station
from tests.stations.conftest import Scene

pytestmark = pytest.mark.django_db


def _station(scene: Scene) -> Station:
    return register_station(
        actor=scene.manager,
        code="kitale-st1",
        name="Kitale station",
        org_unit=scene.world.tree.north_sc,
        vending_point=scene.point,
    )[0]


def _in(days: float) -> datetime:
    return timezone.now() + timedelta(days=days)


def test_allowances_are_signed_in_sequence_for_this_station_only(scene: Scene) -> None:
    station = _station(scene)
    assert latest_allowance(station) is None and allowance_left_minor(station) is None
    first = issue_allowance(
        actor=scene.manager, station=station, ceiling=100_000, valid_until=_in(7)
    )
    second = issue_allowance(
        actor=scene.manager, station=station, ceiling=100_000, valid_until=_in(9)
    )
    assert (first.sequence, second.sequence) == (1, 2)
    assert latest_allowance(station) == second and allowance_left_minor(station) == 100_000
    master = signing.signing_key().public_hex
    wire = {"payload": second.payload, "signature": second.signature}
    read = protocol.read_allowance(wire, master_public_hex=master, station="kitale-st1")
    assert (read.sequence, read.ceiling_minor, read.currency) == (2, 100_000, second.currency)
    assert read.valid_from <= timezone.now() < read.valid_until
    with pytest.raises(ValueError):
        protocol.read_allowance(wire, master_public_hex=master, station="other-st")
    altered = {"payload": second.payload.replace("100000", "900000"), "signature": second.signature}
    with pytest.raises(protocol.BadSignature):
        protocol.read_allowance(altered, master_public_hex=master, station="kitale-st1")
    events = AuditEvent.objects.filter(event_type=StationEvent.ALLOWANCE_ISSUED).order_by("id")
    assert [e.after["sequence"] for e in events if e.after] == [1, 2]


@pytest.mark.parametrize(
    ("ceiling", "days", "field"),
    [
        (0, 7, "ceiling"),
        (-5, 7, "ceiling"),
        (10**12, 7, "ceiling"),
        (True, 7, "ceiling"),
        (1000, -1, "valid_until"),
        (1000, 31.5, "valid_until"),
    ],
)
def test_bounds_are_refused_and_nothing_is_issued(
    scene: Scene, ceiling: int, days: float, field: str
) -> None:
    station = _station(scene)
    with pytest.raises(StationAllowanceInvalid) as refused:
        issue_allowance(
            actor=scene.manager, station=station, ceiling=ceiling, valid_until=_in(days)
        )
    assert refused.value.params["field"] == field
    assert not StationAllowance.objects.exists()


def test_a_top_up_never_lowers_the_ceiling(scene: Scene) -> None:
    station = _station(scene)
    issue_allowance(actor=scene.manager, station=station, ceiling=500_000, valid_until=_in(7))
    with pytest.raises(StationAllowanceInvalid):
        issue_allowance(actor=scene.manager, station=station, ceiling=499_999, valid_until=_in(7))
    assert StationAllowance.objects.count() == 1


def test_only_the_stations_managers_issue_and_never_to_a_revoked_station_or_a_relay(
    scene: Scene,
) -> None:
    station = _station(scene)
    with pytest.raises(AccessDenied):
        issue_allowance(actor=scene.auditor, station=station, ceiling=1000, valid_until=_in(1))
    with pytest.raises(NotFound):
        issue_allowance(
            actor=scene.south_manager, station=station, ceiling=1000, valid_until=_in(1)
        )
    relay = register_station(
        actor=scene.manager,
        code="north-relay",
        name="Relay",
        org_unit=scene.world.tree.north_bu,
        role=StationRole.RELAY,
    )[0]
    with pytest.raises(StationStateInvalid):
        issue_allowance(actor=scene.manager, station=relay, ceiling=1000, valid_until=_in(1))
    revoke_station(actor=scene.manager, station=station, reason="closed")
    with pytest.raises(StationStateInvalid):
        issue_allowance(actor=scene.manager, station=station, ceiling=1000, valid_until=_in(1))
    assert not StationAllowance.objects.exists()
