"""Mobile-money suspense on the books. A payment that reached the paybill but could not be sold
is money the provider holds for us and that we owe the customer, as a sale or a refund:

    on suspense   Dr mobile-clearing:<paybill>   Cr mobile-suspense:<paybill>
    on release    Dr mobile-suspense:<paybill>   Cr mobile-clearing:<paybill>

A sold payment is booked as any sale from the aggregator partner's float (the partner keeps
the customer's money and its float is drawn); a suspense payment later sold to the right meter
is that same sale, and the release takes it out of suspense and clearing. A refund releases it
against the money sent back. So ``mobile-suspense:<paybill>`` always holds the open suspense
payments of the paybill, which ``suspense_findings`` proves for `gridvend ledger reconcile` and
`gridvend verify`.

These are steps of the caller's use case, inside its transaction, with the payment locked.
"""

from __future__ import annotations

from django.db.models import Q, Sum

from gridvend.identity.models import User
from gridvend.kernel.ledger import Posting, journal
from gridvend.kernel.money import Money
from gridvend.ledger import services as ledger
from gridvend.ledger.models import JournalEntry
from gridvend.ledger.selectors import account_balance
from gridvend.mobilemoney.models import (
    OPEN_SUSPENSE_STATES,
    MobilePayment,
    MobileProvider,
    MobileRefundRequest,
    PaymentState,
    ReversalState,
)

SUSPENSE_KIND = "mobile.suspense"
SOLD_KIND = "mobile.suspense_sold"
REFUNDED_KIND = "mobile.suspense_refunded"


def clearing_account(provider: MobileProvider) -> str:
    return f"mobile-clearing:{provider.code}"


def suspense_account(provider: MobileProvider) -> str:
    return f"mobile-suspense:{provider.code}"


def _draft(payment: MobilePayment, sign: int, memo: str) -> list[Posting]:
    amount = Money(sign * int(payment.amount_minor or 0), payment.currency)
    return [
        Posting(clearing_account(payment.provider), amount),
        Posting(suspense_account(payment.provider), -amount),
    ]


def book_suspense(payment: MobilePayment, *, actor: User | None) -> JournalEntry | None:
    """Put a payment just parked in suspense on the books, once. A payment with no readable
    amount (or none at all) moves nothing: there is no figure to book, and nothing can be sold
    or refunded from it until customer care has the provider's record."""
    if payment.suspense_entry_id is not None or not payment.amount_minor:
        return None
    entry = ledger.post_journal_entry(
        journal(_draft(payment, 1, ""), memo=f"mobile payment {payment} in suspense"),
        kind=SUSPENSE_KIND,
        business_date=ledger.today(),
        actor=actor,
    )
    MobilePayment.objects.filter(pk=payment.pk).update(suspense_entry=entry)
    payment.suspense_entry = entry
    return entry


def release_suspense(
    payment: MobilePayment, *, kind: str, actor: User | None, memo: str
) -> JournalEntry | None:
    """Take a booked suspense payment off suspense (sold: ``SOLD_KIND``; paid back:
    ``REFUNDED_KIND``), once; nothing for a payment never booked or already released."""
    if payment.suspense_entry_id is None or payment.release_entry_id is not None:
        return None
    entry = ledger.post_journal_entry(
        journal(_draft(payment, -1, ""), memo=memo),
        kind=kind,
        business_date=ledger.today(),
        actor=actor,
    )
    MobilePayment.objects.filter(pk=payment.pk).update(release_entry=entry)
    payment.release_entry = entry
    return entry


def _open() -> Q:
    """Payments whose money is in suspense: waiting for care, a refund or a reversal, or being
    sold again by customer care right now (received, booked and not yet released)."""
    return Q(state__in=OPEN_SUSPENSE_STATES) | Q(
        state=PaymentState.RECEIVED, suspense_entry__isnull=False, release_entry__isnull=True
    )


def open_suspense_minor(provider: MobileProvider) -> int:
    total = (
        MobilePayment.objects.filter(_open(), provider=provider, amount_minor__gt=0)
        .aggregate(total=Sum("amount_minor"))
        .get("total")
    )
    return int(total or 0)


def suspense_findings() -> list[str]:
    """Per paybill: the suspense account's balance (a credit) against the open suspense
    payments, every open payment booked, no closed payment left in suspense, and no sold
    payment the provider reversed as well (a late reversal: paid out twice)."""
    findings = []
    for provider in MobileProvider.objects.order_by("code"):
        account = suspense_account(provider)
        held = -account_balance(account)
        owed = open_suspense_minor(provider)
        if held != owed:
            findings.append(
                f"{account} holds {held}, the open suspense payments sum to {owed} (minor units)"
            )
        unbooked = (
            MobilePayment.objects.filter(
                provider=provider,
                state__in=OPEN_SUSPENSE_STATES,
                amount_minor__gt=0,
                suspense_entry__isnull=True,
            )
            .values_list("pk", flat=True)
            .order_by("pk")
        )
        for pk in unbooked[:20]:
            findings.append(f"mobile payment {pk} of {provider.code} is in suspense, not booked")
        unreleased = (
            MobilePayment.objects.filter(
                provider=provider, suspense_entry__isnull=False, release_entry__isnull=True
            )
            .exclude(_open())
            .values_list("pk", "state")
            .order_by("pk")
        )
        for pk, state in unreleased[:20]:
            findings.append(
                f"mobile payment {pk} of {provider.code} is {state} but still in suspense"
            )
        # A reversal the provider carried out late, after customer care had sold the payment:
        # the customer has the money back and the energy too, for finance to recover.
        sold_and_reversed = (
            MobileRefundRequest.objects.filter(
                payment__provider=provider,
                payment__state=PaymentState.SOLD,
                reversal_state=ReversalState.COMPLETED,
            )
            .values_list("payment_id", "refund_reference")
            .order_by("payment_id")
        )
        for pk, reference in sold_and_reversed[:20]:
            findings.append(
                f"mobile payment {pk} of {provider.code} is sold and was also reversed by the "
                f"provider ({reference}): paid out twice"
            )
    return findings
