"""Our refusals as Electrum ``ErrorDetail`` bodies: one table from stable code to errorType and
HTTP status, and the refusal of a message that cannot be read at all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError
from gridvend.partners.errors import CredentialRefused


class MessageInvalid(DomainError):
    """The body is not an Electrum message we can read: not JSON, too large, a field missing or
    of the wrong type; ``problem`` names it (English, for the integrator's log)."""

    code = "ELECTRUM_MESSAGE_INVALID"
    message_template = gettext_lazy("The Electrum message is not valid: %(problem)s.")

    def __init__(self, *, problem: str) -> None:
        super().__init__(problem=problem[:200])


@dataclass(frozen=True)
class Wire:
    error_type: str
    status: int


FORMAT_ERROR = Wire("FORMAT_ERROR", 400)
DECLINED = Wire("TRANSACTION_DECLINED", 400)

# Our stable code -> Electrum errorType and HTTP status. A code not listed is TRANSACTION_DECLINED
# (400: a final failure, so a store-and-forward client stops repeating it).
TABLE: dict[str, Wire] = {
    "METER_NOT_FOUND": Wire("UNKNOWN_METER_ID", 400),
    "METER_BLOCKED": Wire("METER_ID_BLOCKED", 400),
    "METER_RETIRED": Wire("METER_ID_BLOCKED", 400),
    "METER_FAULTY": Wire("METER_ID_BLOCKED", 400),
    "AMOUNT_BELOW_MINIMUM": Wire("AMOUNT_TOO_LOW", 400),
    "TENDER_BELOW_CHARGES_DUE": Wire("AMOUNT_TOO_LOW", 400),
    "AMOUNT_ABOVE_MAXIMUM": Wire("AMOUNT_TOO_HIGH", 400),
    "INVALID_AMOUNT": Wire("INVALID_AMOUNT", 400),
    "INSUFFICIENT_FLOAT": Wire("INSUFFICIENT_FUNDS", 400),
    "DUPLICATE_REQUEST": Wire("DUPLICATE_RECORD", 400),
    "ADVICE_CONFLICT": Wire("DUPLICATE_RECORD", 400),
    "REQUEST_NOT_FOUND": Wire("UNABLE_TO_LOCATE_RECORD", 404),
    "REQUEST_NOT_REPRINTABLE": Wire("UNABLE_TO_LOCATE_RECORD", 404),
    "KEY_REVISION_EXPIRED": Wire("METER_KEY_INVALID", 400),
    "FBE_NOT_DUE": Wire("NO_FREE_UNITS_DUE", 400),
    "PARTNER_POINT_UNKNOWN": Wire("INVALID_MERCHANT", 400),
    "ELECTRUM_MESSAGE_INVALID": FORMAT_ERROR,
    "INVALID_INPUT": FORMAT_ERROR,
    "CLIENT_REFERENCE_INVALID": FORMAT_ERROR,
    "CURRENCY_MISMATCH": FORMAT_ERROR,
    "UNKNOWN_CURRENCY": FORMAT_ERROR,
}


def wire_error(exc: DomainError) -> Wire:
    if isinstance(exc, CredentialRefused):
        # Who may call is not Electrum's business: the status says it (401, 403, 429).
        return Wire("GENERAL_ERROR", exc.http_status)
    return TABLE.get(str(exc.code), DECLINED)


def error_detail(
    exc: DomainError, *, request_type: str, message_id: str = "", original_id: str = ""
) -> tuple[dict[str, Any], int]:
    """The ``ErrorDetail`` body and status for a refusal; our code rides in ``detailMessage``."""
    wire = wire_error(exc)
    body: dict[str, Any] = {
        "errorType": wire.error_type,
        "errorMessage": str(exc.message)[:500],
        "requestType": request_type,
        "detailMessage": {"code": str(exc.code)},
    }
    if message_id:
        body["id"] = message_id
    if original_id:
        body["originalId"] = original_id
    return body, wire.status
