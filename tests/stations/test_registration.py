"""Registering stations on the master: the one-time code (kept only as its SHA-256), the TID
lanes (lowest free, at most 15, freed on revocation, inherited by units made later), the checks
on who and what, and suspend / reinstate / revoke with a reason, each audited."""

from __future__ import annotations

import hashlib

import pytest

from gridvend.audit.models import AuditEvent
from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.org import services as org
from gridvend.org.models import Channel, OrgUnit
from gridvend.stations.errors import (
    StationInvalid,
    StationNoFreeLane,
    StationStateInvalid,
    StationTaken,
)
from gridvend.stations.events import StationEvent
from gridvend.stations.models import TID_LANES, Station, StationRole, StationStatus
from gridvend.stations.services.registration import (
    register_station,
    reinstate_station,
    reissue_enrolment_code,
    revoke_station,
    suspend_station,
)
from tests import factories
from tests.stations.conftest import Scene

pytestmark = pytest.mark.django_db


def _register(scene: Scene, code: str = "kitale-st1", **kw: object) -> tuple[Station, str]:
    kw.setdefault("org_unit", scene.world.tree.north_sc)
    kw.setdefault("vending_point", scene.point)
    return register_station(actor=scene.manager, code=code, name="Kitale station", **kw)  # type: ignore[arg-type]


def test_registration_keeps_only_the_codes_hash_and_takes_lane_one(scene: Scene) -> None:
    station, code = _register(scene)
    assert len(code) == 26 and code.isalnum()
    assert station.enrol_code_hash == hashlib.sha256(code.encode()).hexdigest()
    assert code not in str(Station.objects.filter(pk=station.pk).values().get())
    assert station.status == StationStatus.PENDING and station.tid_lane == 1
    assert station.enrol_code_expires_at is not None
    event = AuditEvent.objects.get(event_type=StationEvent.REGISTERED)
    assert event.after is not None
    assert event.after["code"] == "kitale-st1" and code not in str(event.after)


def test_the_unit_and_every_unit_under_it_sell_in_lanes_and_so_do_units_made_later(
    scene: Scene,
) -> None:
    tree = scene.world.tree
    station, _code = register_station(
        actor=scene.manager,
        code="north-bu-st",
        name="BU station",
        org_unit=tree.north_bu,
        vending_point=scene.point,
    )
    assert station.tid_lane == 1
    lanes = dict(OrgUnit.objects.values_list("code", "tid_lanes"))
    assert lanes[tree.north_bu.code] == lanes[tree.north_sc.code] == TID_LANES
    assert lanes[tree.north.code] == lanes[tree.south_sc.code] == 1
    later = org.create_unit(actor=tree.admin, parent=tree.north_sc, name="New kiosk area")
    assert later.tid_lanes == TID_LANES
    elsewhere = org.create_unit(actor=tree.admin, parent=tree.south_sc, name="Elsewhere")
    assert elsewhere.tid_lanes == 1
    # Moved under a unit served by stations, a subtree sells in lanes too.
    moved = org.move_unit(actor=tree.admin, unit=elsewhere, new_parent=tree.north_sc)
    assert moved.tid_lanes == TID_LANES


def test_lanes_are_the_lowest_free_fifteen_at_most_and_a_revoked_stations_is_free_again(
    scene: Scene,
) -> None:
    unit = scene.world.tree.north_sc
    stations = []
    for n in range(TID_LANES - 1):
        point = factories.vending_point(unit, channel=Channel.OFFLINE_STATION)
        stations.append(_register(scene, f"st-{n:02d}", vending_point=point)[0])
    assert [s.tid_lane for s in stations] == list(range(1, TID_LANES))
    extra = factories.vending_point(unit, channel=Channel.OFFLINE_STATION)
    with pytest.raises(StationNoFreeLane):
        _register(scene, "st-extra", vending_point=extra)
    assert not Station.objects.filter(code="st-extra").exists()
    revoke_station(actor=scene.manager, station=stations[4], reason="stolen")
    again = _register(scene, "st-extra", vending_point=extra)[0]
    assert again.tid_lane == 5
    # A station of a unit above shares the meters below: its lane is not free either.
    above_point = factories.vending_point(
        scene.world.tree.north_bu, channel=Channel.OFFLINE_STATION
    )
    with pytest.raises(StationNoFreeLane):
        _register(scene, "st-above", org_unit=scene.world.tree.north_bu, vending_point=above_point)


