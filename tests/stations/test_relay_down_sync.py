"""A relay's down-sync over a real socket: the master (the test database, served by the live
server) sends a relay its own station row and the stations below it with their allowances
exactly as the master signed them, and a selling station none of them; the relay (a second
SQLite database, ``station``) keeps its own change log of what it pulled, from which it answers
its stations. A station's contact adds nothing to the master's log; a suspension does, and
reaches the relay at its next pull."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from gridvend.identity.roles import Role
from gridvend.org.models import Channel
from gridvend.stations import changes, protocol
from gridvend.stations.client import MasterClient
from gridvend.stations.models import (
    LocalStation,
    Station,
    StationAllowance,
    StationRole,
    SyncChange,
)
from gridvend.stations.services import contact, enrolment, signing
from gridvend.stations.services.allowances import issue_allowance
from gridvend.stations.services.pull import pull_changes
from gridvend.stations.services.registration import register_station, suspend_station
from tests import factories
from tests.stations.conftest import STATION
from tests.world import World, build_world

# The station's half of the enrolment's key agreement (the master's side never reuses one).
EXCHANGE = enrolment.exchange_public_hex(enrolment.new_exchange_key())

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", STATION])


@pytest.fixture(scope="module", autouse=True)
def _station_db(station_database: str) -> str:
    return station_database


@dataclass
class Tree:
    world: World
    relay: Station  # north-relay, of the north business unit
    child: Station  # kitale-st1, below the relay
    sibling: Station  # north-st2, of the same service centre, straight under the master
    south: Station  # south-st1, of another region
    client: MasterClient  # the relay's signed client to the live master


def _enrolled(manager: Any, code: str, unit: Any, **kwargs: Any) -> Station:
    """A station registered and enrolled through the real services (a fresh key)."""
    row, enrol_code = register_station(actor=manager, code=code, name=code, org_unit=unit, **kwargs)
    enrolment.enrol_station(
        code=code,
        enrol_code=enrol_code,
        public_key=protocol.new_key_pair().public_hex,
        app_version="t",
        exchange_key=EXCHANGE,
    )
    row.refresh_from_db()
    return row


@pytest.fixture
def tree(live_server: Any) -> Tree:
    signing.forget()
    world = build_world()
    north = factories.user(world.tree.north, Role.VENDING_POINT_MANAGER)
    south = factories.user(world.tree.south, Role.VENDING_POINT_MANAGER)
    relay_key = protocol.new_key_pair()
    row, enrol_code = register_station(
        actor=north, code="north-relay", name="Relay", org_unit=world.tree.north_bu, role="relay"
    )
    enrolment.enrol_station(
        code=row.code,
        enrol_code=enrol_code,
        public_key=relay_key.public_hex,
        app_version="t",
        exchange_key=EXCHANGE,
    )
    relay = Station.objects.get(pk=row.pk)

    def point(unit: Any) -> Any:
        return factories.vending_point(unit, channel=Channel.OFFLINE_STATION)

    child = _enrolled(
        north,
        "kitale-st1",
        world.tree.north_sc,
        vending_point=point(world.tree.north_sc),
        parent=relay,
    )
    sibling = _enrolled(
        north, "north-st2", world.tree.north_sc, vending_point=point(world.tree.north_sc)
    )
    far = _enrolled(
        south, "south-st1", world.tree.south_sc, vending_point=point(world.tree.south_sc)
    )
    until = timezone.now() + timedelta(days=7)
    issue_allowance(actor=north, station=child, ceiling=300_000, valid_until=until)
    issue_allowance(actor=north, station=sibling, ceiling=200_000, valid_until=until)
    issue_allowance(actor=south, station=far, ceiling=100_000, valid_until=until)
    master = signing.signing_key().public_hex
    LocalStation.objects.using(STATION).create(
        pk=1,
        code="north-relay",
        role=StationRole.RELAY,
        master_url=live_server.url,
        nonce=b"n",
        ciphertext=b"c",
        tag=b"t",
        public_key=relay_key.public_hex,
        master_public_key=master,
        upstream_public_key=master,
        org_unit_id_on_master=world.tree.north_bu.pk,
    )
    client = MasterClient(
        base_url=live_server.url,
        station="north-relay",
        seed=relay_key.seed,
        master_public_hex=master,
        timeout=20,
    )
    return Tree(world, relay, child, sibling, far, client)


def _snapshot(station: Station) -> list[dict[str, Any]]:
    """Every row of a first pull of ``station``, page after page."""
    rows: list[dict[str, Any]] = []
    position = None
    while True:
        page = changes.snapshot_page(station, position, changes.MAX_LIMIT)
        rows += page.changes
        if page.snapshot is None:
            return rows
        position = changes.SnapshotPosition.parse(page.snapshot)


def _labels(rows: list[dict[str, Any]]) -> set[str]:
    return {row["model"] for row in rows}


def test_a_relay_pulls_its_row_its_stations_and_their_allowances_as_signed(tree: Tree) -> None:
    pull_changes(tree.client, using=STATION)
    held = Station.objects.using(STATION)
    assert sorted(held.values_list("code", flat=True)) == ["kitale-st1", "north-relay"]
    copy = held.get(code="kitale-st1")
    assert copy.parent_id == tree.relay.pk and copy.public_key == tree.child.public_key
    assert copy.status == "active" and copy.tid_lane == tree.child.tid_lane
    # The allowance exactly as the master signed it (the station checks it with the master's
    # key), without the manager who issued it.
    mine = StationAllowance.objects.get(station=tree.child)
    kept = StationAllowance.objects.using(STATION).get()
    assert (kept.payload, kept.signature, kept.issued_by_id) == (mine.payload, mine.signature, None)
    wire = {"payload": kept.payload, "signature": kept.signature}
    read = protocol.read_allowance(
        wire, master_public_hex=signing.signing_key().public_hex, station="kitale-st1"
    )
    assert read.ceiling_minor == 300_000
    # The relay keeps a change log of what it wrote (a station empties its own): it answers its
    # stations from it.
    logged = set(SyncChange.objects.using(STATION).values_list("model", flat=True))
    assert {"stations.station", "stations.stationallowance", "org.orgunit"} <= logged


def test_a_selling_station_is_sent_no_station_rows(tree: Tree) -> None:
    assert (
        _labels(_snapshot(tree.child)) & {"stations.station", "stations.stationallowance"} == set()
    )
    relay_rows = _snapshot(tree.relay)
    assert {
        (row["model"], row["pk"]) for row in relay_rows if row["model"].startswith("stations.")
    } == {
        ("stations.station", tree.relay.pk),
        ("stations.station", tree.child.pk),
        ("stations.stationallowance", StationAllowance.objects.get(station=tree.child).pk),
    }


def test_a_contact_logs_nothing_and_a_suspension_reaches_the_relay(tree: Tree) -> None:
    pull_changes(tree.client, using=STATION)
    before = SyncChange.objects.count()
    contact.note_contact(tree.child, unsynced_since=timezone.now())
    assert SyncChange.objects.count() == before
    cursor = LocalStation.objects.using(STATION).get().sync_cursor
    manager = factories.user(tree.world.tree.north, Role.VENDING_POINT_MANAGER)
    suspend_station(actor=manager, station=tree.child, reason="audit visit")
    assert SyncChange.objects.filter(model="stations.station", object_id=tree.child.pk).exists()
    # A selling station is not told (not even as a deletion); the relay is.
    sent = changes.changes_page(tree.sibling, cursor, changes.MAX_LIMIT).changes
    assert not [row for row in sent if row["model"].startswith("stations.")]
    pull_changes(tree.client, using=STATION)
    copy = Station.objects.using(STATION).get(code="kitale-st1")
    assert (copy.status, copy.status_reason) == ("suspended", "audit visit")


def test_a_relay_holds_its_customers_month_rows_and_passes_them_down(tree: Tree) -> None:
    from decimal import Decimal

    from gridvend.vending import services as vending
    from gridvend.vending.models import CustomerMonth, Sale
    from tests.stations.conftest import installed_on

    world = tree.world
    meter = world.add_meter()
    customer = world.customer(meter)

    def sell(reference: str) -> Sale:
        result = vending.vend_credit(
            actor=world.cashier,
            vending_point=world.point,
            client_reference=reference,
            meter_number=meter.number,
            kwh=Decimal("40"),
        )
        return Sale.objects.get(pk=result.sale.pk)

    first = sell("relay-month-1")
    pull_changes(tree.client, using=STATION)
    held = CustomerMonth.objects.using(STATION).get(pk=customer.pk)
    assert held.priced_kwh == first.priced_kwh and held.fbe_kwh == first.fbe_kwh == 50
    # The relay's log names the row it wrote, so it answers its stations from its own table.
    cursor = LocalStation.objects.using(STATION).get().sync_cursor
    assert (
        SyncChange.objects.using(STATION)
        .filter(model="vending.customermonth", object_id=customer.pk)
        .exists()
    )
    with installed_on(STATION):
        child = Station.objects.select_related("org_unit").get(code="kitale-st1")
        sent = [r for r in _snapshot(child) if r["model"] == "vending.customermonth"]
    assert sent == [
        {
            "model": "vending.customermonth",
            "pk": customer.pk,
            "deleted": False,
            "fields": changes.encode(changes.BY_LABEL["vending.customermonth"], held),
        }
    ]
    relay_mark = int(
        SyncChange.objects.using(STATION).order_by("-id").values_list("id", flat=True)[0]
    )

    second = sell("relay-month-2")
    pull_changes(tree.client, using=STATION)
    assert LocalStation.objects.using(STATION).get().sync_cursor > cursor
    with installed_on(STATION):
        child = Station.objects.select_related("org_unit").get(code="kitale-st1")
        page = changes.changes_page(child, relay_mark, changes.MAX_LIMIT)
    rows = [r for r in page.changes if r["model"] == "vending.customermonth"]
    assert [(r["pk"], r["fields"]["priced_kwh"]) for r in rows] == [
        (customer.pk, str(first.priced_kwh + second.priced_kwh))
    ]
