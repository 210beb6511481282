"""Card provider notices that must change nothing: a bad or missing signature, a replay of a
completed payment (even one saying otherwise), a wrong amount or currency, an unknown
reference, a malformed or oversized body, an unknown provider, a GET; and the sandbox flow
through the real URLs: start, hosted page, signed callback and return."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from gridvend.kernel.money import Money
from gridvend.ledger.models import JournalEntry
from gridvend.wallet import services
from gridvend.wallet.models import CardPayment, CardPaymentState, WalletTopUp
from gridvend.wallet.providers import SandboxCardProvider
from gridvend.wallet.selectors import balance
from tests.wallet.conftest import WalletWorld

pytestmark = pytest.mark.django_db

SANDBOX = SandboxCardProvider()


def _started(ww: WalletWorld, major: str = "250.00") -> CardPayment:
    payment, _checkout = services.start_card_payment(
        wallet=ww.wallet, amount=ww.world.money(major), provider="sandbox"
    )
    return payment


def _body(payment: CardPayment, **changes: Any) -> bytes:
    fields: dict[str, Any] = {
        "provider_reference": payment.provider_reference,
        "reference": payment.reference,
        "amount_minor": payment.amount_minor,
        "currency": payment.currency,
        "outcome": "paid",
    }
    fields.update(changes)
    return json.dumps(fields).encode()


def _post(body: bytes, signature: str, provider: str = "sandbox") -> Any:
    return Client().post(
        reverse("wallet-card:callback", kwargs={"provider": provider}),
        data=body,
        content_type="application/json",
        HTTP_X_SIGNATURE=signature,
    )


def _state() -> tuple[int, int, list[str]]:
    return (
        WalletTopUp.objects.count(),
        JournalEntry.objects.count(),
        sorted(CardPayment.objects.values_list("state", flat=True)),
    )


def test_a_signed_callback_credits_once_and_its_replays_change_nothing(ww: WalletWorld) -> None:
    payment = _started(ww)
    body = _body(payment)
    first = _post(body, SANDBOX.sign(body))
    assert first.status_code == 200 and first.json()["state"] == "paid"
    assert balance(ww.wallet) == ww.world.money("250.00")
    after = _state()
    assert _post(body, SANDBOX.sign(body)).status_code == 200
    failed = _body(payment, outcome="failed")
    assert _post(failed, SANDBOX.sign(failed)).json()["state"] == "paid"
    assert _state() == after
    assert balance(ww.wallet) == ww.world.money("250.00")


@pytest.mark.parametrize(
    ("case", "code", "status"),
    [
        ("bad signature", "CARD_SIGNATURE_INVALID", 400),
        ("no signature", "CARD_SIGNATURE_INVALID", 400),
        ("signature of another body", "CARD_SIGNATURE_INVALID", 400),
        ("wrong amount", "CARD_PAYMENT_MISMATCH", 400),
        ("wrong currency", "CARD_PAYMENT_MISMATCH", 400),
        ("unknown reference", "CARD_PAYMENT_UNKNOWN", 400),
        ("another payment's provider reference", "CARD_PAYMENT_UNKNOWN", 400),
        ("amount as text", "CARD_CALLBACK_INVALID", 400),
        ("amount as float", "CARD_CALLBACK_INVALID", 400),
        ("outcome unknown", "CARD_CALLBACK_INVALID", 400),
        ("not json", "CARD_CALLBACK_INVALID", 400),
        ("unknown provider", "CARD_PROVIDER_UNKNOWN", 404),
    ],
)
def test_a_hostile_callback_changes_nothing(
    ww: WalletWorld, case: str, code: str, status: int
) -> None:
    payment = _started(ww)
    other = _started(ww, "10.00")
    provider = "sandbox"
    body = _body(payment)
    signature = SANDBOX.sign(body)
    if case == "bad signature":
        signature = "0" * 64
    elif case == "no signature":
        signature = ""
    elif case == "signature of another body":
        signature = SANDBOX.sign(_body(other))
    elif case == "wrong amount":
        body = _body(payment, amount_minor=payment.amount_minor * 10)
    elif case == "wrong currency":
        body = _body(payment, currency="USD" if payment.currency != "USD" else "EUR")
    elif case == "unknown reference":
        body = _body(payment, reference="CPNOSUCHPAYMENT")
    elif case == "another payment's provider reference":
        body = _body(payment, provider_reference=other.provider_reference)
    elif case == "amount as text":
        body = _body(payment, amount_minor=str(payment.amount_minor))
    elif case == "amount as float":
        body = _body(payment, amount_minor=payment.amount_minor + 0.5)
    elif case == "outcome unknown":
        body = _body(payment, outcome="PAID")
    elif case == "not json":
        body = b"{not json"
    elif case == "unknown provider":
        provider = "nosuch"
    if case not in ("bad signature", "no signature", "signature of another body"):
        signature = SANDBOX.sign(body)
    before = _state()
    answer = _post(body, signature, provider)
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code
    assert _state() == before
    assert balance(ww.wallet) == Money(0, ww.wallet.currency)


def test_an_oversized_or_get_callback_is_refused_unread(ww: WalletWorld) -> None:
    payment = _started(ww)
    big = _body(payment, pad="x" * 5000)
    assert _post(big, SANDBOX.sign(big)).status_code == 413
    url = reverse("wallet-card:callback", kwargs={"provider": "sandbox"})
    assert Client().get(url).status_code == 405
    assert CardPayment.objects.get(pk=payment.pk).state == CardPaymentState.CREATED
    assert WalletTopUp.objects.count() == 0


def test_the_sandbox_page_pays_and_the_signed_return_shows_it_once(ww: WalletWorld) -> None:
    payment, checkout = services.start_card_payment(
        wallet=ww.wallet, amount=ww.world.money("75.50"), provider="sandbox"
    )
    client = Client()
    page = client.get(checkout.page_url)
    assert page.status_code == 200
    back = client.post(checkout.page_url, {"outcome": "paid"})
    assert back.status_code == 302
    shown = client.get(back["Location"])
    assert shown.status_code == 200
    assert "75.50" in shown.content.decode()
    assert client.get(back["Location"]).status_code == 200
    assert WalletTopUp.objects.count() == 1
    assert balance(ww.wallet) == ww.world.money("75.50")
    payment.refresh_from_db()
    assert payment.state == CardPaymentState.PAID


def test_a_forged_return_changes_nothing(ww: WalletWorld) -> None:
    payment = _started(ww)
    body = _body(payment)
    notice = base64.urlsafe_b64encode(body).decode().rstrip("=")
    url = reverse("wallet-card:return", kwargs={"provider": "sandbox"})
    answer = Client().get(url, {"notice": notice, "signature": "f" * 64})
    assert answer.status_code == 400
    garbage = Client().get(url, {"notice": "%%%", "signature": ""})
    assert garbage.status_code == 400
    assert WalletTopUp.objects.count() == 0
