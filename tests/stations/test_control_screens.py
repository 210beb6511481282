"""The back office's station screens beyond the access matrix: registering shows the code once
(and never again), the list's figures (allowance left after the sales the master applied, open
conflicts, unsynced age), top-ups and their rules, and the action buttons."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from gridvend.stations import protocol
from gridvend.stations.models import (
    BatchStatus,
    ConflictKind,
    Station,
    StationAllowance,
    StationBatch,
    StationConflict,
    StationEntry,
    StationStatus,
)
from gridvend.stations.services import signing
from gridvend.stations.services.allowances import allowance_left_minor, issue_allowance
from gridvend.stations.services.registration import register_station
from tests.signin import signed_in
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


def _applied_sale(station: Station, seq: int, sold_total: int) -> StationEntry:
    """The smallest honest stand-in for what the master's apply step writes: a batch, one
    applied sale entry carrying the station's cumulative total, and the master's own count of
    what it applied (``Station.sold_total_minor``, which the control screens show)."""
    Station.objects.filter(pk=station.pk).update(sold_total_minor=sold_total)
    seed = protocol.new_key_pair().seed
    entry = protocol.make_entry(
        seed=seed,
        station=station.code,
        seq=seq,
        kind="sale",
        occurred_at=timezone.now(),
        prev=protocol.GENESIS,
        data={"tender_minor": 10_000, "sold_total_minor": sold_total, "allowance": 1},
    )
    batch = StationBatch.objects.create(
        station=station,
        batch_id=f"b{seq}",
        first_seq=seq,
        last_seq=seq,
        entry_count=1,
        body_sha256=hashlib.sha256(entry.body.encode()).hexdigest(),
        status=BatchStatus.APPLIED,
    )
    return StationEntry.objects.create(
        station=station,
        seq=seq,
        kind="sale",
        occurred_at=timezone.now(),
        body=entry.body,
        entry_hash=entry.entry_hash,
        signature=entry.signature,
        batch=batch,
        applied_at=timezone.now(),
    )


def test_registering_on_the_screen_shows_the_code_once_with_the_init_command(
    scene: Scene,
) -> None:
    client = signed_in(scene.manager)
    response = client.post(
        reverse("backoffice:station-register"),
        {
            "code": "kitale-st1",
            "name": "Kitale station",
            "role": "station",
            "org_unit": scene.world.tree.north_sc.pk,
            "vending_point": scene.point.pk,
            "parent": "",
        },
    )
    assert response.status_code == 200
    station = Station.objects.get()
    code = response.context["code"]
    assert station.enrol_code_hash == hashlib.sha256(code.encode()).hexdigest()
    body = response.content.decode()
    assert "gridvend station init --master http://testserver --station kitale-st1" in body
    assert code in body
    detail = client.get(reverse("backoffice:station", kwargs={"pk": station.pk}))
    assert code not in detail.content.decode()


def test_a_refused_registration_is_drawn_again_with_its_reason(scene: Scene) -> None:
    client = signed_in(scene.manager)
    response = client.post(
        reverse("backoffice:station-register"),
        {
            "code": "kitale-st1",
            "name": "Kitale station",
            "role": "station",
            "org_unit": scene.world.tree.north_sc.pk,
            "vending_point": "",
            "parent": "",
        },
    )
    assert response.status_code == 200
    assert "not valid" in response.content.decode()
    assert not Station.objects.exists()


def test_the_list_shows_what_is_left_after_applied_sales_conflicts_and_unsynced_age(
    scene: Scene,
) -> None:
    station = _station(scene)
    issue_allowance(
        actor=scene.manager,
        station=station,
        ceiling=500_000,
        valid_until=timezone.now() + timedelta(days=5),
    )
    entry = _applied_sale(station, 1, 120_000)
    StationConflict.objects.create(station=station, entry=entry, kind=ConflictKind.TARIFF_CHANGED)
    Station.objects.filter(pk=station.pk).update(unsynced_since=timezone.now() - timedelta(hours=3))
    station.refresh_from_db()
    assert allowance_left_minor(station) == 380_000
    response = signed_in(scene.auditor).get(reverse("backoffice:stations"))
    assert response.status_code == 200
    [row] = response.context["rows"]
    assert row["figures"].left_minor == 380_000
    assert row["figures"].open_conflicts == 1
    body = response.content.decode()
    assert "3,800.00" in body and "3\xa0hours" in body
    # Filters: by status and by code or name; a bad status answers a refusal, not a 500.
    assert (
        not signed_in(scene.auditor)
        .get(reverse("backoffice:stations"), {"status": "revoked"})
        .context["rows"]
    )
    assert (
        signed_in(scene.auditor)
        .get(reverse("backoffice:stations"), {"q": "kitale"})
        .context["rows"]
    )
    assert signed_in(scene.auditor).get(
        reverse("backoffice:stations"), {"status": "nonsense"}
    ).status_code in (200, 400)


def test_a_top_up_raises_the_ceiling_and_a_lower_one_is_refused(scene: Scene) -> None:
    station = _station(scene)
    client = signed_in(scene.manager)
    url = reverse("backoffice:station-allowance", kwargs={"pk": station.pk})
    assert client.post(url, {"ceiling": "5000.00", "valid_days": "7"}).status_code == 302
    first = StationAllowance.objects.get()
    assert (first.sequence, first.ceiling_minor) == (1, 500_000)
    refused = client.post(url, {"ceiling": "4000.00", "valid_days": "7"})
    assert refused.status_code == 200 and "not below the last ceiling" in refused.content.decode()
    for hostile in (
        {"ceiling": "5000.00", "valid_days": "32"},
        {"ceiling": "-1", "valid_days": "3"},
    ):
        assert client.post(url, hostile).status_code == 200
    assert client.post(url, {"ceiling": "8000.00", "valid_days": "3"}).status_code == 302
    assert list(StationAllowance.objects.values_list("sequence", "ceiling_minor")) == [
        (2, 800_000),
        (1, 500_000),
    ]
    # The payload the station will get is what the master signed for this station.
    top = StationAllowance.objects.first()
    assert top is not None
    read = protocol.read_allowance(
        {"payload": top.payload, "signature": top.signature},
        master_public_hex=signing.signing_key().public_hex,
        station="kitale-st1",
    )
    assert read.sequence == 2 and read.ceiling_minor == 800_000


def test_the_action_buttons_suspend_revoke_and_need_a_reason(scene: Scene) -> None:
    station = _station(scene)
    client = signed_in(scene.manager)
    url = reverse("backoffice:station", kwargs={"pk": station.pk})
    assert client.post(url, {"action": "suspend", "reason": ""}).status_code == 400
    assert Station.objects.get().status == StationStatus.PENDING
    assert client.post(url, {"action": "suspend", "reason": "visit"}).status_code == 302
    assert Station.objects.get().status == StationStatus.SUSPENDED
    assert client.post(url, {"action": "new_code", "reason": ""}).status_code == 400
    assert client.post(url, {"action": "reinstate", "reason": "back"}).status_code == 302
    fresh = client.post(url, {"action": "new_code", "reason": ""})
    assert fresh.status_code == 200 and fresh.context["code"]
    assert client.post(url, {"action": "revoke", "reason": "closed"}).status_code == 302
    assert Station.objects.get().status == StationStatus.REVOKED
    assert client.post(url, {"action": "explode", "reason": "x"}).status_code == 400
