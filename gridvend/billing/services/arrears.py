"""The prepaid link of accounts of kind "both": postpaid arrears handed to the prepaid side as a
debt that token purchases recover, and what they recovered applied to the bills."""

from __future__ import annotations

from datetime import date

from django.utils import timezone

from gridvend.billing import locks, selectors
from gridvend.billing.errors import (
    AccountNotPrepaidLinked,
)
from gridvend.billing.models import (
    BillPayment,
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
    _book_payment,
    _settle,
)
from gridvend.customers.locks import lock_customer
from gridvend.customers.models import AccountKind, Customer, Debt
from gridvend.customers.services import book_debt
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.money import Money
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


@use_case
def apply_recoveries(*, actor: User | None, customer: Customer) -> BillPayment | None:
    """Pay the bills with what prepaid sales recovered of the arrears debts since the last
    time: one payment on the recovery channel (the arrears clearing account against the
    receivable), allocated oldest first. Idempotent: its reference is the running total
    recovered, so a second call with nothing new recovered does nothing."""
    if actor is not None:
        require_unit_in_scope(actor, customer.org_unit)
    locked = lock_customer(customer)
    debts = Debt.objects.filter(customer=locked, source=DEBT_SOURCE)
    recovered = sum(d.original_minor - d.balance_minor - d.settled_minor for d in debts)
    applied = sum(
        BillPayment.objects.filter(
            customer=locked, channel=RECOVERY_CHANNEL, status=PaymentStatus.RECEIVED
        ).values_list("amount_minor", flat=True)
    )
    amount = recovered - applied
    if amount <= 0:
        return None
    now = timezone.now()
    reference = f"{locked.account_number}-{recovered}"
    payment = _book_payment(
        actor=actor,
        customer=locked,
        money=Money(amount, locked.tariff.currency),
        channel=RECOVERY_CHANNEL,
        reference=reference,
        source_account=ARREARS_CLEARING,
        memo=f"arrears recovered by prepaid sales {locked.account_number}",
        paid_at=now,
        now=now,
    )
    return _settle(actor=actor, customer=locked, payment=payment, now=now)


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
