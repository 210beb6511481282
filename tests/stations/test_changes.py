"""The master's change log and ``GET changes``: the triggers catch creates, updates (bulk and
raw ones too) and deletions of the rows a station holds, and not the meter's ``last_tid``; a
station is sent only its unit's rows; every hostile query value is refused with a stable code,
signed, and an unsigned or wrong caller is refused before anything is read."""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection, connections, transaction
from django.test import Client
from django.utils import timezone

from gridvend.customers import services as customers
from gridvend.customers.models import Customer, Debt
from gridvend.meters.models import Meter
from gridvend.stations import changes, protocol
from gridvend.stations.models import Station, StationStatus, SyncChange
from gridvend.stations.services import signing
from tests.hostile import HOSTILE_QUERY
from tests.world import World, build_world

pytestmark = pytest.mark.django_db

URL = "/station-api/v1/changes"


@pytest.fixture
def world(db: None) -> World:
    return build_world()


def _logged(label: str, pk: int) -> list[SyncChange]:
    return list(SyncChange.objects.filter(model=label, object_id=pk).order_by("id"))


def test_the_log_sees_creates_updates_bulk_updates_and_deletes(world: World) -> None:
    meter = world.add_meter()
    customer = world.customer(meter)
    assert _logged("customers.customer", customer.pk)
    assert _logged("meters.meter", meter.pk)[-1].path == world.unit.path

    before = len(_logged("customers.customer", customer.pk))
    Customer.objects.filter(pk=customer.pk).update(phone="+254700000001")
    assert len(_logged("customers.customer", customer.pk)) == before + 1

    debt = customers.open_debt(
        actor=world.admin, customer=customer, amount=world.money("10"), reason="arrears"
    )
    before = len(_logged("customers.debt", debt.pk))
    Debt.objects.filter(pk=debt.pk).update(balance_minor=500)
    assert len(_logged("customers.debt", debt.pk)) == before + 1

    premise = customers.create_premise(actor=world.admin, org_unit=world.unit, address="1 Gone")
    premise_id = premise.pk
    premise.delete()
    gone = _logged("customers.premise", premise_id)[-1]
    assert (gone.deleted, gone.path) == (True, world.unit.path)


def test_a_sales_raw_last_tid_update_writes_nothing_to_the_log(world: World) -> None:
    meter = world.add_meter()
    count = SyncChange.objects.count()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE meters_meter SET last_tid = %s WHERE id = %s", [123, meter.pk])
    assert SyncChange.objects.count() == count
    Meter.objects.filter(pk=meter.pk).update(block_reason="looked at")
    assert SyncChange.objects.count() == count + 1


def test_a_row_moved_to_another_unit_is_logged_under_both_paths(world: World) -> None:
    meter = world.add_meter()
    customer = world.customer(meter)
    Customer.objects.filter(pk=customer.pk).update(org_unit=world.tree.south_sc)
    paths = {row.path for row in _logged("customers.customer", customer.pk)[-2:]}
    assert paths == {world.unit.path, world.tree.south_sc.path}


def _station(world: World, code: str = "north-st1") -> protocol.KeyPair:
    pair = protocol.new_key_pair()
    Station.objects.create(
        code=code,
        name=code,
        org_unit=world.unit,
        tid_lane=1,
        status=StationStatus.ACTIVE,
        public_key=pair.public_hex,
    )
    return pair


def _get(client: Client, pair: protocol.KeyPair | None, query: str, code: str = "north-st1"):
    stamp = protocol.utc_text(timezone.now())
    nonce = protocol.new_nonce()
    headers: dict[str, str] = {}
    if pair is not None:
        headers = {
            protocol.HEADER_STATION: code,
            protocol.HEADER_TIME: stamp,
            protocol.HEADER_NONCE: nonce,
            protocol.HEADER_SIGNATURE: protocol.sign(
                pair.seed, protocol.request_message("GET", f"{URL}?{query}", stamp, nonce, b"")
            ),
        }
    response = client.get(f"{URL}?{query}", headers=headers)
    if "%00" in query:
        # The project's middleware turns away a NUL in any address before a view runs (an
        # unsigned 400, which a station takes as a link that is down).
        assert response.status_code == 400
        return response
    protocol.verify(
        signing.signing_key().public_hex,
        protocol.answer_message(nonce if pair is not None else "", response.content),
        response[protocol.HEADER_MASTER_SIGNATURE],
    )
    return response


def _all_pages(client: Client, pair: protocol.KeyPair, cursor: int = 0) -> dict[str, Any]:
    """Every page from ``cursor`` on; the rows by model and the last cursor."""
    seen: dict[str, dict[int, Any]] = {}
    snapshot = ""
    for _ in range(1000):
        query = f"cursor={cursor}&limit=3" + (f"&snapshot={snapshot}" if snapshot else "")
        page = json.loads(_get(client, pair, query).content)
        for change in page["changes"]:
            seen.setdefault(change["model"], {})[change["pk"]] = change
        cursor, snapshot = page["cursor_to"], page["snapshot"] or ""
        if not page["more"]:
            return {"rows": seen, "cursor": cursor}
    raise AssertionError("the pages never end")


