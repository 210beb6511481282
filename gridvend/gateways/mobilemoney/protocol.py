"""Daraja's JSON on the wire ↔ the provider port's dataclasses (CHANNELS.md §2): C2B validation
and confirmation bodies, the STK callback, the status query and pull answers, and our replies.

Bodies are read with a size cap, numbers as ``Decimal`` (never float), unknown fields ignored,
every string cut to its column; a missing or mistyped field is MOBILE_CALLBACK_INVALID.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from gridvend.mobilemoney.errors import MobileCallbackInvalid
from gridvend.mobilemoney.providers import (
    C2BNotice,
    PulledTransaction,
    ReversalResult,
    StkResult,
)

MAX_BODY_BYTES = 16 * 1024
MAX_DEPTH = 8

# Validation replies (the code chooses what M-Pesa tells the customer).
ACCEPT = "0"
INVALID_MSISDN = "C2B00011"
INVALID_ACCOUNT = "C2B00012"
INVALID_AMOUNT = "C2B00013"
INVALID_KYC = "C2B00014"
INVALID_SHORTCODE = "C2B00015"
OTHER_ERROR = "C2B00016"


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max([_depth(v, level + 1) for v in value.values()] or [level])
    if isinstance(value, list):
        return max([_depth(v, level + 1) for v in value] or [level])
    return level


def read_json(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_BODY_BYTES:
        raise MobileCallbackInvalid(problem=f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(
            raw.decode("utf-8"),
            parse_float=Decimal,
            parse_constant=lambda name: name,  # NaN, Infinity: kept as text, read as invalid
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MobileCallbackInvalid(problem="the body is not JSON") from None
    if not isinstance(data, dict):
        raise MobileCallbackInvalid(problem="the body is not a JSON object")
    if _depth(data) > MAX_DEPTH:
        raise MobileCallbackInvalid(problem="the body is nested too deeply")
    return data


def _text(data: dict[str, Any], name: str, *, size: int, required: bool = False) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise MobileCallbackInvalid(problem=f"{name} is missing")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise MobileCallbackInvalid(problem=f"{name} is not text")
    text = str(value)
    return "".join(ch for ch in text if ch.isprintable())[:size]


def read_c2b(data: dict[str, Any]) -> C2BNotice:
    """A validation or confirmation body (same shape for both)."""
    amount = data.get("TransAmount")
    if amount is None or amount == "":
        raise MobileCallbackInvalid(problem="TransAmount is missing")
    return C2BNotice(
        trans_id=_text(data, "TransID", size=64, required=True),
        trans_time=_text(data, "TransTime", size=20),
        amount=amount if isinstance(amount, str | int | Decimal) else repr(amount)[:40],
        bill_ref=_text(data, "BillRefNumber", size=40),
        msisdn=_text(data, "MSISDN", size=32),
        shortcode=_text(data, "BusinessShortCode", size=10),
        first_name=_text(data, "FirstName", size=40),
        middle_name=_text(data, "MiddleName", size=40),
        last_name=_text(data, "LastName", size=40),
        transaction_type=_text(data, "TransactionType", size=20),
    )


def validation_reply(code: str = ACCEPT) -> dict[str, str]:
    return {"ResultCode": code, "ResultDesc": "Accepted" if code == ACCEPT else "Rejected"}


def confirmation_reply(ok: bool = True, description: str = "Success") -> dict[str, Any]:
    return {"ResultCode": 0 if ok else 1, "ResultDesc": description[:100]}


def read_stk_callback(data: dict[str, Any]) -> StkResult:
    body = data.get("Body")
    callback = body.get("stkCallback") if isinstance(body, dict) else None
    if not isinstance(callback, dict):
        raise MobileCallbackInvalid(problem="Body.stkCallback is missing")
    code = callback.get("ResultCode")
    if isinstance(code, bool) or not isinstance(code, int | str | Decimal):
        raise MobileCallbackInvalid(problem="ResultCode is missing")
    items: dict[str, Any] = {}
    metadata = callback.get("CallbackMetadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("Item"), list):
        for item in metadata["Item"][:20]:
            if isinstance(item, dict) and isinstance(item.get("Name"), str):
                items[item["Name"][:40]] = item.get("Value")
    receipt = items.get("MpesaReceiptNumber")
    return StkResult(
        checkout_request_id=_text(callback, "CheckoutRequestID", size=64, required=True),
        merchant_request_id=_text(callback, "MerchantRequestID", size=64),
        result_code=str(code)[:20],
        result_desc=_text(callback, "ResultDesc", size=200),
        receipt=str(receipt)[:40] if isinstance(receipt, str | int) else "",
        amount=items.get("Amount"),
        phone=str(items.get("PhoneNumber", ""))[:15],
        transaction_date=str(items.get("TransactionDate", ""))[:20],
    )


def read_stk_query(data: dict[str, Any], checkout_request_id: str) -> StkResult:
    """The status query's answer; a request still in process answers with an error code."""
    code = data.get("ResultCode", data.get("errorCode"))
    if code is None:
        raise MobileCallbackInvalid(problem="the status query answered no ResultCode")
    return StkResult(
        checkout_request_id=checkout_request_id,
        merchant_request_id=_text(data, "MerchantRequestID", size=64),
        result_code=str(code)[:20],
        result_desc=_text(data, "ResultDesc", size=200) or _text(data, "errorMessage", size=200),
    )


