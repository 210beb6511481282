"""Money as integer minor units of an ISO 4217 currency, and the one function that rounds money."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Any

from gridvend.kernel.errors import CurrencyMismatch, InvalidAmount, UnknownCurrency

# Enough digits that no tariff arithmetic ever loses precision before the final, explicit rounding.
DECIMAL_PRECISION = 60
# Largest power of ten an amount may reach (see _as_decimal).
MAX_MAGNITUDE_DIGITS = 30

# ISO 4217 minor-unit exponents for the currencies utilities we know of sell in. The standard is
# the authority: MGA and MRU are officially 2 even though their subunits are fifths.
CURRENCY_EXPONENTS: dict[str, int] = {
    # Africa
    "AOA": 2, "BIF": 0, "BWP": 2, "CDF": 2, "CVE": 2, "DJF": 0, "DZD": 2, "EGP": 2,
    "ERN": 2, "ETB": 2, "GHS": 2, "GMD": 2, "GNF": 0, "KES": 2, "KMF": 0, "LRD": 2,
    "LSL": 2, "LYD": 3, "MAD": 2, "MGA": 2, "MRU": 2, "MUR": 2, "MWK": 2, "MZN": 2,
    "NAD": 2, "NGN": 2, "RWF": 0, "SCR": 2, "SDG": 2, "SLE": 2, "SOS": 2, "SSP": 2,
    "STN": 2, "SZL": 2, "TND": 3, "TZS": 2, "UGX": 0, "XAF": 0, "XOF": 0, "ZAR": 2,
    "ZMW": 2, "ZWG": 2,
    # Middle East
    "AED": 2, "BHD": 3, "ILS": 2, "IQD": 3, "IRR": 2, "JOD": 3, "KWD": 3, "LBP": 2,
    "OMR": 3, "QAR": 2, "SAR": 2, "SYP": 2, "YER": 2,
    # Asia and Pacific
    "AFN": 2, "AUD": 2, "BDT": 2, "CNY": 2, "HKD": 2, "IDR": 2, "INR": 2, "JPY": 0,
    "KRW": 0, "LKR": 2, "MMK": 2, "MYR": 2, "NPR": 2, "PHP": 2, "PKR": 2, "SGD": 2,
    "THB": 2, "VND": 0,
    # Europe and the Americas
    "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0, "EUR": 2, "GBP": 2, "HTG": 2, "MXN": 2,
    "PYG": 0, "TRY": 2, "UAH": 2, "USD": 2,
}  # fmt: skip


def currency_exponent(currency: str) -> int:
    """Number of decimal places of the currency's minor unit (KES 2, UGX 0, KWD 3)."""
    try:
        return CURRENCY_EXPONENTS[currency]
    except (KeyError, TypeError):
        raise UnknownCurrency(currency=str(currency)) from None


def _as_decimal(value: object, what: str) -> Decimal:
    # float is refused everywhere: 0.1 as a float is not one tenth, and money built from it drifts.
    if isinstance(value, float):
        raise TypeError(f"{what} must not be a float; pass a Decimal or a string")
    if isinstance(value, bool):
        raise TypeError(f"{what} must not be a bool")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise InvalidAmount(value=value, reason="it is not a number") from None
    else:
        raise TypeError(f"{what} must be a Decimal, str or int, not {type(value).__name__}")
    if not result.is_finite():
        raise InvalidAmount(value=value, reason="it is not a finite number")
    # int(Decimal("1e700000")) builds a 700,000-digit integer and holds the process for seconds;
    # no amount a utility books comes near 10^30, so a larger magnitude is refused unread.
    if result and result.adjusted() > MAX_MAGNITUDE_DIGITS:
        raise InvalidAmount(value=str(value)[:40], reason="it has too many digits")
    return result


