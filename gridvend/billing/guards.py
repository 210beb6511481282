"""Refusals that apps above billing add to every payment cancel (a bank link refuses a cancel
while the bank's day is being reconciled), declared from their AppConfig.ready() so billing
never imports them, and billing's own guard on a customer's change of kind (registered with
``customers.guards``). A guard raises a DomainError to refuse; it reads, never writes.

A cancel guard judges the cancel as of ``at``: now, or when a channel promised it (a Billpay
refund approved before the bank's day was received is carried out when it is confirmed)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from gridvend.billing.models import Bill, BillPayment, BillStatus, RunStatus
from gridvend.customers.models import Customer

CancelGuard = Callable[[BillPayment, datetime], None]

_GUARDS: dict[str, CancelGuard] = {}


def register_cancel_guard(name: str, guard: CancelGuard) -> None:
    """Declare a named guard (call it from an AppConfig.ready()); the same name replaces it."""
    _GUARDS[name] = guard


def check_cancel_guards(payment: BillPayment, *, at: datetime) -> None:
    for name in sorted(_GUARDS):
        _GUARDS[name](payment, at)


def refuse_prepaid_while_owing(customer: Customer, kind: str) -> None:
    """A customers' kind guard: an account whose bills still owe (or with a bill in a run not
    yet posted) may not become prepaid only. Its payments, the bank's query and dunning all
    ask for a postpaid account: the arrears would stay in the books with no way to pay or
    pursue them. "Both" keeps the bills payable and lets token purchases recover them."""
    from gridvend.billing.errors import AccountHasOpenBills
    from gridvend.billing.selectors import POSTPAID_KINDS

    if kind in POSTPAID_KINDS or customer.account_kind not in POSTPAID_KINDS:
        return
    bills = Bill.objects.filter(customer_id=customer.pk)
    owed = sum(
        b.owed_minor
        for b in bills.filter(status=BillStatus.OPEN).only(
            "amount_minor", "late_fee_minor", "paid_minor"
        )
    )
    pending = bills.filter(
        status=BillStatus.DRAFT,
        run__status__in=[RunStatus.PREVIEWED, RunStatus.AWAITING_APPROVAL],
    ).exists()
    if owed > 0 or pending:
        raise AccountHasOpenBills(account_number=customer.account_number, owed=owed)
