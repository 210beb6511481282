"""Amount fields: the 2-bit exponent / 14-bit mantissa code (and the 5-bit currency variant)."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal, InvalidOperation, localcontext

from gridvend.sts.errors import AmountInvalid, AmountOutOfRange

MANTISSA_BITS = 14
MANTISSA_LIMIT = 1 << MANTISSA_BITS  # 16 384
MAX_EXPONENT = 3
CURRENCY_MAX_EXPONENT = 31


def exponent_offset(exponent: int) -> int:
    """Σ_{n=1..e} 2^14·10^(n−1): where the range of exponent ``e`` starts."""
    return sum(MANTISSA_LIMIT * 10 ** (n - 1) for n in range(1, exponent + 1))


def exponent_max(exponent: int) -> int:
    return (MANTISSA_LIMIT - 1) * 10**exponent + exponent_offset(exponent)


_OFFSETS = tuple(exponent_offset(e) for e in range(CURRENCY_MAX_EXPONENT + 1))
_MAXIMA = tuple(exponent_max(e) for e in range(CURRENCY_MAX_EXPONENT + 1))

#: Largest transferable amount in base units (0.1 kWh, or W for power limits): 1 820 162.4 kWh.
MAX_BASE_UNITS = _MAXIMA[MAX_EXPONENT]
#: Largest currency amount (10^-5 units, 36 digits): beyond Decimal's default 28-digit precision.
MAX_CURRENCY_BASE_UNITS = _MAXIMA[CURRENCY_MAX_EXPONENT]
_MAX_BASE_UNIT_DIGITS = len(str(MAX_CURRENCY_BASE_UNITS))


def _exponent_mantissa(base_units: int, max_exponent: int) -> tuple[int, int]:
    if isinstance(base_units, bool) or not isinstance(base_units, int):
        raise AmountInvalid("amount must be an integer number of base units")
    if base_units < 0:
        raise AmountInvalid("amount must not be negative")
    for exponent in range(max_exponent + 1):
        if base_units <= _MAXIMA[exponent]:
            # Ceiling division: transfers are always rounded up in the customer's favour.
            scale = 10**exponent
            mantissa = max(0, -(-(base_units - _OFFSETS[exponent]) // scale))
            return exponent, mantissa
    raise AmountOutOfRange("amount exceeds the largest transferable value")


def encode_amount(base_units: int) -> int:
    """16-bit field for ``base_units``, rounded up to the next representable value."""
    exponent, mantissa = _exponent_mantissa(base_units, MAX_EXPONENT)
    return exponent << MANTISSA_BITS | mantissa


def decode_amount(field: int) -> int:
    """Base units carried by a 16-bit amount field."""
    if not 0 <= field <= 0xFFFF:
        raise AmountInvalid("amount field must be 16 bits")
    exponent = field >> MANTISSA_BITS
    return (field & (MANTISSA_LIMIT - 1)) * 10**exponent + _OFFSETS[exponent]


def encode_currency_amount(base_units: int) -> tuple[int, int]:
    """(S&E nibble, 16-bit field) for a currency amount in base units; negative sets the sign.

    Low confidence (one third-party source): 5-bit exponent split over S&E bits 2..0 (e4 e3 e2)
    and field bits 15..14 (e1 e0); S&E bit 3 is the sign.
    """
    if isinstance(base_units, bool) or not isinstance(base_units, int):
        raise AmountInvalid("amount must be an integer number of base units")
    negative = base_units < 0
    exponent, mantissa = _exponent_mantissa(abs(base_units), CURRENCY_MAX_EXPONENT)
    s_and_e = (8 if negative else 0) | exponent >> 2
    return s_and_e, (exponent & 3) << MANTISSA_BITS | mantissa


def decode_currency_amount(s_and_e: int, field: int) -> int:
    if not 0 <= s_and_e <= 15 or not 0 <= field <= 0xFFFF:
        raise AmountInvalid("S&E must be 4 bits and the amount field 16 bits")
    exponent = (s_and_e & 7) << 2 | field >> MANTISSA_BITS
    value = (field & (MANTISSA_LIMIT - 1)) * 10**exponent + _OFFSETS[exponent]
    return -value if s_and_e & 8 else value


def parse_amount(amount: Decimal | int | str) -> Decimal:
    """A finite Decimal from user or database input, or AMOUNT_INVALID."""
    if isinstance(amount, float):
        # Floats carry binary noise (0.1 is not 0.1); go through their shortest repr.
        amount = str(amount)
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount).strip())
    except InvalidOperation:
        raise AmountInvalid("amount must be a decimal number") from None
    if not value.is_finite():
        raise AmountInvalid("amount must be a finite number")
    return value


def _digits(value: Decimal) -> int:
    return len(value.as_tuple().digits)


def to_base_units(amount: Decimal | int | str, resolution: Decimal) -> int:
    """Convert a human amount (e.g. kWh) to whole base units, rounding up (customer's favour).

    Exact for every amount a token can carry, currency amounts of 36 digits included: the
    default 28-digit context would round them, sometimes down.
    """
    value = parse_amount(amount)
    if value.is_zero():
        return 0
    if value.adjusted() - resolution.adjusted() >= _MAX_BASE_UNIT_DIGITS:
        # Refused before dividing, so a huge exponent cannot make a huge integer.
        raise AmountOutOfRange("amount exceeds the largest transferable value")
    with localcontext() as ctx:
        ctx.prec = max(28, _digits(value) + _digits(resolution) + 1)
        ctx.rounding = ROUND_CEILING
        return int((value / resolution).to_integral_value(rounding=ROUND_CEILING))


def from_base_units(base_units: int, resolution: Decimal) -> Decimal:
    """The human amount of ``base_units``, exactly (no rounding to the context's precision)."""
    with localcontext() as ctx:
        ctx.prec = max(28, len(str(abs(base_units))) + _digits(resolution))
        return Decimal(base_units) * resolution
