"""Token port: meter key references, TID arithmetic and allocation, and a fake engine."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridvend.kernel.energy import round_kwh_up
from gridvend.kernel.errors import ErrorCode, KeyRevisionExpired
from gridvend.kernel.tokens import (
    MAX_TID,
    IssuedToken,
    MeterKeyRef,
    TokenEngine,
    allocate_tids,
    is_valid_meter_number,
    luhn_check_digit,
    minutes_since_base,
)

METER = MeterKeyRef(
    meter_number="01234567897",
    sgc="123456",
    ti=1,
    krn=1,
    kt=2,
    ken=255,
    ea="07",
    dkga="02",
    base_date_year=1993,
    key_ref="vk/123456/1",
)


@pytest.mark.parametrize(
    ("payload", "digit"),
    [("1234567890", 3), ("43135625623", 7), ("7861754265922", 0), ("010000000000", 8)],
)
def test_luhn_matches_the_sts_vectors(payload, digit):
    assert luhn_check_digit(payload) == digit


def test_meter_numbers_need_11_or_13_digits_and_a_check_digit():
    assert is_valid_meter_number("11111111115")
    assert is_valid_meter_number("0100000000008")
    assert not is_valid_meter_number("11111111116")
    assert not is_valid_meter_number("1111111115")
    assert not is_valid_meter_number("1111111111a")


@pytest.mark.parametrize(
    "change",
    [
        {"meter_number": "11111111116"},
        {"sgc": "12345"},
        {"ti": 100},
        {"krn": 0},
        {"kt": 4},
        {"ken": 256},
        {"ea": "09"},
        {"dkga": "03"},
        {"base_date_year": 2000},
        {"key_ref": ""},
    ],
)
def test_meter_key_ref_refuses_bad_parameters(change):
    with pytest.raises(ValueError):
        replace(METER, **change)


def test_meter_key_ref_knows_its_base_date():
    assert METER.base_date == datetime(1993, 1, 1, tzinfo=UTC)


def test_tid_is_minutes_since_the_base_date():
    # STS.md 4.6: 2004-03-01 13:55 on base 1993 is 5 871 715; seconds are truncated.
    assert minutes_since_base(1993, datetime(2004, 3, 1, 13, 55, 59, tzinfo=UTC)) == 5_871_715
    assert minutes_since_base(1993, datetime(1996, 3, 25, 13, 55, tzinfo=UTC)) == 1_698_595
    # The last minute of base 1993 is 24 Nov 2024 20:15.
    assert minutes_since_base(1993, datetime(2024, 11, 24, 20, 15, tzinfo=UTC)) == MAX_TID
    with pytest.raises(ValueError):
        minutes_since_base(2000, datetime(2024, 1, 1, tzinfo=UTC))


def test_allocation_starts_at_now_when_it_is_fresh():
    assert allocate_tids(100, 500, 3) == [500, 501, 502]
    assert allocate_tids(None, 500, 1) == [500]


def test_allocation_bumps_minutes_within_the_same_minute():
    # Two tokens were already issued at minute 500 and 501; the next ones must follow.
    assert allocate_tids(501, 500, 2) == [502, 503]
    assert allocate_tids(500, 500, 1) == [501]


def test_allocation_of_nothing_is_empty():
    assert allocate_tids(7, 5, 0) == []
    with pytest.raises(ValueError):
        allocate_tids(7, 5, -1)
    with pytest.raises(ValueError):
        allocate_tids(None, -1, 1)


def test_allocation_past_24_bits_needs_a_key_change():
    assert allocate_tids(MAX_TID - 2, MAX_TID - 2, 2) == [MAX_TID - 1, MAX_TID]
    with pytest.raises(KeyRevisionExpired) as caught:
        allocate_tids(MAX_TID - 1, MAX_TID - 1, 2)
    assert caught.value.code == ErrorCode.KEY_REVISION_EXPIRED
    assert caught.value.params["reason"] == "tid_range_exhausted"


def test_allocation_refuses_tids_past_the_key_expiry_number():
    # KEN 85: TIDs up to 85 << 16 | 0xFFFF are valid (CTSA16 refuses TID >> 16 == 90).
    last_valid = (85 << 16) | 0xFFFF
    assert allocate_tids(None, last_valid, 1, ken=85) == [last_valid]
    with pytest.raises(KeyRevisionExpired) as caught:
        allocate_tids(None, last_valid + 1, 1, ken=85)
    assert caught.value.params == {
        "reason": "key_expiry_number_passed",
        "tid": last_valid + 1,
        "ken": 85,
    }


@given(
    st.none() | st.integers(0, MAX_TID - 20),
    st.integers(0, MAX_TID - 20),
    st.integers(1, 10),
)
@settings(max_examples=100, deadline=None)
def test_allocated_tids_strictly_increase_above_the_last(last, now, count):
    tids = allocate_tids(last, now, count)
    assert len(tids) == count
    assert all(b > a for a, b in pairwise(tids))
    assert last is None or tids[0] > last
    assert tids[0] >= now


def test_issued_token_is_20_digits_shown_in_fours():
    token = IssuedToken("12345678901234567890", 0, 0, 500, Decimal("10.0"), "credit 10.0 kWh")
    assert token.grouped == "1234 5678 9012 3456 7890"
    with pytest.raises(ValueError):
        IssuedToken("1234", 0, 0, 500, None, "short")


class FakeEngine:
    """Stands in for a real engine: deterministic digits, STS-style round-up of the amount."""

    def tid_for(self, meter: MeterKeyRef, when: datetime) -> int:
        return minutes_since_base(meter.base_date_year, when)

    def issue_credit(self, meter: MeterKeyRef, *, kwh: Decimal, tid: int) -> IssuedToken:
        units = round_kwh_up(kwh)
        return IssuedToken(f"{tid:020d}", 0, 0, tid, units, f"credit {units} kWh")

    def issue_engineering(
        self, meter: MeterKeyRef, *, kind: str, value: int | None, tid: int | None
    ) -> IssuedToken:
        return IssuedToken(f"{tid or 0:020d}", 2, 5, tid, None, kind)

    def check_key_change(self, old: MeterKeyRef, new: MeterKeyRef) -> None:
        return None

    def issue_key_change(
        self, old: MeterKeyRef, new: MeterKeyRef, *, roll_over: bool
    ) -> list[IssuedToken]:
        return [
            IssuedToken("1" * 20, 2, 3, None, None, "kct 1"),
            IssuedToken("2" * 20, 2, 4, None, None, "kct 2"),
        ]


def test_an_engine_satisfies_the_port_and_credits_round_up():
    engine = FakeEngine()
    assert isinstance(engine, TokenEngine)
    when = datetime(2004, 3, 1, 13, 55, tzinfo=UTC)
    tid = allocate_tids(None, engine.tid_for(METER, when), 1, ken=METER.ken)[0]
    token = engine.issue_credit(METER, kwh=Decimal("53.105"), tid=tid)
    assert token.tid == 5_871_715
    assert token.units == Decimal("53.2")
    new = replace(METER, krn=2, base_date_year=2014, key_ref="vk/123456/2")
    assert len(engine.issue_key_change(METER, new, roll_over=True)) == 2
