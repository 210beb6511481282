"""The sandbox provider: a fake Daraja that answers over real HTTP as CHANNELS.md §2 describes
(OAuth, C2B URL registration, STK push and its status query, the Pull Transaction API), plays
the customer's phone (a paybill payment, an answer to an STK prompt) and sends the callbacks to
the URLs it was given. For development, the demo and the tests; ``SandboxProvider`` is the
Daraja adapter pointed at it with the sandbox's fixed credentials.

Callbacks are sent by ``deliver(url, body)``: by default an HTTP POST from a thread of their own
(as Safaricom does); given ``deliver=None`` they are held in ``held`` for the caller to send
(tests send them through Django's test client, in their own database transaction).

STK outcomes are chosen per phone number with ``answer_next(phone, outcome)``: "0" (paid, the
default), "1032" (cancelled), "1037" (unreachable), "1" (insufficient balance), or "silent"
(paid, but the callback is lost: only the status query and the pull tell).

Reversals (refunds) are answered as Daraja's Transaction Reversal API does: accepted, then the
result sent to the ResultURL; ``fail_next_reversal(code)`` makes the next one fail with that
result code (or ``"timeout"``: the queue time-out goes to the QueueTimeOutURL instead).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import string
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

from gridvend.gateways.mobilemoney.daraja import DarajaProvider
from gridvend.mobilemoney.models import MobileProvider

NAIROBI = ZoneInfo("Africa/Nairobi")
SANDBOX_CREDENTIAL = "sandbox"
MAX_REQUEST_BYTES = 64 * 1024
RESULT_TEXT = {
    "0": "The service request is processed successfully.",
    "1": "The balance is insufficient for the transaction.",
    "1032": "Request cancelled by user",
    "1037": "DS timeout user cannot be reached",
    "R000001": "The transaction has already been reversed.",
    "R000002": "The OriginalTransID is invalid.",
}

Deliver = Callable[[str, dict[str, Any]], None]
# Where `gridvend phone pay` plays the customer paying the paybill from their phone.
PHONE_PAYBILL_PATH = "/sandbox/phone/paybill"


class SandboxProvider(DarajaProvider):
    """The Daraja client with the sandbox's credentials when the environment sets none."""

    def _env(self, name: str) -> str:
        return os.environ.get(name, "") or SANDBOX_CREDENTIAL


