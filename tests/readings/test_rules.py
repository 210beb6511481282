"""The reading checks as plain functions (gridvend.kernel.readings), one rule per test, with the
expected figures worked out by hand in each test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from gridvend.kernel.readings import (
    Point,
    ReadingCheck,
    Verdict,
    average_daily_use,
    check_reading,
    estimate_register,
    used_between,
)

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


# 30 days apart, 300 kWh each time: 10 kWh a day.
HISTORY = [
    Point(day(0), Decimal("1000")),
    Point(day(30), Decimal("1300"), Decimal("300")),
    Point(day(60), Decimal("1600"), Decimal("300")),
]
LAST = HISTORY[-1]


def verdict(value: str, at: float, digits: int = 6) -> Verdict:
    return check_reading(
        register_kwh=Decimal(value), read_at=day(at), last=LAST, history=HISTORY, digits=digits
    )


def test_a_first_reading_is_valid_with_no_consumption() -> None:
    v = check_reading(register_kwh=Decimal("5"), read_at=T0, last=None, history=[], digits=5)
    assert v.check is None and v.consumption_kwh is None


def test_an_ordinary_reading_is_valid_with_its_consumption() -> None:
    v = verdict("1900", 90)
    assert v.check is None and v.consumption_kwh == Decimal("300") and not v.roll_over


def test_a_reading_lower_than_the_last_is_negative_consumption() -> None:
    v = verdict("1500", 90)
    assert v.check == ReadingCheck.NEGATIVE_CONSUMPTION and v.consumption_kwh == Decimal("-100")


def test_the_same_value_is_zero_consumption() -> None:
    assert verdict("1600", 90).check == ReadingCheck.ZERO_CONSUMPTION


def test_over_three_times_the_daily_average_is_a_spike() -> None:
    # 30 days at 10 kWh a day is 300; three times that is 900: 901 is a spike, 900 is not.
    assert verdict("2501", 90).check == ReadingCheck.SPIKE
    assert verdict("2500", 90).check is None


def test_a_reading_taken_before_the_last_is_out_of_sequence() -> None:
    assert verdict("1700", 59).check == ReadingCheck.OUT_OF_SEQUENCE
    assert verdict("1700", 60).check == ReadingCheck.OUT_OF_SEQUENCE


def test_a_register_rolling_over_its_top_counts_the_kwh_past_zero() -> None:
    assert used_between(Decimal("99990"), Decimal("12"), 5) == (Decimal("22"), True)
    last = Point(day(60), Decimal("99990"), Decimal("300"))
    v = check_reading(register_kwh=Decimal("12"), read_at=day(61), last=last, history=[], digits=5)
    assert v.check is None and v.consumption_kwh == Decimal("22") and v.roll_over


def test_a_drop_far_from_the_register_top_is_not_a_roll_over() -> None:
    # 50,000 to 12 on five digits would be 50,012 kWh "used": not plausible, so negative.
    assert used_between(Decimal("50000"), Decimal("12"), 5) is None
    # On six digits 99,990 is not near the top (999,999): no roll-over either.
    assert used_between(Decimal("99990"), Decimal("12"), 6) is None


def test_a_roll_over_that_is_also_a_spike_is_a_spike() -> None:
    history = [Point(day(0), Decimal("99000")), Point(day(30), Decimal("99300"), Decimal("300"))]
    v = check_reading(
        register_kwh=Decimal("9000"),  # 9,700 kWh in 30 days against 10 a day
        read_at=day(60),
        last=history[-1],
        history=history,
        digits=5,
    )
    assert v.check == ReadingCheck.SPIKE and v.roll_over and v.consumption_kwh == Decimal("9700")


def test_the_average_needs_two_readings_a_day_apart() -> None:
    assert average_daily_use(HISTORY[:1]) is None
    assert average_daily_use([HISTORY[0], Point(day(0.5), Decimal("1010"), Decimal("10"))]) is None
    assert average_daily_use(HISTORY) == Decimal("10")


def test_an_estimate_adds_the_average_and_wraps_at_the_register_top() -> None:
    assert estimate_register(last=LAST, average=Decimal("10"), at=day(75), digits=6) == (
        Decimal("1750.00"),
        Decimal("150.00"),
    )
    top = Point(day(60), Decimal("99950"))
    assert estimate_register(last=top, average=Decimal("10"), at=day(70), digits=5) == (
        Decimal("50.00"),
        Decimal("100.00"),
    )
