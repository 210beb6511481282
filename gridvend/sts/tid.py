"""Token identifiers: minutes since the key's base date (1993, 2014, 2035), and key expiry (KEN)."""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta

from gridvend.sts.errors import KeyExpired, ParameterInvalid, TidOutOfRange

TID_MAX = 0xFFFFFF
KEN_NEVER_EXPIRES = 255


class BaseDate(enum.Enum):
    """TID base dates; the value is the DKGA04 two-digit code."""

    Y1993 = "93"
    Y2014 = "14"
    Y2035 = "35"

    @property
    def year(self) -> int:
        return {"93": 1993, "14": 2014, "35": 2035}[self.value]

    @property
    def start(self) -> datetime:
        return datetime(self.year, 1, 1, tzinfo=UTC)

    @property
    def last_valid_minute(self) -> datetime:
        """The issue time of TID FFFFFF; after it this base date cannot produce tokens."""
        return self.start + timedelta(minutes=TID_MAX)

    @classmethod
    def parse(cls, value: BaseDate | int | str) -> BaseDate:
        if isinstance(value, BaseDate):
            return value
        text = str(value).strip()
        for member in cls:
            if text in (member.value, str(member.year)):
                return member
        raise ParameterInvalid("base date must be 1993, 2014 or 2035")


def tid_for(issued_at: datetime, base_date: BaseDate) -> int:
    """Whole minutes from the base date to ``issued_at`` (seconds are truncated)."""
    if issued_at.tzinfo is None or issued_at.utcoffset() is None:
        # STS TIDs are defined in UTC; guessing a zone for a naive time would shift every TID.
        raise ParameterInvalid("issue time must be timezone-aware")
    delta = issued_at.astimezone(UTC) - base_date.start
    minutes = int(delta.total_seconds() // 60)
    if minutes < 0 or minutes > TID_MAX:
        raise TidOutOfRange(f"issue time is outside the TID range of base date {base_date.year}")
    return minutes


def issue_time_for(tid: int, base_date: BaseDate) -> datetime:
    """The UTC minute a TID stands for under ``base_date``."""
    check_tid(tid)
    return base_date.start + timedelta(minutes=tid)


def check_tid(tid: int) -> int:
    if not isinstance(tid, int) or isinstance(tid, bool) or not 0 <= tid <= TID_MAX:
        raise TidOutOfRange("TID must be an integer in 0..16777215")
    return tid


def is_expired(tid: int, ken: int) -> bool:
    """A token is valid only while the top 8 TID bits do not exceed the key expiry number."""
    return tid >> 16 > ken


def check_not_expired(tid: int, ken: int) -> None:
    if is_expired(tid, ken):
        raise KeyExpired("the decoder key has expired for this TID (TID >> 16 exceeds KEN)")
