"""The station at a glance: the age of its data and the allowance left, on the cashier screen
(amber when the data is old, red without a valid allowance) and for ``gridvend station
status``; nothing of it on the master."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from gridvend.stations import protocol
from gridvend.stations.models import LocalAllowance, LocalEntry, LocalStation
from gridvend.stations.selectors import station_overview
from tests.signin import signed_in
from tests.world import World, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db: None) -> World:
    return build_world()


def _make_station(*, synced_hours_ago: float | None) -> LocalStation:
    pair = protocol.new_key_pair()
    now = timezone.now()
    return LocalStation.objects.create(
        pk=1,
        code="north-st1",
        master_url="http://127.0.0.1:9/",
        nonce=b"n",
        ciphertext=b"c",
        tag=b"t",
        public_key=pair.public_hex,
        master_public_key=pair.public_hex,
        upstream_public_key=pair.public_hex,
        org_unit_id_on_master=1,
        last_sync_at=None if synced_hours_ago is None else now - timedelta(hours=synced_hours_ago),
    )


def _allowance(ceiling: int) -> None:
    now = timezone.now()
    LocalAllowance.objects.create(
        sequence=1,
        ceiling_minor=ceiling,
        currency="KES",
        valid_from=now - timedelta(hours=1),
        valid_until=now + timedelta(days=2),
        payload="{}",
        signature="00",
    )


def _sale_entry(seq: int, sold_total: int) -> None:
    body = json.dumps({"seq": seq, "kind": "sale", "data": {"sold_total_minor": sold_total}})
    LocalEntry.objects.create(
        seq=seq,
        kind="sale",
        occurred_at=timezone.now(),
        body=body,
        entry_hash=f"{seq:064x}",
        signature="00",
    )


def test_the_master_has_no_station_overview_and_no_banner(world: World) -> None:
    assert station_overview() == {"is_station": False}
    page = signed_in(world.cashier).get(reverse("cashier:home"))
    assert page.status_code == 200
    assert b'id="station-banner"' not in page.content


def test_the_allowance_left_is_the_ceiling_less_the_last_sale_entrys_total(
    world: World,
) -> None:
    _make_station(synced_hours_ago=1)
    _allowance(500_000)
    _sale_entry(1, 120_000)
    _sale_entry(2, 175_000)
    overview = station_overview()
    assert overview["allowance"]["left_minor"] == 325_000
    assert overview["sold_total_minor"] == 175_000
    assert overview["unuploaded_entries"] == 2
    assert 3500 <= overview["data_age_seconds"] <= 3700
    assert overview["data_is_stale"] is False
    page = signed_in(world.cashier).get(reverse("cashier:home"))
    assert b'id="station-banner"' in page.content and b"alert-secondary" in page.content
    assert b"3,250.00" in page.content


def test_old_data_turns_the_banner_amber_and_no_allowance_red(world: World) -> None:
    _make_station(synced_hours_ago=30)
    _allowance(100_000)
    page = signed_in(world.cashier).get(reverse("cashier:home"))
    assert b'data-stale="true"' in page.content and b"alert-warning" in page.content
    LocalAllowance.objects.all().delete()
    page = signed_in(world.cashier).get(reverse("cashier:home"))
    assert b"alert-danger" in page.content
    assert station_overview()["allowance"] is None


def test_a_station_that_never_pulled_says_so(world: World) -> None:
    _make_station(synced_hours_ago=None)
    overview = station_overview()
    assert overview["data_age_seconds"] is None and overview["data_is_stale"] is True
    page = signed_in(world.cashier).get(reverse("cashier:home"))
    assert b"not received the master" in page.content