def test_a_relay_takes_no_lane_and_a_station_behind_it_must_be_in_its_subtree(
    scene: Scene,
) -> None:
    tree = scene.world.tree
    relay, _code = register_station(
        actor=scene.manager,
        code="north-relay",
        name="North BU relay",
        org_unit=tree.north_bu,
        role=StationRole.RELAY,
    )
    assert relay.tid_lane is None and relay.vending_point is None
    station, _code = _register(scene, parent=relay)
    assert station.parent == relay and station.tid_lane == 1
    south_point = factories.vending_point(tree.south_sc, channel=Channel.OFFLINE_STATION)
    with pytest.raises(StationInvalid):
        register_station(
            actor=scene.world.tree.admin,
            code="south-st",
            name="South",
            org_unit=tree.south_sc,
            vending_point=south_point,
            parent=relay,
        )


@pytest.mark.parametrize(
    ("field", "kw"),
    [
        ("code", {"code": "X"}),
        ("code", {"code": "bad code!"}),
        ("name", {"name": " "}),
        ("name", {"name": "n" * 121}),
        ("role", {"role": "master"}),
    ],
)
def test_bad_settings_are_refused_and_nothing_is_kept(
    scene: Scene, field: str, kw: dict[str, str]
) -> None:
    args = {"code": "kitale-st1", "name": "Kitale", **kw}
    with pytest.raises(StationInvalid) as refused:
        register_station(
            actor=scene.manager,
            org_unit=scene.world.tree.north_sc,
            vending_point=scene.point,
            **args,  # type: ignore[arg-type]
        )
    assert refused.value.params["field"] == field
    assert not Station.objects.exists()


def test_a_station_needs_an_offline_station_point_of_its_unit(scene: Scene) -> None:
    tree = scene.world.tree
    with pytest.raises(StationInvalid):
        _register(scene, vending_point=None)
    with pytest.raises(StationInvalid):
        _register(scene, vending_point=factories.vending_point(tree.north_sc))
    with pytest.raises(StationInvalid):
        _register(
            scene,
            org_unit=tree.north_sc,
            vending_point=factories.vending_point(tree.south_sc, channel=Channel.OFFLINE_STATION),
        )
    assert not Station.objects.exists()
    assert OrgUnit.objects.filter(tid_lanes=TID_LANES).count() == 0


def test_a_code_or_a_point_taken_is_refused(scene: Scene) -> None:
    _register(scene)
    other = factories.vending_point(scene.world.tree.north_sc, channel=Channel.OFFLINE_STATION)
    with pytest.raises(StationTaken) as taken:
        _register(scene, vending_point=other)
    assert taken.value.params["field"] == "code"
    with pytest.raises(StationTaken) as taken:
        _register(scene, "kitale-st2")
    assert taken.value.params["field"] == "vending_point"


def test_only_managers_in_scope_register_and_control(scene: Scene) -> None:
    with pytest.raises(AccessDenied):
        register_station(
            actor=scene.auditor,
            code="kitale-st1",
            name="K",
            org_unit=scene.world.tree.north_sc,
            vending_point=scene.point,
        )
    with pytest.raises(NotFound):
        register_station(
            actor=scene.south_manager,
            code="kitale-st1",
            name="K",
            org_unit=scene.world.tree.north_sc,
            vending_point=scene.point,
        )
    station, _code = _register(scene)
    with pytest.raises(NotFound):
        suspend_station(actor=scene.south_manager, station=station, reason="x")
    with pytest.raises(AccessDenied):
        revoke_station(actor=scene.auditor, station=station, reason="x")
    assert Station.objects.get().status == StationStatus.PENDING


