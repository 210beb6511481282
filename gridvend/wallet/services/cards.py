"""Card / online payments into a wallet through a provider's hosted page: started here (the
customer is sent to the provider's page), completed by the provider's signed notice (a
server-to-server callback or the customer's signed return; the same function reads both).

A notice changes something only when its signature verifies, it names a payment we started
(our reference and the provider's reference together), its amount and currency are those we
started it with, and the payment is still waiting: a replay of a completed payment returns it
unchanged; any other notice is refused and writes nothing.

One later notice does change a decided payment: a signed "paid" after a "failed" (the customer's
first card declined, a second one taken on the same hosted page). The provider has the money,
so the wallet is credited and the payment ends paid, audited as completed after a failure. A
"failed" after a "paid" changes nothing: a payment taken is not un-taken by a notice."""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone

from gridvend.audit.services import record
from gridvend.kernel.money import Money
from gridvend.wallet.errors import CardPaymentMismatch, CardPaymentUnknown
from gridvend.wallet.events import WalletEvent
from gridvend.wallet.models import CardPayment, CardPaymentState, TopUpSource, Wallet
from gridvend.wallet.providers import Checkout, provider_for
from gridvend.wallet.services.topups import _book, check_amount


def card_clearing_account(provider: str) -> str:
    """What the card acquirer owes the utility for payments it took (an asset at the bank)."""
    return f"bank:card:{provider}"


def start_card_payment(
    *, wallet: Wallet, amount: Money, provider: str
) -> tuple[CardPayment, Checkout]:
    """Create a payment at the provider and record it; the channel sends the customer to
    ``checkout.page_url``. Nothing is credited until the provider's signed notice says paid."""
    adapter = provider_for(provider)
    check_amount(wallet, amount)
    reference = "CP" + secrets.token_hex(10).upper()
    checkout = adapter.start(reference=reference, amount=amount)
    with transaction.atomic(durable=True):
        payment = CardPayment.objects.create(
            wallet=wallet,
            provider=adapter.code,
            reference=reference,
            provider_reference=checkout.provider_reference,
            amount_minor=amount.minor,
            currency=amount.currency,
        )
        record(
            actor=None,
            event_type=WalletEvent.CARD_PAYMENT_CREATED,
            target=payment,
            after={
                "wallet": wallet.reference,
                "provider": adapter.code,
                "provider_reference": checkout.provider_reference,
                "amount_minor": amount.minor,
                "currency": amount.currency,
            },
        )
    return payment, checkout


def apply_card_notice(*, provider: str, body: bytes, signature: str) -> CardPayment:
    """Verify and apply a provider's notice (see the module's docstring). Raises
    CARD_PROVIDER_UNKNOWN, CARD_SIGNATURE_INVALID, CARD_CALLBACK_INVALID, CARD_PAYMENT_UNKNOWN
    or CARD_PAYMENT_MISMATCH, having written nothing."""
    adapter = provider_for(provider)
    notice = adapter.read_notice(body, signature)
    with transaction.atomic(durable=True):
        payment = (
            CardPayment.objects.select_for_update()
            .filter(
                provider=adapter.code,
                provider_reference=notice.provider_reference,
                reference=notice.reference,
            )
            .first()
        )
        if payment is None:
            raise CardPaymentUnknown(reference=notice.reference)
        if notice.amount_minor != payment.amount_minor or notice.currency != payment.currency:
            raise CardPaymentMismatch(
                reference=payment.reference,
                reported=f"{notice.amount_minor} {notice.currency}",
                expected=str(Money(payment.amount_minor, payment.currency)),
            )
        paid_after_failure = payment.state == CardPaymentState.FAILED and notice.outcome == "paid"
        if payment.state != CardPaymentState.CREATED and not paid_after_failure:
            # A replay (the callback and the return both come, or the provider retries), or a
            # "failed" after a "paid": nothing changes.
            return payment
        now = timezone.now()
        wallet = Wallet.objects.select_related("account", "customer").get(pk=payment.wallet_id)
        if notice.outcome == "paid":
            top_up = _book(
                actor=None,
                wallet=wallet,
                amount=Money(payment.amount_minor, payment.currency),
                source=TopUpSource.CARD,
                reference=f"{adapter.code}:{payment.provider_reference}",
                source_account=card_clearing_account(adapter.code),
            )
            CardPayment.objects.filter(pk=payment.pk).update(
                state=CardPaymentState.PAID, top_up=top_up, completed_at=now
            )
            event = WalletEvent.CARD_PAYMENT_COMPLETED
        else:
            CardPayment.objects.filter(pk=payment.pk).update(
                state=CardPaymentState.FAILED, completed_at=now
            )
            event = WalletEvent.CARD_PAYMENT_FAILED
        record(
            actor=None,
            event_type=event,
            target=payment,
            before={"state": payment.state} if paid_after_failure else None,
            after={
                "outcome": notice.outcome,
                "provider_reference": payment.provider_reference,
                **({"after_failed_notice": True} if paid_after_failure else {}),
            },
        )
    payment.refresh_from_db()
    return payment
