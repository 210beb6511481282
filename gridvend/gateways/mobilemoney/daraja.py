"""The Safaricom M-Pesa Daraja adapter of the provider port: OAuth, STK push and its status
query, the Pull Transaction API (back-fill and the daily statement), C2B URL registration and
the Transaction Reversal API (a refund; its result comes to the reversal callbacks),
over HTTPS with a timeout, credentials read from the environment variables the provider's
configuration names (never stored)."""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import urllib.error
import urllib.request
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from gridvend.gateways.mobilemoney import protocol
from gridvend.mobilemoney.errors import (
    MobileProviderNotReached,
    MobileProviderRefused,
    MobileProviderUnavailable,
)
from gridvend.mobilemoney.models import MobileProvider
from gridvend.mobilemoney.providers import (
    PulledTransaction,
    ReversalAccepted,
    StkAccepted,
    StkResult,
)
from gridvend.mobilemoney.services import callback_urls

TIMEOUT_SECONDS = 15
MAX_REPLY_BYTES = 1024 * 1024
PAGE_ROWS = 1000  # what one pull query may answer (Daraja pages with OffSetValue)
MAX_PAGES = 20
NAIROBI = ZoneInfo("Africa/Nairobi")
# Daraja's Reversal API: the receiver is the organisation (the paybill), identifier type 11
# (its field name is spelt "Reciever" on the wire).
REVERSAL_COMMAND = "TransactionReversal"
REVERSAL_RECEIVER_TYPE = "11"


# Failures that happen before a byte of the request is sent: no connection was made (refused,
# the name not found, the certificate not trusted). A time-out or a dropped connection may have
# come after the provider received the request, so it is only "unavailable".
_NOT_SENT = (ConnectionRefusedError, socket.gaierror, ssl.SSLCertVerificationError)


