"""The prepaid link of accounts of kind "both": postpaid arrears handed to the prepaid side as a
debt that token purchases recover, and what they recovered applied to the bills."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.utils import timezone

from gridvend.audit.services import record
from gridvend.billing import locks, selectors
from gridvend.billing.errors import (
    AccountNotPrepaidLinked,
)
from gridvend.billing.events import BillingEvent
from gridvend.billing.models import (
    BillPayment,
    PaymentAllocation,
    PaymentStatus,
)
from gridvend.billing.permissions import (
    can_run_billing,
)
from gridvend.billing.services.common import (
    ARREARS_CLEARING,
    DEBT_SOURCE,
    RECOVERY_CHANNEL,
    _require,
    _today,
)
from gridvend.billing.services.payments import (
    _apply_credit,
    _book_payment,
    _settle,
    _undo_allocations,
    cap_arrears_debts,
)
from gridvend.customers.locks import lock_customer
from gridvend.customers.models import AccountKind, Customer, Debt
from gridvend.customers.services import book_debt
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.money import Money
from gridvend.ledger import services as ledger
from gridvend.transactions import use_case


def _billing_debts(customer: Customer) -> list[Debt]:
    return list(selectors.arrears_debts(customer).select_for_update(of=("self",)))


@use_case
def transfer_arrears_to_debt(
    *, actor: User | None, customer: Customer, today: date | None = None
) -> Debt | None:
    """For an account of kind "both": what its bills owe past their due date, and is not yet
    with the prepaid side, becomes a debt that its token purchases recover through the tariff's
    debt-recovery rule. Booked debt:<account> against the arrears clearing account (the bills
    already booked the revenue); the bills stay open until recoveries pay them."""
    if actor is not None:
        _require(can_run_billing(actor))
        require_unit_in_scope(actor, customer.org_unit)
    day = today or _today()
    locked = lock_customer(customer)
    if locked.account_kind != AccountKind.BOTH:
        raise AccountNotPrepaidLinked(account_number=locked.account_number)
    handover = selectors.handover_of(
        locks.lock_open_bills(locked.pk), _billing_debts(locked), today=day
    )
    amount = handover.to_hand_minor
    if amount <= 0:
        return None
    return book_debt(
        actor=actor,
        customer=locked,
        amount=Money(amount, locked.tariff.currency),
        reason=f"Postpaid arrears to {day.isoformat()}",
        source=DEBT_SOURCE,
        credit_account=ARREARS_CLEARING,
        business_date=day,
    )


def _recovered(customer: Customer) -> int:
    debts = Debt.objects.filter(customer=customer, source=DEBT_SOURCE)
    return sum(d.original_minor - d.balance_minor - d.settled_minor for d in debts)


def _recoveries(customer: Customer) -> Any:
    return BillPayment.objects.filter(customer=customer, channel=RECOVERY_CHANNEL)


def _book_recovery(customer: Customer, *, actor: User | None, now: datetime) -> BillPayment | None:
    """With the customer locked: one recovery payment of what sales recovered and no payment
    has applied yet, allocated; None when there is nothing new."""
    recovered = _recovered(customer)
    received = _recoveries(customer).filter(status=PaymentStatus.RECEIVED)
    amount = recovered - sum(received.values_list("amount_minor", flat=True))
    if amount <= 0:
        return None
    # The running total recovered names the payment; it falls back only when a reversed sale
    # took recovery payments back, so the count of those keeps a reference from repeating.
    reference = f"{customer.account_number}-{recovered}"
    taken_back = _recoveries(customer).filter(status=PaymentStatus.CANCELLED).count()
    if taken_back:
        reference += f"-r{taken_back}"
    payment = _book_payment(
        actor=actor,
        customer=customer,
        money=Money(amount, customer.tariff.currency),
        channel=RECOVERY_CHANNEL,
        reference=reference,
        source_account=ARREARS_CLEARING,
        memo=f"arrears recovered by prepaid sales {customer.account_number}",
        paid_at=now,
        now=now,
    )
    return _settle(actor=actor, customer=customer, payment=payment, now=now)


@use_case
def apply_recoveries(*, actor: User | None, customer: Customer) -> BillPayment | None:
    """Pay the bills with what prepaid sales recovered of the arrears debts since the last
    time: one payment on the recovery channel (the arrears clearing account against the
    receivable), allocated oldest first. Idempotent: it pays only what was recovered beyond
    the recovery payments received, so a second call with nothing new recovered does nothing."""
    if actor is not None:
        require_unit_in_scope(actor, customer.org_unit)
    locked = lock_customer(customer)
    return _book_recovery(locked, actor=actor, now=timezone.now())


def take_back_recoveries(
    sale: Any, restored: list[tuple[int, int]], actor: User, now: datetime
) -> None:
    """A vending reversal hook (``vending.reversal_hooks``), in the reversal's transaction: a
    reversed sale gave what it recovered back to the arrears debts, so the recovery payments
    that applied it to the bills no longer stand on money received. They are taken back,
    newest first, until they apply no more than the sales still recover (allocations undone,
    entries reversed); what the last one held beyond the sale is booked again in a new
    recovery payment. The bills owe again what the debts hold again."""
    ids = [debt_id for debt_id, _amount in restored]
    customer_ids = sorted(
        set(
            Debt.objects.filter(pk__in=ids, source=DEBT_SOURCE).values_list(
                "customer_id", flat=True
            )
        )
    )
    day = _today(now)
    for customer_id in customer_ids:
        customer = lock_customer(Customer(pk=customer_id))
        recovered = _recovered(customer)
        payments = list(
            _recoveries(customer)
            .select_for_update(of=("self",))
            .filter(status=PaymentStatus.RECEIVED)
            .select_related("journal_entry")
            .order_by("-paid_at", "-id")
        )
        applied = sum(p.amount_minor for p in payments)
        locks.lock_open_bills(customer.pk)
        last: BillPayment | None = None
        memo = f"recovery taken back: sale {sale.reference} reversed {customer.account_number}"
        for payment in payments:
            if applied <= recovered:
                break
            _undo_allocations(
                list(
                    PaymentAllocation.objects.filter(payment=payment, is_undone=False)
                    .select_related("bill")
                    .order_by("id")
                )
            )
            entry = ledger.reverse_journal_entry(
                payment.journal_entry, actor=actor, business_date=day, memo=memo[:255]
            )
            BillPayment.objects.filter(pk=payment.pk).update(
                status=PaymentStatus.CANCELLED,
                cancel_entry=entry,
                cancelled_at=now,
                cancelled_by=actor,
                cancel_reason=memo[:255],
            )
            record(
                actor=actor,
                event_type=BillingEvent.PAYMENT_CANCELLED,
                target=payment,
                after={"reason": memo, "sale": sale.reference, "journal_entry": entry.pk},
            )
            applied -= payment.amount_minor
            last = payment
        if last is None:
            continue
        _book_recovery(customer, actor=None, now=now)
        # Credit of other payments pays what the bills owe again; the debts never hold more.
        _apply_credit(customer.pk, now)
        release, _released = cap_arrears_debts(
            customer,
            actor=actor,
            day=day,
            memo=f"arrears debt released: {memo}",
        )
        if release is not None:
            BillPayment.objects.filter(pk=last.pk).update(debt_release_entry=release)


def recoveries_job() -> int:
    """The periodic job (``billing.apps``): apply what sales recovered, for every account with
    an arrears debt; returns how many payments it made."""
    made = 0
    ids = (
        Debt.objects.filter(source=DEBT_SOURCE)
        .values_list("customer_id", flat=True)
        .distinct()
        .order_by("customer_id")
    )
    for customer in Customer.objects.filter(pk__in=list(ids)).order_by("pk"):
        if apply_recoveries(actor=None, customer=customer) is not None:
            made += 1
    return made
