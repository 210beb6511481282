"""Review of issue 17 (offline stations): probes, each named for the defect it shows.

A test under a ``# DEFECT:`` comment fails today: it shows a defect found in the review (the
comment says where), and passes once it is fixed. ``# FIXED`` marks the one fixed here. The
tests without such a comment are things the review checked that hold."""

from __future__ import annotations

import contextlib
import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from Crypto.Cipher import AES
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from gridvend.audit.models import AuditEvent
from gridvend.customers import services as customers
from gridvend.customers.models import Debt
from gridvend.identity.models import User
from gridvend.kernel.clock import FixedClock
from gridvend.kernel.errors import DomainError
from gridvend.keys import services as keys
from gridvend.meters import services as meters
from gridvend.meters.keychanges import request_key_change
from gridvend.org import services as org
from gridvend.org.models import Channel
from gridvend.stations import protocol
from gridvend.stations.client import MasterClient
from gridvend.stations.models import (
    LocalAllowance,
    LocalEntry,
    LocalStation,
    Station,
    StationConflict,
    StationEntry,
    StationRole,
    StationStatus,
)
from gridvend.stations.services import allowances, enrolment, signing
from gridvend.stations.services.journal import receive_batch
from gridvend.stations.services.pull import pull_changes
from gridvend.stations.services.registration import (
    register_station,
    reissue_enrolment_code,
    revoke_station,
    suspend_station,
)
from gridvend.vending import services as vending
from gridvend.vending.models import Sale
from gridvend.vending.services.engineering import issue_key_change_tokens
from gridvend.wallet import selectors as wallet_selectors
from gridvend.wallet import services as wallet_services
from tests import factories
from tests.signin import signed_in
from tests.stations.conftest import Scene
from tests.stations.offline import OfflineStation, batch, offline_station
from tests.stations.station_world import station_mode_forgotten, station_world
from tests.threads import run_threads
from tests.world import NOW, World, build_world, meter_number

pytestmark = pytest.mark.django_db

_OPEN = pytest.mark.xfail(strict=True, reason="issue 17 review finding, not fixed yet")

BATCHES = "/station-api/v1/batches"
CHANGES = "/station-api/v1/changes"
ENROL = "/station-api/v1/enrol"


@pytest.fixture
def st() -> OfflineStation:
    return offline_station(build_world())


def _signed_headers(st: OfflineStation, method: str, path: str, body: bytes) -> dict[str, str]:
    stamp = protocol.utc_text(timezone.now())
    nonce = protocol.new_nonce()
    signature = protocol.sign(
        st.key.seed, protocol.request_message(method, path, stamp, nonce, body)
    )
    return {
        protocol.HEADER_STATION: st.code,
        protocol.HEADER_TIME: stamp,
        protocol.HEADER_NONCE: nonce,
        protocol.HEADER_SIGNATURE: signature,
    }


def _post_batch(st: OfflineStation, data: dict) -> object:
    body = protocol.canonical(data).encode()
    # raise_request_exception=False: a crash comes back as the 500 a station would get.
    return Client(raise_request_exception=False).post(
        BATCHES,
        body,
        content_type="application/json",
        headers=_signed_headers(st, "POST", BATCHES, body),
    )


# --- crypto / trust ------------------------------------------------------------------------


# DEFECT: the request signature covers the path but not the query string (auth.py, client.py)
def test_query_string_of_a_signed_request_cannot_be_rewritten(st: OfflineStation) -> None:
    """The station signs ``GET changes?cursor=0&limit=1``; whoever sits on the link rewrites
    the query to a cursor far ahead. The master must refuse it (the station would apply the
    signed page and move its cursor past every change it never saw: a blocked meter, a disabled
    user, a new debt)."""
    headers = _signed_headers(st, "GET", CHANGES, b"")  # signed for cursor=0&limit=1
    rewritten = Client().get(CHANGES, {"cursor": "999999", "limit": "1000"}, headers=headers)
    assert rewritten.status_code == 403, rewritten.content[:200]


