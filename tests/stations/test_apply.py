"""The master applies a station's journal once: every offline sale becomes a central sale with
the station's own tokens (which the meter accepts), balanced in the ledger and counted in its
shift; a batch sent again is answered as the first time; a batch that fails half-way leaves
nothing and applies when sent again."""

from __future__ import annotations

import pytest
from django.db import DatabaseError
from django.test import Client
from django.utils import timezone

from gridvend.audit.models import AuditEvent
from gridvend.kernel.errors import DomainError
from gridvend.ledger.selectors import reconcile_balances, unbalanced_entries
from gridvend.stations import protocol
from gridvend.stations.events import StationEvent
from gridvend.stations.models import (
    BatchStatus,
    Station,
    StationBatch,
    StationEntry,
    StationStatus,
)
from gridvend.stations.services import signing
from gridvend.stations.services.journal import receive_batch
from gridvend.vending import sale_hooks
from gridvend.vending.models import Sale, ShiftStatus, Token
from tests.stations.offline import OfflineStation, batch, offline_station
from tests.world import build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def st() -> OfflineStation:
    return offline_station(build_world())


def _station_sales(st: OfflineStation) -> list[Sale]:
    return list(Sale.objects.filter(vending_point=st.point).order_by("created_at", "id"))


def test_a_batch_applies_every_sale_once_with_the_stations_tokens(st: OfflineStation) -> None:
    world = st.world
    meters = [world.add_meter() for _ in range(3)]
    entries = [st.open_shift()]
    entries += [st.sell(meter, major) for meter, major in zip(meters, ["250", "320", "275"])]
    entries.append(st.close_shift(cash_minor=st.sold_total))
    sales_data = [protocol.read_entry(e, public_hex=st.key.public_hex).data for e in entries[1:4]]

    answer = receive_batch(station=st.station, body=batch(entries, "b-1"))

    assert answer["status"] == "applied" and answer["last_seq"] == 5
    assert answer["last_hash"] == st.prev and answer["conflicts"] == 0
    sales = _station_sales(st)
    assert len(sales) == 3
    for sale, data, meter in zip(sales, sales_data, meters, strict=True):
        assert sale.client_reference == data["reference"]
        assert sale.tender_minor == data["tender_minor"]
        assert sale.operator == st.operator
        assert sale.journal_entry is not None
        tokens = list(sale.tokens.order_by("sequence"))
        assert [t.digits for t in tokens] == [t["digits"] for t in data["tokens"]]
        assert [t.tid for t in tokens] == [t["tid"] for t in data["tokens"]]
        assert all(t.tid is not None and t.tid % 16 == 1 for t in tokens)  # the station's lane
        meter.refresh_from_db()
        assert meter.last_tid == data["tokens"][-1]["tid"]
        # The customer's token, as the station printed it, is accepted by the meter.
        for token in tokens:
            assert world.simulator(meter).enter(token.digits).accepted
    # The books balance and the offline shift carries its sales.
    assert reconcile_balances() == [] and unbalanced_entries() == []
    shift = sales[0].shift
    assert shift is not None and shift.vending_point == st.point
    assert shift.status == ShiftStatus.CLOSED and shift.operator == st.operator
    assert {s.shift_id for s in sales} == {shift.pk}
    assert shift.expected == {"cash": sum(s.tender_minor for s in sales)}
    station = Station.objects.get(pk=st.station.pk)
    assert (station.last_seq, station.last_hash) == (5, st.prev)
    assert station.sold_total_minor == st.sold_total
    assert StationEntry.objects.filter(station=station, sale__isnull=False).count() == 3
    assert AuditEvent.objects.filter(event_type=StationEvent.BATCH_APPLIED).count() == 1


def test_the_same_batch_twice_is_applied_once_and_answered_the_same(st: OfflineStation) -> None:
    meter = st.world.add_meter()
    body = batch([st.sell(meter, "240"), st.sell(meter, "260")], "b-twice")
    first = receive_batch(station=st.station, body=body)
    again = receive_batch(station=st.station, body=dict(body))
    assert again == first
    assert len(_station_sales(st)) == 2
    assert StationBatch.objects.filter(station=st.station).count() == 1
    # The same id with other contents is refused, and applies nothing.
    other = batch([st.sell(meter, "210")], "b-twice")
    with pytest.raises(DomainError) as refused:
        receive_batch(station=st.station, body=other)
    assert refused.value.code == "STATION_BATCH_REUSED"
    assert len(_station_sales(st)) == 2