def post_json(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(  # noqa: S310 (the URL gridvend registered itself)
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
            reply.read(65536)
    except OSError:
        return  # a callback that fails is lost, as on the real network: the pull finds it


def _receipt() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "S" + "".join(secrets.choice(alphabet) for _ in range(9))


def masked(phone: str) -> str:
    """How Daraja v2 shows a payer: 2547 ***** 126."""
    return f"{phone[:4]} ***** {phone[-3:]}"


@dataclass
class FakeDaraja:
    shortcode: str
    passkey: str = SANDBOX_CREDENTIAL
    consumer_key: str = SANDBOX_CREDENTIAL
    consumer_secret: str = SANDBOX_CREDENTIAL
    deliver: Deliver | None = post_json
    validation_enabled: bool = False
    urls: dict[str, str] = field(default_factory=dict)
    transactions: list[dict[str, Any]] = field(default_factory=list)
    pushes: dict[str, dict[str, Any]] = field(default_factory=dict)
    held: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    initiator: str = SANDBOX_CREDENTIAL
    security_credential: str = SANDBOX_CREDENTIAL
    reversed: dict[str, str] = field(default_factory=dict)  # receipt -> reversal receipt
    reversal_failures: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    # Running ----------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a daemon thread; returns the base URL to configure the provider with."""
        daraja = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                if self.path.startswith("/oauth/v1/generate"):
                    self._reply(*daraja.oauth(self.headers.get("Authorization", "")))
                else:
                    self._reply(404, {"errorCode": "404.001.01", "errorMessage": "Not found"})

            def do_POST(self) -> None:
                length = self.headers.get("Content-Length", "0")
                if not length.isdigit() or int(length) > MAX_REQUEST_BYTES:
                    self._reply(400, {"errorCode": "400.002.02", "errorMessage": "Bad Request"})
                    return
                raw = self.rfile.read(int(length))
                if self.path == PHONE_PAYBILL_PATH:
                    # The customer's phone, not an API client: `gridvend phone pay`.
                    self._reply(*daraja.phone_pays(raw))
                    return
                if self.headers.get("Authorization", "") not in {
                    f"Bearer {t}" for t in daraja.tokens
                }:
                    self._reply(
                        401, {"errorCode": "404.001.03", "errorMessage": "Invalid Access Token"}
                    )
                    return
                try:
                    body = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    body = None
                if not isinstance(body, dict):
                    self._reply(400, {"errorCode": "400.002.02", "errorMessage": "Bad Request"})
                    return
                self._reply(*daraja.handle(self.path, body))

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer((host, port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        bound_port = self._server.server_address[1]
        return f"http://{host}:{bound_port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _send(self, url: str, body: dict[str, Any]) -> None:
        if self.deliver is None:
            with self._lock:
                self.held.append((url, body))
            return
        threading.Thread(target=self.deliver, args=(url, body), daemon=True).start()

    def take_held(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            held, self.held = self.held, []
        return held

    # The API ----------------------------------------------------------------------------------

    def oauth(self, authorization: str) -> tuple[int, dict[str, Any]]:
        expected = base64.b64encode(f"{self.consumer_key}:{self.consumer_secret}".encode()).decode()
        if authorization != f"Basic {expected}":
            return 400, {"errorCode": "400.008.01", "errorMessage": "Invalid Authentication passed"}
        token = secrets.token_urlsafe(20)
        with self._lock:
            self.tokens.add(token)
        return 200, {"access_token": token, "expires_in": "3599"}

    def handle(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        routes = {
            "/mpesa/c2b/v2/registerurl": self._register,
            "/mpesa/stkpush/v1/processrequest": self._stk_push,
            "/mpesa/stkpushquery/v1/query": self._stk_query,
            "/pulltransactions/v1/query": self._pull,
            "/mpesa/reversal/v1/request": self._reversal,
        }
        route = routes.get(path)
        if route is None:
            return 404, {"errorCode": "404.001.01", "errorMessage": "Resource not found"}
        return route(body)

    def _register(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if str(body.get("ShortCode")) != self.shortcode:
            return 400, {"errorCode": "400.003.01", "errorMessage": "Invalid ShortCode"}
        if body.get("ResponseType") not in ("Completed", "Cancelled"):
            return 400, {"errorCode": "400.003.02", "errorMessage": "Invalid ResponseType"}
        self.urls = {
            "confirmation": str(body.get("ConfirmationURL", "")),
            "validation": str(body.get("ValidationURL", "")),
        }
        return 200, {
            "OriginatorCoversationID": secrets.token_hex(8),
            "ResponseCode": "0",
            "ResponseDescription": "Success",
        }

    def _password_ok(self, body: dict[str, Any]) -> bool:
        timestamp = str(body.get("Timestamp", ""))
        expected = base64.b64encode(f"{self.shortcode}{self.passkey}{timestamp}".encode()).decode()
        return body.get("Password") == expected and str(body.get("BusinessShortCode")) == (
            self.shortcode
        )

    def answer_next(self, phone: str, outcome: str) -> None:
        """How the phone answers its next STK prompt."""
        with self._lock:
            self.outcomes[phone] = outcome

    def _stk_push(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if not self._password_ok(body):
            return 400, {
                "errorCode": "400.002.02",
                "errorMessage": "Bad Request - Invalid Password",
            }
        amount = body.get("Amount")
        phone = str(body.get("PhoneNumber", ""))
        reference = str(body.get("AccountReference", ""))
        if not isinstance(amount, int) or amount < 1 or not phone.isdigit() or len(reference) > 12:
            return 400, {"errorCode": "400.002.02", "errorMessage": "Bad Request - Invalid Amount"}
        checkout = f"ws_CO_{datetime.now(NAIROBI):%d%m%Y%H%M%S}{secrets.randbelow(10**6):06d}"
        merchant = f"{secrets.randbelow(10**5)}-{secrets.randbelow(10**8)}-1"
        with self._lock:
            outcome = self.outcomes.pop(phone, "0")
        code = "0" if outcome == "silent" else outcome
        push: dict[str, Any] = {"code": code, "merchant": merchant, "receipt": ""}
        if code == "0":
            push["receipt"] = self._book(phone, reference, amount)
        self.pushes[checkout] = push
        if outcome != "silent":
            self._send(str(body.get("CallBackURL", "")), self._stk_callback(checkout, push, body))
        return 200, {
            "MerchantRequestID": merchant,
            "CheckoutRequestID": checkout,
            "ResponseCode": "0",
            "ResponseDescription": "Success. Request accepted for processing",
            "CustomerMessage": "Success. Request accepted for processing",
        }

    def _stk_callback(
        self, checkout: str, push: dict[str, Any], request: dict[str, Any]
    ) -> dict[str, Any]:
        callback: dict[str, Any] = {
            "MerchantRequestID": push["merchant"],
            "CheckoutRequestID": checkout,
            "ResultCode": int(push["code"]),
            "ResultDesc": RESULT_TEXT.get(push["code"], "Failed"),
        }
        if push["code"] == "0":
            callback["CallbackMetadata"] = {
                "Item": [
                    {"Name": "Amount", "Value": request["Amount"]},
                    {"Name": "MpesaReceiptNumber", "Value": push["receipt"]},
                    {"Name": "Balance"},
                    {
                        "Name": "TransactionDate",
                        "Value": int(datetime.now(NAIROBI).strftime("%Y%m%d%H%M%S")),
                    },
                    {"Name": "PhoneNumber", "Value": int(request["PhoneNumber"])},
                ]
            }
        return {"Body": {"stkCallback": callback}}

    def _stk_query(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if not self._password_ok(body):
            return 400, {
                "errorCode": "400.002.02",
                "errorMessage": "Bad Request - Invalid Password",
            }
        push = self.pushes.get(str(body.get("CheckoutRequestID", "")))
        if push is None:
            return 500, {
                "errorCode": "500.001.1001",
                "errorMessage": "The transaction is being processed",
            }
        return 200, {
            "ResponseCode": "0",
            "ResponseDescription": "The service request has been accepted successsfully",
            "MerchantRequestID": push["merchant"],
            "CheckoutRequestID": body.get("CheckoutRequestID"),
            "ResultCode": push["code"],
            "ResultDesc": RESULT_TEXT.get(push["code"], "Failed"),
        }

    def _pull(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if str(body.get("ShortCode")) != self.shortcode:
            return 400, {"errorCode": "400.003.01", "errorMessage": "Invalid ShortCode"}
        try:
            start = datetime.strptime(str(body.get("StartDate")), "%Y-%m-%d %H:%M:%S")
            end = datetime.strptime(str(body.get("EndDate")), "%Y-%m-%d %H:%M:%S")
            offset = int(str(body.get("OffSetValue", "0")))
        except ValueError:
            return 400, {"errorCode": "400.002.02", "errorMessage": "Bad Request"}
        rows = [
            row
            for row in self.transactions
            if start <= datetime.strptime(row["trxDate"][:19], "%Y-%m-%dT%H:%M:%S") <= end
        ][offset : offset + 1000]
        if not rows:
            return 200, {
                "ResponseRefID": secrets.token_hex(8),
                "ResponseCode": "1001",
                "ResponseMessage": "No transactions found",
                "Response": [[]],
            }
        return 200, {
            "ResponseRefID": secrets.token_hex(8),
            "ResponseCode": "1000",
            "ResponseMessage": "Success",
            "Response": [rows],
        }

    def fail_next_reversal(self, code: str) -> None:
        """The next reversal ends with this result code ("timeout": a queue time-out)."""
        with self._lock:
            self.reversal_failures.append(code)

    def _reversal(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if (
            body.get("Initiator") != self.initiator
            or body.get("SecurityCredential") != self.security_credential
        ):
            return 400, {"errorCode": "400.002.02", "errorMessage": "Invalid Initiator"}
        if (
            body.get("CommandID") != "TransactionReversal"
            or str(body.get("ReceiverParty")) != self.shortcode
            or str(body.get("RecieverIdentifierType")) != "11"
        ):
            return 400, {"errorCode": "400.002.02", "errorMessage": "Bad Request"}
        trans_id = str(body.get("TransactionID", ""))
        conversation = f"AG_{datetime.now(NAIROBI):%Y%m%d}_{secrets.token_hex(10)}"
        originator = f"{secrets.randbelow(10**5)}-{secrets.randbelow(10**8)}-1"
        with self._lock:
            failure = self.reversal_failures.pop(0) if self.reversal_failures else ""
            paid = next((t for t in self.transactions if t["transactionId"] == trans_id), None)
            if not failure and paid is None:
                failure = "R000002"
            elif not failure and trans_id in self.reversed:
                failure = "R000001"
            elif not failure and str(body.get("Amount")) != str(paid["amount"] if paid else ""):
                failure = "R000002"
            receipt = "" if failure else _receipt()
            if receipt:
                self.reversed[trans_id] = receipt
        result: dict[str, Any] = {
            "ResultType": 0,
            "ResultCode": 0 if not failure else (failure if failure != "timeout" else 1),
            "ResultDesc": RESULT_TEXT.get(failure or "0", "Failed"),
            "OriginatorConversationID": originator,
            "ConversationID": conversation,
            "TransactionID": receipt or _receipt(),
        }
        if receipt:
            result["ResultParameters"] = {
                "ResultParameter": [
                    {"Key": "DebitAccountBalance", "Value": "Utility Account|KES|0.00"},
                    {"Key": "Amount", "Value": body.get("Amount")},
                    {"Key": "OriginalTransactionID", "Value": trans_id},
                ]
            }
        target = "QueueTimeOutURL" if failure == "timeout" else "ResultURL"
        self._send(str(body.get(target, "")), {"Result": result})
        return 200, {
            "OriginatorConversationID": originator,
            "ConversationID": conversation,
            "ResponseCode": "0",
            "ResponseDescription": "Accept the service request successfully.",
        }

    # The customer's phone --------------------------------------------------------------------

    def _book(self, phone: str, reference: str, amount: int | str) -> str:
        receipt = _receipt()
        with self._lock:
            self.transactions.append(
                {
                    "transactionId": receipt,
                    "trxDate": datetime.now(NAIROBI)
                    .replace(tzinfo=None)
                    .isoformat(timespec="seconds"),
                    "msisdn": int(phone) if phone.isdigit() else phone,
                    "sender": "",
                    "transactiontype": "c2b-pay-bill-debit",
                    "billreference": reference,
                    "amount": str(amount),
                    "organizationname": "Sandbox Utility",
                }
            )
        return receipt

    def phone_pays(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        """A customer's phone pays the paybill (JSON ``phone``, ``account``, ``amount`` in
        whole shillings): the confirmation goes to gridvend as Daraja would send it."""
        try:
            body = json.loads(raw.decode("utf-8"))
            phone = str(body["phone"])
            account = str(body["account"])
            amount = body["amount"]
        except (UnicodeDecodeError, ValueError, KeyError, TypeError):
            return 400, {"errorCode": "400.002.02", "errorMessage": "phone, account and amount"}
        valid = phone.isdigit() and len(phone) == 12 and 0 < len(account) <= 20
        if not valid or not isinstance(amount, int) or not 1 <= amount <= 250_000:
            return 400, {"errorCode": "400.002.02", "errorMessage": "Bad Request"}
        if not self.urls.get("confirmation"):
            return 409, {"errorCode": "409.001.01", "errorMessage": "No C2B URLs registered"}
        return 200, self.pay_bill(phone=phone, account=account, amount=amount)

    def pay_bill(
        self,
        *,
        phone: str,
        account: str,
        amount: int | str,
        first_name: str = "JOHN",
        deliver_confirmation: bool = True,
    ) -> dict[str, Any]:
        """The customer pays the paybill: the money moves (the pull API lists it), then the
        validation (when enabled) and the confirmation callbacks go out. Returns the
        confirmation body (sent or, with ``deliver_confirmation=False``, lost)."""
        receipt = self._book(phone, account, amount)
        body = {
            "TransactionType": "Pay Bill",
            "TransID": receipt,
            "TransTime": datetime.now(NAIROBI).strftime("%Y%m%d%H%M%S"),
            "TransAmount": f"{amount}.00" if isinstance(amount, int) else amount,
            "BusinessShortCode": self.shortcode,
            "BillRefNumber": account,
            "InvoiceNumber": "",
            "OrgAccountBalance": "",
            "ThirdPartyTransID": "",
            "MSISDN": masked(phone),
            "FirstName": first_name,
            "MiddleName": "",
            "LastName": "",
        }
        if self.validation_enabled and self.urls.get("validation"):
            self._send(self.urls["validation"], body)
        confirmation = {**body, "OrgAccountBalance": "25000.00"}
        if deliver_confirmation and self.urls.get("confirmation"):
            self._send(self.urls["confirmation"], confirmation)
        return confirmation


_running: dict[str, FakeDaraja] = {}


def serve(
    provider: MobileProvider, host: str = "127.0.0.1", port: int = 0
) -> tuple[FakeDaraja, str]:
    """Start a fake Daraja for this provider's shortcode (used by `gridvend mobilemoney
    sandbox`); returns it and its base URL."""
    daraja = FakeDaraja(shortcode=provider.shortcode)
    url = daraja.start(host, port)
    _running[provider.code] = daraja
    return daraja, url
