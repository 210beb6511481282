"""Review of issue 18 (the wallet): probes that fail while the defect they name is there.

Each test states the behaviour the wallet promises (docs/wallet.md: a top-up is booked once per
source reference, a different reference is a different top-up) and shows where it breaks."""

from __future__ import annotations

import base64
import secrets

import pytest
from django.test import Client, override_settings

from gridvend.audit.models import AuditEvent
from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money
from gridvend.wallet import services
from gridvend.wallet.models import CardPayment, CardPaymentState, WalletTopUp
from gridvend.wallet.providers import Checkout, SandboxCardProvider
from gridvend.wallet.selectors import balance
from tests.threads import run_threads
from tests.wallet.conftest import WalletWorld, wallet_world

pytestmark = pytest.mark.django_db


def test_review18_two_different_long_cash_receipts_are_two_top_ups(ww: WalletWorld) -> None:
    """top_up_cash accepts a receipt of up to 64 characters, then books it as
    ``f"{point.code}:{receipt}"[:64]``: two different 64-character receipts that share their
    first characters become one source reference, and the second cash top-up is answered as a
    "repeat" of the first. The cashier took the cash twice; the wallet is credited once."""
    w = ww.world
    first = "R" * 63 + "1"
    second = "R" * 63 + "2"
    services.top_up_cash(actor=w.cashier, wallet=ww.wallet, amount=w.money("100"), receipt=first)
    services.top_up_cash(actor=w.cashier, wallet=ww.wallet, amount=w.money("100"), receipt=second)
    assert WalletTopUp.objects.count() == 2
    assert balance(ww.wallet) == w.money("200")


def test_review18_a_different_amount_under_a_long_receipt_is_not_refused_as_reused(
    ww: WalletWorld,
) -> None:
    """The same truncation seen from the other side: a new receipt with another amount is
    refused WALLET_REFERENCE_REUSED although that receipt was never used."""
    w = ww.world
    services.top_up_cash(
        actor=w.cashier, wallet=ww.wallet, amount=w.money("100"), receipt="X" * 63 + "A"
    )
    services.top_up_cash(
        actor=w.cashier, wallet=ww.wallet, amount=w.money("40"), receipt="X" * 63 + "B"
    )
    assert balance(ww.wallet) == w.money("140")


class LongReferenceProvider(SandboxCardProvider):
    """The sandbox, with provider references as long as a notice may carry (64 characters,
    providers.parse_notice allows them): real acquirers' references are often long."""

    def start(self, *, reference: str, amount: Money) -> Checkout:
        provider_reference = "PAY" + "0" * 53 + secrets.token_hex(4).upper()
        assert len(provider_reference) == 64
        return Checkout(provider_reference, "/wallet-card/sandbox/pay/" + provider_reference)


@override_settings(
    WALLET_CARD_PROVIDERS={"sandbox": "tests.wallet.test_review18_probes.LongReferenceProvider"}
)
def test_review18_two_paid_card_payments_with_long_provider_references_credit_twice(
    ww: WalletWorld,
) -> None:
    """apply_card_notice books a card top-up under ``f"{code}:{provider_reference}"[:64]``
    (wallet/services/cards.py): two payments whose provider references differ only after their
    56th character share one top-up reference. _book answers the second as a repeat of the
    first, and writing that top-up onto the second CardPayment breaks the unique top_up column:
    the provider's callback gets a server error (500) at every retry, the payment stays
    "created", and the customer who paid by card is never credited."""
    w = ww.world
    amount = w.money("75")
    sandbox = LongReferenceProvider()
    http = Client(raise_request_exception=False)
    statuses = []
    for _ in range(2):
        payment, _checkout = services.start_card_payment(
            wallet=ww.wallet, amount=amount, provider="sandbox"
        )
        body = sandbox.notice_body(
            provider_reference=payment.provider_reference,
            reference=payment.reference,
            amount=amount,
            outcome="paid",
        )
        answer = http.post(
            "/wallet-card/sandbox/callback",
            data=body,
            content_type="application/json",
            HTTP_X_SIGNATURE=sandbox.sign(body),
        )
        statuses.append(answer.status_code)
    assert statuses == [200, 200]
    paid = list(CardPayment.objects.filter(state=CardPaymentState.PAID))
    assert len(paid) == 2 and paid[0].top_up_id != paid[1].top_up_id
    assert balance(ww.wallet) == w.money("150")