# FIXED: the enrolment code travels in the request body and the vending keys were wrapped under
# a key derived from it alone (enrolment.py _derive/_wrapped_vending_keys): whoever read the
# exchange (plain http is accepted by station_init) opened every vending key of the unit. They
# are now wrapped under HKDF over an ephemeral X25519 agreement and the code. (Probe corrected:
# the request carries the station's exchange key, which the protocol now requires, and the
# observer tries every key it can derive from what crossed the wire.)
def test_a_passive_observer_of_the_enrolment_cannot_open_the_vending_keys(scene: Scene) -> None:
    scene.world.add_meter(unit=scene.world.tree.north_sc)
    _station, code = register_station(
        actor=scene.manager,
        code="kitale-st1",
        name="Kitale station",
        org_unit=scene.world.tree.north_sc,
        vending_point=scene.point,
    )
    pair = protocol.new_key_pair()
    exchange = enrolment.new_exchange_key()
    request_body = protocol.canonical(
        {
            "station": "kitale-st1",
            "code": code,
            "public_key": pair.public_hex,
            "app_version": "x",
            "exchange_key": enrolment.exchange_public_hex(exchange),
        }
    )
    answer = Client().post(ENROL, request_body, content_type="application/json")
    assert answer.status_code == 200
    # The observer has only what crossed the wire: the request's body and the answer.
    seen = json.loads(request_body)
    seen_answer = json.loads(answer.content)
    [wrapped] = seen_answer["vending_keys"]
    public_halves = bytes.fromhex(seen["exchange_key"]) + bytes.fromhex(seen_answer["exchange_key"])
    guesses = [b"", public_halves, bytes.fromhex(seen["exchange_key"]), bytes(32)]
    for guess in guesses:
        cipher = AES.new(
            enrolment.wrap_key(shared=guess, enrol_code=seen["code"], station_code="kitale-st1"),
            AES.MODE_GCM,
            nonce=bytes.fromhex(wrapped["nonce"]),
        )
        cipher.update(enrolment.vending_key_aad("kitale-st1", wrapped["key_ref"]))
        with pytest.raises(ValueError):
            cipher.decrypt_and_verify(
                bytes.fromhex(wrapped["ciphertext"]), bytes.fromhex(wrapped["tag"])
            )
    # The station, holding its private half, opens it.
    shared = enrolment.shared_secret(exchange, seen_answer["exchange_key"])
    cipher = AES.new(
        enrolment.wrap_key(shared=shared, enrol_code=code, station_code="kitale-st1"),
        AES.MODE_GCM,
        nonce=bytes.fromhex(wrapped["nonce"]),
    )
    cipher.update(enrolment.vending_key_aad("kitale-st1", wrapped["key_ref"]))
    secret = cipher.decrypt_and_verify(
        bytes.fromhex(wrapped["ciphertext"]), bytes.fromhex(wrapped["tag"])
    )
    assert secret.hex() == scene.world.vending_key_hex


# FIXED: a relay sells nothing yet was sent every vending key of its unit at enrolment
def test_a_relay_is_not_sent_vending_keys_at_enrolment(scene: Scene) -> None:
    tree = scene.world.tree
    scene.world.add_meter(unit=tree.north_sc)
    _relay, code = register_station(
        actor=scene.manager,
        code="north-relay",
        name="North BU relay",
        org_unit=tree.north_bu,
        role=StationRole.RELAY,
    )
    body = protocol.canonical(
        {
            "station": "north-relay",
            "code": code,
            "public_key": protocol.new_key_pair().public_hex,
            "app_version": "x",
            # Probe corrected: the protocol now requires the station's exchange key.
            "exchange_key": enrolment.exchange_public_hex(enrolment.new_exchange_key()),
        }
    )
    answer = Client().post(ENROL, body, content_type="application/json")
    assert answer.status_code == 200
    assert json.loads(answer.content)["vending_keys"] == []


# FIXED: every unauthenticated enrol call for an unknown station wrote an append-only audit
# row (enrolment._refuse): the audit log could be grown without bound by anyone
def test_unauthenticated_enrol_calls_cannot_grow_the_audit_log(scene: Scene) -> None:
    before = AuditEvent.objects.count()
    for n in range(20):
        body = protocol.canonical(
            {
                "station": f"nobody-{n}",
                "code": "A" * 26,
                "public_key": "0" * 64,
                "app_version": "x",
                # Probe corrected: a well-formed request (with the exchange key the protocol
                # now requires) reaches the refusal this probe is about.
                "exchange_key": enrolment.exchange_public_hex(enrolment.new_exchange_key()),
            }
        )
        assert Client().post(ENROL, body, content_type="application/json").status_code == 403
    assert AuditEvent.objects.count() - before < 20


