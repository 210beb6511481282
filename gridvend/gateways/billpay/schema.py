"""The OpenAPI 3.1 document of the Billpay v4 interface (docs/billpay-openapi.json).

The partner API's document is django-ninja's, generated from its typed routes; the Electrum
interfaces are plain views reading Electrum's own JSON, so their document is written here, from
the same URL table (``urls.py``) so that every operation served is in it (a test checks both).
It describes what gridvend reads and writes; Electrum's published models hold more optional
fields, which gridvend ignores on input.
"""

from __future__ import annotations

from typing import Any

from gridvend.gateways.billpay import urls

LEDGER_AMOUNT = {
    "type": "object",
    "required": ["amount", "currency"],
    "properties": {
        "amount": {
            "description": "Minor units; a JSON number or a string of digits.",
            "oneOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": "^[0-9]{1,13}$"},
            ],
        },
        "currency": {
            "type": "string",
            "description": 'ISO 4217 numeric ("404"); the letters ("KES") in lenient mode.',
        },
    },
}
INSTITUTION = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
}
IDENTIFIER = {
    "type": "object",
    "properties": {
        "institutionId": {"type": "string", "maxLength": 40},
        "transactionIdentifier": {"type": "string", "maxLength": 64},
    },
}
UUID_PATTERN = "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
TRANSACTION = {
    "type": "object",
    "required": ["id", "time"],
    "properties": {
        "id": {"type": "string", "pattern": UUID_PATTERN},
        "time": {"type": "string", "description": "RFC 3339; echoed string for string."},
        "originator": {"type": "object"},
        "client": {"$ref": "#/components/schemas/Institution"},
        "settlementEntity": {"$ref": "#/components/schemas/Institution"},
        "receiver": {"$ref": "#/components/schemas/Institution"},
        "thirdPartyIdentifiers": {
            "type": "array",
            "maxItems": 10,
            "items": {"$ref": "#/components/schemas/ThirdPartyIdentifier"},
        },
    },
}


def _with(base: str, **properties: Any) -> dict[str, Any]:
    required = [name for name, spec in properties.items() if spec.pop("x-required", False)]
    body: dict[str, Any] = {
        "allOf": [
            {"$ref": f"#/components/schemas/{base}"},
            {"type": "object", "properties": properties},
        ]
    }
    if required:
        body["allOf"][1]["required"] = required
    return body


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


SCHEMAS: dict[str, Any] = {
    "LedgerAmount": LEDGER_AMOUNT,
    "Institution": INSTITUTION,
    "ThirdPartyIdentifier": IDENTIFIER,
    "Transaction": TRANSACTION,
    "AccountLookupRequest": _with(
        "Transaction", accountRef={"type": "string", "maxLength": 20, "x-required": True}
    ),
    "PaymentRequest": _with(
        "Transaction",
        accountRef={"type": "string", "maxLength": 20, "x-required": True},
        amounts={
            "type": "object",
            "required": ["requestAmount"],
            "properties": {"requestAmount": _ref("LedgerAmount")},
            "x-required": True,
        },
        tenders={"type": "array", "items": {"type": "object"}},
    ),
    "RefundRequest": _with(
        "Transaction",
        issuerReference={"type": "string", "maxLength": 40, "x-required": True},
        refundReason={"type": "string", "maxLength": 200},
        amounts={"type": "object", "properties": {"requestAmount": _ref("LedgerAmount")}},
    ),
    "BasicAdvice": {
        "type": "object",
        "required": ["id", "requestId", "time"],
        "properties": {
            "id": {"type": "string", "pattern": UUID_PATTERN},
            "requestId": {"type": "string", "pattern": UUID_PATTERN},
            "time": {"type": "string"},
            "reversalReason": {"enum": ["TIMEOUT", "CANCELLED", "RESPONSE_NOT_FINAL"]},
            "thirdPartyIdentifiers": {"type": "array", "items": _ref("ThirdPartyIdentifier")},
        },
    },
    "BillpayResponse": _with(
        "Transaction",
        account={
            "type": "object",
            "properties": {"accountRef": {"type": "string"}, "dueDate": {"type": "string"}},
        },
        customer={
            "type": "object",
            "properties": {
                "firstName": {"type": "string"},
                "lastName": {"type": "string"},
                "address": {"type": "string"},
            },
        },
        amounts={"type": "object", "additionalProperties": _ref("LedgerAmount")},
        slipData={
            "type": "object",
            "properties": {
                "issuerReference": {"type": "string"},
                "messageLines": {"type": "array", "items": {"type": "string"}},
                "phoneNumber": {"type": "string"},
            },
        },
        partPaymentAllowed={"type": "boolean"},
        overPaymentAllowed={"type": "boolean"},
    ),
    "ErrorDetail": {
        "type": "object",
        "required": ["errorType", "errorMessage", "requestType"],
        "properties": {
            "errorType": {"type": "string"},
            "errorMessage": {"type": "string"},
            "requestType": {"type": "string"},
            "id": {"type": "string"},
            "originalId": {"type": ["string", "null"]},
            "detailMessage": {
                "type": "object",
                "properties": {"code": {"type": "string", "description": "gridvend's code"}},
            },
        },
    },
}

# URL name -> (summary, request schema, success status, response schema)
OPERATIONS: dict[str, tuple[str, str, int, str]] = {
    "account-lookup": (
        "What a postpaid account owes",
        "AccountLookupRequest",
        200,
        "BillpayResponse",
    ),
    "payment": ("A provisional payment", "PaymentRequest", 201, "BillpayResponse"),
    "payment-confirmation": ("Confirm a payment (it is taken)", "BasicAdvice", 202, "BasicAdvice"),
    "payment-reversal": ("Reverse a provisional payment", "BasicAdvice", 202, "BasicAdvice"),
    "refund": ("A provisional refund by issuerReference", "RefundRequest", 201, "BillpayResponse"),
    "refund-confirmation": (
        "Confirm a refund (the payment is cancelled)",
        "BasicAdvice",
        202,
        "BasicAdvice",
    ),
    "refund-reversal": ("Reverse a provisional refund", "BasicAdvice", 202, "BasicAdvice"),
}


def _path(route: str) -> tuple[str, list[str]]:
    parts, params = [], []
    for part in route.split("/"):
        if part.startswith("<"):
            name = part.strip("<>").split(":")[-1]
            params.append(name)
            parts.append("{" + name + "}")
        else:
            parts.append(part)
    return "/billpay/v4/" + "/".join(parts), params


def document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for pattern in urls.urlpatterns:
        name = str(pattern.name)
        summary, request, status, response = OPERATIONS[name]
        path, params = _path(str(pattern.pattern))
        paths[path] = {
            "post": {
                "operationId": f"billpay-{name}",
                "summary": summary,
                "parameters": [
                    {
                        "name": param,
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": UUID_PATTERN},
                    }
                    for param in params
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(request)}},
                },
                "responses": {
                    str(status): {
                        "description": "Done",
                        "content": {"application/json": {"schema": _ref(response)}},
                    },
                    "400": {
                        "description": "Refused (a final failure: no advice needed)",
                        "content": {"application/json": {"schema": _ref("ErrorDetail")}},
                    },
                    "401": {"description": "No or wrong partner credentials"},
                },
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "gridvend Electrum Billpay v4 interface",
            "version": "4",
            "description": "Postpaid bill payments for bank partners (docs/bank-link.md).",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"partnerKey": {"type": "http", "scheme": "basic"}},
        },
        "security": [{"partnerKey": []}],
    }
