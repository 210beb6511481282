"""Clocks and business calendars: aware UTC instants, local business days and months."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from gridvend.kernel.clock import (
    Clock,
    FixedClock,
    SystemClock,
    business_date,
    day_bounds_utc,
    ensure_utc,
    month_bounds_utc,
    months_between,
    next_month_start,
)


def test_system_clock_gives_aware_utc():
    now = SystemClock().now()
    assert now.tzinfo is UTC
    assert isinstance(SystemClock(), Clock)


def test_fixed_clock_is_pinned_and_advances_on_request():
    clock = FixedClock(datetime(2025, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=3))))
    assert clock.now() == datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC
    clock.advance(timedelta(minutes=5))
    assert clock.now() == datetime(2025, 3, 1, 9, 5, tzinfo=UTC)
    clock.set(datetime(2026, 1, 1, tzinfo=UTC))
    assert clock.now().year == 2026
    assert isinstance(clock, Clock)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        ensure_utc(datetime(2025, 1, 1))
    with pytest.raises(ValueError):
        FixedClock(datetime(2025, 1, 1))


def test_business_date_is_local():
    # 22:30 UTC on 31 January is 01:30 on 1 February in Nairobi (UTC+3).
    late = datetime(2025, 1, 31, 22, 30, tzinfo=UTC)
    assert business_date(late, "Africa/Nairobi") == date(2025, 2, 1)
    assert business_date(late, ZoneInfo("UTC")) == date(2025, 1, 31)


def test_month_bounds_are_local_midnights_in_utc():
    start, end = month_bounds_utc(date(2025, 2, 14), "Africa/Nairobi")
    assert start == datetime(2025, 1, 31, 21, 0, tzinfo=UTC)
    assert end == datetime(2025, 2, 28, 21, 0, tzinfo=UTC)


def test_daylight_saving_day_is_23_hours_long():
    start, end = day_bounds_utc(date(2025, 3, 30), "Europe/London")
    assert end - start == timedelta(hours=23)


def test_month_arithmetic():
    assert next_month_start(date(2025, 12, 31)) == date(2026, 1, 1)
    assert next_month_start(date(2025, 1, 31)) == date(2025, 2, 1)
    assert months_between(date(2025, 1, 31), date(2025, 2, 1)) == 1
    assert months_between(date(2025, 1, 1), date(2025, 1, 31)) == 0
    assert months_between(date(2024, 11, 5), date(2025, 2, 1)) == 3
