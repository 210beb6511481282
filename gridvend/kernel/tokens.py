"""The TokenEngine port the vending core calls, meter key references and TID allocation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal, Protocol, runtime_checkable

from gridvend.kernel.clock import ensure_utc
from gridvend.kernel.errors import KeyRevisionExpired

# TIDs are 24-bit minute counts (IEC 62055-41); KEN 255 means the key never expires.
MAX_TID = 0xFFFFFF
KEN_NEVER_EXPIRES = 255
BASE_YEARS = (1993, 2014, 2035)

EncryptionAlgorithm = Literal["07", "11"]
KeyDerivation = Literal["02", "04"]

ENGINEERING_KINDS = (
    "test",
    "clear_credit",
    "clear_tamper",
    "set_power_limit",
    "set_phase_unbalance_limit",
)


def luhn_check_digit(payload: str) -> int:
    """Luhn digit of ``payload``: double every second digit from the rightmost, as STS does."""
    total = 0
    for position, char in enumerate(reversed(payload)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def is_valid_meter_number(number: str) -> bool:
    """11 or 13 digits whose last digit is the Luhn digit of the rest."""
    return (
        len(number) in (11, 13)
        and number.isascii()
        and number.isdigit()
        and luhn_check_digit(number[:-1]) == int(number[-1])
    )


@dataclass(frozen=True)
class MeterKeyRef:
    """A meter and the STS parameters of its decoder key; ``key_ref`` names the vending key in the
    key store. The key itself never travels through the domain."""

    meter_number: str
    sgc: str
    ti: int
    krn: int
    kt: int
    ken: int
    ea: EncryptionAlgorithm
    dkga: KeyDerivation
    base_date_year: int
    key_ref: str

    def __post_init__(self) -> None:
        problems = []
        if not is_valid_meter_number(self.meter_number):
            problems.append("meter number must be 11 or 13 digits with a valid check digit")
        if not (len(self.sgc) == 6 and self.sgc.isascii() and self.sgc.isdigit()):
            problems.append("SGC must be 6 digits")
        if not 0 <= self.ti <= 99:
            problems.append("TI must be 0-99")
        if not 1 <= self.krn <= 9:
            problems.append("KRN must be 1-9")
        if not 0 <= self.kt <= 3:
            problems.append("KT must be 0-3")
        if not 0 <= self.ken <= 255:
            problems.append("KEN must be 0-255")
        if self.ea not in ("07", "11"):
            problems.append("EA must be '07' or '11'")
        if self.dkga not in ("02", "04"):
            problems.append("DKGA must be '02' or '04'")
        if self.base_date_year not in BASE_YEARS:
            problems.append("base date year must be 1993, 2014 or 2035")
        if not self.key_ref:
            problems.append("key_ref must name a vending key")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def base_date(self) -> datetime:
        return datetime(self.base_date_year, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class IssuedToken:
    """A token as the engine produced it. ``units`` is the amount the meter will actually credit
    (kWh after the STS amount encoding's round-up), None for tokens without an amount."""

    digits: str
    token_class: int
    subclass: int
    tid: int | None
    units: Decimal | None
    description: str

    def __post_init__(self) -> None:
        if not (len(self.digits) == 20 and self.digits.isascii() and self.digits.isdigit()):
            raise ValueError("a token is exactly 20 digits")

    @property
    def grouped(self) -> str:
        """The digits in groups of four, as printed on receipts."""
        return " ".join(self.digits[i : i + 4] for i in range(0, 20, 4))


def minutes_since_base(base_date_year: int, when: datetime) -> int:
    """Whole minutes from 00:00 UTC on 1 January of the base year to ``when`` (truncated)."""
    if base_date_year not in BASE_YEARS:
        raise ValueError("base date year must be 1993, 2014 or 2035")
    elapsed = ensure_utc(when) - datetime(base_date_year, 1, 1, tzinfo=UTC)
    return int(elapsed.total_seconds() // 60)


@runtime_checkable
class TokenEngine(Protocol):
    """What the vending core needs from a token generator, whatever implements it (software STS,
    an HSM, another protocol). Implementations raise DomainError for refusals they detect."""

    def tid_for(self, meter: MeterKeyRef, when: datetime) -> int:
        """The TID for ``when``: minutes since the meter's base date."""
        ...

    def issue_credit(self, meter: MeterKeyRef, *, kwh: Decimal, tid: int) -> IssuedToken:
        """A class 0 electricity credit token for ``kwh`` (rounded up to the STS encoding)."""
        ...

    def issue_engineering(
        self, meter: MeterKeyRef, *, kind: str, value: int | None, tid: int | None
    ) -> IssuedToken:
        """A management or test token; ``kind`` is one of :data:`ENGINEERING_KINDS`."""
        ...

    def check_key_change(self, old: MeterKeyRef, new: MeterKeyRef) -> None:
        """Raise KEY_CHANGE_SAME_KEY when ``new`` gives the decoder key ``old`` already gives.

        Only the engine can tell: which parameters enter the key depends on the derivation
        (DKGA02 ignores the base date, DKGA04 does not), and two key references may hold the
        same vending key.
        """
        ...

    def issue_key_change(
        self, old: MeterKeyRef, new: MeterKeyRef, *, roll_over: bool
    ) -> list[IssuedToken]:
        """The key-change tokens (2 for STA, 4 for MISTY1), encrypted under the old key; refused
        as in :meth:`check_key_change`."""
        ...


def allocate_tids(
    last_tid: int | None,
    now_tid: int,
    count: int,
    *,
    ken: int = KEN_NEVER_EXPIRES,
    lanes: int = 1,
    lane: int = 0,
) -> list[int]:
    """``count`` TIDs, strictly increasing and all above ``last_tid``.

    The first is ``now_tid`` unless that is not above ``last_tid``; tokens in the same minute take
    the following minutes, because a meter rejects a TID it has already seen. Raises
    KEY_REVISION_EXPIRED when a TID would pass 24 bits (the base date is used up: a roll-over key
    change is due) or when ``tid >> 16`` passes the key's KEN.

    With ``lanes`` > 1 every TID is in ``lane`` (``tid % lanes == lane``): the master sells a meter
    served by offline stations in lane 0 and each station of its unit in its own lane, so tokens
    made apart during an outage never share a TID (docs/stations.md, TIDs). A meter accepts a TID
    below its newest as long as it is new to it and not below its memory's oldest.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    if now_tid < 0:
        raise ValueError("now_tid must not be negative")
    if lanes < 1 or not 0 <= lane < lanes:
        raise ValueError("lane must be in 0..lanes-1")
    if count == 0:
        return []
    first = now_tid if last_tid is None else max(now_tid, last_tid + 1)
    first += (lane - first) % lanes
    tids = list(range(first, first + count * lanes, lanes))
    last = tids[-1]
    if last > MAX_TID:
        raise KeyRevisionExpired(reason="tid_range_exhausted", tid=last, ken=ken)
    if ken != KEN_NEVER_EXPIRES and (last >> 16) > ken:
        raise KeyRevisionExpired(reason="key_expiry_number_passed", tid=last, ken=ken)
    return tids
