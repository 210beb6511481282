"""Each Electrum operation as calls to the partner services, and its answer as an Electrum body.

Nothing here decides anything: request ids, repeats, advices, limits and floats are the partner
services' (``gridvend.partners.services``); this module only reads the message, names the call
and writes the response the Electrum models and the test pack expect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from gridvend.customers.models import Customer
from gridvend.gateways.electrum import protocol
from gridvend.gateways.electrum.protocol import Envelope
from gridvend.kernel.money import Money
from gridvend.meters.models import Meter
from gridvend.partners import selectors as partner_selectors
from gridvend.partners import services as partners
from gridvend.partners.errors import RequestNotFound, RequestNotReprintable
from gridvend.partners.models import Partner, RequestKind, SaleState
from gridvend.vending import services as vending
from gridvend.vending.models import Sale, Token, TokenKind

INTERFACE = "electrum"
TOKEN_TYPES: dict[str, str] = {
    TokenKind.CREDIT: "STD",
    TokenKind.FBE: "BSST",
    TokenKind.KEY_CHANGE: "KC",
    TokenKind.FREE_ISSUE: "STD",
    TokenKind.CREDIT_TRANSFER: "STD",
    TokenKind.ENGINEERING: "PWRLMT",
}


@dataclass(frozen=True)
class Reply:
    body: dict[str, Any]
    status: int


def _call(partner: Partner, env: Envelope, msisdn: str = "") -> partners.Call:
    return partners.Call(
        partner=partner,
        interface=INTERFACE,
        terminal_id=env.terminal_id,
        operator_id=env.operator_id,
        msisdn=msisdn,
        echo=env.echo(),
    )


def _client(partner: Partner) -> dict[str, Any]:
    return {"id": partner.code, "name": partner.name[:40]}


def _receiver() -> dict[str, Any]:
    return {"id": protocol.OUR_INSTITUTION_ID, "name": str(settings.UTILITY_NAME)[:40]}


def _frame(partner: Partner, env: Envelope, ours: str) -> dict[str, Any]:
    body = protocol.parties(env, client=_client(partner), receiver=_receiver())
    body["thirdPartyIdentifiers"] = protocol.identifiers(
        env.third_party, ours, client_id=partner.code, their_id=env.id
    )
    return body


def _meter(meter: Meter) -> dict[str, Any]:
    return {
        "meterId": meter.number,
        "serviceType": "ELECTRICITY",
        "supplyGroupCode": meter.sgc,
        "keyRevisionNum": meter.krn,
        "tariffIndex": f"{meter.ti:02d}",
        "tokenTechCode": "02",
        "algorithmCode": meter.ea,
    }


def _customer(customer: Customer | None) -> dict[str, Any]:
    if customer is None:
        return {}
    premise = customer.meters.select_related("premise").first()
    address = premise.premise.address if premise is not None and premise.premise else ""
    return {
        "accountNumber": customer.account_number,
        "name": customer.name,
        "address": address,
    }


def _utility() -> dict[str, Any]:
    return {
        "name": str(settings.UTILITY_NAME),
        "vatRegNum": str(settings.TAX_REGISTRATION_NUMBER),
        "clientId": protocol.OUR_INSTITUTION_ID,
        "address": "",
    }


def _units(token: Token) -> dict[str, Any]:
    return {"value": float(token.units or 0), "uom": "kWh"}


def _tokens(sale: Sale, tokens: list[Token]) -> list[dict[str, Any]]:
    """Each token with its type, units and amount; the sale's energy money and its tax on the
    first credit token (key-change and free tokens carry no money)."""
    found = []
    priced = False
    for token in tokens:
        money = tax = 0
        if token.kind == TokenKind.CREDIT and not priced:
            money, tax, priced = sale.energy_minor + sale.tax_minor, sale.tax_minor, True
        currency = protocol.numeric_currency(sale.currency)
        found.append(
            {
                "tokenType": TOKEN_TYPES.get(token.kind, "STD"),
                "token": token.digits,
                "units": _units(token),
                "receiptNum": f"{sale.reference}-{token.sequence}",
                "amount": {
                    "amount": money,
                    "currency": currency,
                    "tax": {"amount": tax, "currency": currency},
                },
                "description": token.description,
            }
        )
    return found


def _sale_body(partner: Partner, env: Envelope, sale: Sale, tokens: list[Token]) -> dict[str, Any]:
    body = _frame(partner, env, sale.reference)
    currency = sale.currency
    body.update(
        {
            "meter": _meter(sale.meter),
            "customer": _customer(sale.customer),
            "utility": _utility(),
            "utilityType": "ELECTRICITY",
            "tokens": _tokens(sale, tokens),
            "purchaseTotal": protocol.ledger_amount(Money(sale.tender_minor, currency)),
            "taxTotal": protocol.ledger_amount(Money(sale.tax_minor, currency)),
            "debtRecoveryCharges": _debt(sale),
            "serviceCharges": _service(sale),
            "vatInvoiceNumber": sale.reference,
        }
    )
    return body


def _debt(sale: Sale) -> list[dict[str, Any]]:
    if not sale.debt_recovered_minor:
        return []
    currency = sale.currency
    line: dict[str, Any] = {
        "amount": protocol.ledger_amount(Money(sale.debt_recovered_minor, currency)),
        "description": "Debt recovery",
        "receiptNum": sale.reference,
    }
    if sale.debt_balance_after_minor is not None:
        line["balance"] = protocol.ledger_amount(Money(sale.debt_balance_after_minor, currency))
    return [line]


def _service(sale: Sale) -> list[dict[str, Any]]:
    if not sale.fixed_charges_minor:
        return []
    amount = protocol.ledger_amount(Money(sale.fixed_charges_minor, sale.currency))
    return [{"amount": amount, "description": "Fixed charges", "receiptNum": sale.reference}]


def meter_lookup(partner: Partner, data: dict[str, Any], lookup_id: str) -> Reply:
    message = protocol.lookup_request(data, lookup_id)
    found = partners.lookup(_call(partner, message.envelope), message.meter_id)
    body = _frame(partner, message.envelope, protocol.key_of(message.envelope.id))
    body.update(
        {
            "meter": _meter(found.meter),
            "customer": _customer(found.customer),
            "utility": _utility(),
            "utilityType": "ELECTRICITY",
            "minAmount": protocol.ledger_amount(found.minimum),
            "arrearsAmount": protocol.ledger_amount(found.debt_balance),
            "bsstDue": found.fbe_due_kwh > 0,
        }
    )
    if found.maximum is not None:
        body["maxAmount"] = protocol.ledger_amount(found.maximum)
    return Reply(body, 201)


def purchase(partner: Partner, data: dict[str, Any], purchase_id: str, *, retry: bool) -> Reply:
    """A purchase, or its retry: the path's id is the purchase's; a retry's body has its own id
    (echoed) and gets the tokens already issued when the original was seen, else sells once."""
    message = protocol.purchase_request(data, partner.currency, None if retry else purchase_id)
    protocol.message_id(purchase_id, "purchaseId")
    call = _call(partner, message.envelope, message.msisdn)
    answer = partners.purchase(
        call, protocol.key_of(purchase_id), message.meter_id, tender=message.amount
    )
    assert answer.result is not None
    result = answer.result
    return Reply(_sale_body(partner, message.envelope, result.sale, result.tokens), 201)


def first_purchase(partner: Partner, data: dict[str, Any], purchase_id: str) -> Reply:
    return purchase(partner, data, purchase_id, retry=False)


def retry_purchase(partner: Partner, data: dict[str, Any], purchase_id: str) -> Reply:
    return purchase(partner, data, purchase_id, retry=True)


def trial(partner: Partner, data: dict[str, Any], trial_id: str) -> Reply:
    """What the purchase would give, with no token and no money moved."""
    message = protocol.purchase_request(data, partner.currency, trial_id)
    call = _call(partner, message.envelope, message.msisdn)
    quote = partners.trial(call, message.meter_id, tender=message.amount)
    breakdown = quote.breakdown
    currency = protocol.numeric_currency(breakdown.currency)
    body = _frame(partner, message.envelope, protocol.key_of(message.envelope.id))
    tokens: list[dict[str, Any]] = [
        {
            "tokenType": "STD",
            "units": {"value": float(breakdown.kwh), "uom": "kWh"},
            "amount": {
                "amount": breakdown.energy_at_rates.minor,
                "currency": currency,
                "tax": protocol.ledger_amount(breakdown.tax_total),
            },
        }
    ]
    if breakdown.fbe_kwh > 0:
        tokens.append(
            {
                "tokenType": "BSST",
                "units": {"value": float(breakdown.fbe_kwh), "uom": "kWh"},
                "amount": {"amount": 0, "currency": currency},
            }
        )
    body.update(
        {
            "meter": _meter(quote.meter),
            "customer": _customer(quote.customer),
            "utility": _utility(),
            "utilityType": "ELECTRICITY",
            "tokens": tokens,
            "purchaseTotal": protocol.ledger_amount(breakdown.tender),
            "taxTotal": protocol.ledger_amount(breakdown.tax_total),
        }
    )
    return Reply(body, 200)


def _advice_body(message: protocol.Advice, request_ref: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": message.id,
        "requestId": message.request_id,
        "time": message.time,
        "thirdPartyIdentifiers": protocol.identifiers(
            message.third_party, request_ref, client_id="", their_id=message.request_id
        ),
    }
    return body


def confirm(partner: Partner, data: dict[str, Any], request_id: str, advice_id: str) -> Reply:
    message = protocol.advice(data, advice_id, request_id)
    call = partners.Call(partner=partner, interface=INTERFACE)
    answer = partners.confirm(call, protocol.key_of(advice_id), protocol.key_of(request_id))
    return Reply(_advice_body(message, _reference(answer.request.sale)), 202)


def reverse(partner: Partner, data: dict[str, Any], request_id: str, advice_id: str) -> Reply:
    message = protocol.advice(data, advice_id, request_id)
    call = partners.Call(partner=partner, interface=INTERFACE)
    answer = partners.reverse(
        call, protocol.key_of(advice_id), protocol.key_of(request_id), reason=message.reason
    )
    return Reply(_advice_body(message, _reference(answer.request.sale)), 202)


def _reference(sale: Sale | None) -> str:
    return sale.reference if sale is not None else ""


def key_change(partner: Partner, data: dict[str, Any], request_id: str) -> Reply:
    message = protocol.lookup_request(data, request_id)
    call = _call(partner, message.envelope)
    answer = partners.key_change(call, protocol.key_of(request_id), message.meter_id)
    assert answer.result is not None
    sale = answer.result.sale
    body = _frame(partner, message.envelope, sale.reference)
    body.update(
        {
            "meter": _meter(sale.meter),
            "customer": _customer(sale.customer),
            "utility": _utility(),
            "tokens": _tokens(sale, answer.result.tokens),
        }
    )
    return Reply(body, 201)


def reprint(partner: Partner, data: dict[str, Any], reprint_id: str) -> Reply:
    """The tokens of one of this partner's own purchases, named by its purchase id, as stored."""
    message = protocol.reprint_request(data, reprint_id)
    original = protocol.key_of(message.original_ref)
    request = partner_selectors.partner_request(partner, original)
    sale = request.sale
    reversed_ = request.state == SaleState.REVERSED
    if sale is None or reversed_ or request.kind == RequestKind.PAY_ACCOUNT:
        raise RequestNotReprintable(request_id=original)
    digits = "".join(ch for ch in message.meter_id if ch.isdigit())
    if sale.meter.number != digits:
        raise RequestNotFound(request_id=original)
    result = vending.reprint_sale(actor=partner.service_user, sale=sale)
    return Reply(_sale_body(partner, message.envelope, result.sale, result.tokens), 200)


def fault_report(partner: Partner, data: dict[str, Any], request_id: str) -> Reply:
    message = protocol.fault_report(data, request_id)
    call = _call(partner, message.envelope)
    description = message.description or message.fault_type
    fault = partners.report_fault(
        call,
        message.meter_id,
        description=f"{message.fault_type}: {description}"[:500]
        if message.description
        else description,
        category=protocol.FAULT_CATEGORIES[message.fault_type],
        reporter_phone=message.contact,
    )
    body = _frame(partner, message.envelope, f"fault-{fault.pk}")
    body.update({"meter": _meter(fault.meter), "faultType": message.fault_type})
    return Reply(body, 201)