# --- money ---------------------------------------------------------------------------------


# DEFECT: an offline sale entry's payment_method is taken as is (vending/services/offline.py
# record_offline_sale -> _source_account): 'wallet' spends the customer's prepaid wallet
def test_an_offline_sale_cannot_spend_the_customers_wallet(st: OfflineStation) -> None:
    world = st.world
    meter = world.add_meter()
    wallet = wallet_services.open_wallet(actor=world.admin, customer=world.customer(meter))
    wallet_services.top_up_cash(
        actor=world.cashier, wallet=wallet, amount=world.money("500"), receipt="probe-1"
    )
    before = wallet_selectors.balance(wallet)
    data = st.sale_data(meter, "250")
    data["payment_method"] = "wallet"
    # Refused is fine, as long as the wallet is untouched.
    with contextlib.suppress(DomainError):
        receive_batch(station=st.station, body=batch([st.entry("sale", data)]))
    assert wallet_selectors.balance(wallet) == before


# FIXED: allowance left is the ceiling less the master's own count Station.sold_total_minor
# (allowances.sold_total_minor); it used to be the total the station *claims* in its last
# applied entry
def test_allowance_left_is_the_masters_own_count(st: OfflineStation) -> None:
    meter = st.world.add_meter()
    first = st.sale_data(meter, "250")
    first["sold_total_minor"] = 1
    second = st.sale_data(meter, "260")
    second["sold_total_minor"] = 2
    receive_batch(
        station=st.station, body=batch([st.entry("sale", first), st.entry("sale", second)])
    )
    station = Station.objects.get(pk=st.station.pk)
    assert station.sold_total_minor == 51_000
    assert allowances.allowance_left_minor(station) == 10**12 - 51_000


def test_a_batch_re_sent_under_another_id_and_with_an_entry_more_applies_each_sale_once(
    st: OfflineStation,
) -> None:
    meter = st.world.add_meter()
    a, b = st.sell(meter, "250"), st.sell(meter, "260")
    receive_batch(station=st.station, body=batch([a, b], "first"))
    c = st.sell(meter, "270")
    answer = receive_batch(station=st.station, body=batch([a, b, c], "second"))
    assert answer["last_seq"] == 3
    assert Sale.objects.filter(vending_point=st.point).count() == 3


