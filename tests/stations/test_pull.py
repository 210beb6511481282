"""Down-sync end to end over a real socket: the master is the test database served by the live
server, the station a second SQLite database (``station``, see conftest). After every pull the
station's synced tables hold exactly the rows of its unit as the master has them now; paging,
a pull cut between pages, and changes made while a snapshot is paged all converge."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError
from django.utils import timezone

from gridvend.customers import services as customers
from gridvend.customers.models import Debt
from gridvend.meters import services as meters
from gridvend.meters.models import Meter
from gridvend.org.models import OrgUnit, VendingPoint
from gridvend.stations import protocol
from gridvend.stations.changes import SYNCED, Scope, encode, rows_in_scope
from gridvend.stations.client import LinkDown, MasterClient
from gridvend.stations.models import LocalEntry, LocalStation, Station, StationStatus
from gridvend.stations.services import signing
from gridvend.stations.services.pull import pull_changes
from gridvend.vending import services as vending
from gridvend.vending.models import Sale, Shift
from tests.world import World, build_world

STATION = "station"
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", STATION])


@pytest.fixture(scope="module", autouse=True)
def _station_db(station_database: str) -> str:
    return station_database


@pytest.fixture
def world(live_server: Any) -> World:
    signing.forget()
    return build_world()


def _enrol(world: World, url: str, code: str = "north-st1") -> MasterClient:
    """The smallest honest enrolment: the master's row with the station's public key, and the
    station's own row (the real one is ``gridvend station init``)."""
    pair = protocol.new_key_pair()
    Station.objects.create(
        code=code,
        name="North station",
        org_unit=world.unit,
        vending_point=world.point,
        tid_lane=1,
        status=StationStatus.ACTIVE,
        public_key=pair.public_hex,
    )
    master = signing.signing_key().public_hex
    LocalStation.objects.using(STATION).create(
        pk=1,
        code=code,
        master_url=url,
        nonce=b"n",
        ciphertext=b"c",
        tag=b"t",
        public_key=pair.public_hex,
        master_public_key=master,
        upstream_public_key=master,
        org_unit_id_on_master=world.unit.pk,
        vending_point_id_on_master=world.point.pk,
        tid_lane=1,
    )
    return MasterClient(
        base_url=url, station=code, seed=pair.seed, master_public_hex=master, timeout=20
    )


def _master_rows(code: str = "north-st1") -> dict[str, dict[int, dict[str, Any]]]:
    scope = Scope.of(Station.objects.select_related("org_unit").get(code=code))
    return {
        s.label: {pk: encode(s, r) for pk, r in rows_in_scope(s, scope, master=True).items()}
        for s in SYNCED
    }


def _station_rows() -> dict[str, dict[int, dict[str, Any]]]:
    return {
        s.label: {r.pk: encode(s, r) for r in s.model._default_manager.using(STATION).all()}
        for s in SYNCED
    }


def _assert_converged(code: str = "north-st1") -> None:
    master, station = _master_rows(code), _station_rows()
    for label in master:
        assert station[label].keys() == master[label].keys(), label
        for pk, fields in master[label].items():
            differing = {
                k: (v, station[label][pk][k])
                for k, v in fields.items()
                if station[label][pk][k] != v
            }
            assert not differing, (label, pk, differing)


def test_a_first_pull_holds_the_stations_unit_and_nothing_of_another(
    world: World, live_server: Any
) -> None:
    north = world.add_meter()
    south = world.add_meter(unit=world.tree.south_sc)
    customers.open_debt(
        actor=world.admin, customer=world.customer(north), amount=world.money("50"), reason="old"
    )
    client = _enrol(world, live_server.url)

    result = pull_changes(client, using=STATION, limit=7)

    assert result.finished and result.pages > 3  # paged
    _assert_converged()
    held = _station_rows()
    assert north.pk in held["meters.meter"]
    assert south.pk not in held["meters.meter"]
    assert world.customer(south).pk not in held["customers.customer"]
    assert world.tree.south_sc.pk not in held["org.orgunit"]
    # The station's ancestors come with it (its tree up to the data centre), and the
    # root's tariff with its published version.
    assert world.tree.root.pk in held["org.orgunit"]
    assert world.tariff.pk in held["tariffs.tariff"]
    assert held["tariffs.tariffversion"]
    # The people who sell there, with the hash they sign in with.
    world.cashier.refresh_from_db()
    assert held["identity.user"][world.cashier.pk]["password"] == world.cashier.password != ""
    local = LocalStation.objects.using(STATION).get()
    assert local.sync_cursor == result.cursor > 0 and local.sync_snapshot == ""
    assert local.last_sync_at is not None


