"""A station takes an allowance only when its master signed it for this station and its
sequence is above every one taken before; each refusal is audited and stores nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from gridvend.audit.models import AuditEvent
from gridvend.stations import protocol
from gridvend.stations.events import StationEvent
from gridvend.stations.models import LocalAllowance, LocalStation
from gridvend.stations.services.local_allowances import (
    AllowanceRefused,
    accept_allowance,
    current_allowance,
)

pytestmark = pytest.mark.django_db


def _station(master: protocol.KeyPair) -> LocalStation:
    me = protocol.new_key_pair()
    return LocalStation.objects.create(
        pk=1,
        code="kisumu-st1",
        master_url="http://127.0.0.1:9/",
        nonce=b"n",
        ciphertext=b"c",
        tag=b"t",
        public_key=me.public_hex,
        master_public_key=master.public_hex,
        upstream_public_key=master.public_hex,
        org_unit_id_on_master=7,
        tid_lane=1,
    )


def _wire(master: protocol.KeyPair, sequence: int, ceiling: int, station: str = "kisumu-st1"):
    now = timezone.now()
    made = protocol.make_allowance(
        seed=master.seed,
        station=station,
        sequence=sequence,
        ceiling_minor=ceiling,
        currency="KES",
        valid_from=now - timedelta(minutes=1),
        valid_until=now + timedelta(days=3),
        issued_at=now,
    )
    return {"payload": made.payload, "signature": made.signature}


def test_a_newer_allowance_is_taken_and_an_older_forged_or_foreign_one_is_refused() -> None:
    master = protocol.new_key_pair()
    station = _station(master)
    first = accept_allowance(station, _wire(master, 1, 100_000))
    assert accept_allowance(station, _wire(master, 2, 300_000)).ceiling_minor == 300_000
    current = current_allowance(timezone.now())
    assert current is not None and current.sequence == 2
    # The same allowance again is no change; the first one again is a replay.
    assert accept_allowance(station, {"payload": first.payload, "signature": first.signature})
    refusals = [
        _wire(master, 1, 900_000),  # replayed sequence with another ceiling
        _wire(master, 3, 900_000, station="other-st"),  # another station's
        _wire(protocol.new_key_pair(), 3, 900_000),  # not the master's key
        {**_wire(master, 3, 1), "payload": _wire(master, 3, 1)["payload"].replace(":1,", ":9,")},
        {"payload": "{}"},  # not the shape
    ]
    for wire in refusals:
        with pytest.raises(AllowanceRefused):
            accept_allowance(station, wire)
    assert list(LocalAllowance.objects.values_list("sequence", flat=True)) == [2, 1]
    refused = AuditEvent.objects.filter(event_type=StationEvent.ALLOWANCE_REFUSED).count()
    assert refused == len(refusals)
