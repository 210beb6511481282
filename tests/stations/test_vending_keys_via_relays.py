"""Vending keys delivered through relays (station -> relay [-> relay] -> master), over real
loopback HTTP: each relay re-signs the answer with its own key, so the station trusts the keys
only on the master's signed statement, checked with the master's key it got at enrolment. An
honest chain of one or two relays delivers; a relay that agrees a key of its own with the
station and seals forged vending keys is refused with its reason, and nothing is kept."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from gridvend.keys.models import VendingKeyRecord
from gridvend.keys.services import forget_cached_keys, load_vending_key
from gridvend.meters.models import Meter
from gridvend.stations import local, protocol
from gridvend.stations.client import LinkDown
from gridvend.stations.models import LocalStation
from gridvend.stations.services import vending_keys
from tests.stations.master_double import KeyingDouble, RelayDouble, serving
from tests.stations.station_world import CODE, StationSetUp, make_station, station_mode_forgotten
from tests.world import build_world

pytestmark = pytest.mark.django_db

MISSING = "vk-added-later"


@pytest.fixture(autouse=True)
def _station_mode() -> Iterator[None]:
    # Opened vending keys are cached by reference: each test's key is its own.
    forget_cached_keys()
    with station_mode_forgotten():
        yield
    forget_cached_keys()


@pytest.fixture
def setup(db: None) -> StationSetUp:
    setup = make_station()
    meter = build_world().add_meter()
    Meter.objects.filter(pk=meter.pk).update(sgc="700123", key_ref=MISSING)
    return setup


def _through(
    setup: StationSetUp, hops: int, *, substitute: str = ""
) -> tuple[ExitStack, KeyingDouble, RelayDouble]:
    """The master double behind ``hops`` relay doubles; the station talks to the nearest relay
    and trusts its key for answers (the master's key it keeps for the master's own word). The
    relay nearest the station is the rogue one when ``substitute`` is given."""
    stack = ExitStack()
    master = KeyingDouble(station=CODE, station_public_hex=setup.key.public_hex, key=setup.master)
    master.held_here = {MISSING: secrets.token_bytes(8)}
    url, upstream_key = stack.enter_context(serving(master)), setup.master.public_hex
    relay = None
    for hop in range(hops):
        relay = RelayDouble(
            station=CODE,
            station_public_hex=setup.key.public_hex,
            key=protocol.new_key_pair(),
            upstream_url=url,
            upstream_public_hex=upstream_key,
            substitute=substitute if hop == hops - 1 else "",
            forged={MISSING: secrets.token_bytes(8)},
        )
        url, upstream_key = stack.enter_context(serving(relay)), relay.key.public_hex
    LocalStation.objects.filter(pk=1).update(master_url=url, upstream_public_key=upstream_key)
    assert relay is not None
    return stack, master, relay


@pytest.mark.parametrize("hops", [1, 2])
def test_an_honest_chain_of_relays_delivers_the_masters_keys(
    setup: StationSetUp, hops: int
) -> None:
    stack, master, _relay = _through(setup, hops)
    with stack:
        assert vending_keys.fetch_missing_vending_keys(local.client()) == [MISSING]
    assert len(master.asked) == 1
    assert load_vending_key(MISSING)[0].secret_bytes() == master.held_here[MISSING]


@pytest.mark.parametrize(
    ("substitute", "reason"),
    [
        # Its own exchange key and forged keys, the master's statement kept.
        ("keys", "the answer's exchange key is not the one the master signed"),
        # The same with a statement it signed itself.
        ("statement", "the signature does not verify"),
        # The master's exchange key and statement, other sealed items.
        ("items", "the answer's sealed vending keys are not the ones the master signed"),
    ],
)
@pytest.mark.parametrize("hops", [1, 2])
def test_a_relay_that_substitutes_the_keys_is_refused_with_its_reason(
    setup: StationSetUp, hops: int, substitute: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    stack, master, relay = _through(setup, hops, substitute=substitute)
    with stack, pytest.raises(LinkDown) as refused:
        vending_keys.fetch_missing_vending_keys(local.client())
    assert "the vending keys are not vouched for by the master" in str(refused.value)
    assert reason in str(refused.value)
    assert "not vouched for by the master" in caplog.text
    assert len(master.asked) == 1  # it did reach the master: the relay changed the answer
    assert not VendingKeyRecord.objects.filter(key_ref=MISSING).exists()
    assert vending_keys.missing_key_refs() == [MISSING]
    assert relay.forged[MISSING] != master.held_here[MISSING]


def test_an_answer_without_the_masters_statement_is_refused(setup: StationSetUp) -> None:
    """A relay (or an old master) that drops the statement: nothing is kept."""
    stack, master, _relay = _through(setup, 1)
    original = master.handle

    def without_statement(method: str, path: str, headers: object, body: bytes) -> object:
        outcome = original(method, path, headers, body)
        if outcome is not None and isinstance(outcome[1], dict):
            outcome[1].pop("statement", None)
        return outcome

    master.handle = without_statement  # type: ignore[method-assign,assignment]
    with stack, pytest.raises(LinkDown, match="vending keys statement is"):
        vending_keys.fetch_missing_vending_keys(local.client())
    assert not VendingKeyRecord.objects.filter(key_ref=MISSING).exists()
