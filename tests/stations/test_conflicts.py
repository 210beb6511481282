"""What changed on the master while the station sold is flagged for a supervisor, one conflict
per kind per entry, audited; the sale is applied all the same."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from gridvend.audit.models import AuditEvent
from gridvend.customers import services as customers
from gridvend.customers.models import Debt
from gridvend.kernel.clock import FixedClock, business_date
from gridvend.meters import services as meters
from gridvend.meters.keychanges import request_key_change
from gridvend.meters.models import Meter
from gridvend.stations.events import StationEvent
from gridvend.stations.models import ConflictKind, StationConflict
from gridvend.stations.services.journal import receive_batch
from gridvend.vending import services as vending
from gridvend.vending.models import Sale, Token
from gridvend.vending.services.engineering import issue_key_change_tokens
from tests import factories
from tests.stations.offline import OfflineStation, batch, offline_station
from tests.tariffs.factories import published_tariff, residential_spec
from tests.world import build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def st() -> OfflineStation:
    return offline_station(build_world())


def _apply(st: OfflineStation, entries: list[dict]) -> list[StationConflict]:
    answer = receive_batch(station=st.station, body=batch(entries))
    conflicts = list(StationConflict.objects.filter(station=st.station).order_by("id"))
    assert answer["conflicts"] == len(conflicts)
    # The sales are applied whatever was found.
    sold = sum(1 for e in entries if '"kind":"sale"' in e["body"])
    assert Sale.objects.filter(vending_point=st.point).count() == sold
    flagged = AuditEvent.objects.filter(event_type=StationEvent.CONFLICT_FLAGGED).count()
    assert flagged == len(conflicts)
    for conflict in conflicts:
        assert conflict.sale is not None and conflict.sale.vending_point == st.point
    return conflicts


def _kinds(conflicts: list[StationConflict]) -> list[str]:
    return [c.kind for c in conflicts]


def test_a_clean_sale_flags_nothing(st: OfflineStation) -> None:
    assert _apply(st, [st.sell(st.world.add_meter(), "250")]) == []


def test_a_meter_blocked_meanwhile_is_flagged(st: OfflineStation) -> None:
    meter = st.world.add_meter()
    entry = st.sell(meter, "250")
    meters.block_meter(actor=st.world.admin, meter=meter, reason="tamper seen")
    conflicts = _apply(st, [entry])
    assert _kinds(conflicts) == [ConflictKind.METER_BLOCKED]
    assert conflicts[0].detail["reason"] == "tamper seen"


def test_a_meter_retired_or_moved_out_of_the_unit_meanwhile_is_flagged(st: OfflineStation) -> None:
    retired, moved = st.world.add_meter(), st.world.add_meter()
    entries = [st.sell(retired, "250"), st.sell(moved, "250")]
    meters.retire_meter(actor=st.world.admin, meter=retired, reason="burnt")
    elsewhere = factories.unit(st.world.tree.root)
    Meter.objects.filter(pk=moved.pk).update(org_unit=elsewhere)
    conflicts = _apply(st, entries)
    assert _kinds(conflicts) == [ConflictKind.METER_RETIRED, ConflictKind.METER_RETIRED]
    assert conflicts[1].detail["unit"] == elsewhere.path


def test_a_tariff_version_not_in_force_is_flagged(st: OfflineStation) -> None:
    meter = st.world.add_meter()
    other = published_tariff(actor=None, org_unit=st.world.tree.root, spec=residential_spec())
    data = st.sale_data(meter, "250")
    data["tariff_version"] = other.versions.get().pk
    conflicts = _apply(st, [st.entry("sale", data)])
    assert _kinds(conflicts) == [ConflictKind.TARIFF_CHANGED]


def test_a_debt_recovered_beyond_what_the_master_holds_is_flagged(st: OfflineStation) -> None:
    world = st.world
    meter = world.add_meter()
    customer = world.customer(meter)
    customers.open_debt(
        actor=world.supervisor, customer=customer, amount=world.money("100"), reason="arrears"
    )
    data = st.sale_data(meter, "400")
    recovered = data["debt_recovered_minor"]
    assert recovered > 0
    # Meanwhile the master settled most of the debt.
    Debt.objects.filter(customer=customer).update(balance_minor=recovered - 500)
    conflicts = _apply(st, [st.entry("sale", data)])
    assert _kinds(conflicts) == [ConflictKind.DEBT_CHANGED]
    assert conflicts[0].detail["unallocated_minor"] == 500
    assert conflicts[0].detail["held_minor"] == recovered - 500
    assert not Debt.objects.filter(customer=customer, balance_minor__gt=0).exists()
    sale = conflicts[0].sale
    assert sale is not None and sale.debt_recovered_minor == recovered


def test_a_meter_key_changed_meanwhile_is_flagged_and_the_token_still_checked(
    st: OfflineStation,
) -> None:
    meter = st.world.add_meter()
    entry = st.sell(meter, "250")
    # A key change issued on the master meanwhile (recorded, so the old key is one it had).
    request_key_change(actor=st.world.admin, meter=meter, krn=3, reason="new revision")
    issue_key_change_tokens(
        actor=st.world.cashier,
        vending_point=st.world.point,
        client_reference="key-change-1",
        meter_number=meter.number,
    )
    conflicts = _apply(st, [entry])
    assert _kinds(conflicts) == [ConflictKind.KEY_CHANGED]
    assert conflicts[0].detail["sold_with"]["krn"] == 2
    sale = conflicts[0].sale
    assert sale is not None and sale.key_krn == 2


def test_a_tid_the_master_used_is_flagged_and_the_money_kept(st: OfflineStation) -> None:
    world = st.world
    meter = world.add_meter()
    online = vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference="online-1",
        meter_number=meter.number,
        tender=world.money("250"),
    )
    used = online.tokens[0].tid
    assert used is not None
    conflicts = _apply(st, [st.sell(meter, "260", tid=used)])
    assert _kinds(conflicts) == [ConflictKind.TID_CLASH]
    assert conflicts[0].detail["tids"] == [used]
    sale = conflicts[0].sale
    assert sale is not None and sale.tender_minor == 26000
    # The customer's token is kept as printed, without the TID the master's token holds.
    token = sale.tokens.get(sequence=1)
    assert token.tid is None and token.digits
    assert Token.objects.filter(meter=meter, tid=used).count() == 1


def test_selling_beyond_the_allowance_is_flagged(st: OfflineStation) -> None:
    small = offline_station(st.world, lane=2, ceiling_minor=30_000)
    meter = st.world.add_meter()
    first = small.sell(meter, "250")  # 25,000 of 30,000
    second = small.sell(meter, "260")  # 51,000: above the ceiling
    conflicts = _apply(small, [first, second])
    assert _kinds(conflicts) == [ConflictKind.ALLOWANCE_EXCEEDED]
    assert conflicts[0].detail["problems"] == ["above_ceiling"]
    assert conflicts[0].entry.seq == 2


def test_an_unknown_allowance_or_a_total_that_does_not_add_up_is_flagged(
    st: OfflineStation,
) -> None:
    meter = st.world.add_meter()
    st.allowance = 9
    unknown = st.sell(meter, "250")
    st.allowance = 1
    st.sold_total -= 10_000  # the station under-counts what it sold
    wrong = st.sell(meter, "250")
    conflicts = _apply(st, [unknown, wrong])
    assert [c.detail["problems"] for c in conflicts] == [
        ["unknown_allowance"],
        ["total_does_not_add_up"],
    ]


def _big_sale_on_master(st: OfflineStation, meter: Meter, *, at: datetime | None = None) -> Sale:
    """A sale the master makes itself, enough to pass the tariff's 150 kWh block."""
    world = st.world
    sold = vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference="online-" + meter.number,
        meter_number=meter.number,
        tender=world.money("4000"),
        clock=FixedClock(at) if at is not None else None,
    ).sale
    assert sold.priced_kwh > Decimal(150)
    return sold


