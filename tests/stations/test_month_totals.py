"""Month totals on an offline station, over the real pull (docs/stations.md, "Month totals"):
the master computes each customer's month row from its sales when it serves it, the station
stores it less its own sales the master had applied, and a sale's reads on the station add it
to the station's own sales. So what the master sold before an outage prices the station's sale
in the right block, with no second FBE token and no second fixed charge; a new month starts
from zero; a sale is never counted twice; a reversal on the master drops out.

The station's pricing is the real one (``vending.trial_vend``: the sale's own read and pricing),
run against the station's database as a station process runs it: with the station's database
as its default (``installed_on``)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from gridvend.kernel.clock import FixedClock
from gridvend.kernel.pricing import Breakdown
from gridvend.meters.models import Meter
from gridvend.stations import changes
from gridvend.stations.models import LocalEntry, Station
from gridvend.stations.services.pull import pull_changes
from gridvend.vending import services as vending
from gridvend.vending.models import CustomerMonth, Sale
from tests.stations.conftest import installed_on
from tests.stations.test_pull import STATION, _assert_converged, _enrol
from tests.world import World, build_world

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", STATION])

TOP_RATE = Decimal("24.00")  # residential_spec: 0-50 at 12.00, 50-150 at 18.50, above at 24.00


@pytest.fixture(scope="module", autouse=True)
def _station_db(station_database: str) -> str:
    return station_database


@pytest.fixture
def world(live_server: Any) -> World:
    from gridvend.stations.services import signing

    signing.forget()
    return build_world()


def _station_quote(world: World, meter: Meter, major: str, clock: Any = None) -> Breakdown:
    with installed_on(STATION):
        quote = vending.trial_vend(
            actor=world.cashier, meter_number=meter.number, tender=world.money(major), clock=clock
        )
    return quote.breakdown


def _master_sale(world: World, meter: Meter, reference: str, kwh: str) -> Sale:
    result = vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference=reference,
        meter_number=meter.number,
        kwh=Decimal(kwh),
    )
    return Sale.objects.get(pk=result.sale.pk)


def _offline_sale(world: World, meter: Meter, seq: int, priced_kwh: str) -> Sale:
    """A sale the station made offline, with its journal entry (as the debt test makes one)."""
    today = timezone.localdate()
    sale = Sale.objects.using(STATION).create(
        reference=f"SOFFLINE{seq:04d}",
        kind="credit",
        vending_point_id=world.point.pk,
        channel="offline_station",
        client_reference=f"offline-{seq}",
        request_fingerprint="f" * 64,
        operator_id=world.cashier.pk,
        meter_id=meter.pk,
        customer_id=world.customer(meter).pk,
        currency="KES",
        tender_minor=50_000,
        priced_kwh=Decimal(priced_kwh),
        business_date=today,
        business_month=today.strftime("%Y-%m"),
    )
    LocalEntry.objects.using(STATION).create(
        seq=seq,
        kind="sale",
        occurred_at=timezone.now(),
        body="{}",
        entry_hash=f"{seq:064x}",
        signature="00",
        sale=sale,
    )
    return sale


def test_150_kwh_bought_on_the_master_before_the_outage_prices_the_stations_sale_above_them(
    world: World, live_server: Any
) -> None:
    meter = world.add_meter()
    bought = _master_sale(world, meter, "before-outage", "151")
    assert bought.priced_kwh >= 150 and bought.fbe_kwh == 50 and bought.fixed_charges_minor > 0
    client = _enrol(world, live_server.url)

    pull_changes(client, using=STATION)

    _assert_converged()
    row = CustomerMonth.objects.using(STATION).get(pk=world.customer(meter).pk)
    assert (row.month, row.priced_kwh, row.fbe_kwh) == (
        bought.business_month,
        bought.priced_kwh,
        Decimal("50.0"),
    )
    assert row.fixed_charges_paid_through == bought.fixed_charges_paid_through
    breakdown = _station_quote(world, meter, "240")
    # Every kWh in the top block at its rate, no second FBE token, no second service charge.
    assert breakdown.month_to_date_kwh_before == bought.priced_kwh
    assert [(b.index, b.rate) for b in breakdown.blocks] == [(2, TOP_RATE)]
    assert breakdown.blocks[0].kwh == breakdown.priced_kwh > 0
    assert breakdown.fbe_kwh == 0
    assert breakdown.fixed_charges == ()
    # The master, its table empty, prices the same sale the same way from its own sales.
    assert not CustomerMonth.objects.exists()
    on_master = vending.trial_vend(
        actor=world.cashier, meter_number=meter.number, tender=world.money("240")
    ).breakdown
    assert on_master.blocks == breakdown.blocks and on_master.kwh == breakdown.kwh


def test_a_customer_who_bought_nothing_on_the_master_starts_at_the_first_block(
    world: World, live_server: Any
) -> None:
    bought = world.add_meter()
    _master_sale(world, bought, "other-customer", "150")
    meter = world.add_meter()
    client = _enrol(world, live_server.url)
    pull_changes(client, using=STATION)

    assert not CustomerMonth.objects.using(STATION).filter(pk=world.customer(meter).pk).exists()
    breakdown = _station_quote(world, meter, "240")
    assert breakdown.month_to_date_kwh_before == 0
    assert breakdown.blocks[0].index == 0 and breakdown.fbe_kwh == 50


def test_a_new_month_starts_from_zero(world: World, live_server: Any) -> None:
    meter = world.add_meter()
    bought = _master_sale(world, meter, "last-month", "150")
    client = _enrol(world, live_server.url)
    pull_changes(client, using=STATION)

    next_month = timezone.now().replace(day=1) + timedelta(days=40)
    breakdown = _station_quote(world, meter, "240", clock=FixedClock(next_month))

    assert breakdown.month_to_date_kwh_before == 0
    assert breakdown.blocks[0].index == 0
    assert breakdown.fbe_kwh == 50  # this month's FBE: the row is of last month
    # The month's service charge is due again: paid through a day of last month.
    assert breakdown.fixed_charges and bought.fixed_charges_paid_through is not None


def test_a_sale_applied_between_two_pulls_is_counted_once(world: World, live_server: Any) -> None:
    meter = world.add_meter()
    customer = world.customer(meter)
    bought = _master_sale(world, meter, "before-outage", "60")
    client = _enrol(world, live_server.url)
    pull_changes(client, using=STATION)
    # Offline: the station sells 20 kWh more; its reads count both.
    _offline_sale(world, meter, 1, "20")
    assert _station_quote(world, meter, "100").month_to_date_kwh_before == bought.priced_kwh + 20

    # The master has not applied it yet: a pull changes nothing.
    _master_sale(world, world.add_meter(), "someone-else", "10")
    pull_changes(client, using=STATION)
    assert _station_quote(world, meter, "100").month_to_date_kwh_before == bought.priced_kwh + 20

    # Uploaded and applied on the master (its copy of the sale, and its journal position, in
    # one transaction): the master's row now counts it, and the station takes it off.
    applied = Sale.objects.using(STATION).get(reference="SOFFLINE0001")
    Sale.objects.create(
        **{
            f.attname: getattr(applied, f.attname)
            for f in Sale._meta.concrete_fields
            if f.attname not in ("id", "shift_id", "journal_entry_id")
        }
    )
    Station.objects.filter(code="north-st1").update(last_seq=1)
    served = changes.month_rows([customer.pk])[customer.pk]
    assert served.priced_kwh == bought.priced_kwh + 20

    pull_changes(client, using=STATION)

    held = CustomerMonth.objects.using(STATION).get(pk=customer.pk)
    assert held.priced_kwh == bought.priced_kwh
    assert _station_quote(world, meter, "100").month_to_date_kwh_before == bought.priced_kwh + 20


def test_a_sale_reversed_on_the_master_drops_out_but_its_fbe_stays_given(
    world: World, live_server: Any
) -> None:
    meter = world.add_meter()
    bought = _master_sale(world, meter, "to-reverse", "151")
    client = _enrol(world, live_server.url)
    pull_changes(client, using=STATION)
    assert _station_quote(world, meter, "240").blocks[0].index == 2

    vending.reverse_sale(actor=world.supervisor, sale=bought, reason="paid for the wrong meter")
    pull_changes(client, using=STATION)

    _assert_converged()
    breakdown = _station_quote(world, meter, "240")
    assert breakdown.month_to_date_kwh_before == 0 and breakdown.blocks[0].index == 0
    # The FBE token cannot be taken back from the meter: the master counts it, so does the
    # station. The reversed sale paid no service charge any more: it is due.
    assert breakdown.fbe_kwh == 0 and breakdown.fixed_charges


def test_a_row_whose_customer_has_nothing_left_to_count_is_deleted(
    world: World, live_server: Any
) -> None:
    """A reversal that leaves nothing to count (a commercial customer: no FBE) sends the row
    as deleted, and the station drops it."""
    meter = world.add_meter(category="commercial")
    customer = world.customer(meter)
    bought = _master_sale(world, meter, "only-sale", "60")
    assert bought.fbe_kwh == 0
    client = _enrol(world, live_server.url)
    pull_changes(client, using=STATION)
    assert CustomerMonth.objects.using(STATION).filter(pk=customer.pk).exists()

    vending.reverse_sale(actor=world.supervisor, sale=bought, reason="paid for the wrong meter")
    result = pull_changes(client, using=STATION)

    assert result.deleted >= 1
    assert not CustomerMonth.objects.using(STATION).filter(pk=customer.pk).exists()
    _assert_converged()


def test_a_customer_moved_into_the_unit_arrives_with_its_month(
    world: World, live_server: Any
) -> None:
    from gridvend.customers.models import Customer
    from gridvend.identity.roles import Capability, Role
    from gridvend.org import services as org
    from gridvend.vending.shifts import open_shift
    from tests import factories

    south = world.tree.south_sc
    point = org.create_vending_point(
        actor=world.admin, org_unit=south, name="South Pay Office", channel="pay_office"
    )
    cashier = factories.user(south, Role.OPERATOR, (Capability.CASHIER,))
    open_shift(actor=cashier, vending_point=point, opening_float=world.money("0"))
    meter = world.add_meter(unit=south)
    customer = world.customer(meter)
    vending.vend_credit(
        actor=cashier,
        vending_point=point,
        client_reference="in-the-south",
        meter_number=meter.number,
        kwh=Decimal("151"),
    )
    bought = Sale.objects.get(client_reference="in-the-south")
    client = _enrol(world, live_server.url)
    pull_changes(client, using=STATION)
    assert not CustomerMonth.objects.using(STATION).filter(pk=customer.pk).exists()

    # A move logs the customer, not its sales: the month row travels with the customer.
    Customer.objects.filter(pk=customer.pk).update(org_unit=world.unit)
    pull_changes(client, using=STATION)

    held = CustomerMonth.objects.using(STATION).get(pk=customer.pk)
    assert held.priced_kwh == bought.priced_kwh
    _assert_converged()


def test_a_station_sale_applied_after_its_pages_applied_seq_is_left_out_of_its_row(
    world: World, live_server: Any
) -> None:
    """The master reads how far it applied the station's journal before it computes the row: a
    sale of that station applied in between is left out of the row (the station, told it was
    not applied yet, counts it itself), so it is not counted twice."""
    from gridvend.stations.models import BatchStatus, StationBatch, StationEntry

    meter = world.add_meter()
    customer = world.customer(meter)
    client = _enrol(world, live_server.url)
    pull_changes(client, using=STATION)
    sold = _offline_sale(world, meter, 1, "20")
    # Applied on the master (its copy of the sale and the entry it came from), but the page
    # reads the station's last applied seq as 0, as if read just before that apply committed.
    station = Station.objects.get(code="north-st1")
    copy = Sale.objects.create(
        **{
            f.attname: getattr(sold, f.attname)
            for f in Sale._meta.concrete_fields
            if f.attname not in ("id", "shift_id", "journal_entry_id")
        }
    )
    batch = StationBatch.objects.create(
        station=station,
        batch_id="b1",
        first_seq=1,
        last_seq=1,
        entry_count=1,
        body_sha256="0" * 64,
        status=BatchStatus.APPLIED,
    )
    StationEntry.objects.create(
        station=station,
        seq=1,
        kind="sale",
        occurred_at=timezone.now(),
        body="{}",
        entry_hash="e" * 64,
        signature="00",
        batch=batch,
        sale=copy,
    )
    assert changes.month_rows([customer.pk])[customer.pk].priced_kwh == 20
    assert customer.pk not in changes.month_rows([customer.pk], (station.pk, 0))

    pull_changes(client, using=STATION)

    assert not CustomerMonth.objects.using(STATION).filter(pk=customer.pk).exists()
    assert _station_quote(world, meter, "240").month_to_date_kwh_before == 20
    # Once the page says it was applied, the row counts it and the station nets it (the
    # customer's next sale on the master sends the row again).
    Station.objects.filter(pk=station.pk).update(last_seq=1)
    later = _master_sale(world, meter, "after-the-apply", "10")
    pull_changes(client, using=STATION)
    held = CustomerMonth.objects.using(STATION).get(pk=customer.pk)
    assert held.priced_kwh == later.priced_kwh
    assert _station_quote(world, meter, "240").month_to_date_kwh_before == later.priced_kwh + 20
