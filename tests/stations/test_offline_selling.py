"""Selling offline on a station: each credit sale within the signed allowance journals one entry
signed by the station's key, chained to the one before, with TIDs in the station's own lane and
above every TID the meter has seen from the master or this station; every refusal leaves nothing
of the sale behind."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.template.loader import render_to_string

from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import FixedClock
from gridvend.kernel.errors import DomainError
from gridvend.ledger import selectors as ledger_selectors
from gridvend.meters.models import Meter
from gridvend.stations import protocol
from gridvend.stations.models import (
    TID_LANES,
    LocalEntry,
    LocalStation,
    Station,
    StationBatch,
    StationEntry,
    StationStatus,
)
from gridvend.stations.services import offline
from gridvend.sts.simulator import ResultCode
from gridvend.vending import services as vending
from gridvend.vending.models import Sale, SaleKind, Shift, ShiftStatus, Token
from gridvend.vending.receipt import build_receipt
from tests import factories
from tests.stations.station_world import (
    StationSetUp,
    make_station,
    split_into_lanes,
    station_mode_forgotten,
    station_world,
)
from tests.threads import run_threads
from tests.world import NOW, World, build_world

pytestmark = pytest.mark.django_db

LANE = 3


@pytest.fixture(autouse=True)
def _station_mode() -> Iterator[None]:
    with station_mode_forgotten():
        yield


@pytest.fixture
def world(db: None) -> World:
    return build_world()


@pytest.fixture
def station(world: World) -> StationSetUp:
    setup = station_world(world, lane=LANE)
    setup.give_allowance(sequence=1, ceiling_minor=500_000, around=NOW)
    return setup


def _sell(world: World, meter: Meter, amount: str, ref: str, clock: FixedClock | None = None):
    return vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference=ref,
        meter_number=meter.number,
        tender=world.money(amount),
        clock=clock or world.clock,
    )


def _journal(station: StationSetUp) -> list[protocol.ReadEntry]:
    return [
        protocol.read_entry(
            {"body": e.body, "hash": e.entry_hash, "signature": e.signature},
            public_hex=station.key.public_hex,
        )
        for e in LocalEntry.objects.order_by("seq")
    ]


def _nothing_left(before: tuple[int, int, int]) -> None:
    assert (Sale.objects.count(), Token.objects.count(), LocalEntry.objects.count()) == before


def _counts() -> tuple[int, int, int]:
    return Sale.objects.count(), Token.objects.count(), LocalEntry.objects.count()


def test_a_sale_journals_one_signed_entry_whose_data_matches_the_sale(
    world: World, station: StationSetUp
) -> None:
    meter = world.add_meter()
    result = _sell(world, meter, "750.00", "st-1")
    [entry] = _journal(station)
    sale = Sale.objects.select_related("meter", "customer", "operator", "vending_point").get()
    tokens = list(sale.tokens.order_by("sequence"))
    assert entry.kind == "sale" and entry.seq == 1 and entry.prev == protocol.GENESIS
    assert entry.station == station.station.code
    assert entry.occurred_at == sale.created_at
    assert LocalEntry.objects.get().sale_id == sale.pk
    # The data, from the row as stored, is exactly what the journal signed.
    assert entry.data == offline.sale_data(sale, tokens, allowance=1, sold_total_minor=75_000)
    assert entry.data["tender_minor"] == 75_000 == sale.tender_minor
    assert entry.data["reference"] == result.sale.reference
    assert entry.data["meter"] == meter.number
    assert entry.data["customer"] == world.customer(meter).account_number
    assert entry.data["operator"] == world.cashier.username
    assert entry.data["shift"] == sale.shift_id is not None
    assert [t["digits"] for t in entry.data["tokens"]] == [t.digits for t in tokens]
    assert Decimal(entry.data["kwh"]) == sale.kwh
    assert LocalStation.objects.get().sold_total_minor == 75_000
    # The receipt says it was sold offline, and by whom.
    receipt = build_receipt(sale)
    assert receipt.offline_station == station.station.code
    html = render_to_string("receipts/_receipt.html", {"r": receipt, "layout": "thermal"})
    assert f'Sold offline by station: <bdi dir="ltr">{station.station.code}</bdi>' in html


def test_the_journal_chains_sales_and_shifts_and_verifies(
    world: World, station: StationSetUp
) -> None:
    meters = [world.add_meter() for _ in range(3)]
    for i, meter in enumerate(meters):
        _sell(world, meter, "300.00", f"chain-{i}")
        world.clock.advance(timedelta(minutes=1))
    shift = Shift.objects.get(operator=world.cashier, status=ShiftStatus.OPEN)
    vending.close_shift(
        actor=world.cashier,
        shift=shift,
        counted={"cash": world.money("1900.00")},
        now=world.clock.now(),
    )
    reopened = vending.open_shift(
        actor=world.cashier,
        vending_point=world.point,
        opening_float=world.money("500.00"),
        now=world.clock.now(),
    )
    journal = _journal(station)
    assert [e.kind for e in journal] == ["sale", "sale", "sale", "shift_closed", "shift_opened"]
    assert [e.seq for e in journal] == [1, 2, 3, 4, 5]
    prev = protocol.GENESIS
    for entry in journal:
        assert entry.prev == prev
        prev = entry.entry_hash
    shift.refresh_from_db()
    assert shift.closed_at is not None
    assert journal[3].data == {
        "shift": shift.pk,
        "closed_at": protocol.utc_text(shift.closed_at),
        "expected": shift.expected,
        "counted": {"cash": 190_000},
        "over_short_minor": shift.over_short_minor,
        "close_note": "",
    }
    assert journal[4].data == {
        "shift": reopened.pk,
        "operator": world.cashier.username,
        "opened_at": protocol.utc_text(reopened.opened_at),
        "opening_float_minor": 50_000,
        "currency": "KES",
    }
    assert [e.data["sold_total_minor"] for e in journal[:3]] == [30_000, 60_000, 90_000]


def test_tids_stay_in_the_station_lane_above_the_master_and_the_station(
    world: World, station: StationSetUp
) -> None:
    meter = world.add_meter()
    sim = world.simulator(meter)
    base = _sell(world, meter, "200.00", "first", world.clock).tokens
    assert all(t.tid is not None and t.tid % TID_LANES == LANE for t in base)
    # Down-sync brought a newer TID of the master's for this meter (lane 0, well ahead).
    master_last = max(t.tid for t in base if t.tid is not None) + 16 * 312 + TID_LANES - LANE
    assert master_last % TID_LANES == 0
    Meter.objects.filter(pk=meter.pk).update(last_tid=master_last)
    first = [t.tid for t in _sell(world, meter, "200.00", "second").tokens]
    second = [t.tid for t in _sell(world, meter, "200.00", "third").tokens]
    assert all(t is not None and t % TID_LANES == LANE for t in first + second)
    assert min(t for t in first if t is not None) > master_last
    # The station's own sales moved the meter's last TID: the next is above them too.
    assert min(t for t in second if t is not None) > max(t for t in first if t is not None)
    assert Meter.objects.get(pk=meter.pk).last_tid == max(t for t in second if t is not None)
    for token in Token.objects.filter(meter=meter).order_by("sale__created_at", "sale_id"):
        assert sim.enter(token.digits).code == ResultCode.ACCEPTED


def test_offline_tokens_are_accepted_after_newer_master_tokens(world: World) -> None:
    meter = world.add_meter()
    sim = world.simulator(meter)
    pulled = Meter.objects.get(pk=meter.pk).last_tid
    # During the outage the master sells to the same meter, later and in lane 0 ...
    split_into_lanes(world.unit)
    master_sale = _sell(world, meter, "400.00", "master-1", FixedClock(NOW + timedelta(hours=2)))
    # ... while the station, which only knows the meter as it was before the outage, sells
    # earlier, in its own lane.
    Meter.objects.filter(pk=meter.pk).update(last_tid=pulled)
    setup = make_station(lane=LANE)
    setup.give_allowance(sequence=1, ceiling_minor=500_000, around=NOW)
    offline_sale = _sell(world, meter, "300.00", "station-1")
    assert LocalEntry.objects.get().sale_id == offline_sale.sale.pk
    master_tids = [t.tid for t in master_sale.tokens]
    offline_tids = [t.tid for t in offline_sale.tokens]
    assert all(t % TID_LANES == 0 for t in master_tids if t is not None)
    assert all(t % TID_LANES == LANE for t in offline_tids if t is not None)
    assert max(t for t in offline_tids if t is not None) < min(
        t for t in master_tids if t is not None
    )
    # The customer types the master's newer tokens first, then the station's.
    for token in master_sale.tokens + offline_sale.tokens:
        outcome = sim.enter(token.digits)
        assert outcome.code == ResultCode.ACCEPTED, (token.kind, token.tid, outcome)
    for token in offline_sale.tokens:
        assert sim.enter(token.digits).code == ResultCode.USED


def _refused(code: str, action: Callable[[], object]) -> DomainError:
    before = _counts()
    with pytest.raises(DomainError) as caught:
        action()
    assert caught.value.code == code, caught.value
    _nothing_left(before)
    return caught.value


def test_no_allowance_refuses_the_sale_and_leaves_nothing(world: World) -> None:
    station_world(world, lane=LANE)
    meter = world.add_meter()
    _refused("STATION_NO_ALLOWANCE", lambda: _sell(world, meter, "300.00", "none"))


def test_an_allowance_in_another_currency_refuses_the_sale(world: World) -> None:
    setup = station_world(world, lane=LANE)
    setup.give_allowance(sequence=1, ceiling_minor=500_000, around=NOW, currency="USD")
    meter = world.add_meter()
    _refused("STATION_NO_ALLOWANCE", lambda: _sell(world, meter, "300.00", "usd"))


def test_an_expired_allowance_refuses_the_sale(world: World, station: StationSetUp) -> None:
    meter = world.add_meter()
    late = FixedClock(NOW + timedelta(days=3))
    _refused("STATION_ALLOWANCE_EXPIRED", lambda: _sell(world, meter, "300.00", "late", late))


def test_an_exhausted_allowance_says_exactly_what_room_is_left(world: World) -> None:
    setup = station_world(world, lane=LANE)
    setup.give_allowance(sequence=1, ceiling_minor=100_000, around=NOW)
    meter = world.add_meter()
    _sell(world, meter, "600.00", "first")
    error = _refused("STATION_ALLOWANCE_EXHAUSTED", lambda: _sell(world, meter, "400.01", "two"))
    assert error.params["room_minor"] == 40_000
    assert "400" in str(error.message)
    # Exactly the room left still sells; then nothing more does.
    _sell(world, meter, "400.00", "exact")
    error = _refused("STATION_ALLOWANCE_EXHAUSTED", lambda: _sell(world, meter, "50.00", "more"))
    assert error.params["room_minor"] == 0
    # A manager's top-up (the next sequence, a higher ceiling) opens room again.
    setup.give_allowance(sequence=2, ceiling_minor=150_000, around=NOW)
    _sell(world, meter, "500.00", "topped-up")
    assert LocalStation.objects.get().sold_total_minor == 150_000
    assert [e.data["allowance"] for e in _journal(setup)] == [1, 1, 2]


@pytest.mark.parametrize("status", [StationStatus.SUSPENDED, StationStatus.REVOKED])
def test_a_suspended_or_revoked_station_sells_nothing(
    world: World, station: StationSetUp, status: str
) -> None:
    LocalStation.objects.filter(pk=1).update(status=status)
    meter = world.add_meter()
    _refused("STATION_NOT_ACTIVE", lambda: _sell(world, meter, "300.00", "stopped"))
    # No new shift opens either; the open one can still be closed and counted (journalled).
    other = factories.user(world.unit, Role.OPERATOR, (Capability.CASHIER,), username=None)
    shifts = Shift.objects.count()
    _refused(
        "STATION_NOT_ACTIVE",
        lambda: vending.open_shift(
            actor=other,
            vending_point=world.point,
            opening_float=world.money("0"),
            now=NOW,
        ),
    )
    assert Shift.objects.count() == shifts
    vending.close_shift(
        actor=world.cashier,
        shift=Shift.objects.get(operator=world.cashier, status=ShiftStatus.OPEN),
        counted={"cash": world.money("1000.00")},
        now=NOW,
    )
    assert list(LocalEntry.objects.values_list("kind", flat=True)) == ["shift_closed"]


def test_a_meter_whose_tids_are_not_in_lanes_is_not_sold_offline(world: World) -> None:
    # The station row exists but its unit was never split into lanes.
    setup = make_station(lane=LANE)
    setup.give_allowance(sequence=1, ceiling_minor=500_000, around=NOW)
    meter = world.add_meter()
    _refused("STATION_NO_TID_LANE", lambda: _sell(world, meter, "300.00", "no-lanes"))


def test_other_kinds_need_the_master(world: World, station: StationSetUp) -> None:
    meter = world.add_meter()
    sold = _sell(world, meter, "300.00", "kept").sale
    supervisor = world.supervisor
    _refused(
        "STATION_ONLINE_ONLY",
        lambda: vending.issue_free_credit(
            actor=supervisor,
            vending_point=world.point,
            client_reference="free",
            meter_number=meter.number,
            kwh=Decimal("5"),
            reason="outage",
            clock=world.clock,
        ),
    )
    _refused(
        "STATION_ONLINE_ONLY",
        lambda: vending.issue_engineering_token(
            actor=supervisor,
            vending_point=world.point,
            client_reference="eng",
            meter_number=meter.number,
            kind="clear_tamper",
            reason="tamper",
            clock=world.clock,
        ),
    )
    _refused(
        "STATION_ONLINE_ONLY",
        lambda: vending.issue_key_change_tokens(
            actor=world.cashier,
            vending_point=world.point,
            client_reference="kct",
            meter_number=meter.number,
            clock=world.clock,
        ),
    )
    _refused(
        "STATION_ONLINE_ONLY",
        lambda: vending.issue_fbe(
            actor=world.cashier,
            vending_point=world.point,
            client_reference="fbe",
            meter_number=meter.number,
            clock=world.clock,
        ),
    )
    _refused(
        "STATION_ONLINE_ONLY",
        lambda: vending.reverse_sale(actor=supervisor, sale=sold, reason="wrong meter"),
    )
    _refused(
        "STATION_ONLINE_ONLY",
        lambda: vending.request_reversal(actor=world.cashier, sale=sold, reason="wrong meter"),
    )
    _refused(
        "STATION_ONLINE_ONLY",
        lambda: vending.pay_debt(
            actor=world.cashier,
            vending_point=world.point,
            client_reference="debt",
            meter_number=meter.number,
            amount=world.money("50.00"),
            clock=world.clock,
        ),
    )
    _refused(
        "STATION_ONLINE_ONLY",
        lambda: vending.top_up_float(
            actor=supervisor,
            vending_point=world.point,
            amount=world.money("5000.00"),
            reference="bank-1",
        ),
    )
    assert Sale.objects.get(pk=sold.pk).status == "completed"
    assert Sale.objects.filter(kind=SaleKind.CREDIT).count() == 1


def test_the_master_is_untouched_by_the_hooks(world: World) -> None:
    # No LocalStation row: the master sells in lane 0 with no allowance and no journal.
    meter = world.add_meter()
    sale = _sell(world, meter, "300.00", "master").sale
    assert LocalEntry.objects.count() == 0
    assert build_receipt(sale).offline_station == ""
    assert offline.tid_lane() == 0


def test_the_master_receipt_of_an_applied_offline_sale_names_the_station(world: World) -> None:
    # On the master, the sale an applied journal entry became (stations.services.journal's
    # work, stood in for here by its rows) prints which station sold it.
    meter = world.add_meter()
    sale = _sell(world, meter, "300.00", "applied").sale
    remote = Station.objects.create(
        code="kitale-st9", name="Kitale 9", org_unit=world.unit, tid_lane=9, status="active"
    )
    batch = StationBatch.objects.create(
        station=remote,
        batch_id="kitale-st9:1-1",
        first_seq=1,
        last_seq=1,
        entry_count=1,
        body_sha256="0" * 64,
        status="applied",
    )
    StationEntry.objects.create(
        station=remote,
        seq=1,
        kind="sale",
        occurred_at=sale.created_at,
        body="{}",
        entry_hash="1" * 64,
        signature="2" * 128,
        batch=batch,
        sale=sale,
    )
    assert build_receipt(sale).offline_station == "kitale-st9"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_sales_never_fork_the_chain_or_pass_the_ceiling() -> None:
    assert connection.vendor == "postgresql"
    world = build_world()
    setup = station_world(world, lane=LANE)
    # Room for exactly ten sales of 300.00 among sixteen tills selling at once.
    setup.give_allowance(sequence=1, ceiling_minor=300_000, around=NOW)
    meters = [world.add_meter() for _ in range(8)]
    cashiers = [world.cashier] + [
        factories.user(world.unit, Role.OPERATOR, (Capability.CASHIER,), username=None)
        for _ in range(15)
    ]
    for cashier in cashiers[1:]:
        vending.open_shift(
            actor=cashier,
            vending_point=world.point,
            opening_float=world.money("0"),
            now=NOW,
        )
    offline.forget()

    def sell(i: int) -> Sale:
        return vending.vend_credit(
            actor=cashiers[i],
            vending_point=world.point,
            client_reference=f"conc-{i}",
            meter_number=meters[i % 8].number,
            tender=world.money("300.00"),
            clock=world.clock,
        ).sale

    results, errors = run_threads(16, sell)
    assert len(errors) == 6, errors
    assert {getattr(e, "code", None) for e in errors} == {"STATION_ALLOWANCE_EXHAUSTED"}
    journal = _journal(setup)
    sales = [e for e in journal if e.kind == "sale"]
    assert len(sales) == 10 == Sale.objects.count()
    assert [e.seq for e in journal] == list(range(1, len(journal) + 1))
    prev = protocol.GENESIS
    for entry in journal:
        assert entry.prev == prev
        prev = entry.entry_hash
    assert sorted(e.data["sold_total_minor"] for e in sales) == [30_000 * k for k in range(1, 11)]
    assert LocalStation.objects.get().sold_total_minor == 300_000
    assert set(LocalEntry.objects.filter(kind="sale").values_list("sale_id", flat=True)) == {
        s.pk for s in results if s is not None
    }
    assert ledger_selectors.unbalanced_entries() == []
