"""Postpaid bills paid from the customer's wallet: one billing payment (``billing.services.
take_payment``, so the money is allocated to the open bills and arrears exactly as at the
counter, the rest kept as the account's credit) whose source is the wallet's ledger account.

One transaction: the wallet posting (under the wallet account's row lock, never below zero:
WALLET_INSUFFICIENT, nothing written), the payment, its allocations, the billing audit event and
the wallet's. Idempotent on the request id: the payment's source reference is the wallet's
reference and the id, so the same id and amount answer the first payment and another amount is
refused PAYMENT_REFERENCE_REUSED. A payment cancelled in the back office reverses its entry,
which gives the money back to the wallet, as a reversed wallet sale does."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from gridvend.audit.models import AuditEvent
from gridvend.audit.services import record
from gridvend.billing.models import BillPayment
from gridvend.billing.services import payments as billing_payments
from gridvend.identity.models import User
from gridvend.kernel.inputs import InvalidInput, clean_text
from gridvend.kernel.money import Money
from gridvend.ledger.errors import BalanceLimitReached
from gridvend.org.models import Channel
from gridvend.vending.errors import ClientReferenceInvalid
from gridvend.wallet.errors import WalletAmountInvalid, WalletBillNotOwn, WalletInsufficient
from gridvend.wallet.events import WalletEvent
from gridvend.wallet.models import Wallet
from gridvend.wallet.selectors import balance

# The request id is the channel's (a portal form's, a USSD session's); with the wallet's
# reference and a colon it stays inside the billing reference's 64 characters.
MAX_REQUEST_ID = 50
# Bill payments from a wallet are booked on the web channel (the wallet's own channel is the
# portal or USSD, which the request id's prefix tells apart).
CHANNEL = Channel.WEB


def bill_payment_reference(wallet: Wallet, request_id: str) -> str:
    try:
        text = clean_text(request_id, max_length=MAX_REQUEST_ID, field="request_id", required=True)
    except InvalidInput:
        raise ClientReferenceInvalid() from None
    return f"{wallet.reference}:{text}"


def _check_amount(wallet: Wallet, amount: Money) -> int:
    maximum = int(settings.BILL_PAYMENT_MAX_MINOR)
    if amount.currency != wallet.currency or not amount.is_positive() or amount.minor > maximum:
        raise WalletAmountInvalid(maximum=str(Money(maximum, wallet.currency)))
    return amount.minor


def pay_bills_from_wallet(
    *,
    actor: User,
    wallet: Wallet,
    account_number: str,
    amount: Money,
    request_id: str,
) -> BillPayment:
    """Pay ``amount`` to the postpaid account ``account_number`` (the wallet's own customer's,
    else WALLET_BILL_NOT_OWN) from the wallet, through the channel's seller ``actor`` (the
    configured wallet seller: it must be allowed to take bill payments). Billing's rules bound
    the amount: above zero, at most GRIDVEND_BILL_PAYMENT_MAX_MINOR, and a closed account takes
    no more than it owes; what is paid beyond the bills is the account's credit."""
    if str(account_number)[:20] != wallet.customer.account_number:
        raise WalletBillNotOwn()
    minor = _check_amount(wallet, amount)
    reference = bill_payment_reference(wallet, request_id)
    try:
        with transaction.atomic(durable=True):
            payment = billing_payments.take_payment.within_transaction(
                actor=actor,
                account_number=wallet.customer.account_number,
                amount_minor=minor,
                currency=wallet.currency,
                channel=CHANNEL,
                source_reference=reference,
                source_account=wallet.account.code,
            )
            # A repeat (or the loser of a race on the same id, which reads the winner after it
            # committed) finds the wallet's event already written.
            if not AuditEvent.objects.filter(
                event_type=WalletEvent.BILL_PAID,
                target_type="billing.billpayment",
                target_id=str(payment.pk),
            ).exists():
                record(
                    actor=actor,
                    event_type=WalletEvent.BILL_PAID,
                    target=payment,
                    after={
                        "wallet": wallet.reference,
                        "account": wallet.customer.account_number,
                        "amount_minor": payment.amount_minor,
                        "payment": payment.pk,
                        "journal_entry": payment.journal_entry_id,
                    },
                )
    except BalanceLimitReached as exc:
        if exc.params.get("account") != wallet.account.code:
            raise
        raise WalletInsufficient(available=str(balance(wallet)), required=str(amount)) from exc
    return payment