def test_suspend_reinstate_revoke_need_a_reason_follow_the_states_and_are_audited(
    scene: Scene,
) -> None:
    station, _code = _register(scene)
    with pytest.raises(StationInvalid):
        suspend_station(actor=scene.manager, station=station, reason="  ")
    suspended = suspend_station(actor=scene.manager, station=station, reason="audit visit")
    assert suspended.status == StationStatus.SUSPENDED
    assert suspended.status_reason == "audit visit"
    with pytest.raises(StationStateInvalid):
        suspend_station(actor=scene.manager, station=station, reason="again")
    # Not enrolled yet: back to waiting for its enrolment.
    assert reinstate_station(actor=scene.manager, station=station, reason="ok").status == (
        StationStatus.PENDING
    )
    revoked = revoke_station(actor=scene.manager, station=station, reason="closed")
    assert revoked.status == StationStatus.REVOKED and revoked.enrol_code_hash == ""
    with pytest.raises(StationStateInvalid):
        reinstate_station(actor=scene.manager, station=station, reason="no")
    with pytest.raises(StationStateInvalid):
        reissue_enrolment_code(actor=scene.manager, station=station)
    events = list(
        AuditEvent.objects.filter(target_id=str(station.pk), event_type__startswith="station.")
        .order_by("id")
        .values_list("event_type", "before", "after")
    )
    kinds = [e[0] for e in events]
    before_suspend, after_suspend, after_revoke = events[1][1], events[1][2], events[3][2]
    assert before_suspend and after_suspend and after_revoke
    assert kinds == [
        StationEvent.REGISTERED,
        StationEvent.SUSPENDED,
        StationEvent.REINSTATED,
        StationEvent.REVOKED,
    ]
    assert before_suspend["status"] == "pending" and after_suspend["status"] == "suspended"
    assert after_revoke["status_reason"] == "closed"


def test_a_new_code_replaces_the_old_one_while_pending(scene: Scene) -> None:
    station, first = _register(scene)
    Station.objects.filter(pk=station.pk).update(enrol_failures=3)
    again, second = reissue_enrolment_code(actor=scene.manager, station=station)
    assert second != first
    assert again.enrol_code_hash == hashlib.sha256(second.encode()).hexdigest()
    assert again.enrol_failures == 0
    assert AuditEvent.objects.filter(event_type=StationEvent.CODE_ISSUED).count() == 1


def _enrolled_with_lost_answer(scene: Scene) -> tuple[Station, str]:
    """The master's side of an enrolment whose answer never reached the station."""
    from gridvend.stations import protocol
    from gridvend.stations.services import enrolment

    station, code = _register(scene)
    enrolment.enrol_station(
        code=station.code,
        enrol_code=code,
        public_key=protocol.new_key_pair().public_hex,
        app_version="17.0",
        exchange_key=enrolment.exchange_public_hex(enrolment.new_exchange_key()),
    )
    station.refresh_from_db()
    assert station.status == StationStatus.ACTIVE
    return station, code


def test_a_station_never_heard_from_since_enrolment_gets_a_new_code_and_loses_its_key(
    scene: Scene,
) -> None:
    station, old = _enrolled_with_lost_answer(scene)
    again, fresh = reissue_enrolment_code(actor=scene.manager, station=station)
    assert fresh != old
    assert again.status == StationStatus.PENDING and again.public_key == ""
    assert again.enrol_code_hash == hashlib.sha256(fresh.encode()).hexdigest()
    event = AuditEvent.objects.get(event_type=StationEvent.CODE_ISSUED)
    assert event.actor_id == scene.manager.pk
    after, before = event.after or {}, event.before or {}
    assert after["re_enrolment"] is True
    assert after["reason"] == "no contact since enrolment"
    assert before["status"] == "active" and before["public_key"]


@pytest.mark.parametrize(
    "contact",
    ["status call", "upload", "journal applied"],
)
def test_a_station_heard_from_since_enrolment_gets_no_new_code(scene: Scene, contact: str) -> None:
    """A station in use keeps its key: only a manager's new code for an install never heard
    from may retire it (a stolen old code was used up at enrolment and opens nothing)."""
    from datetime import timedelta

    station, _old = _enrolled_with_lost_answer(scene)
    assert station.enrolled_at is not None
    later = station.enrolled_at + timedelta(minutes=1)
    changes: dict[str, dict[str, object]] = {
        "status call": {"last_contact_at": later},
        "upload": {"last_upload_at": later},
        "journal applied": {"last_seq": 3, "last_hash": "a" * 64},
    }
    Station.objects.filter(pk=station.pk).update(**changes[contact])
    key = Station.objects.get(pk=station.pk).public_key
    with pytest.raises(StationStateInvalid):
        reissue_enrolment_code(actor=scene.manager, station=station)
    kept = Station.objects.get(pk=station.pk)
    assert kept.status == StationStatus.ACTIVE and kept.public_key == key
    assert kept.enrol_code_hash == ""
    assert not AuditEvent.objects.filter(event_type=StationEvent.CODE_ISSUED).exists()
