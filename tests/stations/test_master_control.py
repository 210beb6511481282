"""The master's control of its stations beyond the probes: TID lanes kept by a revoked station
while its allowance is valid and checked on every move in the tree, a revoked station's vending
point closed, the one relay check of a forwarded batch, and the station list's figures (last
contact, allowance left, unsynced age, open conflicts) from real uploads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.template.defaultfilters import date as date_filter
from django.urls import reverse
from django.utils import timezone
from django.utils.timezone import template_localtime  # type: ignore[attr-defined]
from django.utils.translation import override

from gridvend.audit.models import AuditEvent
from gridvend.kernel.errors import DomainError
from gridvend.org import services as org
from gridvend.org import services as org_services
from gridvend.org.models import Channel, OrgUnit, VendingPoint, VendingPointStatus
from gridvend.stations import protocol
from gridvend.stations.models import (
    Station,
    StationAllowance,
    StationConflict,
    StationRole,
    StationStatus,
)
from gridvend.stations.services import allowances, contact
from gridvend.stations.services.journal import receive_batch
from gridvend.stations.services.registration import register_station, revoke_station
from gridvend.vending import services as vending
from gridvend.vending.models import Sale
from tests import factories
from tests.signin import signed_in
from tests.stations.conftest import Scene
from tests.stations.offline import OfflineStation, batch, offline_station
from tests.world import build_world

pytestmark = pytest.mark.django_db


def _register(scene: Scene, code: str, unit: OrgUnit, point: VendingPoint | None = None) -> Station:
    admin = scene.world.tree.admin
    point = point or factories.vending_point(unit, channel=Channel.OFFLINE_STATION)
    station, _code = register_station(
        actor=admin, code=code, name=code, org_unit=unit, vending_point=point
    )
    return station


def _enrol_with_allowance(scene: Scene, station: Station, *, days: int = 30) -> Station:
    Station.objects.filter(pk=station.pk).update(
        status=StationStatus.ACTIVE, public_key=protocol.new_key_pair().public_hex
    )
    station.refresh_from_db()
    allowances.issue_allowance(
        actor=scene.world.tree.admin,
        station=station,
        ceiling=1_000_000,
        valid_until=timezone.now() + timedelta(days=days),
    )
    return station


# --- TID lanes -----------------------------------------------------------------------------


def test_a_revoked_station_holds_its_lane_until_its_allowance_has_expired(scene: Scene) -> None:
    unit = scene.world.tree.north_sc
    old = _enrol_with_allowance(scene, _register(scene, "old-st", unit))
    revoke_station(actor=scene.manager, station=old, reason="stolen")
    assert _register(scene, "second-st", unit).tid_lane == 2
    # Its allowance ends (past the clock skew a station may have): the lane is free again.
    StationAllowance.objects.filter(station=old).update(
        valid_from=timezone.now() - timedelta(days=2),
        valid_until=timezone.now() - timedelta(hours=1),
    )
    assert _register(scene, "third-st", unit).tid_lane == old.tid_lane == 1


def test_a_move_that_would_give_two_stations_one_lane_is_refused_and_changes_nothing(
    scene: Scene,
) -> None:
    tree = scene.world.tree
    north = _register(scene, "north-st", tree.north_sc, scene.point)
    south = _register(scene, "south-st", tree.south_bu)
    assert north.tid_lane == south.tid_lane == 1
    paths = dict(OrgUnit.objects.values_list("pk", "path"))
    with pytest.raises(DomainError) as refused:
        org.move_unit(actor=tree.admin, unit=tree.north_sc, new_parent=tree.south_bu)
    assert refused.value.code == "STATION_MOVE_LANE_CLASH"
    assert refused.value.params["station"] == "north-st"
    assert refused.value.params["other"] == "south-st"
    assert "north-st" in str(refused.value.message) and "south-st" in str(refused.value.message)
    assert dict(OrgUnit.objects.values_list("pk", "path")) == paths
    assert not AuditEvent.objects.filter(event_type="org_unit.moved").exists()


def test_a_station_above_the_old_place_still_sells_the_moved_meters_so_it_counts(
    scene: Scene,
) -> None:
    """North BU's station holds the meters of North SC until it is re-initialised: moving
    North SC under South BU, whose station has the same lane, is refused."""
    tree = scene.world.tree
    _register(scene, "north-bu-st", tree.north_bu)
    _register(scene, "south-bu-st", tree.south_bu)
    with pytest.raises(DomainError) as refused:
        org.move_unit(actor=tree.admin, unit=tree.north_sc, new_parent=tree.south_bu)
    assert refused.value.code == "STATION_MOVE_LANE_CLASH"


def test_a_revoked_station_with_a_valid_allowance_counts_on_a_move(scene: Scene) -> None:
    tree = scene.world.tree
    north = _enrol_with_allowance(scene, _register(scene, "north-st", tree.north_sc, scene.point))
    _register(scene, "south-st", tree.south_bu)
    revoke_station(actor=scene.manager, station=north, reason="closed")
    with pytest.raises(DomainError) as refused:
        org.move_unit(actor=tree.admin, unit=tree.north_sc, new_parent=tree.south_bu)
    assert refused.value.code == "STATION_MOVE_LANE_CLASH"


def test_a_move_between_stations_of_different_lanes_goes_and_keeps_their_lanes(
    scene: Scene,
) -> None:
    tree = scene.world.tree
    first = _register(scene, "north-a", tree.north_sc, scene.point)
    second = _register(scene, "north-b", tree.north_sc)
    # Never enrolled, the first had no keys: revoked, its lane 1 is free at once.
    revoke_station(actor=scene.manager, station=first, reason="never installed")
    south = _register(scene, "south-st", tree.south_bu)
    assert (second.tid_lane, south.tid_lane) == (2, 1)
    moved = org.move_unit(actor=tree.admin, unit=tree.north_sc, new_parent=tree.south_bu)
    assert moved.path.startswith(tree.south_bu.path)
    assert moved.tid_lanes == 16
    assert Station.objects.get(pk=second.pk).tid_lane == 2
    # A station registered later at the new parent does not take lane 2 either.
    assert _register(scene, "south-st2", tree.south_bu).tid_lane == 3


def test_moving_a_unit_without_stations_anywhere_near_is_not_refused(scene: Scene) -> None:
    tree = scene.world.tree
    _register(scene, "north-st", tree.north_sc, scene.point)
    _register(scene, "south-st", tree.south_sc)  # beside, not above, South BU
    moved = org.move_unit(actor=tree.admin, unit=tree.north_sc, new_parent=tree.south_bu)
    assert moved.parent_id == tree.south_bu.pk


# --- revoking closes the vending point -----------------------------------------------------


def test_revoking_a_station_closes_its_vending_point_for_good(scene: Scene) -> None:
    world = scene.world
    station = _enrol_with_allowance(
        scene, _register(scene, "kitale-st1", world.tree.north_sc, scene.point)
    )
    revoke_station(actor=scene.manager, station=station, reason="stolen from the office")
    point = VendingPoint.objects.get(pk=scene.point.pk)
    assert point.status == VendingPointStatus.CLOSED
    # Kept, bound to the revoked station, and the change audited with its reason.
    assert Station.objects.get(pk=station.pk).vending_point_id == point.pk
    event = AuditEvent.objects.filter(event_type="vending_point.updated").latest("pk")
    assert event.before is not None and event.after is not None
    assert event.before["status"] == "active"
    assert event.after["status"] == "closed"
    assert event.after["reason"] == "stolen from the office"
    # Nobody sells through it on the master.
    meter = world.add_meter()
    with pytest.raises(DomainError) as refused:
        vending.vend_credit(
            actor=world.cashier,
            vending_point=point,
            client_reference="after-revoke",
            meter_number=meter.number,
            tender=world.money("100"),
        )
    assert refused.value.code == "VENDING_POINT_INACTIVE"
    assert not Sale.objects.filter(vending_point=point).exists()
    # A new station cannot take it, and the registration form does not offer it.
    with pytest.raises(DomainError) as taken:
        _register(scene, "kitale-st2", world.tree.north_sc, point)
    assert taken.value.code == "STATION_INVALID"
    page = signed_in(scene.manager).get(reverse("backoffice:station-register"))
    offered = {value for value, _label in page.context["form"].fields["vending_point"].choices}
    assert point.pk not in offered


def test_a_revoked_stations_vending_point_cannot_be_reopened(scene: Scene) -> None:
    world = scene.world
    station = _enrol_with_allowance(
        scene, _register(scene, "kitale-st1", world.tree.north_sc, scene.point)
    )
    revoke_station(actor=scene.manager, station=station, reason="stolen from the office")
    point = VendingPoint.objects.get(pk=scene.point.pk)
    for status in (VendingPointStatus.ACTIVE, VendingPointStatus.SUSPENDED):
        with pytest.raises(DomainError) as refused:
            org_services.update_vending_point(actor=world.admin, point=point, status=status)
        assert refused.value.code == "STATION_STATE_INVALID"
        assert VendingPoint.objects.get(pk=point.pk).status == VendingPointStatus.CLOSED
    # Its name and address can still be kept up to date; closed it stays.
    org_services.update_vending_point(
        actor=world.admin, point=point, name="Kitale (closed)", status=VendingPointStatus.CLOSED
    )
    point.refresh_from_db()
    assert (point.name, point.status) == ("Kitale (closed)", VendingPointStatus.CLOSED)
    # A point whose station is only suspended is the manager's to change.
    other = factories.vending_point(world.tree.north_sc, channel=Channel.OFFLINE_STATION)
    org_services.update_vending_point(
        actor=world.admin, point=other, status=VendingPointStatus.SUSPENDED
    )
    org_services.update_vending_point(
        actor=world.admin, point=other, status=VendingPointStatus.ACTIVE
    )
    assert VendingPoint.objects.get(pk=other.pk).status == VendingPointStatus.ACTIVE


def test_the_registration_form_offers_only_open_points_no_station_holds(scene: Scene) -> None:
    unit = scene.world.tree.north_sc
    held = _register(scene, "kitale-st1", unit, scene.point).vending_point
    free = factories.vending_point(unit, channel=Channel.OFFLINE_STATION)
    suspended = factories.vending_point(unit, channel=Channel.OFFLINE_STATION)
    VendingPoint.objects.filter(pk=suspended.pk).update(status=VendingPointStatus.SUSPENDED)
    page = signed_in(scene.manager).get(reverse("backoffice:station-register"))
    offered = {value for value, _label in page.context["form"].fields["vending_point"].choices}
    assert free.pk in offered
    assert held is not None and held.pk not in offered and suspended.pk not in offered


def test_the_new_station_page_shows_the_command_as_code_not_backticks(scene: Scene) -> None:
    client = signed_in(scene.manager)
    for language in ("en", "ar", "zh-hans"):
        with override(language):
            page = client.get(reverse("backoffice:station-register"), HTTP_ACCEPT_LANGUAGE=language)
        body = page.content.decode()
        assert '<code dir="ltr">gridvend station init</code>' in body, language
        assert "`" not in body.split("<main", 1)[-1].split("</main>", 1)[0], language


# --- the one relay check -------------------------------------------------------------------


def test_a_batch_handed_up_by_a_relay_not_above_the_station_is_refused() -> None:
    st = offline_station(build_world())
    stranger = Station.objects.create(
        code="far-relay",
        name="Far relay",
        role=StationRole.RELAY,
        org_unit=st.world.unit,
        status=StationStatus.ACTIVE,
        public_key=protocol.new_key_pair().public_hex,
    )
    meter = st.world.add_meter()
    with pytest.raises(DomainError) as refused:
        receive_batch(station=st.station, body=batch([st.sell(meter, "250")]), via=stranger)
    assert refused.value.code == "STATION_NOT_UNDER_RELAY"
    assert not Sale.objects.filter(vending_point=st.point).exists()


# --- the list's figures, from real uploads -------------------------------------------------


def _uploaded(st: OfflineStation) -> None:
    """Two sales applied, the second claiming a total that does not add up (a conflict)."""
    meter = st.world.add_meter()
    first_at = timezone.now() - timedelta(hours=5)
    first = st.sell(meter, "250", at=first_at)
    data = st.sale_data(meter, "260")
    data["sold_total_minor"] = 1
    body = batch([first, st.entry("sale", data)])
    body["unsynced_since"] = protocol.utc_text(first_at)
    receive_batch(station=st.station, body=body)


def test_the_list_shows_the_masters_figures_after_real_uploads() -> None:
    st = offline_station(build_world(), ceiling_minor=200_000)
    _uploaded(st)
    station = Station.objects.get(pk=st.station.pk)
    assert station.sold_total_minor == 51_000
    assert station.unsynced_since is None  # everything the batch named is applied
    assert StationConflict.objects.filter(station=station, status="open").count() == 1
    # The station says at its next contact it holds entries since two hours ago.
    contact.note_contact(station, unsynced_since=timezone.now() - timedelta(hours=2))
    client = signed_in(st.world.admin)
    page = client.get(reverse("backoffice:stations"), {"q": station.code})
    [row] = page.context["rows"]
    figures = row["figures"]
    assert figures.left_minor == 200_000 - 51_000
    assert figures.sold_minor == 51_000
    assert figures.open_conflicts == 1
    assert figures.unsynced_since is not None
    body = page.content.decode()
    assert "1,490.00" in body  # allowance left
    assert "2\xa0hours" in body  # unsynced for
    last_contact = Station.objects.get(pk=station.pk).last_contact_at
    assert date_filter(template_localtime(last_contact), "Y-m-d H:i:s") in body
    conflicts = reverse("backoffice:station-conflicts")
    assert f'href="{conflicts}?station={station.code}&amp;status=open"' in body
    detail = client.get(reverse("backoffice:station", kwargs={"pk": station.pk}))
    assert detail.context["figures"].left_minor == 149_000
    assert "1,490.00" in detail.content.decode()


def test_a_batch_that_names_entries_newer_than_its_own_keeps_the_stations_unsynced_time() -> None:
    st = offline_station(build_world())
    meter = st.world.add_meter()
    body = batch([st.sell(meter, "250", at=timezone.now() - timedelta(hours=1))])
    later = timezone.now() - timedelta(minutes=10)
    body["unsynced_since"] = protocol.utc_text(later)
    receive_batch(station=st.station, body=body)
    kept = Station.objects.get(pk=st.station.pk).unsynced_since
    assert kept is not None and abs((kept - later).total_seconds()) < 1


def test_an_unsynced_time_far_in_the_future_is_not_kept() -> None:
    st = offline_station(build_world())
    meter = st.world.add_meter()
    body = batch([st.sell(meter, "250")])
    body["unsynced_since"] = protocol.utc_text(timezone.now() + timedelta(days=400))
    receive_batch(station=st.station, body=body)
    assert Station.objects.get(pk=st.station.pk).unsynced_since is None
