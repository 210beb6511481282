"""Row locks for billing writes, in one fixed order: the customer (``customers.locks``), then
their open bills by due date and id, then the payment; a run is locked before its customers."""

from __future__ import annotations

from gridvend.billing.models import Bill, BillingRun, BillPayment, BillStatus


def lock_run(run: BillingRun) -> BillingRun:
    return (
        BillingRun.objects.select_for_update(of=("self",))
        .select_related("org_unit", "book")
        .get(pk=run.pk)
    )


def lock_open_bills(customer_id: int) -> list[Bill]:
    """The customer's bills still owing, oldest due first (the order payments pay them in)."""
    return list(
        Bill.objects.select_for_update(of=("self",))
        .filter(customer_id=customer_id, status=BillStatus.OPEN)
        .order_by("due_date", "issue_date", "id")
    )


def lock_payment(payment: BillPayment) -> BillPayment:
    return (
        BillPayment.objects.select_for_update(of=("self",))
        .select_related("customer__org_unit", "partner", "vending_point")
        .get(pk=payment.pk)
    )
