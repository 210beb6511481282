"""Energy quantities as Decimal kWh, and the rounding that ties them to STS token resolution."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal, InvalidOperation

from gridvend.kernel.errors import InvalidAmount
from gridvend.sts.amount import MAX_BASE_UNITS, decode_amount, encode_amount

# STS credit tokens for electricity carry tenths of a kWh (IEC 62055-41 subclass 0).
TOKEN_KWH_STEP = Decimal("0.1")

# kWh priced through tariff blocks are kept to the watt-hour: fine enough that nobody loses money
# to it, coarse enough to store in a DECIMAL column and to compare exactly.
PRICED_KWH_STEP = Decimal("0.001")

ZERO_KWH = Decimal("0")


def to_kwh(value: Decimal | str | int) -> Decimal:
    """Parse an energy amount in kWh; floats are refused like they are for money."""
    if isinstance(value, float):
        raise TypeError("kWh must not be a float; pass a Decimal or a string")
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
        raise TypeError(f"kWh must be a Decimal, str or int, not {type(value).__name__}")
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise InvalidAmount(value=value, reason="it is not a number of kWh") from None
    if not result.is_finite():
        raise InvalidAmount(value=value, reason="it is not a finite number of kWh")
    return result


def round_kwh_up(kwh: Decimal, step: Decimal = TOKEN_KWH_STEP) -> Decimal:
    """Round kWh up to ``step`` (0.1 kWh by default), so the meter never gets less than was paid.

    ``step`` must be a power of ten (0.1, 0.001).
    """
    if isinstance(kwh, float):
        raise TypeError("kWh must not be a float")
    return kwh.quantize(step, rounding=ROUND_CEILING)


def token_kwh(kwh: Decimal) -> Decimal:
    """The kWh an STS credit token carries when asked for ``kwh``: what the books must record.

    The token's amount field holds 0.1 kWh steps only up to 1638.3 kWh; above that it steps in
    whole kWh from 1638.4, then in tens from 18 022.4, and so on (sts/STS.md), always rounding up.
    So 3633.7 kWh asked for is 3634.4 kWh on the token, and that is what the meter is given.
    Beyond the largest transferable amount the 0.1 kWh figure is returned; the engine refuses it.
    """
    tenths = int(round_kwh_up(kwh) / TOKEN_KWH_STEP)
    if not 0 <= tenths <= MAX_BASE_UNITS:
        return round_kwh_up(kwh)
    carried = decode_amount(encode_amount(tenths))
    return (Decimal(carried) * TOKEN_KWH_STEP).quantize(TOKEN_KWH_STEP)
