"""A tampered journal is refused whole, with its reason, kept as a rejected batch, audited and
logged as the supervisor's alarm; nothing of it is applied."""

from __future__ import annotations

import logging

import pytest

from gridvend.audit.models import AuditEvent
from gridvend.kernel.errors import DomainError
from gridvend.stations import protocol
from gridvend.stations.events import StationEvent
from gridvend.stations.models import BatchStatus, Station, StationBatch, StationStatus
from gridvend.stations.services.journal import receive_batch
from gridvend.vending.models import Sale
from tests.stations.offline import OfflineStation, batch, offline_station
from tests.world import build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def st() -> OfflineStation:
    return offline_station(build_world())


def _three(st: OfflineStation) -> list[dict]:
    meter = st.world.add_meter()
    return [st.sell(meter, "250"), st.sell(meter, "260"), st.sell(meter, "270")]


def _assert_rejected(
    st: OfflineStation, entries: list[dict], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    before = Station.objects.get(pk=st.station.pk)
    body = batch(entries)
    with (
        caplog.at_level(logging.ERROR, logger="gridvend.stations"),
        pytest.raises(DomainError) as refused,
    ):
        receive_batch(station=st.station, body=body)
    assert refused.value.code == "STATION_JOURNAL_REJECTED"
    assert refused.value.params["reason"] == reason
    assert not Sale.objects.filter(vending_point=st.point).exists()
    after = Station.objects.get(pk=st.station.pk)
    assert (after.last_seq, after.last_hash) == (before.last_seq, before.last_hash)
    kept = StationBatch.objects.get(station=st.station, batch_id=body["batch_id"])
    assert kept.status == BatchStatus.REJECTED and kept.reason_code == reason
    event = AuditEvent.objects.filter(event_type=StationEvent.BATCH_REJECTED).latest("id")
    assert event.after is not None and event.after["reason"] == reason
    assert any(reason in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    # Sent again, the same batch gets the same refusal and still applies nothing.
    with pytest.raises(DomainError) as again:
        receive_batch(station=st.station, body=body)
    assert again.value.params["reason"] == reason


def test_an_edited_entry_is_rejected(st: OfflineStation, caplog: pytest.LogCaptureFixture) -> None:
    entries = _three(st)
    entries[1]["body"] = entries[1]["body"].replace('"tender_minor":26000', '"tender_minor":2600')
    _assert_rejected(st, entries, "edited", caplog)


def test_an_edited_entry_with_its_hash_recomputed_fails_its_signature(
    st: OfflineStation, caplog: pytest.LogCaptureFixture
) -> None:
    entries = _three(st)
    body = entries[1]["body"].replace('"payment_method":"cash"', '"payment_method":"card"')
    entries[1] = {**entries[1], "body": body, "hash": protocol.sha256_hex(body)}
    _assert_rejected(st, entries, "bad_signature", caplog)


def test_a_removed_entry_is_rejected(st: OfflineStation, caplog: pytest.LogCaptureFixture) -> None:
    entries = _three(st)
    _assert_rejected(st, [entries[0], entries[2]], "removed", caplog)


def test_reordered_entries_are_rejected(
    st: OfflineStation, caplog: pytest.LogCaptureFixture
) -> None:
    entries = _three(st)
    _assert_rejected(st, [entries[0], entries[2], entries[1]], "reordered", caplog)


def test_an_inserted_entry_is_rejected(
    st: OfflineStation, caplog: pytest.LogCaptureFixture
) -> None:
    entries = _three(st)
    _assert_rejected(st, [entries[0], entries[1], entries[1], entries[2]], "inserted", caplog)


def test_an_entry_spliced_from_another_chain_is_rejected(
    st: OfflineStation, caplog: pytest.LogCaptureFixture
) -> None:
    entries = _three(st)
    # Signed by the station's own key, in the right place, but not chained to the one before.
    st.seq, st.prev = 1, "f" * 64
    meter = st.world.add_meter()
    _assert_rejected(st, [entries[0], st.sell(meter, "250")], "inserted", caplog)


def test_an_entry_signed_by_another_key_is_rejected(
    st: OfflineStation, caplog: pytest.LogCaptureFixture
) -> None:
    entries = _three(st)
    # Whoever holds another key (a forged station) re-signs the second entry.
    forger = protocol.new_key_pair()
    digest = entries[1]["hash"]
    entries[1] = {**entries[1], "signature": protocol.sign(forger.seed, bytes.fromhex(digest))}
    _assert_rejected(st, entries, "bad_signature", caplog)


def test_a_revoked_stations_journal_is_rejected(
    st: OfflineStation, caplog: pytest.LogCaptureFixture
) -> None:
    entries = _three(st)
    Station.objects.filter(pk=st.station.pk).update(status=StationStatus.REVOKED)
    st.station.refresh_from_db()
    _assert_rejected(st, entries, "revoked", caplog)


def test_a_batch_naming_another_station_is_rejected(
    st: OfflineStation, caplog: pytest.LogCaptureFixture
) -> None:
    other = offline_station(st.world, lane=2)
    meter = st.world.add_meter()
    # The station's own key, but the entries say they are the other station's.
    st.station.code, real = other.code, st.station.code
    entries = [st.sell(meter, "250")]
    st.station.code = real
    _assert_rejected(st, entries, "foreign_station", caplog)


def test_an_applied_entry_sent_back_changed_is_rejected(
    st: OfflineStation, caplog: pytest.LogCaptureFixture
) -> None:
    meter = st.world.add_meter()
    first = st.sell(meter, "250")
    receive_batch(station=st.station, body=batch([first]))
    st.seq, st.prev = 0, protocol.GENESIS
    replaced = st.sell(meter, "300")
    with pytest.raises(DomainError) as refused:
        receive_batch(station=st.station, body=batch([replaced]))
    assert refused.value.params["reason"] == "edited"
    assert Sale.objects.filter(vending_point=st.point).count() == 1


def test_a_token_that_does_not_decode_as_recorded_rejects_the_batch(
    st: OfflineStation, caplog: pytest.LogCaptureFixture
) -> None:
    meter, other = st.world.add_meter(), st.world.add_meter()
    data = st.sale_data(meter, "250")
    # The token of another meter's sale: it does not decode with this meter's key as claimed.
    data["tokens"] = st.sale_data(other, "250")["tokens"]
    _assert_rejected(st, [st.entry("sale", data)], "invalid", caplog)
