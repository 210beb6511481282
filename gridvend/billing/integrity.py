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
        debts = Debt.objects.filter(source=ARREARS_DEBT_SOURCE, balance_minor__gt=0)
        held = {
            (customer_id, account): int(total)
            for customer_id, account, total in debts.values(
                "customer_id", "customer__account_number"
            )
            .annotate(total=Sum("balance_minor"))
            .values_list("customer_id", "customer__account_number", "total")
            .order_by("customer_id")
        }
        owed = dict(
            Bill.objects.filter(
                customer_id__in=debts.values("customer_id"),
                status=BillStatus.OPEN,
            )
            .values("customer_id")
            .annotate(total=Sum(F("amount_minor") + F("late_fee_minor") - F("paid_minor")))
            .values_list("customer_id", "total")
            .order_by("customer_id")
        )
    for (customer_id, account), total in held.items():
        report.checked += 1
        bills = int(owed.get(customer_id) or 0)
        if total > bills:
            report.problems.append(
                f"account {account}: its arrears debts hold {total} but its open bills owe "
                f"{bills}: token purchases would recover {total - bills} that no bill owes"
            )
    return report


def arrears_findings() -> list[str]:
    """For the ledger's check registry (gridvend.ledger.checks)."""
    return verify_arrears_debts().problems