def test_a_sale_the_master_made_during_the_outage_is_flagged_with_both_months(
    st: OfflineStation,
) -> None:
    meter = st.world.add_meter()
    # The station prices with what it knew: nothing bought this month (block 0, an FBE token).
    entry = st.sell(meter, "250", at=timezone.now() + timedelta(minutes=2))
    station_priced = json.loads(entry["body"])["data"]["breakdown"]
    assert Decimal(station_priced["month_to_date_kwh_before"]) == 0
    # Meanwhile, before that sale's moment, the master sold past the second block.
    online = _big_sale_on_master(st, meter)
    conflicts = _apply(st, [entry])
    assert _kinds(conflicts) == [ConflictKind.MONTH_TOTALS_CHANGED]
    detail = conflicts[0].detail
    assert Decimal(detail["station"]["kwh_before"]) == 0
    assert detail["station"]["blocks"][0]["block"] == 0
    assert Decimal(detail["master"]["kwh_before"]) == online.priced_kwh
    assert [b["block"] for b in detail["master"]["blocks"]] == [2]
    assert Decimal(detail["master"]["fbe_kwh_before"]) == online.fbe_kwh > 0
    # The sale stands exactly as the station priced it.
    sale = conflicts[0].sale
    assert sale is not None and sale.priced_kwh == Decimal(station_priced["priced_kwh"])
    assert conflicts[0].kind == "month_totals_changed"
    assert conflicts[0].get_kind_display() == "Month's purchases changed meanwhile"


