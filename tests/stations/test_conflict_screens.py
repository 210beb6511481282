"""The supervisor's conflict screens: the list filtered by station, kind and status; a
conflict's page with its entry and sale; resolving it with a note (audited, once)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from gridvend.audit.models import AuditEvent
from gridvend.identity.roles import Capability, Role
from gridvend.meters import services as meters
from gridvend.stations.events import StationEvent
from gridvend.stations.models import ConflictKind, ConflictStatus, StationConflict
from gridvend.stations.services.journal import receive_batch
from gridvend.vending import services as vending
from tests import factories
from tests.signin import signed_in
from tests.stations.offline import batch, offline_station
from tests.world import build_world

pytestmark = pytest.mark.django_db


def test_a_supervisor_finds_a_conflict_and_resolves_it_with_a_note() -> None:
    world = build_world()
    st = offline_station(world)
    blocked, clean = world.add_meter(), world.add_meter()
    entries = [st.sell(blocked, "250"), st.sell(clean, "250")]
    meters.block_meter(actor=world.admin, meter=blocked, reason="tamper")
    receive_batch(station=st.station, body=batch(entries))
    conflict = StationConflict.objects.get()
    assert conflict.sale is not None
    supervisor = factories.user(world.tree.north, Role.VENDING_POINT_MANAGER)
    client = signed_in(supervisor)

    listed = client.get(reverse("backoffice:station-conflicts"), {"station": st.code})
    assert listed.status_code == 200 and conflict.sale.reference in listed.content.decode()
    other_kind = client.get(reverse("backoffice:station-conflicts"), {"kind": "tid_clash"})
    assert conflict.sale.reference not in other_kind.content.decode()
    bad = client.get(reverse("backoffice:station-conflicts"), {"kind": "nonsense"})
    assert bad.status_code == 400

    url = reverse("backoffice:station-conflict", kwargs={"pk": conflict.pk})
    page = client.get(url)
    assert page.status_code == 200
    assert blocked.number in page.content.decode()
    assert client.post(url, {"note": ""}).status_code == 400
    assert client.post(url, {"note": "customer told; token held"}).status_code == 302
    conflict.refresh_from_db()
    assert conflict.status == ConflictStatus.RESOLVED
    assert conflict.resolved_by == supervisor
    assert conflict.resolution_note == "customer told; token held"
    event = AuditEvent.objects.get(event_type=StationEvent.CONFLICT_RESOLVED)
    assert event.after is not None and event.after["note"] == "customer told; token held"
    # Resolving again is refused and changes nothing.
    again = client.post(url, {"note": "twice"})
    assert again.status_code == 400
    assert AuditEvent.objects.filter(event_type=StationEvent.CONFLICT_RESOLVED).count() == 1


def test_an_auditor_reads_conflicts_but_cannot_resolve_them() -> None:
    world = build_world()
    st = offline_station(world)
    meter = world.add_meter()
    entry = st.sell(meter, "250")
    meters.block_meter(actor=world.admin, meter=meter, reason="tamper")
    receive_batch(station=st.station, body=batch([entry]))
    conflict = StationConflict.objects.get()
    auditor = factories.user(world.tree.north, Role.OPERATOR, (Capability.AUDITOR,))
    client = signed_in(auditor)
    url = reverse("backoffice:station-conflict", kwargs={"pk": conflict.pk})
    assert client.get(url).status_code == 200
    assert client.post(url, {"note": "no"}).status_code == 403
    conflict.refresh_from_db()
    assert conflict.status == ConflictStatus.OPEN


def test_a_month_totals_conflict_is_listed_under_its_kind_with_its_label_translated() -> None:
    world = build_world()
    st = offline_station(world)
    meter = world.add_meter()
    entry = st.sell(meter, "250", at=timezone.now() + timedelta(minutes=2))
    # The master sold past the second block before the station's sale (during the outage).
    vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference="online-month",
        meter_number=meter.number,
        tender=world.money("4000"),
    )
    receive_batch(station=st.station, body=batch([entry]))
    conflict = StationConflict.objects.get(kind=ConflictKind.MONTH_TOTALS_CHANGED)
    assert conflict.sale is not None
    supervisor = factories.user(world.tree.north, Role.VENDING_POINT_MANAGER)
    client = signed_in(supervisor)
    listed = client.get(reverse("backoffice:station-conflicts"), {"kind": "month_totals_changed"})
    body = listed.content.decode()
    assert listed.status_code == 200 and conflict.sale.reference in body
    assert "Month&#x27;s purchases changed meanwhile" in body
    page = client.get(reverse("backoffice:station-conflict", kwargs={"pk": conflict.pk}))
    assert page.status_code == 200 and "kwh_before" in page.content.decode()
    labels = (("ar", "تغيّرت مشتريات الشهر في الأثناء"), ("zh-hans", "本月购电量在此期间已变化"))
    for language, label in labels:
        with translation.override(language):
            assert str(ConflictKind.MONTH_TOTALS_CHANGED.label) == label
