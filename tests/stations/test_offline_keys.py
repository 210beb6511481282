"""The key an offline sale was made under (issue 17): the station journals the full key, the
master decodes the tokens under it only if the meter has or had it (its key change history), and
a batch rejected for a cause the master can fix applies when the station sends it again."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from gridvend.audit.models import AuditEvent
from gridvend.meters.keychanges import request_key_change
from gridvend.meters.models import Meter
from gridvend.meters.selectors import meter_key_ref
from gridvend.stations.errors import StationJournalRejected
from gridvend.stations.events import StationEvent
from gridvend.stations.models import BatchStatus, StationBatch, StationConflict
from gridvend.stations.services import offline as station_offline
from gridvend.stations.services.journal import receive_batch
from gridvend.vending import services as vending
from gridvend.vending.models import Sale
from gridvend.vending.services.engineering import issue_key_change_tokens
from gridvend.vending.services.offline import KEY_FIELDS, key_wire
from tests.stations.offline import OfflineStation, batch, offline_station
from tests.world import build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def st() -> OfflineStation:
    return offline_station(build_world())


def _change_key(st: OfflineStation, meter: Meter, n: int, *, krn: int) -> None:
    request_key_change(actor=st.world.admin, meter=meter, reason="new key", krn=krn)
    issue_key_change_tokens(
        actor=st.world.cashier,
        vending_point=st.world.point,
        client_reference=f"key-change-{n}",
        meter_number=meter.number,
    )
    meter.refresh_from_db()


def _rejected(st: OfflineStation, body: dict) -> StationJournalRejected:
    with pytest.raises(StationJournalRejected) as rejected:
        receive_batch(station=st.station, body=body)
    return rejected.value


def test_a_sale_entry_journals_the_full_key_it_was_sold_under(st: OfflineStation) -> None:
    world = st.world
    meter = world.add_meter()
    sold = vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference="journal-key-1",
        meter_number=meter.number,
        tender=world.money("250"),
    )
    data = station_offline.sale_data(sold.sale, sold.tokens, allowance=1, sold_total_minor=0)
    assert tuple(data["key"]) == KEY_FIELDS
    assert data["key"] == key_wire(meter_key_ref(meter))
    assert data["key"]["base_date_year"] == meter.base_date_year
    # What the station journals is what the master matches: the master's own copy of the key.
    assert json.loads(json.dumps(data["key"])) == data["key"]


@pytest.mark.parametrize("change", [{"krn": 9}, {"base_date_year": 1993}, {"kt": 1}])
def test_a_key_the_meter_never_had_is_refused_not_decoded(
    st: OfflineStation, change: dict[str, int]
) -> None:
    meter = st.world.add_meter()
    never_had = dataclasses.replace(meter_key_ref(meter), **change)  # type: ignore[arg-type]
    # (Sold in 2024: a 1993 base date still gives a TID then.)
    sold = st.sell(meter, "250", key_ref=never_had, at=datetime(2024, 6, 1, tzinfo=UTC))
    refused = _rejected(st, batch([sold]))
    assert refused.params["reason"] == "invalid"
    assert "not one the meter has had" in str(refused.params["problem"])
    assert not Sale.objects.filter(vending_point=st.point).exists()


def test_a_key_the_meter_had_before_a_key_change_is_decoded_and_flagged(
    st: OfflineStation,
) -> None:
    meter = st.world.add_meter()
    before = meter_key_ref(meter)
    sold = st.sell(meter, "250")
    _change_key(st, meter, 1, krn=3)
    _change_key(st, meter, 2, krn=4)
    # Two key changes later the first key is still one the meter had.
    answer = receive_batch(station=st.station, body=batch([sold]))
    assert answer["status"] == "applied" and answer["conflicts"] == 1
    [conflict] = StationConflict.objects.filter(station=st.station)
    assert conflict.kind == "key_changed"
    assert conflict.detail["sold_with"]["krn"] == before.krn
    assert conflict.detail["meter_now"]["krn"] == 4
    for token in conflict.sale.tokens.all():  # type: ignore[union-attr]
        assert token.tid_base_year == before.base_date_year and token.key_ref == before.key_ref


def test_an_entry_with_only_sgc_ti_and_krn_is_matched_to_a_key_the_meter_had(
    st: OfflineStation,
) -> None:
    """Entries journalled before the full key was (older stations) keep working."""
    meter = st.world.add_meter()
    earlier = dict(st.sale_data(meter, "260"))
    earlier["key"] = {name: earlier["key"][name] for name in ("sgc", "ti", "krn")}
    _change_key(st, meter, 1, krn=3)
    current = dict(st.sale_data(meter, "270"))
    current["key"] = {name: current["key"][name] for name in ("sgc", "ti", "krn")}
    answer = receive_batch(
        station=st.station,
        body=batch([st.entry("sale", dict(earlier)), st.entry("sale", current)]),
    )
    assert answer["status"] == "applied"
    kinds = list(StationConflict.objects.filter(station=st.station).values_list("kind", flat=True))
    assert kinds == ["key_changed"]


def test_an_invalid_batch_applies_when_sent_again_after_the_master_was_put_right(
    st: OfflineStation,
) -> None:
    """The station re-sends a rejected batch under the same id every sync: a rejection for a
    cause the master can fix (here a meter whose key was edited by hand, with no key change
    recorded) is verified afresh each time, and applies once it is fixed."""
    meter = st.world.add_meter()
    body = batch([st.sell(meter, "250")], "st:1-1")
    Meter.objects.filter(pk=meter.pk).update(krn=7)
    first = _rejected(st, body)
    again = _rejected(st, body)
    assert first.params == again.params
    assert StationBatch.objects.get(station=st.station).status == BatchStatus.REJECTED
    rejections = AuditEvent.objects.filter(event_type=StationEvent.BATCH_REJECTED)
    assert rejections.count() == 1
    # The operator puts the meter's record right; the same batch, sent again, applies.
    Meter.objects.filter(pk=meter.pk).update(krn=2)
    answer = receive_batch(station=st.station, body=body)
    assert answer["status"] == "applied" and answer["last_seq"] == 1
    kept = StationBatch.objects.get(station=st.station)
    assert kept.status == BatchStatus.APPLIED
    assert receive_batch(station=st.station, body=body) == answer
    assert Sale.objects.filter(vending_point=st.point).count() == 1


def test_a_batch_rejected_for_a_broken_chain_is_answered_from_the_record(
    st: OfflineStation,
) -> None:
    meter = st.world.add_meter()
    entry = st.sell(meter, "250")
    entry["body"] = entry["body"].replace('"payment_method":"cash"', '"payment_method":"card"')
    body = batch([entry], "st:1-1")
    assert _rejected(st, body).params["reason"] == "edited"
    assert _rejected(st, body).params["reason"] == "edited"
    assert StationBatch.objects.get(station=st.station).status == BatchStatus.REJECTED
