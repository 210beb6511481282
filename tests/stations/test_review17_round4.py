"""Review round 4 of issue 17 (helper s6revB): probes of today's fixes, written as an attacker
(rogue relay, replayer, malicious station owner) and as a careless user. Each probe is a real
defect, marked ``xfail(strict=True)``: it fails today and turns into an XPASS (a failure) once
fixed, so the marker must then be removed. Nothing of the product is changed here."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from gridvend.stations import protocol
from gridvend.stations.changes import current_month
from gridvend.stations.errors import StationStateInvalid
from gridvend.stations.models import LocalEntry, LocalStation, Station, StationStatus
from gridvend.stations.services import enrolment
from gridvend.stations.services.pull import BadPage, apply_page
from gridvend.stations.services.registration import register_station, reissue_enrolment_code
from gridvend.stations.services.upload import rewind
from gridvend.vending.locks import read_sale_context
from gridvend.vending.models import CustomerMonth, Sale
from tests.stations.conftest import Scene
from tests.stations.test_applied_marks import _this_install
from tests.world import World, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> World:
    return build_world()


# --- helpers -------------------------------------------------------------------------------


def _page(changes: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"cursor_to": 5, "more": False, "snapshot": None, "changes": changes, **extra}


def _month_row(customer_id: int | None, priced_kwh: str, fbe_kwh: str = "0.0") -> dict[str, Any]:
    return {
        "model": "vending.customermonth",
        "pk": customer_id,
        "fields": {
            "month": current_month(),
            "priced_kwh": priced_kwh,
            "fbe_kwh": fbe_kwh,
            "debt_recovered_minor": 0,
            "fixed_charges_paid_through": None,
        },
    }


def _own_sale(world: World, seq: int, priced_kwh: str, *, uploaded: bool = True) -> Sale:
    """A sale this station made offline, with its journal entry (as test_month_totals does)."""
    meter = world.add_meter()
    today = timezone.localdate()
    sale = Sale.objects.create(
        reference=f"SREV4{seq:04d}",
        kind="credit",
        vending_point_id=world.point.pk,
        channel="offline_station",
        client_reference=f"rev4-{seq}",
        request_fingerprint="f" * 64,
        operator_id=world.cashier.pk,
        meter_id=meter.pk,
        customer_id=world.customer(meter).pk,
        currency="KES",
        tender_minor=50_000,
        priced_kwh=Decimal(priced_kwh),
        business_date=today,
        business_month=current_month(),
    )
    LocalEntry.objects.create(
        seq=seq,
        kind="sale",
        occurred_at=timezone.now(),
        body="{}",
        entry_hash=f"{seq:064x}",
        signature="00",
        sale=sale,
        uploaded_at=timezone.now() if uploaded else None,
        batch_id="b" if uploaded else "",
    )
    return sale


def _month_kwh_on_station(sale: Sale) -> Decimal:
    reads = read_sale_context(
        customer_id=sale.customer_id,
        tariff_id=None,
        meter_id=sale.meter_id,
        now=timezone.now(),
        month=current_month(),
    )
    return reads.month_kwh


# --- 1. upload.rewind's floor loses entries after a restore of the master -----------------


def test_a_master_restored_from_backup_gets_the_entries_it_lost_again(world: World) -> None:
    """Impact (Medium/High): ``upload.rewind`` is floored by ``LocalStation.applied_seq`` (what
    the master said it applied, with the changes pages). The floor was meant against a rogue or
    stale *relay* answering ``last_seq`` 0, but it applies just the same to a station talking
    to the master directly, where the signed ``GET status`` *is* the master's word. After the
    master's database is restored from its backup (docs/operations.md, "Restoring (the
    drill)"), the master holds the station's journal only to #3 while the station kept
    ``applied_seq`` 6: the rewind now sends nothing again (before 0c40582 it re-sent #4-#6).
    Entries #4-#6 (sales: money, allowance, tokens in meters) are never re-sent; the station's
    next batch starts at #7 and the master refuses it as a broken chain, a refusal that "never
    heals" (docs/stations.md): the station is stuck for good and the three sales are missing
    from the master's books.

    Reproduction: a station (upstream == master) with entries #1-#6 uploaded and
    ``applied_seq`` 6; the master's status says ``last_seq`` 3 with the hash held at #3;
    ``rewind(3, hash3)`` returns 0 and leaves #4-#6 marked uploaded."""
    _this_install(applied_seq=6)
    for seq in range(1, 7):
        LocalEntry.objects.create(
            seq=seq,
            kind="shift_opened",
            occurred_at=timezone.now(),
            body="{}",
            entry_hash=f"{seq:064x}",
            signature="0" * 128,
            uploaded_at=timezone.now(),
            batch_id="b",
        )
    station = LocalStation.objects.get(pk=1)
    assert station.upstream_public_key == station.master_public_key  # no relay in between

    again = rewind(3, f"{3:064x}")

    assert again == 3
    pending = LocalEntry.objects.filter(uploaded_at__isnull=True).values_list("seq", flat=True)
    assert sorted(pending) == [4, 5, 6]


# --- 2. the lost-answer re-issue retires a station in use below a relay --------------------


def test_a_station_selling_behind_its_relay_is_not_given_a_new_code(scene: Scene) -> None:
    """Impact (Medium): ``registration.never_heard_from`` decides "the enrolment answer was
    lost" from the master's row only: ``last_contact_at`` after ``enrolled_at``, an upload, a
    batch, a journal entry. A station *below a relay* never calls the master: its ``GET
    status`` goes to the relay (``relay.child_status`` notes the contact on the relay's copy,
    which is not watched and never reaches the master), and its batches reach the master only
    when the relay forwards them. So a station that got its answer, syncs with its relay every
    minute and sells offline while the relay's own link is down (the case offline stations are
    for) is, on the master, indistinguishable from a lost answer, even though its relay is in
    contact with the master: one click on *New enrolment code* retires its key. Everything it
    sold (held by the relay, forwarded later) is then refused, its lane, vending point and the
    vending keys sent at enrolment go to whoever runs ``station init`` with the new code (a
    caller who says "the install failed"). docs/stations.md says a station "heard from since it
    enrolled never gets a new code" and that the first sync's ``GET status`` marks it: not true
    below a relay.

    Reproduction: a relay and a station below it, both enrolled; the relay has been in touch
    with the master since (``last_contact_at`` later); the station has synced and sold through
    the relay, which holds its batches (nothing forwarded yet). ``reissue_enrolment_code`` on
    the station succeeds, the station goes back to pending and its key is gone. Expected: refused
    (``STATION_STATE_INVALID``) for a station below a relay, unless the relay vouches that it
    has never heard from it."""
    relay, relay_code = register_station(
        actor=scene.manager,
        code="north-relay",
        name="North BU relay",
        org_unit=scene.world.tree.north_bu,
        role="relay",
    )
    station, code = register_station(
        actor=scene.manager,
        code="kitale-st1",
        name="Kitale station",
        org_unit=scene.world.tree.north_sc,
        vending_point=scene.point,
        parent=relay,
    )
    exchange = enrolment.exchange_public_hex(enrolment.new_exchange_key())
    enrolment.enrol_station(
        code=relay.code,
        enrol_code=relay_code,
        public_key=protocol.new_key_pair().public_hex,
        app_version="t",
        exchange_key=exchange,
    )
    enrolment.enrol_station(
        code=station.code,
        enrol_code=code,
        public_key=protocol.new_key_pair().public_hex,
        app_version="t",
        exchange_key=exchange,
        under_relay=True,
    )
    station.refresh_from_db()
    assert station.status == StationStatus.ACTIVE and station.enrolled_at is not None
    # The relay keeps calling the master (status, pulls); the station calls only the relay.
    Station.objects.filter(pk=relay.pk).update(
        last_contact_at=station.enrolled_at + timedelta(hours=3)
    )
    key = station.public_key

    with pytest.raises(StationStateInvalid):
        reissue_enrolment_code(actor=scene.manager, station=station)

    kept = Station.objects.get(pk=station.pk)
    assert kept.status == StationStatus.ACTIVE and kept.public_key == key


# --- 3. month totals priced too LOW when the upstream does not say applied_seq --------------


@pytest.mark.xfail(
    strict=True,
    reason="with no applied_seq on the page, pull nets every acknowledged own sale out of the "
    "month row, though the row may not contain them: the station prices too low",
)
def test_a_page_without_applied_seq_does_not_take_unapplied_own_sales_off_the_row(
    world: World,
) -> None:
    """Impact (Low: mostly a rogue relay, which docs/stations.md already trusts with the
    unit's rows; doubtful as an honest case): ``pull._applied_sales`` nets, when the page
    carries no ``applied_seq``, every own sale the upstream *acknowledged*. Below a relay an
    acknowledgement means "stored on the relay", not "applied on the master", and the month row
    the relay passes down was computed by the master without those sales. So the fallback errs
    towards pricing too LOW (the debt fallback, ``_pending_recoveries``, errs the other way).
    An honest relay leaves ``applied_seq`` out only for a station it holds no applied position
    of (``applied_for``: a pull cut before its last page since the station was registered); a
    relay too old to send it does not hold month rows at all. A rogue relay just drops the key:
    the customer's month-to-date is under-counted by what the station itself sold, and the
    next sale is priced in a lower block, unflagged.

    Reproduction: the master's row says 150 kWh (all sold on the master); the station sold 100
    kWh, acknowledged by its relay, not applied; a page without ``applied_seq`` brings the row.
    The station stores 50 and prices from 100 + 50 = 150 kWh instead of 250. Expected: nothing
    netted without the master's word (the row kept at 150, month-to-date 250)."""
    _this_install()
    own = _own_sale(world, 1, "100", uploaded=True)  # acknowledged by the relay only
    apply_page(_page([_month_row(own.customer_id, "150.000000")]))  # no applied_seq

    row = CustomerMonth.objects.get(pk=own.customer_id)
    assert row.priced_kwh == Decimal("150")
    assert _month_kwh_on_station(own) == Decimal("250")


# --- 4. the station's own sale reversed on the master still counts on the station ----------


@pytest.mark.xfail(
    strict=True,
    reason="netting uses the station's local status of its sale; a sale reversed on the "
    "master is still 'completed' there, so it is counted locally and the row is clamped at 0",
)
def test_an_own_sale_reversed_on_the_master_drops_out_of_the_stations_month(
    world: World,
) -> None:
    """Impact (Low/Medium, customer overcharged): docs/stations.md says "a sale reversed on
    the master drops out of the priced kWh". For a sale the *station* made, once applied and
    then reversed on the master (``reverse_sale`` has no rule against an offline-station
    sale), the master's row no longer counts it, but the station never learns of the reversal
    (sales are not synced): its own copy stays ``completed``, so ``read_sale_context`` still
    counts it and ``pull._applied_sales`` still subtracts it from the row, clamped at zero.
    What the station prices from is max(others, own reversed sale) instead of others: a
    customer whose 100 kWh sale was reversed, having bought 30 kWh elsewhere, is priced from
    100 kWh (the middle block) until the month ends, at every station sale.

    Reproduction: own sale #1 of 100 kWh, applied (``applied_seq`` 1) and reversed on the
    master; the master's row says 30 kWh (others); the station prices from 100, not 30."""
    _this_install()
    own = _own_sale(world, 1, "100", uploaded=True)
    apply_page(_page([_month_row(own.customer_id, "30.000000")], applied_seq=1))

    assert _month_kwh_on_station(own) == Decimal("30")


# --- 5. a hostile month row is stored, and blocks every sale to that customer ---------------


def test_a_negative_month_row_is_a_bad_page(world: World) -> None:
    """Impact (Low: needs a rogue or broken upstream, which can already send worse rows): a
    month row with a negative ``priced_kwh`` (or ``fbe_kwh``, ``debt_recovered_minor``) is
    accepted and stored as sent (``_station_values`` clamps only what it nets). A sale's reads
    then add it: pricing refuses every sale to the customer (``InvalidAmount``: month-to-date
    kWh is negative) and a negative FBE total reads as "no FBE given". Bounded numbers (house
    rules): the page should be refused as ``BadPage`` and nothing written."""
    _this_install()
    meter = world.add_meter()
    customer_id = world.customer(meter).pk
    with pytest.raises(BadPage):
        apply_page(_page([_month_row(customer_id, "-500.000000", "-50.0")]))
    assert not CustomerMonth.objects.filter(pk=customer_id).exists()