def test_changes_after_the_snapshot_arrive_with_deletions_and_bulk_updates(
    world: World, live_server: Any
) -> None:
    meter = world.add_meter()
    customer = world.customer(meter)
    debt = customers.open_debt(
        actor=world.admin, customer=customer, amount=world.money("80"), reason="arrears"
    )
    client = _enrol(world, live_server.url)
    pull_changes(client, using=STATION)

    customers.update_customer(actor=world.admin, customer=customer, name="Renamed Person")
    meters.block_meter(actor=world.admin, meter=meter, reason="tamper seen")
    meters.unblock_meter(actor=world.admin, meter=meter, reason="inspected")
    # A sale pays the debt down with a bulk UPDATE (no signal): the log's trigger sees it.
    vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference="sync-1",
        meter_number=meter.number,
        tender=world.money("300"),
    )
    Debt.objects.filter(pk=debt.pk).update(reason="bulk edited")
    premise = customers.create_premise(actor=world.admin, org_unit=world.unit, address="9 Gone St")
    pull_changes(client, using=STATION)
    assert Meter.objects.using(STATION).filter(pk=meter.pk).exists()
    premise.delete()
    # A vending point that leaves the unit is gone from the station.
    VendingPoint.objects.filter(pk=world.point.pk).update(org_unit=world.tree.south_sc)

    result = pull_changes(client, using=STATION)

    assert result.deleted >= 2
    _assert_converged()
    held = Debt.objects.using(STATION).get(pk=debt.pk)
    assert held.balance_minor == Debt.objects.get(pk=debt.pk).balance_minor < 8000
    assert held.reason == "bulk edited"


def test_a_row_the_stations_own_rows_refer_to_is_kept_when_the_master_drops_it(
    world: World, live_server: Any
) -> None:
    client = _enrol(world, live_server.url)
    pull_changes(client, using=STATION)
    Shift.objects.using(STATION).create(
        vending_point_id=world.point.pk, operator_id=world.cashier.pk, currency="KES"
    )
    VendingPoint.objects.filter(pk=world.point.pk).update(org_unit=world.tree.south_sc)

    result = pull_changes(client, using=STATION)

    assert result.kept == 1
    assert VendingPoint.objects.using(STATION).filter(pk=world.point.pk).exists()


def test_the_station_keeps_its_own_higher_last_tid(world: World, live_server: Any) -> None:
    meter = world.add_meter()
    client = _enrol(world, live_server.url)
    pull_changes(client, using=STATION)
    Meter.objects.using(STATION).filter(pk=meter.pk).update(last_tid=9_000_001)
    meters.block_meter(actor=world.admin, meter=meter, reason="check")

    pull_changes(client, using=STATION)

    held = Meter.objects.using(STATION).get(pk=meter.pk)
    assert (held.status, held.last_tid) == ("blocked", 9_000_001)


class _CutAfter(MasterClient):
    """The real client, whose link goes down after ``pages`` answers (a pull cut midway)."""

    pages = 0

    def get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        if self.pages <= 0:
            raise LinkDown("cut")
        self.pages -= 1
        return super().get(path, params)


def test_a_pull_cut_between_pages_resumes_where_it_stopped(world: World, live_server: Any) -> None:
    for _ in range(3):
        world.add_meter()
    client = _enrol(world, live_server.url)
    cut = _CutAfter(client.base_url, client.station, client.seed, client.master_public_hex)
    cut.pages = 2

    with pytest.raises(LinkDown):
        pull_changes(cut, using=STATION, limit=5)

    local = LocalStation.objects.using(STATION).get()
    # Two pages committed with the snapshot's place; the data is not yet of any age.
    assert local.sync_cursor == 0 and local.sync_snapshot and local.last_sync_at is None
    assert 0 < sum(len(rows) for rows in _station_rows().values()) <= 10

    result = pull_changes(client, using=STATION, limit=5)

    assert result.finished
    _assert_converged()