def round_minor(value: Decimal, currency: str, mode: str = ROUND_HALF_UP) -> Money:
    """Round an amount in major units to the currency's minor unit; THE one place money is rounded.

    ``mode`` is a ``decimal`` rounding constant; half-up is the default because it is what
    customers and auditors expect when they redo a receipt by hand.
    """
    amount = _as_decimal(value, "value")
    exponent = currency_exponent(currency)
    with localcontext() as ctx:
        ctx.prec = DECIMAL_PRECISION
        quantum = Decimal(1).scaleb(-exponent)
        rounded = amount.quantize(quantum, rounding=mode)
        return Money(int(rounded.scaleb(exponent)), currency)


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: ``minor`` integer units (cents, ngwee, fils) of ``currency``.

    Arithmetic works only between amounts of one currency; mixing raises CURRENCY_MISMATCH.
    Multiplying by a rate needs rounding, so it goes through :meth:`apply_rate`.
    """

    minor: int
    currency: str

    def __post_init__(self) -> None:
        # The common case first (an int of a known currency): made tens of times a sale.
        if (
            type(self.minor) is int
            and type(self.currency) is str
            and self.currency in CURRENCY_EXPONENTS
        ):
            return
        if isinstance(self.minor, float):
            raise TypeError("Money.minor must not be a float")
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise TypeError(f"Money.minor must be an int, not {type(self.minor).__name__}")
        currency_exponent(self.currency)

    # Construction -----------------------------------------------------------------------------

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def from_major(cls, value: Decimal | str | int, currency: str) -> Money:
        """Build from a major-unit amount ("12.50"); refuses more decimals than the minor unit."""
        amount = _as_decimal(value, "value")
        exponent = currency_exponent(currency)
        with localcontext() as ctx:
            ctx.prec = DECIMAL_PRECISION
            scaled = amount.scaleb(exponent)
            if scaled != scaled.to_integral_value():
                raise InvalidAmount(
                    value=str(value),
                    reason=f"{currency} has only {exponent} decimal places",
                )
            return cls(int(scaled), currency)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Money:
        return cls(int(data["minor"]), str(data["currency"]))

    @classmethod
    def total(cls, amounts: Iterable[Money], currency: str) -> Money:
        """Sum amounts of one currency; an empty iterable gives zero of ``currency``."""
        result = cls.zero(currency)
        for amount in amounts:
            result = result + amount
        return result

    # Conversion -------------------------------------------------------------------------------

    @property
    def exponent(self) -> int:
        return currency_exponent(self.currency)

    def to_major(self) -> Decimal:
        """The amount in major units, with exactly the currency's number of decimals."""
        with localcontext() as ctx:
            ctx.prec = DECIMAL_PRECISION
            return Decimal(self.minor).scaleb(-self.exponent)

    def to_dict(self) -> dict[str, Any]:
        return {"minor": self.minor, "currency": self.currency}

    def format(self, *, grouping: bool = True) -> str:
        """Plain, locale-neutral text such as ``KES 1,234.50``; screens localise on top of this."""
        major = self.to_major()
        body = f"{abs(major):,}" if grouping else f"{abs(major)}"
        sign = "-" if self.minor < 0 else ""
        return f"{self.currency} {sign}{body}"

    def __str__(self) -> str:
        return self.format()

    # Arithmetic -------------------------------------------------------------------------------

    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(expected=self.currency, got=other.currency)
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.minor + self._same(other).minor, self.currency)

    def __radd__(self, other: object) -> Money:
        # Lets the builtin sum() start from 0.
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return self._same(other) + self

    def __sub__(self, other: Money) -> Money:
        return Money(self.minor - self._same(other).minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __abs__(self) -> Money:
        return Money(abs(self.minor), self.currency)

    def __mul__(self, factor: int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise TypeError("Money can be multiplied only by an int; use apply_rate for rates")
        return Money(self.minor * factor, self.currency)

    __rmul__ = __mul__

    def apply_rate(self, rate: Decimal, mode: str = ROUND_HALF_UP) -> Money:
        """``self × rate`` rounded to the minor unit by :func:`round_minor`."""
        factor = _as_decimal(rate, "rate")
        with localcontext() as ctx:
            ctx.prec = DECIMAL_PRECISION
            return round_minor(self.to_major() * factor, self.currency, mode)

    def divide_by(self, divisor: Decimal, mode: str = ROUND_HALF_UP) -> Money:
        """``self ÷ divisor`` rounded to the minor unit by :func:`round_minor`."""
        factor = _as_decimal(divisor, "divisor")
        if factor == 0:
            raise ZeroDivisionError("divisor must not be zero")
        with localcontext() as ctx:
            ctx.prec = DECIMAL_PRECISION
            return round_minor(self.to_major() / factor, self.currency, mode)

    # Comparison -------------------------------------------------------------------------------

    def __lt__(self, other: Money) -> bool:
        return self.minor < self._same(other).minor

    def __le__(self, other: Money) -> bool:
        return self.minor <= self._same(other).minor

    def __gt__(self, other: Money) -> bool:
        return self.minor > self._same(other).minor

    def __ge__(self, other: Money) -> bool:
        return self.minor >= self._same(other).minor

    def __bool__(self) -> bool:
        return self.minor != 0

    def is_zero(self) -> bool:
        return self.minor == 0

    def is_positive(self) -> bool:
        return self.minor > 0

    def is_negative(self) -> bool:
        return self.minor < 0
