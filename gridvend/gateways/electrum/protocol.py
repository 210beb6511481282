"""Electrum Prepaid Utility v3 messages on the wire, read into dataclasses and written back.

Reading is lenient where real clients are (amounts as JSON strings or numbers, unknown fields
ignored, ids in UUID layout of any version, ``reciever`` for ``receiver``, currency as ISO 4217
numeric or alphabetic) and strict everywhere else: a size cap before parsing, bounded numbers and
strings, and one refusal (``MessageInvalid`` or ``InvalidInput``) naming the field.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gridvend.gateways.electrum.errors import MessageInvalid
from gridvend.kernel.errors import CurrencyMismatch, UnknownCurrency
from gridvend.kernel.inputs import clean_text, text_problem
from gridvend.kernel.money import Money

MAX_BODY_BYTES = 64 * 1024
MAX_DEPTH = 8  # the deepest Electrum object (originator.merchant.merchantName) is 4 levels down
MAX_AMOUNT_MINOR = 10**12
MAX_IDENTIFIERS = 10
MAX_ECHO_BYTES = 4096
# Any version nibble: the test pack's ids are random hex in UUID layout, not RFC 4122 v4.
ID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$")
OUR_INSTITUTION_ID = "gridvend"

# ISO 4217 numeric codes of the currencies a utility selling through Electrum may keep its
# books in (Electrum sends the numeric form: "710"; some clients the letters: "ZAR").
NUMERIC_CURRENCY = {
    "072": "BWP",
    "230": "ETB",
    "324": "GNF",
    "404": "KES",
    "426": "LSL",
    "430": "LRD",
    "454": "MWK",
    "516": "NAD",
    "566": "NGN",
    "646": "RWF",
    "694": "SLE",
    "710": "ZAR",
    "748": "SZL",
    "800": "UGX",
    "834": "TZS",
    "840": "USD",
    "936": "GHS",
    "943": "MZN",
    "950": "XAF",
    "952": "XOF",
    "967": "ZMW",
    "978": "EUR",
}
ALPHA_CURRENCY = {alpha: numeric for numeric, alpha in NUMERIC_CURRENCY.items()}

FAULT_CATEGORIES = {
    "SeriousBoxDamage": "meter_tamper",
    "FireWaterDamage": "meter_tamper",
    "MeterDead": "no_supply",
    "KeepsTripping": "no_supply",
    "NoTrip": "other",
    "DisplayLightsButtons": "display_fault",
    "NetworkFaultReport": "no_supply",
    "IncorrectSGC": "token_rejected",
    "IncorrectTI": "token_rejected",
    "ConvertedFrmConventional": "other",
    "MeterChangedOut": "other",
    "NewInstallation": "other",
}
REVERSAL_REASONS = ("TIMEOUT", "CANCELLED", "RESPONSE_NOT_FINAL")


def _refuse(problem: str) -> MessageInvalid:
    return MessageInvalid(problem=problem)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_json(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object: at most ``MAX_BODY_BYTES``, UTF-8, no NaN, bounded nesting."""
    if len(raw) > MAX_BODY_BYTES:
        raise _refuse(f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse("the body is not UTF-8") from None
    if _depth(text) > MAX_DEPTH:
        raise _refuse(f"the body is nested deeper than {MAX_DEPTH} levels")
    try:
        data = json.loads(text, parse_float=Decimal, parse_constant=_no_constants)
    except ValueError:
        raise _refuse("the body is not JSON") from None
    if not isinstance(data, dict):
        raise _refuse("the body is not a JSON object")
    return data


def _depth(text: str) -> int:
    """How deep brackets nest, outside strings: checked before parsing (no deep recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def message_id(raw: object, name: str = "id") -> str:
    if not isinstance(raw, str) or not ID.fullmatch(raw):
        raise _refuse(f"{name} must be a UUID (8-4-4-4-12 hexadecimal digits)")
    return raw


def key_of(message: str) -> str:
    """The id as we store it: case does not make another request."""
    return message.lower()


def _time(raw: object) -> str:
    if not isinstance(raw, str) or len(raw) > 40 or not TIME.fullmatch(raw):
        raise _refuse("time must be an RFC 3339 date and time")
    return raw


def _object(data: dict[str, Any], name: str, *, required: bool = False) -> dict[str, Any]:
    value = data.get(name)
    if value is None:
        if required:
            raise _refuse(f"{name} is required")
        return {}
    if not isinstance(value, dict):
        raise _refuse(f"{name} must be an object")
    return value


def _text(data: dict[str, Any], name: str, max_length: int, *, required: bool = False) -> str:
    value = data.get(name)
    if isinstance(value, dict | list | bool):
        raise _refuse(f"{name} must be text")
    if isinstance(value, Decimal | int):
        value = str(value)
    return clean_text(value, max_length=max_length, field=name, required=required)


def _echo(value: dict[str, Any], name: str) -> dict[str, Any]:
    """An object we only give back (and keep with the request, for a retry): as sent, within a
    size bound, its text free of control characters (PostgreSQL's jsonb refuses NUL) and its
    numbers plain JSON numbers."""
    plain: dict[str, Any] = json.loads(json.dumps(value, default=_plain_number))
    if len(json.dumps(plain)) > MAX_ECHO_BYTES:
        raise _refuse(f"{name} is larger than {MAX_ECHO_BYTES} bytes")
    _check_texts(plain, name)
    return plain


def _plain_number(value: object) -> object:
    if isinstance(value, Decimal):
        as_float = float(value)
        return as_float if math.isfinite(as_float) else str(value)
    raise TypeError(type(value).__name__)


def _check_texts(value: object, name: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _check_texts(key, name)
            _check_texts(item, name)
    elif isinstance(value, list):
        for item in value:
            _check_texts(item, name)
    elif isinstance(value, str) and text_problem(value) is not None:
        raise _refuse(f"{name} holds control or text-direction characters")


def _minor(raw: object, name: str) -> int:
    """A long of minor units, sent as a number or as a string of digits (the test pack's)."""
    if isinstance(raw, bool):
        raise _refuse(f"{name} must be a whole number of minor units")
    if isinstance(raw, str):
        text = raw.strip()
        if not text.isascii() or not text.isdigit() or len(text) > 13:
            raise _refuse(f"{name} must be a whole number of minor units")
        value = int(text)
    elif isinstance(raw, int):
        value = raw
    elif isinstance(raw, Decimal) and raw == raw.to_integral_value() and raw.adjusted() < 13:
        value = int(raw)
    else:
        raise _refuse(f"{name} must be a whole number of minor units")
    if value < 0 or value > MAX_AMOUNT_MINOR:
        raise _refuse(f"{name} must be between 0 and {MAX_AMOUNT_MINOR}")
    return value


def currency_of(raw: object, expected: str) -> str:
    """The utility's currency, given as "404" or "KES"; any other currency is refused."""
    if not isinstance(raw, str) or not 1 <= len(raw) <= 3:
        raise _refuse("currency must be an ISO 4217 code such as 710 or ZAR")
    code = raw.strip().upper()
    alpha = NUMERIC_CURRENCY.get(code.zfill(3)) if code.isdigit() else code
    if alpha is None or not alpha.isalpha():
        raise UnknownCurrency(currency=code)
    if alpha != expected:
        raise CurrencyMismatch(expected=numeric_currency(expected), got=code)
    return alpha


def numeric_currency(alpha: str) -> str:
    return ALPHA_CURRENCY.get(alpha, alpha)


def amount_of(data: dict[str, Any], name: str, currency: str) -> Money:
    value = _object(data, name, required=True)
    minor = _minor(value.get("amount"), f"{name}.amount")
    return Money(minor, currency_of(value.get("currency"), currency))


@dataclass(frozen=True)
class Envelope:
    """The fields every Electrum transaction carries, and those a response gives back."""

    id: str
    time: str
    originator: dict[str, Any]
    client: dict[str, Any]
    settlement_entity: dict[str, Any]
    receiver: dict[str, Any]
    third_party: list[dict[str, Any]]
    terminal_id: str
    operator_id: str

    def echo(self) -> dict[str, Any]:
        """What a request record keeps so that a retry answers with the same parties."""
        return {
            "originator": self.originator,
            "client": self.client,
            "settlementEntity": self.settlement_entity,
            "receiver": self.receiver,
            "thirdPartyIdentifiers": self.third_party,
        }


def envelope(data: dict[str, Any], path_id: str | None = None) -> Envelope:
    ident = message_id(data.get("id"))
    if path_id is not None and key_of(ident) != key_of(path_id):
        raise _refuse("id in the body must be the id in the path")
    originator = _echo(_object(data, "originator"), "originator")
    terminal = _text(originator, "terminalId", 40)
    operator = _text(originator, "operatorId", 40)
    receiver = data.get("receiver") if data.get("receiver") is not None else data.get("reciever")
    parties = {"receiver": receiver} if receiver is not None else {}
    return Envelope(
        id=ident,
        time=_time(data.get("time")),
        originator=originator,
        client=_echo(_object(data, "client"), "client"),
        settlement_entity=_echo(_object(data, "settlementEntity"), "settlementEntity"),
        receiver=_echo(_object(parties, "receiver"), "receiver"),
        third_party=_identifiers(data.get("thirdPartyIdentifiers")),
        terminal_id=terminal,
        operator_id=operator,
    )


def _identifiers(raw: object) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_IDENTIFIERS:
        raise _refuse(f"thirdPartyIdentifiers must be a list of at most {MAX_IDENTIFIERS}")
    found = []
    for item in raw:
        if not isinstance(item, dict):
            raise _refuse("thirdPartyIdentifiers must hold objects")
        found.append(
            {
                "institutionId": _text(item, "institutionId", 40),
                "transactionIdentifier": _text(item, "transactionIdentifier", 64),
            }
        )
    return found


def meter_id(data: dict[str, Any]) -> str:
    meter = _object(data, "meter", required=True)
    number = _text(meter, "meterId", 32, required=True)
    if not number.isascii() or not number.replace(" ", "").replace("-", "").isalnum():
        raise _refuse("meter.meterId must be letters and digits")
    return number


@dataclass(frozen=True)
class PurchaseRequest:
    envelope: Envelope
    meter_id: str
    amount: Money
    msisdn: str


def purchase_request(data: dict[str, Any], currency: str, path_id: str | None) -> PurchaseRequest:
    return PurchaseRequest(
        envelope=envelope(data, path_id),
        meter_id=meter_id(data),
        amount=amount_of(data, "purchaseAmount", currency),
        msisdn=_msisdn(data),
    )


def _msisdn(data: dict[str, Any]) -> str:
    raw = data.get("msisdn")
    if isinstance(raw, dict):  # the base's Msisdn object
        raw = raw.get("msisdn")
    if raw is None:
        return ""
    return _text({"msisdn": raw}, "msisdn", 32)


@dataclass(frozen=True)
class LookupRequest:
    envelope: Envelope
    meter_id: str


def lookup_request(data: dict[str, Any], path_id: str) -> LookupRequest:
    return LookupRequest(envelope=envelope(data, path_id), meter_id=meter_id(data))


@dataclass(frozen=True)
class Advice:
    id: str
    request_id: str
    time: str
    third_party: list[dict[str, Any]]
    reason: str = ""
    echo: dict[str, Any] = field(default_factory=dict)


def advice(data: dict[str, Any], advice_path_id: str, request_path_id: str) -> Advice:
    ident = message_id(data.get("id"))
    if key_of(ident) != key_of(advice_path_id):
        raise _refuse("id in the body must be the advice id in the path")
    request_id = message_id(data.get("requestId"), "requestId")
    if key_of(request_id) != key_of(request_path_id):
        raise _refuse("requestId must be the request id in the path")
    reason = data.get("reversalReason")
    if reason is not None and reason not in REVERSAL_REASONS:
        raise _refuse(f"reversalReason must be one of {', '.join(REVERSAL_REASONS)}")
    return Advice(
        id=ident,
        request_id=request_id,
        time=_time(data.get("time")),
        third_party=_identifiers(data.get("thirdPartyIdentifiers")),
        reason=str(reason or ""),
    )


@dataclass(frozen=True)
class ReprintRequest:
    envelope: Envelope
    meter_id: str
    original_ref: str


def reprint_request(data: dict[str, Any], path_id: str) -> ReprintRequest:
    return ReprintRequest(
        envelope=envelope(data, path_id),
        meter_id=meter_id(data),
        original_ref=_text(data, "originalRef", 64, required=True),
    )


@dataclass(frozen=True)
class FaultReportRequest:
    envelope: Envelope
    meter_id: str
    fault_type: str
    description: str
    contact: str


def fault_report(data: dict[str, Any], path_id: str) -> FaultReportRequest:
    fault = data.get("faultType")
    if not isinstance(fault, str) or fault not in FAULT_CATEGORIES:
        raise _refuse(f"faultType must be one of {', '.join(FAULT_CATEGORIES)}")
    contact = _object(data, "contactDetails")
    phone = contact.get("phoneNumber") or contact.get("msisdn")
    return FaultReportRequest(
        envelope=envelope(data, path_id),
        meter_id=meter_id(data),
        fault_type=fault,
        description=_text(data, "description", 500),
        contact=_text({"phone": phone}, "phone", 32),
    )


# Responses --------------------------------------------------------------------------------------


def ledger_amount(money: Money) -> dict[str, Any]:
    return {"amount": money.minor, "currency": numeric_currency(money.currency)}


def parties(env: Envelope, *, client: dict[str, Any], receiver: dict[str, Any]) -> dict[str, Any]:
    """The transaction fields a response echoes; parties the client left out are filled in
    (the test pack asserts client, settlementEntity and receiver with id and name)."""
    return {
        "id": env.id,
        "time": env.time,
        "originator": env.originator,
        "client": env.client or client,
        "settlementEntity": env.settlement_entity or env.client or client,
        "receiver": env.receiver or receiver,
    }


def identifiers(
    theirs: list[dict[str, Any]], ours: str, *, client_id: str, their_id: str
) -> list[dict[str, Any]]:
    """The client's identifiers and ours (the sale reference): always two or more, theirs
    first. A client that sent none is named by its own message id."""
    mine = {"institutionId": OUR_INSTITUTION_ID, "transactionIdentifier": ours}
    given = [i for i in theirs if i.get("institutionId") != OUR_INSTITUTION_ID]
    if not given:
        given = [{"institutionId": client_id, "transactionIdentifier": their_id}]
    return [*given, mine]


# The field readers the Billpay interface shares (gateways.billpay.protocol).
read_minor = _minor
read_text = _text
