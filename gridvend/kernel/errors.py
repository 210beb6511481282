"""Typed domain errors with stable codes that every gridvend layer raises and maps to responses."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Stable UPPER_SNAKE codes; API clients and translations key on these, so never rename one."""

    METER_NOT_FOUND = "METER_NOT_FOUND"
    METER_BLOCKED = "METER_BLOCKED"
    METER_RETIRED = "METER_RETIRED"
    AMOUNT_BELOW_MINIMUM = "AMOUNT_BELOW_MINIMUM"
    AMOUNT_ABOVE_MAXIMUM = "AMOUNT_ABOVE_MAXIMUM"
    TARIFF_NOT_FOUND = "TARIFF_NOT_FOUND"
    TARIFF_INVALID = "TARIFF_INVALID"
    KEY_REVISION_EXPIRED = "KEY_REVISION_EXPIRED"
    KEY_CHANGE_SAME_KEY = "KEY_CHANGE_SAME_KEY"
    DUPLICATE_REQUEST = "DUPLICATE_REQUEST"
    INSUFFICIENT_FLOAT = "INSUFFICIENT_FLOAT"
    TENDER_BELOW_CHARGES_DUE = "TENDER_BELOW_CHARGES_DUE"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    UNKNOWN_CURRENCY = "UNKNOWN_CURRENCY"
    INVALID_AMOUNT = "INVALID_AMOUNT"


def _jsonable(value: Any) -> Any:
    # Params may hold Money or Decimal; callers serialising an error for an API want plain data,
    # and importing Money here would make money.py and errors.py import each other.
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if isinstance(value, str | int | bool) or value is None:
        return value
    return str(value)


class DomainError(Exception):
    """A rule of the business was broken; ``code`` is stable, ``message`` is for a cashier.

    ``params`` carry the numbers behind the message (a minimum, a meter number) so that a
    translated message can be rebuilt from the code and the params alone.
    """

    code: str
    message: str
    params: dict[str, Any]

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.code = str(code)
        self.message = message
        self.params = params

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(code={self.code!r}, message={self.message!r}, params={self.params!r})"

    def as_dict(self) -> dict[str, Any]:
        """Return ``{"code", "message", "params"}`` with params reduced to JSON-friendly values."""
        return {
            "code": self.code,
            "message": self.message,
            "params": {key: _jsonable(value) for key, value in self.params.items()},
        }


class MeterNotFound(DomainError):
    def __init__(self, *, meter_number: str) -> None:
        super().__init__(
            ErrorCode.METER_NOT_FOUND,
            f"No meter with number {meter_number} was found. Check the number and try again.",
            meter_number=meter_number,
        )


class MeterBlocked(DomainError):
    def __init__(self, *, meter_number: str, reason: str | None = None) -> None:
        super().__init__(
            ErrorCode.METER_BLOCKED,
            f"Meter {meter_number} is blocked. Tokens cannot be sold for it.",
            meter_number=meter_number,
            reason=reason,
        )


class MeterRetired(DomainError):
    def __init__(self, *, meter_number: str) -> None:
        super().__init__(
            ErrorCode.METER_RETIRED,
            f"Meter {meter_number} has been taken out of service. Tokens cannot be sold for it.",
            meter_number=meter_number,
        )


class AmountBelowMinimum(DomainError):
    def __init__(self, *, minimum: object) -> None:
        super().__init__(
            ErrorCode.AMOUNT_BELOW_MINIMUM,
            f"The amount is too small. The smallest sale is {minimum}.",
            minimum=minimum,
        )


class AmountAboveMaximum(DomainError):
    def __init__(self, *, maximum: object) -> None:
        super().__init__(
            ErrorCode.AMOUNT_ABOVE_MAXIMUM,
            f"The amount is too large. The largest sale is {maximum}.",
            maximum=maximum,
        )


class TariffNotFound(DomainError):
    def __init__(self, *, meter_number: str | None = None) -> None:
        super().__init__(
            ErrorCode.TARIFF_NOT_FOUND,
            "No tariff is set for this meter, so it cannot be sold to. Ask a manager.",
            meter_number=meter_number,
        )


class TariffInvalid(DomainError):
    def __init__(self, *, field: str, problem: str) -> None:
        super().__init__(
            ErrorCode.TARIFF_INVALID,
            f"The tariff is not valid: {field}: {problem}.",
            field=field,
            problem=problem,
        )


class KeyRevisionExpired(DomainError):
    def __init__(self, *, reason: str, tid: int, ken: int | None = None) -> None:
        super().__init__(
            ErrorCode.KEY_REVISION_EXPIRED,
            "This meter's key has expired. The meter needs a key change before tokens can be sold.",
            reason=reason,
            tid=tid,
            ken=ken,
        )


class KeyChangeSameKey(DomainError):
    """The new key parameters derive the decoder key the meter already has.

    Such key-change tokens would be pointless, and with the roll-over bit harmful: the meter would
    clear its TID memory while every token it accepted still decrypts, so all of them would credit
    again. Typical cause: a DKGA02 roll-over that changes the base date but not the KRN, because
    DKGA02 does not take the base date into the key.
    """

    def __init__(self, *, meter_number: str) -> None:
        super().__init__(
            ErrorCode.KEY_CHANGE_SAME_KEY,
            f"The new key parameters of meter {meter_number} give the same decoder key as the "
            "current ones. Change the key revision number (KRN) or the vending key as well.",
            meter_number=meter_number,
        )


class DuplicateRequest(DomainError):
    def __init__(self, *, reference: str) -> None:
        super().__init__(
            ErrorCode.DUPLICATE_REQUEST,
            f"Reference {reference} was already used for a different sale.",
            reference=reference,
        )


class InsufficientFloat(DomainError):
    def __init__(self, *, available: object, required: object) -> None:
        super().__init__(
            ErrorCode.INSUFFICIENT_FLOAT,
            f"There is not enough float for this sale. Available: {available}.",
            available=available,
            required=required,
        )


class TenderBelowChargesDue(DomainError):
    def __init__(self, *, required_minimum: object) -> None:
        super().__init__(
            ErrorCode.TENDER_BELOW_CHARGES_DUE,
            "The amount does not cover the charges owed on this meter. "
            f"Pay at least {required_minimum}.",
            required_minimum=required_minimum,
        )


class CurrencyMismatch(DomainError):
    def __init__(self, *, expected: str, got: str) -> None:
        super().__init__(
            ErrorCode.CURRENCY_MISMATCH,
            f"The amount is in {got}, but this needs {expected}.",
            expected=expected,
            got=got,
        )


class UnknownCurrency(DomainError):
    def __init__(self, *, currency: str) -> None:
        super().__init__(
            ErrorCode.UNKNOWN_CURRENCY,
            f"The currency {currency} is not supported.",
            currency=currency,
        )


class InvalidAmount(DomainError):
    def __init__(self, *, value: object, reason: str) -> None:
        super().__init__(
            ErrorCode.INVALID_AMOUNT,
            f"The amount {value} is not valid: {reason}.",
            value=value,
            reason=reason,
        )
