"""Review probes, round 3 (issue 17): an attacker's and a careless user's look at the vending-keys
statement through relays, the PyNaCl signatures, the upstream-key adoption shared by the client
and the relay's pass-up, and the station surfaces around them. Each test proves one finding; a
finding not fixed yet is marked xfail(strict) with its reason, so the fix flips it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from django.test import Client

from gridvend.stations import protocol
from gridvend.stations.errors import StationEnrolFailed
from gridvend.stations.models import LocalStation
from gridvend.stations.services import station_init
from gridvend.stations.services.sync import run_sync_cycle
from tests.stations.master_double import MasterDouble, served_to_station, stand_in_pull
from tests.stations.station_world import (
    CODE,
    StationSetUp,
    make_station,
    station_mode_forgotten,
)

pytestmark = pytest.mark.django_db

RELAY = "bu-relay"
RELAY_KEY = protocol.new_key_pair()
# Base64 of 1,400 "[": inside the 2,000-character limit of the X-Relay-Key header, and deeper
# than the JSON decoder's recursion limit.
DEEP_HEADER = base64.b64encode(b"[" * 1_400).decode("ascii")


@pytest.fixture(autouse=True)
def _station_mode() -> Iterator[None]:
    with station_mode_forgotten():
        yield


@pytest.fixture
def under_relay(db: None) -> StationSetUp:
    """A station under relay ``bu-relay``, trusting the relay's key (statement 1)."""
    made = make_station()
    LocalStation.objects.filter(pk=1).update(
        upstream_public_key=RELAY_KEY.public_hex, upstream_code=RELAY, upstream_key_sequence=1
    )
    return made


@pytest.mark.xfail(
    strict=True,
    reason="relay_key_from_header lets RecursionError out: the sync cycle dies, no failure kept",
)
def test_an_unsigned_answer_with_a_deeply_nested_relay_key_header_is_a_link_down(
    under_relay: StationSetUp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Medium. Anyone on the path (or at a wrong master URL) answers a station under a relay
    with a bad signature and ``X-Relay-Key: base64("[" * 1400)``. ``check_answer_signature``
    asks ``UpstreamKeys.vouched``, whose ``relay_key_from_header`` catches only ValueError: the
    JSON decoder's RecursionError escapes ``_run_cycle`` (which catches LinkDown, Refused,
    AcknowledgementMismatch), so the cron job crashes every minute with a traceback and
    ``_finish`` never runs: no failure counted, no back-off, ``last_failure`` empty, the
    status screen says nothing. The same header makes a relay's vending-keys pass-up a 500
    (not 502). Expected: a LinkDown like any other untrusted answer."""
    stand_in_pull(monkeypatch)
    double = MasterDouble(
        station=CODE,
        station_public_hex=under_relay.key.public_hex,
        key=RELAY_KEY,
        mode="unsigned",
        headers={protocol.HEADER_RELAY_KEY: DEEP_HEADER},
    )
    with served_to_station(double):
        result = run_sync_cycle(force=True)
    assert result.failure.startswith("LinkDown")
    station = LocalStation.objects.get(pk=1)
    assert station.failures == 1
    assert station.upstream_public_key == RELAY_KEY.public_hex


def test_an_unsigned_answer_with_a_garbage_relay_key_header_is_a_link_down(
    under_relay: StationSetUp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Holds: the same attack with a shallow non-JSON header is counted as a link down and
    the trusted key is kept (the control for the probe above)."""
    stand_in_pull(monkeypatch)
    double = MasterDouble(
        station=CODE,
        station_public_hex=under_relay.key.public_hex,
        key=RELAY_KEY,
        mode="unsigned",
        headers={protocol.HEADER_RELAY_KEY: base64.b64encode(b"[[[").decode("ascii")},
    )
    with served_to_station(double):
        result = run_sync_cycle(force=True)
    assert result.failure.startswith("LinkDown")
    assert LocalStation.objects.get(pk=1).failures == 1
