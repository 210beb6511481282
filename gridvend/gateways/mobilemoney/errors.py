"""Refusals as Daraja hears them: the validation reject code that tells M-Pesa what to show the
customer, and the one reply shape for everything else (``ResultCode``/``ResultDesc``)."""

from __future__ import annotations

from gridvend.gateways.mobilemoney import protocol
from gridvend.kernel.errors import DomainError, ErrorCode
from gridvend.mobilemoney.errors import MobileErrorCode

_ACCOUNT = {
    ErrorCode.METER_NOT_FOUND,
    ErrorCode.METER_BLOCKED,
    ErrorCode.METER_RETIRED,
    ErrorCode.KEY_REVISION_EXPIRED,
    ErrorCode.TARIFF_NOT_FOUND,
    MobileErrorCode.MOBILE_ACCOUNT_UNKNOWN,
    MobileErrorCode.MOBILE_ACCOUNT_AMBIGUOUS,
}
_AMOUNT = {
    ErrorCode.AMOUNT_BELOW_MINIMUM,
    ErrorCode.AMOUNT_ABOVE_MAXIMUM,
    ErrorCode.TENDER_BELOW_CHARGES_DUE,
    ErrorCode.INVALID_AMOUNT,
    MobileErrorCode.MOBILE_AMOUNT_UNREADABLE,
    MobileErrorCode.MOBILE_AMOUNT_NOT_WHOLE,
}


def validation_code(refusal: DomainError) -> str:
    """The C2B reject code for a refusal: the account, the amount, or another error."""
    if refusal.code in _ACCOUNT or str(refusal.code).startswith("METER_"):
        return protocol.INVALID_ACCOUNT
    if refusal.code in _AMOUNT:
        return protocol.INVALID_AMOUNT
    return protocol.OTHER_ERROR