class DarajaProvider:
    """One paybill's Daraja client."""

    def __init__(self, config: MobileProvider) -> None:
        self.config = config
        self._token: str | None = None

    # Credentials -------------------------------------------------------------------------------

    def _env(self, name: str) -> str:
        value = os.environ.get(name, "")
        if not value:
            raise MobileProviderNotReached(problem=f"the environment variable {name} is not set")
        return value

    def _timestamp(self) -> str:
        return datetime.now(NAIROBI).strftime("%Y%m%d%H%M%S")

    def _password(self, timestamp: str) -> str:
        raw = f"{self.config.shortcode}{self._env(self.config.passkey_env)}{timestamp}"
        return base64.b64encode(raw.encode()).decode()

    # HTTP --------------------------------------------------------------------------------------

    def _send(self, request: urllib.request.Request) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as reply:  # noqa: S310
                raw = reply.read(MAX_REPLY_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raw = exc.read(MAX_REPLY_BYTES + 1)
            try:
                data = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise MobileProviderUnavailable(problem=f"HTTP {exc.code}") from None
            if isinstance(data, dict) and (data.get("errorCode") or data.get("ResultCode")):
                return data
            raise MobileProviderUnavailable(problem=f"HTTP {exc.code}") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, _NOT_SENT):
                raise MobileProviderNotReached(problem=str(exc)[:120]) from None
            raise MobileProviderUnavailable(problem=str(exc)[:120]) from None
        except (TimeoutError, OSError) as exc:
            raise MobileProviderUnavailable(problem=str(exc)[:120]) from None
        if len(raw) > MAX_REPLY_BYTES:
            raise MobileProviderUnavailable(problem="the reply is too large")
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise MobileProviderUnavailable(problem="the reply is not JSON") from None
        if not isinstance(data, dict):
            raise MobileProviderUnavailable(problem="the reply is not a JSON object")
        return data

    def _access_token(self) -> str:
        if self._token is None:
            basic = base64.b64encode(
                f"{self._env(self.config.consumer_key_env)}:"
                f"{self._env(self.config.consumer_secret_env)}".encode()
            ).decode()
            request = urllib.request.Request(  # noqa: S310 (an https base URL, checked on set-up)
                f"{self.config.base_url}/oauth/v1/generate?grant_type=client_credentials",
                headers={"Authorization": f"Basic {basic}"},
            )
            data = self._send(request)
            token = data.get("access_token")
            if not isinstance(token, str) or not token:
                raise MobileProviderRefused(
                    result_code=str(data.get("errorCode", "oauth")),
                    description=str(data.get("errorMessage", "no access token")),
                )
            self._token = token
        return self._token

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            token = self._access_token()
        except MobileProviderUnavailable as lost:
            # The request itself was not sent: whatever became of the token's, the provider
            # cannot have acted on this one.
            raise MobileProviderNotReached(problem=str(lost.params.get("problem", ""))) from None
        request = urllib.request.Request(  # noqa: S310
            f"{self.config.base_url}{path}",
            data=json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
            },
            method="POST",
        )
        return self._send(request)

    # The port ----------------------------------------------------------------------------------

    def stk_push(
        self, *, phone: str, amount_major: int, account_ref: str, description: str
    ) -> StkAccepted:
        timestamp = self._timestamp()
        data = self._post(
            "/mpesa/stkpush/v1/processrequest",
            {
                "BusinessShortCode": self.config.shortcode,
                "Password": self._password(timestamp),
                "Timestamp": timestamp,
                "TransactionType": "CustomerPayBillOnline",
                "Amount": amount_major,
                "PartyA": phone,
                "PartyB": self.config.shortcode,
                "PhoneNumber": phone,
                "CallBackURL": callback_urls(self.config)["stk-callback"],
                "AccountReference": account_ref[:12],
                "TransactionDesc": description[:13],
            },
        )
        checkout = data.get("CheckoutRequestID")
        if str(data.get("ResponseCode", "")) != "0" or not isinstance(checkout, str):
            raise MobileProviderRefused(
                result_code=str(data.get("errorCode") or data.get("ResponseCode") or "?"),
                description=str(data.get("errorMessage") or data.get("ResponseDescription") or ""),
            )
        return StkAccepted(
            merchant_request_id=str(data.get("MerchantRequestID", ""))[:64],
            checkout_request_id=checkout[:64],
            description=str(data.get("CustomerMessage", ""))[:200],
        )

    def stk_query(self, *, checkout_request_id: str) -> StkResult:
        timestamp = self._timestamp()
        data = self._post(
            "/mpesa/stkpushquery/v1/query",
            {
                "BusinessShortCode": self.config.shortcode,
                "Password": self._password(timestamp),
                "Timestamp": timestamp,
                "CheckoutRequestID": checkout_request_id,
            },
        )
        try:
            return protocol.read_stk_query(data, checkout_request_id)
        except Exception as exc:  # a reply we cannot read: the push stays waiting
            raise MobileProviderUnavailable(problem=str(exc)[:120]) from None

    def pull(self, *, start: datetime, end: datetime) -> list[PulledTransaction]:
        rows: list[PulledTransaction] = []
        for page in range(MAX_PAGES):
            data = self._post(
                "/pulltransactions/v1/query",
                {
                    "ShortCode": self.config.shortcode,
                    "StartDate": start.astimezone(NAIROBI).strftime("%Y-%m-%d %H:%M:%S"),
                    "EndDate": end.astimezone(NAIROBI).strftime("%Y-%m-%d %H:%M:%S"),
                    "OffSetValue": str(page * PAGE_ROWS),
                },
            )
            try:
                found = protocol.read_pull(data)
            except Exception as exc:
                raise MobileProviderUnavailable(problem=str(exc)[:120]) from None
            rows.extend(found)
            if len(found) < PAGE_ROWS:
                break
        return rows

    def statement(self, *, day: date) -> list[PulledTransaction]:
        zone = ZoneInfo(settings.TIME_ZONE)
        start = datetime.combine(day, time.min, tzinfo=zone)
        end = start + timedelta(days=1) - timedelta(seconds=1)
        return [
            row
            for row in self.pull(start=start, end=end)
            if row.occurred_at is None or start <= row.occurred_at <= end
        ]

    def register_urls(self, *, confirmation_url: str, validation_url: str) -> dict[str, Any]:
        return self._post(
            "/mpesa/c2b/v2/registerurl",
            {
                "ShortCode": self.config.shortcode,
                "ResponseType": self.config.response_type,
                "ConfirmationURL": confirmation_url,
                "ValidationURL": validation_url,
            },
        )

    def can_reverse(self) -> bool:
        return bool(self.config.initiator_env and self.config.security_credential_env)

    def reverse(self, *, trans_id: str, amount_major: int, remarks: str) -> ReversalAccepted:
        if not self.can_reverse():
            raise MobileProviderRefused(
                result_code="no-initiator", description="no reversal initiator is configured"
            )
        urls = callback_urls(self.config)
        data = self._post(
            "/mpesa/reversal/v1/request",
            {
                "Initiator": self._env(self.config.initiator_env),
                "SecurityCredential": self._env(self.config.security_credential_env),
                "CommandID": REVERSAL_COMMAND,
                "TransactionID": trans_id,
                "Amount": amount_major,
                "ReceiverParty": self.config.shortcode,
                "RecieverIdentifierType": REVERSAL_RECEIVER_TYPE,
                "ResultURL": urls["reversal-result"],
                "QueueTimeOutURL": urls["reversal-timeout"],
                "Remarks": remarks[:100] or "Refund",
                "Occasion": "Refund",
            },
        )
        conversation = data.get("ConversationID")
        if str(data.get("ResponseCode", "")) != "0" or not isinstance(conversation, str):
            raise MobileProviderRefused(
                result_code=str(data.get("errorCode") or data.get("ResponseCode") or "?"),
                description=str(data.get("errorMessage") or data.get("ResponseDescription") or ""),
            )
        return ReversalAccepted(
            conversation_id=conversation[:64],
            originator_conversation_id=str(data.get("OriginatorConversationID", ""))[:64],
        )
