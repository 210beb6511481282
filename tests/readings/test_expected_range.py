"""The expected range a handheld shows for a meter (``kernel.readings.expected_range``) agrees
with the checks a reading is judged by: its ends pass, a step beyond either end is an exception."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from gridvend.kernel.readings import Point, check_reading, expected_range

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
STEP = Decimal("0.01")


def history(per_day: int) -> list[Point]:
    return [
        Point(T0, Decimal(1000)),
        Point(T0 + timedelta(days=30), Decimal(1000 + 30 * per_day), Decimal(30 * per_day)),
    ]


@given(
    per_day=st.integers(min_value=1, max_value=500),
    hours=st.integers(min_value=1, max_value=24 * 90),
)
def test_the_range_s_ends_pass_and_a_step_beyond_them_is_an_exception(
    per_day: int, hours: int
) -> None:
    points = history(per_day)
    at = points[-1].read_at + timedelta(hours=hours)
    found = expected_range(last=points[-1], history=points, at=at, digits=6)
    assert found is not None
    low, high = found

    def valid(value: Decimal) -> bool:
        return check_reading(
            register_kwh=value, read_at=at, last=points[-1], history=points, digits=6
        ).is_valid

    assert low == points[-1].register_kwh + STEP
    assert valid(low) and valid(high) and low <= high
    assert not valid(low - STEP) and not valid(high + STEP)


def test_without_a_last_reading_anything_goes_and_without_history_only_the_floor_holds() -> None:
    assert expected_range(last=None, history=[], at=T0, digits=6) is None
    only = Point(T0, Decimal(50))
    later = T0 + timedelta(days=3)
    assert expected_range(last=only, history=[only], at=later, digits=5) == (
        Decimal("50.01"),
        Decimal("99999.99"),
    )
    assert expected_range(last=only, history=[only], at=T0, digits=5) is None
