"""Our refusals as the fixed-format link's four-digit return codes: one table from stable code to
return code (docs/bank-link.md lists them)."""

from __future__ import annotations

from gridvend.gateways.banklink.layout import ReturnCode

# Our stable code -> return code. A code not listed answers REFUSED (9000) with its message.
TABLE: dict[str, str] = {
    "CUSTOMER_NOT_FOUND": ReturnCode.UNKNOWN_ACCOUNT,
    "NOT_FOUND": ReturnCode.UNKNOWN_ACCOUNT,
    "ACCOUNT_NOT_POSTPAID": ReturnCode.ACCOUNT_NOT_POSTPAID,
    "CUSTOMER_CLOSED": ReturnCode.ACCOUNT_CLOSED,
    "PAYMENT_ABOVE_CLOSED_BALANCE": ReturnCode.ACCOUNT_CLOSED,
    "BANK_AGENCY_UNKNOWN": ReturnCode.AGENCY_UNKNOWN,
    "INVALID_INPUT": ReturnCode.MALFORMED,
    "INVALID_AMOUNT": ReturnCode.AMOUNT_INVALID,
    "PAYMENT_AMOUNT_INVALID": ReturnCode.AMOUNT_INVALID,
    "BILL_PAYMENT_REFERENCE_INVALID": ReturnCode.MALFORMED,
    "VALIDATION_FAILED": ReturnCode.MALFORMED,
    "AMOUNT_BELOW_MINIMUM": ReturnCode.AMOUNT_INVALID,
    "AMOUNT_ABOVE_MAXIMUM": ReturnCode.AMOUNT_INVALID,
    "CURRENCY_MISMATCH": ReturnCode.CURRENCY_INVALID,
    "UNKNOWN_CURRENCY": ReturnCode.CURRENCY_INVALID,
    "PAYMENT_REFERENCE_REUSED": ReturnCode.SERIAL_REUSED,
    "PAYMENT_NOT_FOUND": ReturnCode.NO_RECORD_TO_CANCEL,
    "PAYMENT_ALREADY_CANCELLED": ReturnCode.ALREADY_CANCELLED,
    "PAYMENT_REFERENCE_CANCELLED": ReturnCode.ALREADY_CANCELLED,
    "PAYMENT_CANCEL_TOO_LATE": ReturnCode.CANCEL_TOO_LATE,
    "PAYMENT_ALREADY_RECONCILED": ReturnCode.ALREADY_RECONCILED,
    "BANK_PAYMENT_RECONCILED": ReturnCode.ALREADY_RECONCILED,
    "BANK_RECONCILIATION_IN_PROGRESS": ReturnCode.RECONCILIATION_IN_PROGRESS,
    "BANK_RECONCILIATION_DONE": ReturnCode.ALREADY_RECONCILED,
    "BANK_RECONCILIATION_FILE_INVALID": ReturnCode.MALFORMED,
    "BANK_RECONCILIATION_DATE_IN_FUTURE": ReturnCode.MALFORMED,
}


def return_code(code: str) -> str:
    return TABLE.get(code, ReturnCode.REFUSED)
