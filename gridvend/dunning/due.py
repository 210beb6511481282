"""What a customer owes right now, read live from billing (``billing.selectors.account_due``):
the one place dunning asks, so every decision reads the same figures."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from gridvend.billing import selectors as billing
from gridvend.billing.errors import AccountNotPostpaid
from gridvend.customers.models import Customer
from gridvend.identity.models import User


@dataclass(frozen=True)
class Due:
    account_number: str
    currency: str
    total_due_minor: int
    arrears_minor: int
    # The due date of the oldest bill still unpaid past its due date, if any.
    oldest_overdue: datetime.date | None
    last_payment: tuple[datetime.datetime, int] | None

    def days_overdue(self, today: datetime.date) -> int:
        if self.oldest_overdue is None:
            return 0
        return max(0, (today - self.oldest_overdue).days)

    @property
    def in_arrears(self) -> bool:
        return self.arrears_minor > 0


def _due(account_number: str, found: billing.AccountDue, today: datetime.date) -> Due:
    overdue = [
        bill.due_date for bill in found.open_bills if bill.due_date < today and bill.owed_minor > 0
    ]
    return Due(
        account_number=account_number,
        currency=found.currency,
        total_due_minor=found.total_due_minor,
        arrears_minor=found.arrears_minor,
        oldest_overdue=min(overdue) if overdue else None,
        last_payment=found.last_payment,
    )


def read_due(actor: User, account_number: str, *, today: datetime.date) -> Due | None:
    """The account's figures on ``today``, or None for an account that is not postpaid.
    Raises NotFound for an account outside the actor's subtree or unknown."""
    try:
        found = billing.account_due(actor, account_number, today=today)
    except AccountNotPostpaid:
        return None
    return _due(account_number, found, today)


def read_dues(
    actor: User, customers: Sequence[Customer], *, today: datetime.date
) -> dict[int, Due]:
    """``read_due`` for many customers in a fixed number of queries (``accounts_due``), by
    customer id; customers outside the actor's subtree or not postpaid are left out. A run
    reads its accounts this way; a disconnection's pre-check reads its one account live."""
    found = billing.accounts_due(actor, customers, today=today)
    return {pk: _due(due.customer.account_number, due, today) for pk, due in found.items()}
