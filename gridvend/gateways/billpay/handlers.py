"""Each Billpay operation as calls to the bank-link services, and its answer as a Billpay body.

Nothing here decides anything: the dual-message state machine, request and advice ids and the
payments themselves are the services' (``banklink.services.billpay`` and billing); this module
reads the message and writes the response the Billpay models and test pack expect.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from gridvend.banklink.models import BillpayKind, BillpayRequest
from gridvend.banklink.selectors import customer_address
from gridvend.banklink.services import billpay
from gridvend.billing.selectors import AccountDue
from gridvend.gateways.billpay import protocol
from gridvend.gateways.electrum import protocol as electrum
from gridvend.gateways.electrum.handlers import Reply
from gridvend.gateways.electrum.protocol import Envelope
from gridvend.kernel.money import Money
from gridvend.partners.models import Partner


def _client(partner: Partner) -> dict[str, Any]:
    return {"id": partner.code, "name": partner.name[:40]}


def _receiver() -> dict[str, Any]:
    return {"id": electrum.OUR_INSTITUTION_ID, "name": str(settings.UTILITY_NAME)[:40]}


def _frame(partner: Partner, env: Envelope, ours: str) -> dict[str, Any]:
    body = electrum.parties(env, client=_client(partner), receiver=_receiver())
    body["thirdPartyIdentifiers"] = protocol.identifiers(
        env,
        ours,
        client_id=partner.code,
        settlement_id=str(body["settlementEntity"].get("id") or partner.code),
        receiver_id=str(body["receiver"].get("id") or electrum.OUR_INSTITUTION_ID),
    )
    return body


def _customer(due: AccountDue) -> dict[str, Any]:
    first, _, last = due.customer.name.partition(" ")
    return {
        "firstName": first,
        "lastName": last,
        "address": customer_address(due.customer),
    }


def _account(due: AccountDue) -> dict[str, Any]:
    account: dict[str, Any] = {"accountRef": due.customer.account_number}
    if due.open_bills:
        account["dueDate"] = due.open_bills[0].due_date.isoformat()
    return account


def _amounts(due: AccountDue, **extra: Money) -> dict[str, Any]:
    balance = Money(due.total_due_minor, due.currency)
    amounts = {
        "balanceAmount": protocol.ledger_amount(balance),
        "dueAmount": protocol.ledger_amount(balance),
        "minPayableAmount": protocol.ledger_amount(Money(1, due.currency)),
        "maxPayableAmount": protocol.ledger_amount(
            Money(settings.BILL_PAYMENT_MAX_MINOR, due.currency)
        ),
    }
    amounts.update({name: protocol.ledger_amount(money) for name, money in extra.items()})
    return amounts


def _slip(request: BillpayRequest, lines: list[str]) -> dict[str, Any]:
    return {
        "issuerReference": request.issuer_reference,
        "messageLines": lines,
        "phoneNumber": str(settings.HELPLINE),
    }


def account_lookup(partner: Partner, data: dict[str, Any], request_id: str) -> Reply:
    message = protocol.lookup_request(data, request_id)
    due = billpay.lookup_account(partner=partner, account_number=message.account_ref)
    body = _frame(partner, message.envelope, electrum.key_of(message.envelope.id))
    body.update(
        {
            "account": _account(due),
            "customer": _customer(due),
            "amounts": _amounts(due),
            "partPaymentAllowed": True,
            "overPaymentAllowed": True,
        }
    )
    return Reply(body, 200)


def payment(partner: Partner, data: dict[str, Any], payment_id: str) -> Reply:
    message = protocol.payment_request(data, partner.currency, payment_id)
    request, due = billpay.request_payment(
        partner=partner,
        request_id=electrum.key_of(payment_id),
        account_number=message.account_ref,
        amount=message.amount,
        echo=message.envelope.echo(),
    )
    body = _frame(partner, message.envelope, request.issuer_reference)
    body.update(
        {
            "account": _account(due),
            "customer": _customer(due),
            "amounts": _amounts(due, requestAmount=message.amount, approvedAmount=message.amount),
            "slipData": _slip(request, [f"{settings.UTILITY_NAME}"[:40], "Bill payment"]),
        }
    )
    return Reply(body, 201)


def refund(partner: Partner, data: dict[str, Any], refund_id: str) -> Reply:
    message = protocol.refund_request(data, partner.currency, refund_id)
    request = billpay.request_refund(
        partner=partner,
        request_id=electrum.key_of(refund_id),
        issuer_reference=message.issuer_reference,
        reason=message.reason,
        amount=message.amount,
        echo=message.envelope.echo(),
    )
    amount = Money(request.amount_minor, request.currency)
    body = _frame(partner, message.envelope, request.issuer_reference)
    body.update(
        {
            "issuerReference": message.issuer_reference,
            "refundReason": message.reason,
            "account": {"accountRef": request.account_number},
            "amounts": {
                "requestAmount": protocol.ledger_amount(amount),
                "approvedAmount": protocol.ledger_amount(amount),
            },
            "slipData": _slip(request, ["Refund", message.issuer_reference]),
        }
    )
    return Reply(body, 201)


def _advice_body(message: electrum.Advice, request: BillpayRequest) -> dict[str, Any]:
    return {
        "id": message.id,
        "requestId": message.request_id,
        "time": message.time,
        "thirdPartyIdentifiers": electrum.identifiers(
            message.third_party,
            request.issuer_reference,
            client_id="",
            their_id=message.request_id,
        ),
    }


def _confirm(kind: str) -> Any:
    def confirm(partner: Partner, data: dict[str, Any], request_id: str, advice_id: str) -> Reply:
        message = electrum.advice(data, advice_id, request_id)
        done = billpay.confirm_advice(
            partner=partner,
            kind=kind,
            request_id=electrum.key_of(request_id),
            advice_id=electrum.key_of(advice_id),
        )
        return Reply(_advice_body(message, done.request), 202)

    return confirm


def _reverse(kind: str) -> Any:
    def reverse(partner: Partner, data: dict[str, Any], request_id: str, advice_id: str) -> Reply:
        message = electrum.advice(data, advice_id, request_id)
        done = billpay.reverse_advice(
            partner=partner,
            kind=kind,
            request_id=electrum.key_of(request_id),
            advice_id=electrum.key_of(advice_id),
            reason=message.reason,
        )
        return Reply(_advice_body(message, done.request), 202)

    return reverse


confirm_payment = _confirm(BillpayKind.PAYMENT)
reverse_payment = _reverse(BillpayKind.PAYMENT)
confirm_refund = _confirm(BillpayKind.REFUND)
reverse_refund = _reverse(BillpayKind.REFUND)
