"""The station protocol's pure parts: canonical entries and allowances verify, and any change
to a byte, another key or another station is refused; TID lanes never meet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridvend.kernel.tokens import allocate_tids
from gridvend.stations import protocol

WHEN = datetime(2026, 12, 1, 8, 15, tzinfo=UTC)


def _entry(pair: protocol.KeyPair, seq: int = 1, prev: str = protocol.GENESIS) -> dict[str, str]:
    return protocol.make_entry(
        seed=pair.seed,
        station="kisumu-st1",
        seq=seq,
        kind="sale",
        occurred_at=WHEN,
        prev=prev,
        data={"meter": "04300000009", "tender_minor": 30000, "tids": [123457]},
    ).wire()


def test_an_entry_reads_back_as_signed_and_a_changed_byte_is_refused() -> None:
    pair = protocol.new_key_pair()
    wire = _entry(pair)
    read = protocol.read_entry(wire, public_hex=pair.public_hex)
    assert (read.seq, read.kind, read.prev, read.occurred_at) == (1, "sale", protocol.GENESIS, WHEN)
    assert read.data["tender_minor"] == 30000
    # The body edited (30000 -> 90000): its hash no longer matches.
    edited = dict(wire, body=wire["body"].replace("30000", "90000"))
    with pytest.raises(protocol.BadSignature):
        protocol.read_entry(edited, public_hex=pair.public_hex)
    # Edited and re-hashed: the signature no longer matches.
    edited["hash"] = protocol.sha256_hex(edited["body"])
    with pytest.raises(protocol.BadSignature):
        protocol.read_entry(edited, public_hex=pair.public_hex)
    # Another station's key.
    with pytest.raises(protocol.BadSignature):
        protocol.read_entry(wire, public_hex=protocol.new_key_pair().public_hex)
    # Not the shape.
    with pytest.raises(ValueError):
        protocol.read_entry({**wire, "extra": 1}, public_hex=pair.public_hex)


def test_an_allowance_verifies_only_for_its_station_and_its_master() -> None:
    master = protocol.new_key_pair()
    allowance = protocol.make_allowance(
        seed=master.seed,
        station="kisumu-st1",
        sequence=3,
        ceiling_minor=5_000_000,
        currency="KES",
        valid_from=WHEN,
        valid_until=WHEN + timedelta(days=7),
        issued_at=WHEN,
    )
    wire = {"payload": allowance.payload, "signature": allowance.signature}
    again = protocol.read_allowance(wire, master_public_hex=master.public_hex, station="kisumu-st1")
    assert (again.sequence, again.ceiling_minor, again.currency) == (3, 5_000_000, "KES")
    with pytest.raises(ValueError):
        protocol.read_allowance(wire, master_public_hex=master.public_hex, station="other-st")
    with pytest.raises(protocol.BadSignature):
        protocol.read_allowance(
            {**wire, "payload": allowance.payload.replace("5000000", "9000000")},
            master_public_hex=master.public_hex,
            station="kisumu-st1",
        )
    with pytest.raises(protocol.BadSignature):
        protocol.read_allowance(
            wire, master_public_hex=protocol.new_key_pair().public_hex, station="kisumu-st1"
        )


@given(
    last=st.one_of(st.none(), st.integers(0, 5_000_000)),
    now=st.integers(0, 5_000_000),
    count=st.integers(1, 5),
    lane=st.integers(1, 15),
)
def test_tid_lanes_never_meet_and_stay_above_the_last(
    last: int | None, now: int, count: int, lane: int
) -> None:
    master = allocate_tids(last, now, count, lanes=16, lane=0)
    station = allocate_tids(last, now, count, lanes=16, lane=lane)
    assert not set(master) & set(station)
    for tids, want in ((master, 0), (station, lane)):
        assert all(t % 16 == want for t in tids)
        assert tids == sorted(set(tids)) and len(tids) == count
        assert tids[0] >= now and (last is None or tids[0] > last)
        assert tids[0] - max(now, (-1 if last is None else last) + 1) < 16


def test_a_vending_keys_statement_binds_station_both_exchange_keys_and_the_items() -> None:
    master = protocol.new_key_pair()
    items = [{"key_ref": "vk-1", "nonce": "00" * 12, "ciphertext": "ab", "tag": "cd"}]
    facts: dict[str, Any] = {
        "station": "kisumu-st1",
        "station_exchange_key": "1" * 64,
        "master_exchange_key": "2" * 64,
        "vending_keys": items,
    }
    wire = protocol.make_vending_keys_statement(seed=master.seed, **facts)
    protocol.read_vending_keys_statement(wire, master_public_hex=master.public_hex, **facts)
    for name, other in [
        ("station", "kisumu-st2"),
        ("station_exchange_key", "3" * 64),
        ("master_exchange_key", "3" * 64),
        ("vending_keys", [{**items[0], "tag": "ce"}]),
        ("vending_keys", []),
        ("vending_keys", None),
    ]:
        with pytest.raises(ValueError):
            protocol.read_vending_keys_statement(
                wire, master_public_hex=master.public_hex, **{**facts, name: other}
            )
    with pytest.raises(protocol.BadSignature):
        protocol.read_vending_keys_statement(
            wire, master_public_hex=protocol.new_key_pair().public_hex, **facts
        )
    # Hostile shapes: read as the other master-signed documents are (size before parsing).
    bad: object
    for bad in [None, [], {"payload": "x"}, {"payload": "x" * 1_001, "signature": "00"}]:
        with pytest.raises(ValueError):
            protocol.read_vending_keys_statement(bad, master_public_hex=master.public_hex, **facts)
    relay_key = protocol.make_relay_key(
        seed=master.seed, relay="r", public_key="1" * 64, valid_from=WHEN, sequence=1
    )
    with pytest.raises(ValueError, match="not a vending keys statement"):
        protocol.read_vending_keys_statement(
            relay_key.wire(), master_public_hex=master.public_hex, **facts
        )