def test_entries_resent_under_a_new_batch_id_are_skipped_and_the_new_ones_applied(
    st: OfflineStation,
) -> None:
    meter = st.world.add_meter()
    first = [st.sell(meter, "230"), st.sell(meter, "230")]
    receive_batch(station=st.station, body=batch(first))
    # The station lost the acknowledgement and sends everything again with one more entry.
    answer = receive_batch(station=st.station, body=batch([*first, st.sell(meter, "245")]))
    assert answer["last_seq"] == 3
    assert len(_station_sales(st)) == 3


def test_a_batch_failing_half_way_leaves_nothing_and_applies_when_sent_again(
    st: OfflineStation,
) -> None:
    meters = [st.world.add_meter() for _ in range(3)]
    body = batch([st.sell(m, "250") for m in meters], "b-fault")
    calls: list[int] = []

    def fault(sale: Sale, tokens: list[Token]) -> None:
        calls.append(sale.pk)
        if len(calls) == 2:
            # A real fault from the database: changing the second sale's tender breaks its
            # CHECK constraint (SQLite) or its append-only trigger (PostgreSQL).
            Sale.objects.filter(pk=sale.pk).update(tender_minor=-1)

    sale_hooks.register_sale_hook("zz-test-fault", fault)
    try:
        with pytest.raises(DatabaseError):
            receive_batch(station=st.station, body=body)
    finally:
        sale_hooks.unregister_sale_hook("zz-test-fault")
    assert _station_sales(st) == []
    assert not StationBatch.objects.filter(station=st.station).exists()
    assert not StationEntry.objects.filter(station=st.station).exists()
    assert Station.objects.get(pk=st.station.pk).last_seq == 0
    assert not Token.objects.filter(meter__in=meters).exists()
    # The station sends the same batch again: it applies, once.
    assert receive_batch(station=st.station, body=body)["last_seq"] == 3
    assert len(_station_sales(st)) == 3
    assert reconcile_balances() == [] and unbalanced_entries() == []


def test_a_suspended_stations_sales_are_applied(st: OfflineStation) -> None:
    meter = st.world.add_meter()
    Station.objects.filter(pk=st.station.pk).update(status=StationStatus.SUSPENDED)
    st.station.refresh_from_db()
    receive_batch(station=st.station, body=batch([st.sell(meter, "225")]))
    assert len(_station_sales(st)) == 1


def _signed_post(st: OfflineStation, body: bytes) -> tuple[int, dict, str, str]:
    path = "/station-api/v1/batches"
    stamp = protocol.utc_text(timezone.now())
    nonce = protocol.new_nonce()
    signature = protocol.sign(
        st.key.seed, protocol.request_message("POST", path, stamp, nonce, body)
    )
    response = Client().generic(
        "POST",
        path,
        body,
        content_type="application/json",
        headers={
            protocol.HEADER_STATION: st.code,
            protocol.HEADER_TIME: stamp,
            protocol.HEADER_NONCE: nonce,
            protocol.HEADER_SIGNATURE: signature,
        },
    )
    # Every answer is signed by the master over the request's nonce.
    protocol.verify(
        signing.signing_key().public_hex,
        protocol.answer_message(nonce, response.content),
        response[protocol.HEADER_MASTER_SIGNATURE],
    )
    return response.status_code, response.json(), nonce, signature


def test_the_endpoint_applies_a_signed_batch_once_and_refuses_a_broken_one(
    st: OfflineStation,
) -> None:
    meter = st.world.add_meter()
    body = protocol.canonical(batch([st.sell(meter, "280")], "http-1")).encode()
    status, answer, *_ = _signed_post(st, body)
    assert status == 200 and answer["status"] == "applied" and answer["last_seq"] == 1
    status, again, *_ = _signed_post(st, body)
    assert (status, again) == (200, answer)
    assert len(_station_sales(st)) == 1
    # An entry whose body was edited: refused whole with its reason.
    broken = st.sell(meter, "220")
    broken["body"] = broken["body"].replace('"tender_minor":', '"tender_minor":1')
    status, refusal, *_ = _signed_post(st, protocol.canonical(batch([broken])).encode())
    assert status == 422
    assert refusal["error"]["code"] == "STATION_JOURNAL_REJECTED"
    assert refusal["error"]["params"]["reason"] == "edited"
    assert len(_station_sales(st)) == 1
    assert StationBatch.objects.filter(status=BatchStatus.REJECTED).count() == 1


def test_the_endpoint_refuses_a_body_that_is_not_a_batch(st: OfflineStation) -> None:
    for body in (b"[]", b'{"batch_id": "x"}', b'{"batch_id": "x", "entries": [], "z": 1}'):
        status, answer, *_ = _signed_post(st, body)
        assert status == 400 and answer["error"]["code"] == "STATION_BATCH_INVALID"
    assert not StationBatch.objects.exists()
