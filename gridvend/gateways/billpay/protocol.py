"""Electrum Billpay v4 messages on the wire, read into dataclasses and written back.

The transaction envelope, ids, times, amounts and advices are Electrum's, read by the Prepaid
Utility reader (``gateways.electrum.protocol``) with the same leniencies; Billpay adds the
account reference, the refund's issuer reference and reason, and the four third-party
identifiers of a payment response (the client's two, the settlement entity's and the
receiver's). A currency is the 3-digit ISO 4217 code of the v4 model, or, in lenient mode
(GRIDVEND_BILLPAY_LENIENT_CURRENCY, on by default), the letters the 2019 test pack sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from gridvend.gateways.electrum import protocol as electrum
from gridvend.gateways.electrum.errors import MessageInvalid
from gridvend.gateways.electrum.protocol import Envelope
from gridvend.kernel.money import Money

REFUND_REASON_MAX = 200


def _account_ref(data: dict[str, Any]) -> str:
    raw = data.get("accountRef")
    if raw is None and isinstance(data.get("account"), dict):
        raw = data["account"].get("accountRef")
    if not isinstance(raw, str | int) or isinstance(raw, bool):
        raise MessageInvalid(problem="accountRef is required")
    text = str(raw).strip()
    if not 1 <= len(text) <= 20 or not text.isascii() or not text.replace("-", "").isalnum():
        raise MessageInvalid(problem="accountRef must be 1 to 20 letters and digits")
    return text.upper()


def currency_of(raw: object, expected: str) -> str:
    if not settings.BILLPAY_LENIENT_CURRENCY and isinstance(raw, str) and not raw.strip().isdigit():
        raise MessageInvalid(problem="currency must be a 3-digit ISO 4217 code such as 710")
    return electrum.currency_of(raw, expected)


def request_amount(data: dict[str, Any], currency: str, *, required: bool = True) -> Money | None:
    amounts = data.get("amounts")
    if amounts is None and not required:
        return None
    if not isinstance(amounts, dict) or not isinstance(amounts.get("requestAmount"), dict):
        raise MessageInvalid(problem="amounts.requestAmount is required")
    value = amounts["requestAmount"]
    minor = electrum.read_minor(value.get("amount"), "amounts.requestAmount.amount")
    return Money(minor, currency_of(value.get("currency"), currency))


@dataclass(frozen=True)
class LookupRequest:
    envelope: Envelope
    account_ref: str


def lookup_request(data: dict[str, Any], path_id: str) -> LookupRequest:
    return LookupRequest(envelope=electrum.envelope(data, path_id), account_ref=_account_ref(data))


@dataclass(frozen=True)
class PaymentRequest:
    envelope: Envelope
    account_ref: str
    amount: Money


def payment_request(data: dict[str, Any], currency: str, path_id: str) -> PaymentRequest:
    amount = request_amount(data, currency)
    assert amount is not None
    return PaymentRequest(
        envelope=electrum.envelope(data, path_id), account_ref=_account_ref(data), amount=amount
    )


@dataclass(frozen=True)
class RefundRequest:
    envelope: Envelope
    issuer_reference: str
    reason: str
    amount: Money | None


def refund_request(data: dict[str, Any], currency: str, path_id: str) -> RefundRequest:
    reference = electrum.read_text(data, "issuerReference", 40, required=True)
    if not reference.isascii() or not reference.isalnum():
        raise MessageInvalid(problem="issuerReference must be letters and digits")
    return RefundRequest(
        envelope=electrum.envelope(data, path_id),
        issuer_reference=reference.upper(),
        reason=electrum.read_text(data, "refundReason", REFUND_REASON_MAX),
        amount=request_amount(data, currency, required=False),
    )


def identifiers(
    env: Envelope, ours: str, *, client_id: str, settlement_id: str, receiver_id: str
) -> list[dict[str, Any]]:
    """The client's identifiers (two: theirs, or their message id twice named), then the
    settlement entity's and the receiver's, each carrying our reference."""
    given = [
        i for i in env.third_party if i.get("institutionId") not in (settlement_id, receiver_id)
    ]
    while len(given) < 2:
        given.append({"institutionId": client_id, "transactionIdentifier": env.id})
    return [
        *given,
        {"institutionId": settlement_id, "transactionIdentifier": ours},
        {"institutionId": receiver_id, "transactionIdentifier": ours},
    ]


def ledger_amount(money: Money) -> dict[str, Any]:
    return electrum.ledger_amount(money)