def test_a_row_changed_while_the_snapshot_is_paged_is_not_missed(
    world: World, live_server: Any
) -> None:
    client = _enrol(world, live_server.url)
    cut = _CutAfter(client.base_url, client.station, client.seed, client.master_public_hex)
    cut.pages = 2
    with pytest.raises(LinkDown):
        pull_changes(cut, using=STATION, limit=2)
    # The org units are behind the snapshot's place now: change one.
    OrgUnit.objects.filter(pk=world.tree.root.pk).update(name="Renamed Utility")
    customers.create_customer(
        actor=world.admin,
        name="Late Comer",
        org_unit=world.unit,
        tariff=world.tariff,
        category="residential",
    )

    pull_changes(client, using=STATION, limit=2)

    _assert_converged()
    assert OrgUnit.objects.using(STATION).get(pk=world.tree.root.pk).name == "Renamed Utility"


def test_pages_are_applied_in_one_transaction_each(world: World, live_server: Any) -> None:
    """A page that cannot be applied (a row whose parent the station has not got) leaves the
    station exactly as it was, cursor included."""
    from gridvend.stations.services.pull import apply_page

    client = _enrol(world, live_server.url)
    pull_changes(client, using=STATION)
    before = (_station_rows(), LocalStation.objects.using(STATION).get().sync_cursor)
    page = {
        "cursor_to": before[1] + 50,
        "more": False,
        "snapshot": None,
        "changes": [
            {
                "model": "customers.premise",
                "pk": 999_999,
                "deleted": False,
                "fields": {
                    "org_unit_id": 999_999,
                    "address": "Nowhere",
                    "latitude": None,
                    "longitude": None,
                    "feeder": "",
                    "transformer": "",
                    "created_at": timezone.now().isoformat(),
                },
            }
        ],
    }
    with pytest.raises(IntegrityError):
        apply_page(page, using=STATION)
    assert (_station_rows(), LocalStation.objects.using(STATION).get().sync_cursor) == before


def test_a_debts_balance_nets_off_what_the_stations_unuploaded_sales_recovered(
    world: World, live_server: Any
) -> None:
    meter = world.add_meter()
    debt = customers.open_debt(
        actor=world.admin, customer=world.customer(meter), amount=world.money("80"), reason="old"
    )
    client = _enrol(world, live_server.url)
    pull_changes(client, using=STATION)
    # The station sold offline and took 15.00 from the debt; the master has not seen it yet.
    sale = Sale.objects.using(STATION).create(
        reference="SOFFLINE0001",
        kind="credit",
        vending_point_id=world.point.pk,
        channel="offline_station",
        client_reference="offline-1",
        request_fingerprint="f" * 64,
        operator_id=world.cashier.pk,
        meter_id=meter.pk,
        customer_id=world.customer(meter).pk,
        currency="KES",
        tender_minor=10_000,
        debt_recovered_minor=1_500,
        breakdown={"debt_allocations": [[debt.pk, 1_500]]},
        business_date=timezone.localdate(),
        business_month=timezone.localdate().strftime("%Y-%m"),
    )
    entry = LocalEntry.objects.using(STATION).create(
        seq=1,
        kind="sale",
        occurred_at=timezone.now(),
        body="{}",
        entry_hash="a" * 64,
        signature="00",
        sale=sale,
    )
    Debt.objects.filter(pk=debt.pk).update(reason="still owed")

    pull_changes(client, using=STATION)
    assert Debt.objects.using(STATION).get(pk=debt.pk).balance_minor == 8_000 - 1_500

    # Uploaded and applied on the master: its balance now includes the recovery, and its
    # journal position says so (both in the apply's one transaction).
    LocalEntry.objects.using(STATION).filter(pk=entry.pk).update(uploaded_at=timezone.now())
    Debt.objects.filter(pk=debt.pk).update(balance_minor=8_000 - 1_500)
    Station.objects.filter(code="north-st1").update(last_seq=1)
    pull_changes(client, using=STATION)
    assert Debt.objects.using(STATION).get(pk=debt.pk).balance_minor == 8_000 - 1_500
