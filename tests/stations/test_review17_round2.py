"""Review probes, round 2 (issue 17): an attacker's and a careless user's look at this session's
station work (bulk apply, key history, vending-key delivery, month totals, sync lock). Each test
proves one finding; a finding not fixed here is marked xfail(strict) with its reason."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client

from gridvend.audit.models import AuditEvent
from gridvend.kernel.errors import DomainError
from gridvend.stations.errors import StationJournalRejected
from gridvend.stations.events import StationEvent
from gridvend.stations.services.journal import receive_batch
from gridvend.vending.models import Sale
from tests.stations.conftest import Scene
from tests.stations.offline import OfflineStation, batch, offline_station
from tests.stations.station_world import (
    journal_shift_opened,
    sell_at,
    signed_headers,
    station_mode_forgotten,
    station_world,
)
from tests.stations.test_vending_key_delivery import URL, _ask, _enrolled, _new_supply_group
from tests.world import NOW, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def st() -> OfflineStation:
    return offline_station(build_world())


@pytest.mark.parametrize(
    "created_at", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00+05:00", "0001-01-01T00:00:00Z"]
)
def test_a_sale_dated_at_the_edge_of_the_calendar_is_refused_not_a_500(
    st: OfflineStation, created_at: str
) -> None:
    """A rogue station's sale entry dated at the calendar's edge: the batch's month-totals read
    turns every entry's time into a business date before any entry is checked."""
    meter = st.world.add_meter()
    data = dict(st.sale_data(meter, "250"))
    data["created_at"] = created_at
    with pytest.raises(StationJournalRejected) as refused:
        receive_batch(station=st.station, body=batch([st.entry("sale", data)]))
    assert refused.value.params["reason"] == "invalid"
    assert not Sale.objects.filter(vending_point=st.point).exists()


def test_a_replayed_vending_keys_request_does_not_grow_the_audit_log(scene: Scene) -> None:
    """Someone on the network replays a station's signed vending-keys request (the same
    headers, the same body, within the clock skew): the module says no stranger can grow the
    log, but each replay was answered and audited again."""
    station, pair = _enrolled(scene)
    scene.world.add_meter(unit=scene.world.tree.north_sc)
    _new_supply_group(scene)
    _own, body = _ask([scene.world.key_ref])
    headers = signed_headers(pair.seed, station.code, URL, body)
    first = Client().post(URL, body, content_type="application/json", headers=headers)
    assert first.status_code == 200, first.content
    for _ in range(3):
        replay = Client().post(URL, body, content_type="application/json", headers=headers)
        assert replay.status_code in (200, 403, 409), replay.content
        if replay.status_code != 200:
            assert json.loads(replay.content)["error"]["code"].startswith("STATION_")
    assert AuditEvent.objects.filter(event_type=StationEvent.VENDING_KEYS_SENT).count() == 1


# Was a defect (medium, careless user): the clock-set-back check trusted the journal's newest
# entry time, the station's own clock, so a journal dated a year ahead by a wrong clock refused
# every sale once the clock was put right, even after a new allowance. Entries from before the
# newest allowance (master-signed validity) no longer count.
def test_a_shift_opened_with_the_clock_a_year_ahead_does_not_stop_the_station_selling() -> None:
    with station_mode_forgotten():
        world = build_world()
        setup = station_world(world, lane=3)
        setup.give_allowance(sequence=1, ceiling_minor=500_000, around=NOW)
        meter = world.add_meter()
        # The cashier's clock is a year ahead when the shift is opened (journalled then).
        # (As the shift-opened hook journals it: world's cashier has a shift open already.)
        journal_shift_opened(NOW + timedelta(days=365))
        # The clock is put right; the master (at the next sync) gives a fresh allowance.
        setup.give_allowance(sequence=2, ceiling_minor=600_000, around=NOW)
        sold = sell_at(world, meter, NOW + timedelta(hours=1), "clock-put-right")
        assert sold.sale.client_reference == "clock-put-right"
        # Without a fresh allowance the wrong date still holds: a clock behind the journal
        # since the allowance arrived sells nothing.
        journal_shift_opened(NOW + timedelta(days=30))
        with pytest.raises(DomainError) as behind:
            sell_at(world, meter, NOW + timedelta(hours=2), "still-behind")
        assert behind.value.code == "STATION_CLOCK_BEHIND_JOURNAL"


def test_a_sale_entry_whose_two_tokens_share_a_tid_is_refused_not_a_500(
    st: OfflineStation,
) -> None:
    """A rogue station's sale carrying the same token twice (one TID): the TID-clash check looked
    only at TIDs used before the sale, so both tokens kept the TID and the insert broke the
    token_tid_once_per_meter constraint (an IntegrityError, a 500 each time the station sends
    the batch again)."""
    meter = st.world.add_meter()
    data = dict(st.sale_data(meter, "250"))
    token = data["tokens"][0]
    data["tokens"] = [token, {**token, "sequence": 2}]
    with pytest.raises(StationJournalRejected) as refused:
        receive_batch(station=st.station, body=batch([st.entry("sale", data)]))
    assert refused.value.params["reason"] == "invalid"
    assert not Sale.objects.filter(vending_point=st.point).exists()


def test_a_sale_whose_tokens_carry_more_energy_than_it_priced_is_not_taken_silently(
    st: OfflineStation,
) -> None:
    """A rogue station journals a 250 sale carrying the token of a 5,000 sale: the master
    checked each token decodes as the entry says, but not that the tokens carry the kWh the
    breakdown priced (the sale was applied with no conflict, its kWh the token's)."""
    meter = st.world.add_meter()
    small = dict(st.sale_data(meter, "250"))
    big = dict(st.sale_data(meter, "5000"))
    small["tokens"] = big["tokens"]
    with pytest.raises(StationJournalRejected) as refused:
        receive_batch(station=st.station, body=batch([st.entry("sale", small)]))
    assert refused.value.params["reason"] == "invalid"
    assert "does not carry the kWh" in str(refused.value.params["problem"])
    assert not Sale.objects.filter(vending_point=st.point).exists()
