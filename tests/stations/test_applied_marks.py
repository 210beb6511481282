"""How far the master applied a journal travels with every ``GET changes`` page: a station
nets off its debt recoveries until the master has applied the sale (not merely until the next
hop stored it), a relay keeps what the master says of its stations only with the page that ends
a pull and tells each station below it its own; hostile values are a ``BadPage``."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from gridvend.customers import services as customers
from gridvend.customers.models import Debt
from gridvend.stations import protocol
from gridvend.stations.changes import BY_LABEL, applied_for, changes_page, encode, snapshot_page
from gridvend.stations.models import (
    LocalEntry,
    LocalStation,
    Station,
    StationRole,
    StationStatus,
)
from gridvend.stations.services.pull import BadPage, apply_page
from gridvend.vending.models import Sale
from tests.world import World, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> World:
    return build_world()


def _station(world: World, code: str, **fields: Any) -> Station:
    return Station.objects.create(
        code=code,
        name=code,
        org_unit=world.unit,
        status=StationStatus.ACTIVE,
        public_key=protocol.new_key_pair().public_hex,
        **fields,
    )


def _this_install(role: str = StationRole.STATION, **fields: Any) -> LocalStation:
    pair = protocol.new_key_pair()
    return LocalStation.objects.create(
        pk=1,
        code="this-one",
        role=role,
        master_url="http://127.0.0.1:9/",
        nonce=b"n",
        ciphertext=b"c",
        tag=b"t",
        public_key=pair.public_hex,
        master_public_key=pair.public_hex,
        upstream_public_key=pair.public_hex,
        org_unit_id_on_master=1,
        **fields,
    )


def test_the_master_tells_a_station_its_own_applied_entry_and_a_relay_its_stations(
    world: World,
) -> None:
    relay = _station(world, "bu-relay", role=StationRole.RELAY)
    lower = _station(world, "lower-relay", role=StationRole.RELAY, parent=relay)
    below = _station(world, "st-a", parent=relay, tid_lane=1, vending_point=world.point)
    deeper = _station(world, "st-b", parent=lower, tid_lane=2)
    Station.objects.filter(pk=below.pk).update(last_seq=7)
    Station.objects.filter(pk=deeper.pk).update(last_seq=3)
    below.refresh_from_db()
    page = changes_page(below, 0, 10).as_dict()
    assert page["applied_seq"] == 7 and "applied_below" not in page
    assert snapshot_page(below, None, 10).as_dict()["applied_seq"] == 7
    relay_page = changes_page(relay, 0, 10).as_dict()
    assert relay_page["applied_below"] == {"st-a": 7, "st-b": 3}
    assert "applied_seq" not in relay_page
    assert changes_page(lower, 0, 10).as_dict()["applied_below"] == {"st-b": 3}


def test_a_relay_tells_its_stations_what_the_master_said_with_its_last_finished_pull(
    world: World,
) -> None:
    relay = _station(world, "bu-relay", role=StationRole.RELAY)
    child = _station(world, "st-a", parent=relay, tid_lane=1, last_seq=9)
    other = _station(world, "st-c", parent=relay, tid_lane=3)
    _this_install(StationRole.RELAY, applied_seqs={"st-a": 4})
    # Its copy of the station's last_seq (9) may be newer than the rows it holds: not that.
    assert applied_for(child).seq == 4
    # A station the master has said nothing of yet: nothing said (the station falls back).
    assert applied_for(other).seq is None
    assert "applied_seq" not in changes_page(other, 0, 10).as_dict()


def _page(more: bool, **extra: Any) -> dict[str, Any]:
    return {"cursor_to": 5, "more": more, "snapshot": None, "changes": [], **extra}


def test_a_relay_keeps_the_applied_positions_only_with_the_page_that_ends_a_pull(
    world: World,
) -> None:
    _this_install(StationRole.RELAY, applied_seqs={"st-a": 1})
    apply_page(_page(True, applied_below={"st-a": 5}))
    assert LocalStation.objects.get(pk=1).applied_seqs == {"st-a": 1}
    apply_page(_page(False, applied_below={"st-a": 5, "st-b": 2}))
    assert LocalStation.objects.get(pk=1).applied_seqs == {"st-a": 5, "st-b": 2}


def test_a_station_keeps_the_highest_applied_position_within_its_own_journal(
    world: World,
) -> None:
    """The floor of an upload rewind (upload.rewind): never moves back, never past the newest
    entry the station holds, taken only with the page that ends a pull."""
    _this_install()
    for seq in (1, 2, 3, 4):
        LocalEntry.objects.create(
            seq=seq,
            kind="shift_opened",
            occurred_at=timezone.now(),
            body="{}",
            entry_hash=f"{seq:064x}",
            signature="0" * 128,
        )
    apply_page(_page(True, applied_seq=3))
    assert LocalStation.objects.get(pk=1).applied_seq == 0
    apply_page(_page(False, applied_seq=3))
    assert LocalStation.objects.get(pk=1).applied_seq == 3
    apply_page(_page(False, applied_seq=1))
    assert LocalStation.objects.get(pk=1).applied_seq == 3
    apply_page(_page(False, applied_seq=900))
    assert LocalStation.objects.get(pk=1).applied_seq == 4


@pytest.mark.parametrize(
    "extra",
    [
        {"applied_seq": -1},
        {"applied_seq": True},
        {"applied_seq": "3"},
        {"applied_below": []},
        {"applied_below": {"st-a": False}},
        {"applied_below": {"x" * 41: 1}},
        {"applied_below": {"st-a": -2}},
        {"applied_below": {f"s{i}": 1 for i in range(10_001)}},
    ],
)
def test_a_hostile_applied_position_is_a_bad_page_and_changes_nothing(
    world: World, extra: dict[str, Any]
) -> None:
    _this_install(StationRole.RELAY, applied_seqs={"st-a": 1})
    with pytest.raises(BadPage):
        apply_page(_page(False, **extra))
    station = LocalStation.objects.get(pk=1)
    assert station.applied_seqs == {"st-a": 1} and station.sync_cursor == 0


def _debt_and_sale(world: World) -> tuple[Debt, LocalEntry]:
    meter = world.add_meter()
    debt = customers.open_debt(
        actor=world.admin, customer=world.customer(meter), amount=world.money("80"), reason="old"
    )
    sale = Sale.objects.create(
        reference="SOFFLINE0001",
        kind="credit",
        vending_point=world.point,
        channel="offline_station",
        client_reference="offline-1",
        request_fingerprint="f" * 64,
        operator=world.cashier,
        meter=meter,
        customer=world.customer(meter),
        currency="KES",
        tender_minor=10_000,
        debt_recovered_minor=1_500,
        breakdown={"debt_allocations": [[debt.pk, 1_500]]},
        business_date=timezone.localdate(),
        business_month=timezone.localdate().strftime("%Y-%m"),
    )
    entry = LocalEntry.objects.create(
        seq=4,
        kind="sale",
        occurred_at=timezone.now(),
        body="{}",
        entry_hash="a" * 64,
        signature="00",
        sale=sale,
        batch_id="this-one:4-4",
        uploaded_at=timezone.now(),  # acknowledged by the hop above
    )
    return debt, entry


def _debt_page(debt: Debt, balance: int, **extra: Any) -> dict[str, Any]:
    spec = BY_LABEL["customers.debt"]
    fields = encode(spec, debt)
    fields["balance_minor"] = balance
    row = {"model": spec.label, "pk": debt.pk, "deleted": False, "fields": fields}
    return {"cursor_to": 5, "more": False, "snapshot": None, "changes": [row], **extra}


def test_a_station_nets_an_acknowledged_recovery_until_the_master_applied_its_entry(
    world: World,
) -> None:
    debt, _entry = _debt_and_sale(world)
    _this_install(StationRole.STATION)
    # Stored by the relay (acknowledged) but not applied by the master (it applied up to 3).
    apply_page(_debt_page(debt, 7_000, applied_seq=3))
    assert Debt.objects.get(pk=debt.pk).balance_minor == 5_500
    # Applied (entry 4): the master's balance counts the recovery; nothing more is taken off.
    apply_page(_debt_page(debt, 5_500, applied_seq=4))
    assert Debt.objects.get(pk=debt.pk).balance_minor == 5_500
    # An upstream that does not say: as before, only what is not acknowledged is netted.
    apply_page(_debt_page(debt, 6_000))
    assert Debt.objects.get(pk=debt.pk).balance_minor == 6_000