# FIXED (pages now carry applied_seq):
# the station's debt balance nets off only the recoveries of entries not yet
# acknowledged (stations/services/pull.py _pending_recoveries), but a relay acknowledges a
# batch when it *stores* it: the station then pulls the relay's copy of the debt, which does not
# hold the recovery until the master applied it and the relay pulled it back, and recovers the
# same debt a second time.
@pytest.mark.django_db(transaction=True, databases=["default", "station"])
def test_a_debt_recovered_offline_is_not_owed_again_after_a_relay_stored_the_sale(
    station_database: str, live_server: Any
) -> None:
    signing.forget()
    world = build_world()
    meter = world.add_meter()
    debt = customers.open_debt(
        actor=world.admin, customer=world.customer(meter), amount=world.money("80"), reason="old"
    )
    pair = protocol.new_key_pair()
    Station.objects.create(
        code="bu-st9",
        name="Behind a relay",
        org_unit=world.unit,
        vending_point=world.point,
        tid_lane=1,
        status=StationStatus.ACTIVE,
        public_key=pair.public_hex,
    )
    upstream = signing.signing_key().public_hex
    LocalStation.objects.using(station_database).create(
        pk=1,
        code="bu-st9",
        master_url=live_server.url,
        nonce=b"n",
        ciphertext=b"c",
        tag=b"t",
        public_key=pair.public_hex,
        master_public_key=upstream,
        upstream_public_key=upstream,
        org_unit_id_on_master=world.unit.pk,
        vending_point_id_on_master=world.point.pk,
        tid_lane=1,
    )
    # The upstream here plays the relay: what it serves is its copy of the master's rows.
    client = MasterClient(
        base_url=live_server.url,
        station="bu-st9",
        seed=pair.seed,
        master_public_hex=upstream,
        timeout=20,
    )
    pull_changes(client, using=station_database)
    # The station sells offline and takes 15.00 from the debt ...
    sale = Sale.objects.using(station_database).create(
        reference="SOFFLINE0009",
        kind="credit",
        vending_point_id=world.point.pk,
        channel="offline_station",
        client_reference="offline-9",
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
    LocalEntry.objects.using(station_database).create(
        seq=1,
        kind="sale",
        occurred_at=timezone.now(),
        body="{}",
        entry_hash="a" * 64,
        signature="00",
        sale=sale,
        # ... and uploads it to its relay, which stores it (status "stored") and acknowledges.
        batch_id="bu-st9:1-1",
        uploaded_at=timezone.now(),
    )
    # Meanwhile the master sold to the customer and took 10.00; the relay pulled that, but not
    # the station's sale, which it has not forwarded (or the master not applied) yet.
    Debt.objects.filter(pk=debt.pk).update(balance_minor=7_000)
    pull_changes(client, using=station_database)
    assert Debt.objects.using(station_database).get(pk=debt.pk).balance_minor == 7_000 - 1_500


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_entries_uploaded_at_once_under_four_batch_ids_apply_once() -> None:
    """Holds: a station's batch sent straight, through its relay and again after a lost answer,
    all at the same moment (real threads on PostgreSQL): each sale is applied once."""
    st = offline_station(build_world())
    meter = st.world.add_meter()
    entries = [st.sell(meter, "250"), st.sell(meter, "260"), st.sell(meter, "270")]

    def work(i: int) -> int:
        station = Station.objects.get(pk=st.station.pk)
        return int(receive_batch(station=station, body=batch(entries, f"race-{i}"))["last_seq"])

    results, errors = run_threads(4, work)
    assert not errors, errors
    assert results == [3, 3, 3, 3]
    assert Sale.objects.filter(vending_point=st.point).count() == 3
    assert StationEntry.objects.filter(station=st.station).count() == 3
    assert Station.objects.get(pk=st.station.pk).sold_total_minor == 78_000


# --- the station's clock -------------------------------------------------------------------


# FIXED (STATION_CLOCK_BEHIND_JOURNAL):
# the station checks the allowance's validity against its own clock only
# (stations/services/offline.py _check_allowance): a clock set back below the journal's last
# entry sells again after the allowance expired
def test_a_station_whose_clock_went_back_below_its_journal_does_not_sell() -> None:
    with station_mode_forgotten():
        world: World = build_world()
        station = station_world(world, lane=3)
        station.give_allowance(sequence=1, ceiling_minor=500_000, around=NOW)
        meter = world.add_meter()

        def sell(at: object, ref: str) -> object:
            return vending.vend_credit(
                actor=world.cashier,
                vending_point=world.point,
                client_reference=ref,
                meter_number=meter.number,
                tender=world.money("750.00"),
                clock=FixedClock(at),  # type: ignore[arg-type]
            )

        sell(NOW + timedelta(days=1, hours=12), "before-expiry")
        with pytest.raises(DomainError) as expired:
            sell(NOW + timedelta(days=3), "after-expiry")
        assert expired.value.code == "STATION_ALLOWANCE_EXPIRED"
        # The cashier sets the clock back a day, before the last sale the journal holds.
        with pytest.raises(DomainError):
            sell(NOW + timedelta(days=1), "clock-set-back")


# FIXED: a key change that keeps SGC, TI and KRN of the entry but changes the base date (a
# DKGA04 roll-over) or KT made vending/services/offline.py _offline_key decode the station's
# tokens with the meter's *new* base date / KT: "does not decode", the whole batch was
# REJECTED, and, the rejection being kept under the batch id the station always re-sends, the
# station's journal never went up again (every sale after it lost to the books).
def test_a_sale_made_before_a_roll_over_key_change_is_applied_with_a_conflict(
    st: OfflineStation,
) -> None:
    world = st.world
    keys.store_vending_key(
        actor=None, key_ref="vk04-probe", key_hex=secrets.token_hex(20), dkga="04"
    )
    customer = customers.create_customer(
        actor=world.admin,
        name="Roll-over",
        org_unit=world.unit,
        tariff=world.tariff,
        category="residential",
    )
    premise = customers.create_premise(actor=world.admin, org_unit=world.unit, address="1 Rd")
    meter = meters.register_meter(
        actor=world.admin,
        number=meter_number(990_001),
        org_unit=world.unit,
        sgc="600675",
        ti=1,
        krn=2,
        dkga="04",
        base_date_year=1993,
        key_ref="vk04-probe",
    )
    meters.install_meter(actor=world.admin, meter=meter, customer=customer, premise=premise)
    meter.refresh_from_db()
    # Sold offline in mid-2024, under the 1993 base date (TIDs still inside 24 bits) ...
    sold = st.sell(meter, "250", at=datetime(2024, 6, 1, 8, 0, tzinfo=UTC))
    # ... while the master rolled the meter over to the 2014 base date with its next KRN.
    request_key_change(
        actor=world.admin, meter=meter, base_date_year=2014, krn=3, reason="TID roll-over"
    )
    issue_key_change_tokens(
        actor=world.cashier,
        vending_point=world.point,
        client_reference="roll-over-1",
        meter_number=meter.number,
    )
    answer = receive_batch(station=st.station, body=batch([sold]))
    assert answer["status"] == "applied"
    assert StationConflict.objects.filter(station=st.station, kind="key_changed").exists()


# --- TIDs: lanes ---------------------------------------------------------------------------


def _enrolled(station: Station) -> Station:
    Station.objects.filter(pk=station.pk).update(
        status=StationStatus.ACTIVE,
        public_key=protocol.new_key_pair().public_hex,
        enrol_code_hash="",
    )
    station.refresh_from_db()
    return station


# FIXED: a revoked station holds its TID lane while an allowance it was given is valid
# (stations/services/lanes.py lane_holders): it may sell in that lane until its next contact
def test_a_revoked_stations_lane_is_not_reused_while_its_allowance_is_valid(scene: Scene) -> None:
    unit = scene.world.tree.north_sc
    old, _code = register_station(
        actor=scene.manager, code="old-st", name="Old", org_unit=unit, vending_point=scene.point
    )
    old = _enrolled(old)
    allowances.issue_allowance(
        actor=scene.manager,
        station=old,
        ceiling=1_000_000,
        valid_until=timezone.now() + timedelta(days=30),
    )
    revoke_station(actor=scene.manager, station=old, reason="stolen")
    new, _code = register_station(
        actor=scene.manager,
        code="new-st",
        name="New",
        org_unit=unit,
        vending_point=factories.vending_point(unit, channel=Channel.OFFLINE_STATION),
    )
    assert new.tid_lane != old.tid_lane


# FIXED: org.move_unit runs the stations' move check (lanes.check_unit_move, declared to
# org/move_hooks.py): a move that would give two stations selling the same meters one lane is
# refused (STATION_MOVE_LANE_CLASH)
def test_moving_a_unit_never_gives_two_overlapping_live_stations_one_lane(scene: Scene) -> None:
    tree = scene.world.tree
    admin: User = tree.admin
    north, _code = register_station(
        actor=admin, code="north-st", name="N", org_unit=tree.north_sc, vending_point=scene.point
    )
    south, _code = register_station(
        actor=admin,
        code="south-st",
        name="S",
        org_unit=tree.south_bu,
        vending_point=factories.vending_point(tree.south_bu, channel=Channel.OFFLINE_STATION),
    )
    assert north.tid_lane == south.tid_lane == 1  # apart, they share no meter
    try:
        org.move_unit(actor=admin, unit=tree.north_sc, new_parent=tree.south_bu)
    except DomainError:
        return  # refused: fine
    # south-st (at South BU) now serves North SC's meters too, beside north-st.
    north.refresh_from_db()
    south.refresh_from_db()
    assert north.tid_lane != south.tid_lane


# FIXED: docs/stations.md ("Recover a station", the relay's disk was lost) said to reinstall the
# relay and re-enrol it with a new enrolment code, but registration.reissue_enrolment_code only
# served a station still waiting for its first enrolment; revoking the relay instead strands
# its stations (their parent cannot be changed, and they trust only the lost relay's key).
def test_a_relay_whose_disk_was_lost_can_be_enrolled_again(scene: Scene) -> None:
    tree = scene.world.tree
    relay, _code = register_station(
        actor=scene.manager,
        code="north-relay",
        name="North BU relay",
        org_unit=tree.north_bu,
        role=StationRole.RELAY,
    )
    relay = _enrolled(relay)
    suspend_station(actor=scene.manager, station=relay, reason="disk lost")
    _again, code = reissue_enrolment_code(actor=scene.manager, station=relay)
    assert len(code) == 26


# --- hostile input: never a 500 ------------------------------------------------------------


# FIXED on this branch (one line): journal._peek_seq read any Unicode digit with int(): '²'
# raised ValueError, a 500.
def test_a_superscript_digit_in_an_entrys_seq_is_refused_not_a_500(st: OfflineStation) -> None:
    entry = {"body": '{"seq":\u00b2}', "hash": "0" * 64, "signature": "0" * 128}
    response = _post_batch(st, {"batch_id": "sup", "entries": [entry]})
    assert 400 <= response.status_code < 500  # type: ignore[attr-defined]


# DEFECT: journal._close_shift takes over_short_minor unbounded: the database overflows, a 500
def test_a_huge_shift_over_short_is_refused_not_a_500(st: OfflineStation) -> None:
    opened = st.open_shift()
    shift = st.shift
    closed = st.entry(
        "shift_closed",
        {
            "shift": shift,
            "closed_at": protocol.utc_text(timezone.now()),
            "expected": {"cash": 0},
            "counted": {"cash": 0},
            "over_short_minor": 10**20,
            "close_note": "",
        },
    )
    response = _post_batch(st, batch([opened, closed]))
    assert 400 <= response.status_code < 500  # type: ignore[attr-defined]


# DEFECT: a sale entry's created_at before the meter's base date reaches allocate_tids with a
# negative minute count (ValueError), a 500
def test_a_sale_dated_before_the_meters_base_date_is_refused_not_a_500(
    st: OfflineStation,
) -> None:
    meter = st.world.add_meter()
    data = st.sale_data(meter, "250")
    data["created_at"] = "1990-01-01T00:00:00.000000Z"
    response = _post_batch(st, batch([st.entry("sale", data)]))
    assert 400 <= response.status_code < 500  # type: ignore[attr-defined]


# --- the careless user ---------------------------------------------------------------------


# FIXED (the banner reads the refusal):
# when the master refuses the station's journal (STATION_JOURNAL_REJECTED: nothing more
# goes up until someone acts), the cashier screen's banner stays the calm grey one: the refusal
# is only in `gridvend station status` (stations/selectors.py station_overview and
# web/templates/cashier/_station.html never read LocalStation.upload_refusal_code).
def test_the_cashier_banner_warns_when_the_master_refused_the_journal() -> None:
    with station_mode_forgotten():
        world = build_world()
        pair = protocol.new_key_pair()
        now = timezone.now()
        LocalStation.objects.create(
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
            last_sync_at=now - timedelta(minutes=5),
            upload_refusal_code="STATION_JOURNAL_REJECTED",
            upload_refusal="The station's journal was rejected (invalid at entry 1)",
        )
        LocalAllowance.objects.create(
            sequence=1,
            ceiling_minor=500_000,
            currency="KES",
            valid_from=now - timedelta(hours=1),
            valid_until=now + timedelta(days=2),
            payload="{}",
            signature="00",
        )
        page = signed_in(world.cashier).get(reverse("cashier:home"))
        assert b'id="station-banner"' in page.content
        assert b"alert-secondary" not in page.content


# FIXED: applying a batch clears Station.unsynced_since when the time the batch sent is not
# after its last entry (journal._still_unsynced)
def test_a_batch_applied_whole_does_not_leave_the_station_unsynced_since_its_first_entry(
    st: OfflineStation,
) -> None:
    meter = st.world.add_meter()
    first_at = timezone.now() - timedelta(hours=6)
    entries = [st.sell(meter, "250", at=first_at), st.sell(meter, "260")]
    body = batch(entries)
    body["unsynced_since"] = protocol.utc_text(first_at)
    receive_batch(station=st.station, body=body)
    station = Station.objects.get(pk=st.station.pk)
    assert station.last_seq == 2
    assert station.unsynced_since is None or station.unsynced_since > first_at


# --- docs ----------------------------------------------------------------------------------


# DEFECT: docs/stations.md has no threat model (issue 17, item 9: what the disk gives away)
def test_the_stations_doc_has_its_threat_model() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "stations.md").read_text()
    assert "## Threat model" in text
