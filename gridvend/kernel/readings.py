"""The rules a meter reading is checked by, as plain functions of the register values and times.

A cumulative kWh register only counts up, and rolls over from 99..9 to 0 after ``digits`` whole
digits. A new actual reading is compared with the meter's last accepted actual reading:

* **out of sequence**: taken before the last accepted reading;
* **negative consumption**: lower than the last, and not a plausible roll-over (the last value
  in the register's top tenth and the new one in its bottom tenth);
* **zero consumption**: the same value as the last;
* **spike**: more than ``SPIKE_MULTIPLE`` times the meter's own average daily use (over its last
  ``HISTORY_READINGS`` accepted readings) times the days since the last reading.

Anything else is valid. The first reading of a meter has nothing to compare with and is valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from enum import StrEnum

SPIKE_MULTIPLE = Decimal(3)
ROLL_OVER_BAND = Decimal("0.1")  # the top and bottom tenth of the register
HISTORY_READINGS = 6  # accepted actual readings the average daily use is taken over
MIN_HISTORY_DAYS = Decimal(1)  # a shorter history gives no average (two reads the same day)
KWH_PLACES = Decimal("0.01")
SECONDS_PER_DAY = Decimal(86400)


class ReadingCheck(StrEnum):
    """Why a reading waits for a supervisor (an exception, not a refusal)."""

    NEGATIVE_CONSUMPTION = "negative_consumption"
    ZERO_CONSUMPTION = "zero_consumption"
    SPIKE = "spike"
    OUT_OF_SEQUENCE = "out_of_sequence"


@dataclass(frozen=True)
class Point:
    """An accepted reading: when, the register, and the kWh used since the reading before it
    (None for a meter's first reading)."""

    read_at: datetime
    register_kwh: Decimal
    consumption_kwh: Decimal | None = None


@dataclass(frozen=True)
class Verdict:
    check: ReadingCheck | None  # None: valid
    consumption_kwh: Decimal | None  # since the last accepted reading; None for the first
    roll_over: bool = False

    @property
    def is_valid(self) -> bool:
        return self.check is None


def register_span(digits: int) -> Decimal:
    """How many kWh the register counts before it rolls over to zero."""
    return Decimal(10) ** digits


def quantize_kwh(value: Decimal) -> Decimal:
    return value.quantize(KWH_PLACES, rounding=ROUND_HALF_UP)


def days_between(earlier: datetime, later: datetime) -> Decimal:
    seconds = Decimal((later - earlier).total_seconds())
    return seconds / SECONDS_PER_DAY


def used_between(previous: Decimal, current: Decimal, digits: int) -> tuple[Decimal, bool] | None:
    """kWh used from register ``previous`` to ``current`` and whether the register rolled over;
    None when ``current`` is lower and a roll-over is not plausible."""
    if current >= previous:
        return current - previous, False
    span = register_span(digits)
    if previous >= span * (1 - ROLL_OVER_BAND) and current < span * ROLL_OVER_BAND:
        return current + span - previous, True
    return None


def average_daily_use(history: Sequence[Point]) -> Decimal | None:
    """kWh per day over accepted readings, oldest first: what was used after the first one,
    divided by the days they span; None with fewer than two or less than a day between them."""
    if len(history) < 2:
        return None
    days = days_between(history[0].read_at, history[-1].read_at)
    if days < MIN_HISTORY_DAYS:
        return None
    used = sum((p.consumption_kwh or Decimal(0) for p in history[1:]), Decimal(0))
    return used / days


def check_reading(
    *,
    register_kwh: Decimal,
    read_at: datetime,
    last: Point | None,
    history: Sequence[Point],
    digits: int,
) -> Verdict:
    """The verdict on a new actual reading against the last accepted one and the history."""
    if last is None:
        return Verdict(None, None)
    if read_at <= last.read_at:
        return Verdict(ReadingCheck.OUT_OF_SEQUENCE, None)
    used = used_between(last.register_kwh, register_kwh, digits)
    if used is None:
        return Verdict(ReadingCheck.NEGATIVE_CONSUMPTION, register_kwh - last.register_kwh)
    consumption, rolled = used
    if consumption == 0:
        return Verdict(ReadingCheck.ZERO_CONSUMPTION, consumption)
    average = average_daily_use(history)
    if average is not None and average > 0:
        expected = average * days_between(last.read_at, read_at)
        if consumption > SPIKE_MULTIPLE * expected:
            return Verdict(ReadingCheck.SPIKE, consumption, rolled)
    return Verdict(None, consumption, rolled)


def estimate_register(
    *, last: Point, average: Decimal, at: datetime, digits: int
) -> tuple[Decimal, Decimal]:
    """(register value, kWh used since ``last``) expected at ``at`` from the average daily use,
    the register wrapped past its top as the meter itself would."""
    used = quantize_kwh(average * days_between(last.read_at, at))
    value = (last.register_kwh + used) % register_span(digits)
    return quantize_kwh(value), used


def expected_range(
    *, last: Point | None, history: Sequence[Point], at: datetime, digits: int
) -> tuple[Decimal, Decimal] | None:
    """The register values a reading at ``at`` may take without being an exception by
    ``check_reading``: (lowest, highest), both inclusive, on the register's scale (past a
    roll-over the highest is below the lowest). With no history to judge a spike by, the
    highest is the register's top; None with no last reading (anything passes) or a time not
    after it (anything is out of sequence)."""
    if last is None or at <= last.read_at:
        return None
    span = register_span(digits)
    lowest = (last.register_kwh + KWH_PLACES) % span
    average = average_daily_use(history)
    if average is None or average <= 0:
        return lowest, span - KWH_PLACES
    # The spike check is strict (more than the multiple), so the multiple itself passes;
    # multiplied in the check's own order, so the last digit of the Decimal agrees with it.
    limit = SPIKE_MULTIPLE * (average * days_between(last.read_at, at))
    most = max(limit.quantize(KWH_PLACES, rounding=ROUND_DOWN), KWH_PLACES)
    return lowest, (last.register_kwh + most) % span