def _pulled_time(text: str) -> datetime | None:
    for parse in (
        lambda t: datetime.fromisoformat(t),
        lambda t: datetime.strptime(t, "%Y-%m-%d %H:%M:%S"),
    ):
        try:
            moment = parse(text)
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo("Africa/Nairobi"))
        return moment.astimezone(UTC)
    return None


def read_pull(data: dict[str, Any]) -> list[PulledTransaction]:
    """The Pull API's rows (``Response`` is a list of lists of rows in Daraja's samples, or a
    flat list); "1001" means none."""
    if str(data.get("ResponseCode", "")) == "1001":
        return []
    found = data.get("Response", [])
    if not isinstance(found, list):
        raise MobileCallbackInvalid(problem="Response is not a list")
    flat: list[Any] = []
    for entry in found[:1000]:
        flat.extend(entry[:1000] if isinstance(entry, list) else [entry])
    rows = []
    for row in flat[:5000]:
        if not isinstance(row, dict):
            continue
        rows.append(
            PulledTransaction(
                trans_id=_text(row, "transactionId", size=64),
                occurred_at=_pulled_time(_text(row, "trxDate", size=40)),
                msisdn=_text(row, "msisdn", size=32),
                bill_ref=_text(row, "billreference", size=40),
                amount=row.get("amount"),
                transaction_type=_text(row, "transactiontype", size=40),
            )
        )
    return rows


def read_reversal_result(data: dict[str, Any], *, timed_out: bool = False) -> ReversalResult:
    """A reversal's result (``{"Result": {...}}`` at the ResultURL), or the queue time-out at
    the QueueTimeOutURL, which is a failure whatever code it carries."""
    result = data.get("Result")
    if not isinstance(result, dict):
        raise MobileCallbackInvalid(problem="Result is missing")
    code = result.get("ResultCode")
    if code is None and not timed_out:
        raise MobileCallbackInvalid(problem="ResultCode is missing")
    if isinstance(code, bool) or not isinstance(code, int | str | Decimal | None):
        raise MobileCallbackInvalid(problem="ResultCode is not a code")
    text = str(code)[:20] if code is not None else "timeout"
    if timed_out and text == "0":
        text = "timeout"
    conversation = _text(result, "ConversationID", size=64)
    originator = _text(result, "OriginatorConversationID", size=64)
    if not conversation and not originator:
        raise MobileCallbackInvalid(problem="ConversationID is missing")
    return ReversalResult(
        conversation_id=conversation,
        originator_conversation_id=originator,
        result_code=text,
        result_desc=_text(result, "ResultDesc", size=200)
        or ("queue time-out" if timed_out else ""),
        transaction_id=_text(result, "TransactionID", size=40),
        original_transaction_id=_parameter(result, "OriginalTransactionID"),
    )


def _parameter(result: dict[str, Any], key: str) -> str:
    """One value of ``ResultParameters.ResultParameter`` (a list of Key/Value, or one of them);
    "" when absent or not text. At most 50 parameters are looked at."""
    block = result.get("ResultParameters")
    items = block.get("ResultParameter") if isinstance(block, dict) else None
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        return ""
    for item in items[:50]:
        if isinstance(item, dict) and item.get("Key") == key:
            value = item.get("Value")
            return value.strip()[:40] if isinstance(value, str) else ""
    return ""
