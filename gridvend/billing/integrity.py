"""The postpaid subledger check of `gridvend ledger reconcile` and `gridvend verify`: a "both"
account's arrears debts never hold more than its open bills still owe, or its token purchases
would recover a bill already paid or cancelled."""

from __future__ import annotations

from django.db.models import F, Sum

from gridvend.billing.models import ARREARS_DEBT_SOURCE, Bill, BillStatus
from gridvend.customers.models import Debt
from gridvend.vending.integrity.common import Report, one_snapshot


def verify_arrears_debts() -> Report:
    """Per customer, in one snapshot: the arrears debts' balances against the open bills'
    owed amounts (two grouped queries, whatever the number of accounts)."""
    report = Report()
    with one_snapshot():
        held = dict(
            Debt.objects.filter(source=ARREARS_DEBT_SOURCE, balance_minor__gt=0)
            .values("customer_id")
            .annotate(total=Sum("balance_minor"))
            .values_list("customer_id", "total")
            .order_by("customer_id")
        )
        owed = dict(
            Bill.objects.filter(customer_id__in=list(held), status=BillStatus.OPEN)
            .values("customer_id")
            .annotate(total=Sum(F("amount_minor") + F("late_fee_minor") - F("paid_minor")))
            .values_list("customer_id", "total")
            .order_by("customer_id")
        )
        accounts = dict(
            Debt.objects.filter(customer_id__in=list(held))
            .values_list("customer_id", "customer__account_number")
            .distinct()
        )
    for customer_id, total in sorted(held.items()):
        report.checked += 1
        bills = int(owed.get(customer_id) or 0)
        if int(total) > bills:
            report.problems.append(
                f"account {accounts.get(customer_id, customer_id)}: its arrears debts hold "
                f"{total} but its open bills owe {bills}: token purchases would recover "
                f"{int(total) - bills} that no bill owes"
            )
    return report


def arrears_findings() -> list[str]:
    """For the ledger's check registry (gridvend.ledger.checks)."""
    return verify_arrears_debts().problems