def test_a_master_sale_after_the_station_sale_and_the_station_own_sales_flag_nothing(
    st: OfflineStation,
) -> None:
    meter = st.world.add_meter()
    # Two station sales in one batch: the second counts the first (priced in the blocks above
    # it, no second FBE token) and so does the master when it applies them.
    first = st.sell(meter, "2500")
    second = st.sell(meter, "2500")
    second_priced = json.loads(second["body"])["data"]["breakdown"]
    assert Decimal(second_priced["month_to_date_kwh_before"]) > 0
    # A master sale made after the station's sales does not change how they were priced.
    _big_sale_on_master(st, meter)
    assert _apply(st, [first, second]) == []


def test_a_new_month_starts_from_zero_on_the_master(st: OfflineStation) -> None:
    meter = st.world.add_meter()
    # A sale on the master last month: this month's station sale starts from zero again.
    online = _big_sale_on_master(st, meter, at=timezone.now() - timedelta(days=40))
    assert online.business_month != sale_month()
    entry = st.sell(meter, "700")  # the months' fixed charges since are due again
    assert Decimal(json.loads(entry["body"])["data"]["breakdown"]["month_to_date_kwh_before"]) == 0
    assert _apply(st, [entry]) == []


def sale_month() -> str:
    day = business_date(timezone.now(), settings.TIME_ZONE)
    return f"{day.year:04d}-{day.month:02d}"


def test_a_master_sale_between_two_entries_of_a_batch_flags_only_the_later(
    st: OfflineStation,
) -> None:
    meter = st.world.add_meter()
    now = timezone.now()
    before = st.sell(meter, "250", at=now - timedelta(minutes=5))
    after = st.sell(meter, "250", at=now + timedelta(minutes=2))
    _big_sale_on_master(st, meter)  # dated between the two
    conflicts = _apply(st, [before, after])
    assert _kinds(conflicts) == [ConflictKind.MONTH_TOTALS_CHANGED]
    assert conflicts[0].entry.seq == 2
    detail = conflicts[0].detail
    first_kwh = Decimal(json.loads(before["body"])["data"]["priced_kwh"])
    assert Decimal(detail["station"]["kwh_before"]) == first_kwh
    assert Decimal(detail["master"]["kwh_before"]) > first_kwh + Decimal(150)
