"""The card / online payment provider port (a hosted payment page: start a payment, send the
customer to the provider's page, read its signed notice back), and the sandbox adapter used for
development, the demo and the tests.

A notice is trusted only once its signature verifies over the exact bytes received; what it says
(our reference, the provider's reference, amount, currency, outcome) is then checked against the
payment we started (``services.cards``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from gridvend.kernel.money import Money
from gridvend.wallet.errors import CardCallbackInvalid, CardProviderUnknown, CardSignatureInvalid

# A notice is a small JSON object; anything larger is refused before it is parsed.
MAX_NOTICE_BYTES = 4096
_REFERENCE = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_CURRENCY = re.compile(r"[A-Z]{3}")
OUTCOMES = ("paid", "failed")


@dataclass(frozen=True)
class Checkout:
    """Where to send the customer, and the provider's reference of the payment."""

    provider_reference: str
    page_url: str


@dataclass(frozen=True)
class CardNotice:
    """What a verified notice says about one payment."""

    provider_reference: str
    reference: str
    amount_minor: int
    currency: str
    outcome: str  # "paid" or "failed"


class CardProvider(Protocol):
    code: str

    def start(self, *, reference: str, amount: Money) -> Checkout:
        """Create the payment at the provider; returns its page."""

    def read_notice(self, body: bytes, signature: str) -> CardNotice:
        """Verify and read a callback or return: CARD_SIGNATURE_INVALID, CARD_CALLBACK_INVALID."""


def provider_for(code: str) -> CardProvider:
    path = settings.WALLET_CARD_PROVIDERS.get(str(code)[:30])
    if path is None:
        raise CardProviderUnknown(provider=str(code))
    provider: CardProvider = import_string(path)()
    return provider


def parse_notice(body: bytes) -> CardNotice:
    """The fields of a notice body, each checked for shape (no coercion: an amount is a JSON
    integer of minor units, never a float or a string)."""
    if len(body) > MAX_NOTICE_BYTES:
        raise CardCallbackInvalid(problem="too large")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CardCallbackInvalid(problem="not JSON") from None
    if not isinstance(data, dict):
        raise CardCallbackInvalid(problem="not an object")
    provider_reference = data.get("provider_reference")
    reference = data.get("reference")
    amount = data.get("amount_minor")
    currency = data.get("currency")
    outcome = data.get("outcome")
    for name, value in (("provider_reference", provider_reference), ("reference", reference)):
        if not isinstance(value, str) or not _REFERENCE.fullmatch(value):
            raise CardCallbackInvalid(problem=f"{name} is missing or malformed")
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount < 10**15:
        raise CardCallbackInvalid(problem="amount_minor is not a positive whole number")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise CardCallbackInvalid(problem="currency is malformed")
    if outcome not in OUTCOMES:
        raise CardCallbackInvalid(problem="outcome is neither paid nor failed")
    assert isinstance(provider_reference, str) and isinstance(reference, str)
    return CardNotice(provider_reference, reference, amount, currency, str(outcome))


class SandboxCardProvider:
    """A pretend provider inside gridvend: its hosted page is ``wallet-card:sandbox-page``, and
    it signs its notices with HMAC-SHA256 under ``WALLET_SANDBOX_SECRET`` (hex in the
    ``X-Sandbox-Signature`` header of a callback, or the ``signature`` field of a return)."""

    code = "sandbox"

    def _key(self) -> bytes:
        return str(settings.WALLET_SANDBOX_SECRET).encode()

    def sign(self, body: bytes) -> str:
        return hmac.new(self._key(), body, hashlib.sha256).hexdigest()

    def start(self, *, reference: str, amount: Money) -> Checkout:
        from django.urls import reverse

        provider_reference = "SBX" + secrets.token_hex(10).upper()
        url = reverse("wallet-card:sandbox-page", kwargs={"provider_reference": provider_reference})
        return Checkout(provider_reference, url)

    def notice_body(
        self, *, provider_reference: str, reference: str, amount: Money, outcome: str
    ) -> bytes:
        return json.dumps(
            {
                "provider_reference": provider_reference,
                "reference": reference,
                "amount_minor": amount.minor,
                "currency": amount.currency,
                "outcome": outcome,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()

    def read_notice(self, body: bytes, signature: str) -> CardNotice:
        if len(body) > MAX_NOTICE_BYTES:
            raise CardCallbackInvalid(problem="too large")
        given = str(signature or "")[:128].strip().lower()
        if not hmac.compare_digest(given.encode(), self.sign(body).encode()):
            raise CardSignatureInvalid()
        return parse_notice(body)
