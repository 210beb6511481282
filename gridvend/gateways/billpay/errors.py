"""Our refusals as Billpay ``ErrorDetail`` bodies: one table from stable code to errorType and
HTTP status (the Billpay test pack's: every decline is 400)."""

from __future__ import annotations

from typing import Any

from gridvend.gateways.electrum.errors import DECLINED, FORMAT_ERROR, Wire
from gridvend.kernel.errors import DomainError
from gridvend.partners.errors import CredentialRefused

SETTLED = Wire("ACCOUNT_ALREADY_SETTLED", 400)
NOT_LOCATED = Wire("UNABLE_TO_LOCATE_RECORD", 400)
DUPLICATE = Wire("DUPLICATE_RECORD", 400)
UNKNOWN_ACCOUNT = Wire("UNKNOWN_CUSTOMER_ACCOUNT", 400)

# Our stable code -> Billpay errorType and HTTP status; a code not listed is TRANSACTION_DECLINED.
TABLE: dict[str, Wire] = {
    "BILLPAY_DUPLICATE_RECORD": DUPLICATE,
    "BILLPAY_ADVICE_CONFLICT": DUPLICATE,
    "PAYMENT_REFERENCE_REUSED": DUPLICATE,
    "PAYMENT_REFERENCE_CANCELLED": DUPLICATE,
    "BILLPAY_RECORD_NOT_FOUND": NOT_LOCATED,
    "BILLPAY_REFUND_NOT_REFUNDABLE": NOT_LOCATED,
    "BILLPAY_ALREADY_SETTLED": SETTLED,
    "BILLPAY_ALREADY_REVERSED": SETTLED,
    "PAYMENT_ALREADY_CANCELLED": SETTLED,
    "NOT_FOUND": UNKNOWN_ACCOUNT,
    "ACCOUNT_NOT_POSTPAID": UNKNOWN_ACCOUNT,
    "CUSTOMER_CLOSED": UNKNOWN_ACCOUNT,
    "PAYMENT_AMOUNT_INVALID": Wire("INVALID_AMOUNT", 400),
    "PAYMENT_ABOVE_CLOSED_BALANCE": Wire("INVALID_AMOUNT", 400),
    "INVALID_AMOUNT": Wire("INVALID_AMOUNT", 400),
    "ELECTRUM_MESSAGE_INVALID": FORMAT_ERROR,
    "INVALID_INPUT": FORMAT_ERROR,
    "VALIDATION_FAILED": FORMAT_ERROR,
    "CURRENCY_MISMATCH": FORMAT_ERROR,
    "UNKNOWN_CURRENCY": FORMAT_ERROR,
}

# Refusals whose ``originalId`` is the request an advice names (the pack checks it).
ADVICE_CODES = frozenset({"BILLPAY_RECORD_NOT_FOUND", "BILLPAY_ALREADY_SETTLED"})


def wire_error(exc: DomainError) -> Wire:
    if isinstance(exc, CredentialRefused):
        return Wire("GENERAL_ERROR", exc.http_status)
    return TABLE.get(str(exc.code), DECLINED)


def error_detail(
    exc: DomainError, *, request_type: str, message_id: str = "", ids: dict[str, str] | None = None
) -> tuple[dict[str, Any], int]:
    """The ``ErrorDetail`` body and status: ``id`` is the message's own (an advice's id for an
    advice), ``originalId`` the request an advice names, null for a request."""
    wire = wire_error(exc)
    path_ids = list((ids or {}).values())
    advice = len(path_ids) == 2
    body: dict[str, Any] = {
        "errorType": wire.error_type,
        "errorMessage": str(exc.message)[:500],
        "requestType": request_type,
        "id": (path_ids[1] if advice else message_id or (path_ids[0] if path_ids else ""))[:64],
        "originalId": path_ids[0][:64] if advice else None,
        "detailMessage": {"code": str(exc.code)},
    }
    return body, wire.status