def test_a_station_is_sent_its_unit_and_never_another_units_customer(world: World) -> None:
    signing.forget()
    north = world.add_meter()
    south = world.add_meter(unit=world.tree.south_sc)
    pair = _station(world)
    client = Client()

    first = _all_pages(client, pair)
    assert world.customer(north).pk in first["rows"]["customers.customer"]
    assert world.customer(south).pk not in first["rows"]["customers.customer"]
    assert south.pk not in first["rows"]["meters.meter"]

    # Later changes of the other unit's rows are not sent either, this unit's are.
    Customer.objects.filter(pk=world.customer(south).pk).update(phone="+254700000002")
    Customer.objects.filter(pk=world.customer(north).pk).update(phone="+254700000003")
    later = _all_pages(client, pair, first["cursor"])
    # A customer travels with its tariff and that tariff's published versions.
    assert set(later["rows"]) <= {"customers.customer", "tariffs.tariff", "tariffs.tariffversion"}
    sent = later["rows"]["customers.customer"]
    assert list(sent) == [world.customer(north).pk]
    assert sent[world.customer(north).pk]["fields"]["phone"] == "+254700000003"

    # A customer who moves away is sent as deleted to the station that loses them.
    Customer.objects.filter(pk=world.customer(north).pk).update(org_unit=world.tree.south_sc)
    moved = _all_pages(client, pair, later["cursor"])
    assert moved["rows"]["customers.customer"][world.customer(north).pk]["deleted"] is True


def test_the_snapshot_sends_no_secret_beyond_the_documented_fields(world: World) -> None:
    signing.forget()
    world.add_meter()
    pair = _station(world)
    rows = _all_pages(Client(), pair)["rows"]
    user = next(iter(rows["identity.user"].values()))["fields"]
    assert set(user) == set(changes.BY_LABEL["identity.user"].fields)
    assert "totp_pending_secret" not in user and "failed_logins" not in user
    # Vending keys never travel in the change log.
    assert not any("key_hex" in json.dumps(r) for model in rows.values() for r in model.values())


@pytest.mark.parametrize(
    "query",
    [
        *(urlencode({"cursor": value}) for value in HOSTILE_QUERY),
        *(urlencode({"cursor": 0, "limit": v}) for v in [*HOSTILE_QUERY, "0", "1001"]),
        *(
            urlencode({"cursor": 0, "snapshot": v})
            for v in [*HOSTILE_QUERY, "1.99.0", "1.2", "1.2.3.4", "١.٢.٣"]
        ),
        "cursor=5&snapshot=1.0.0",
        "limit=10",
        "cursor=-1",
        "cursor=4611686018427387905",
        "cursor=1&" + "x=1&" * 100,
    ],
)
def test_hostile_query_values_are_refused_with_a_stable_signed_code(
    world: World, query: str
) -> None:
    signing.forget()
    pair = _station(world)
    count = SyncChange.objects.count()
    response = _get(Client(), pair, query)
    assert response.status_code == 400, response.content[:200]
    if "%00" not in query:
        assert json.loads(response.content)["error"]["code"] == "STATION_CHANGES_QUERY_INVALID"
    assert SyncChange.objects.count() == count


def test_an_unsigned_or_suspended_caller_is_refused(world: World) -> None:
    signing.forget()
    pair = _station(world)
    assert _get(Client(), None, "cursor=0").status_code == 403
    other = protocol.new_key_pair()
    assert _get(Client(), other, "cursor=0").status_code == 403
    Station.objects.filter(code="north-st1").update(status=StationStatus.SUSPENDED)
    refused = _get(Client(), pair, "cursor=0")
    assert refused.status_code == 403
    assert json.loads(refused.content)["error"]["code"] == "STATION_NOT_ACTIVE"
    assert Client().post(URL).status_code == 405


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_change_committed_late_is_not_skipped_by_a_station_that_read_past_it() -> None:
    """T1 changes customer A and holds its transaction open; meanwhile B's change commits and
    the station reads it. When T1 commits, A's change comes after the cursor the station has,
    although its log row was written first."""
    world = build_world()
    signing.forget()
    a, b = world.customer(world.add_meter()), world.customer(world.add_meter())
    pair = _station(world)
    client = Client()
    first = _all_pages(client, pair)
    written, release = threading.Event(), threading.Event()

    def slow() -> None:
        try:
            with transaction.atomic():
                Customer.objects.filter(pk=a.pk).update(phone="+254700000010")
                written.set()
                release.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=slow)
    thread.start()
    assert written.wait(30)
    Customer.objects.filter(pk=b.pk).update(phone="+254700000011")
    middle = _all_pages(client, pair, first["cursor"])
    assert set(middle["rows"].get("customers.customer", {})) == {b.pk}
    release.set()
    thread.join(30)

    last = _all_pages(client, pair, middle["cursor"])
    assert last["rows"]["customers.customer"][a.pk]["fields"]["phone"] == "+254700000010"


def test_a_sale_adds_its_customers_month_to_the_log_and_one_row_per_debt_it_recovers(
    world: World,
) -> None:
    from gridvend.vending import services as vending

    meter = world.add_meter()

    def sell(reference: str) -> int:
        before = SyncChange.objects.count()
        vending.vend_credit(
            actor=world.cashier,
            vending_point=world.point,
            client_reference=reference,
            meter_number=meter.number,
            tender=world.money("300"),
        )
        return SyncChange.objects.count() - before

    assert sell("no-debt") == 1
    month = _logged("vending.customermonth", world.customer(meter).pk)
    assert len(month) == 1 and month[0].path == world.unit.path and month[0].deleted is False
    debt = customers.open_debt(
        actor=world.admin, customer=world.customer(meter), amount=world.money("50"), reason="old"
    )
    assert sell("with-debt") == 2
    assert _logged("customers.debt", debt.pk)[-1].deleted is False