def test_review18_a_blank_receipt_is_not_reported_as_a_reused_reference(ww: WalletWorld) -> None:
    """clean_reference turns every malformed reference (blank, too long, control characters)
    into WALLET_REFERENCE_REUSED: a cashier who forgot the receipt number is told it was
    used for another top-up. The catalogued refusal for a bad input is INVALID_INPUT, not
    a claim about another top-up."""
    w = ww.world
    with pytest.raises(DomainError) as refused:
        services.top_up_cash(actor=w.cashier, wallet=ww.wallet, amount=w.money("5"), receipt="  ")
    assert refused.value.code != "WALLET_REFERENCE_REUSED"


def _notice(payment: CardPayment, amount: Money, outcome: str) -> tuple[bytes, str]:
    sandbox = SandboxCardProvider()
    body = sandbox.notice_body(
        provider_reference=payment.provider_reference,
        reference=payment.reference,
        amount=amount,
        outcome=outcome,
    )
    return body, sandbox.sign(body)


def test_review18_a_signed_paid_notice_after_a_failed_one_is_not_dropped_silently(
    ww: WalletWorld,
) -> None:
    """A hosted payment page commonly reports a declined card and then, on the same payment,
    the customer's second card succeeding. apply_card_notice keeps the first outcome ("the
    first notice decided") and returns the payment unchanged for the later, validly signed
    "paid": the customer's money is taken, the wallet is not credited, and nothing is written
    (no audit event, no suspense, no state) for anyone to find it."""
    w = ww.world
    amount = w.money("60")
    payment, _checkout = services.start_card_payment(
        wallet=ww.wallet, amount=amount, provider="sandbox"
    )
    body, signature = _notice(payment, amount, "failed")
    services.apply_card_notice(provider="sandbox", body=body, signature=signature)
    events = AuditEvent.objects.count()
    body, signature = _notice(payment, amount, "paid")
    after = services.apply_card_notice(provider="sandbox", body=body, signature=signature)
    credited = balance(ww.wallet) == amount
    noted = AuditEvent.objects.count() > events or after.state != CardPaymentState.FAILED
    assert credited or noted, "a signed 'paid' notice changed nothing and left no trace"


def test_review18_the_return_page_does_not_say_nothing_was_charged_for_a_paid_notice(
    ww: WalletWorld,
) -> None:
    """The same case as the customer sees it: the browser comes back from the provider with a
    signed notice saying paid, and the return page answers "Payment not made. Nothing was
    charged." because an earlier notice said failed: it tells a customer whose card was charged
    that it was not."""
    w = ww.world
    amount = w.money("60")
    payment, _checkout = services.start_card_payment(
        wallet=ww.wallet, amount=amount, provider="sandbox"
    )
    body, signature = _notice(payment, amount, "failed")
    services.apply_card_notice(provider="sandbox", body=body, signature=signature)
    body, signature = _notice(payment, amount, "paid")
    page = Client().get(
        "/wallet-card/sandbox/return",
        {"notice": base64.urlsafe_b64encode(body).decode().rstrip("="), "signature": signature},
    )
    assert page.status_code == 200
    assert "Nothing was charged" not in page.content.decode()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_review18_one_statement_imported_twice_at_once_is_one_import_and_one_repeat() -> None:
    """import_transfers reads which bank references it has seen before, without a lock, then
    writes. Two finance users (or one double submit) importing the same statement at once: the
    second's top-up loses the unique index and is answered as a repeat inside _book, but its
    BankTransfer row then breaks the unique bank reference and the IntegrityError escapes the
    service: the back office answers a server error instead of "repeated"."""
    ww = wallet_world()
    w = ww.world
    csv = (
        "reference,date,amount,narrative\n"
        f"BT-R1,2026-11-30,120.00,pay {ww.wallet.reference}\n"
        "BT-R2,2026-11-30,80.00,no wallet named here\n"
    ).encode()

    def work(_i: int) -> tuple[int, int, int]:
        result = services.import_transfers(actor=w.supervisor, data=csv)
        return result.matched, result.unmatched, result.repeated

    results, errors = run_threads(2, work)
    assert errors == [], f"a concurrent import failed: {errors!r}"
    assert sorted(results) == [(0, 0, 2), (1, 1, 0)]
    assert balance(ww.wallet) == w.money("120")
