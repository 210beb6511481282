"""Time for the domain: an injectable UTC clock and business day/month boundaries in local time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo


@runtime_checkable
class Clock(Protocol):
    """Source of the current instant; services take one so tests can pin time."""

    def now(self) -> datetime:
        """The current instant as a timezone-aware UTC datetime."""
        ...


def ensure_utc(instant: datetime) -> datetime:
    """Convert an aware datetime to UTC; naive ones are refused because their zone is a guess."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return instant.astimezone(UTC)


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock that says what it is told; ``advance`` moves it forward for multi-step tests."""

    instant: datetime = field(default_factory=lambda: datetime(2025, 1, 1, tzinfo=UTC))

    def __post_init__(self) -> None:
        self.instant = ensure_utc(self.instant)

    def now(self) -> datetime:
        return self.instant

    def advance(self, delta: timedelta) -> datetime:
        self.instant = self.instant + delta
        return self.instant

    def set(self, instant: datetime) -> None:
        self.instant = ensure_utc(instant)


def _zone(tz: ZoneInfo | str) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)


def business_date(instant: datetime, tz: ZoneInfo | str) -> date:
    """The calendar date in zone ``tz`` at ``instant`` (23:30 UTC may already be tomorrow)."""
    return ensure_utc(instant).astimezone(_zone(tz)).date()


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month_start(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


def months_between(earlier: date, later: date) -> int:
    """How many month boundaries lie between two dates (Jan 31 → Feb 1 is 1; same month is 0)."""
    return (later.year - earlier.year) * 12 + (later.month - earlier.month)


def day_bounds_utc(day: date, tz: ZoneInfo | str) -> tuple[datetime, datetime]:
    """``[start, end)`` in UTC of a business day; daylight-saving days are 23 or 25 hours long."""
    zone = _zone(tz)
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    following = day + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def month_bounds_utc(day: date, tz: ZoneInfo | str) -> tuple[datetime, datetime]:
    """``[start, end)`` in UTC of the business month containing ``day``."""
    first = month_start(day)
    start, _ = day_bounds_utc(first, tz)
    end, _ = day_bounds_utc(next_month_start(first), tz)
    return start, end
