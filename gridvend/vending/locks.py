"""The row locks the vending use cases take, one function per lock set, always in one order.

Every use case that locks more than one row takes them in this order, so two of them never wait
for each other in a cycle (a deadlock):

1. the decision request being approved or rejected (``approvals.lock_decision_request``);
2. the customer, then the meter (``lock_customer_and_meter``);
3. the sale (``lock_sale``, ``lock_sale_for_reversal``, ``lock_receipt_printed_at``);
4. shifts: the sale's own shift, then the drawer paying a refund (``lock_shift_status``,
   ``lock_open_drawer``, ``lock_shift``);
5. the float account (``lock_float_account``);
6. the issuer's user row (``lock_user``), which serialises one person's free issues and transfers.

Rows that belong to a row already locked (a meter's pending key change, a customer's debts) are
taken after their owner at any point: no other path reaches them without the owner's lock.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from gridvend.customers.models import Customer, Debt
from gridvend.identity.models import User
from gridvend.ledger.models import Account
from gridvend.meters.models import KeyChange, KeyChangeStatus, Meter
from gridvend.org.models import VendingPoint
from gridvend.vending.models import Sale, Shift, ShiftStatus
from gridvend.vending.selectors import float_account_code


def lock_customer_and_meter(meter: Meter) -> tuple[Customer | None, Meter]:
    """Lock the customer, then the meter (always in that order, so sales never deadlock).

    The locked rows are read fresh; the organisation unit is taken from the looked-up meter
    (it cannot change the sale) rather than joined again.
    """
    customer = None
    if meter.customer_id is not None:
        customer = (
            Customer.objects.select_for_update(of=("self",))
            .select_related("tariff")
            .get(pk=meter.customer_id)
        )
    locked = Meter.objects.select_for_update().get(pk=meter.pk)
    if locked.customer_id != meter.customer_id:
        # The installation changed between lookup and lock; take the new customer too.
        return lock_customer_and_meter(locked)
    if locked.org_unit_id == meter.org_unit_id:
        locked.org_unit = meter.org_unit
    locked.customer = customer
    return customer, locked


def lock_pending_key_change(meter: Meter) -> KeyChange | None:
    """The meter's pending key change (the caller holds the meter's lock)."""
    return (
        KeyChange.objects.select_for_update()
        .filter(meter=meter, status=KeyChangeStatus.PENDING)
        .first()
    )


def lock_sale(sale: Sale) -> Sale:
    return Sale.objects.select_for_update(of=("self",)).get(pk=sale.pk)


def lock_sale_for_reversal(sale: Sale) -> Sale:
    """The sale's customer (its debts are restored), then the sale with its journal entry."""
    if sale.customer_id is not None:
        Customer.objects.select_for_update().get(pk=sale.customer_id)
    return (
        Sale.objects.select_for_update(of=("self",)).select_related("journal_entry").get(pk=sale.pk)
    )


def lock_receipt_printed_at(sale: Sale) -> datetime | None:
    """When the sale's original receipt was printed, under the sale's lock (one original only)."""
    return (
        Sale.objects.select_for_update(of=("self",))
        .values_list("receipt_printed_at", flat=True)
        .get(pk=sale.pk)
    )


def open_debts(customer: Customer, *, lock: bool) -> QuerySet[Debt]:
    """The customer's debts with a balance, oldest first (the order a sale recovers them in);
    locked when a sale will pay them down (the caller holds the customer's lock)."""
    debts = Debt.objects.filter(customer=customer, balance_minor__gt=0).order_by("opened_at", "id")
    return debts.select_for_update() if lock else debts


def lock_debt(debt_id: int) -> Debt:
    return Debt.objects.select_for_update().get(pk=debt_id)


def lock_shift_status(shift_id: int) -> str:
    """The shift's status under its lock: a sale or a refund never interleaves with its close."""
    return Shift.objects.select_for_update().values_list("status", flat=True).get(pk=shift_id)


def lock_open_drawer(shift: Shift) -> bool:
    """Lock the drawer that would pay a refund; whether it is still open."""
    return Shift.objects.select_for_update().filter(pk=shift.pk, status=ShiftStatus.OPEN).exists()


def lock_shift(shift: Shift) -> Shift:
    """The shift to close, sign off or force-close, with its point's organisation unit."""
    return (
        Shift.objects.select_for_update(of=("self",))
        .select_related("vending_point__org_unit")
        .get(pk=shift.pk)
    )


def lock_float_account(point: VendingPoint) -> Account | None:
    return Account.objects.filter(code=float_account_code(point)).select_for_update().first()


def lock_user(user: User) -> None:
    """The issuer's own row: one person's free issues (or transfers) are counted one at a time."""
    list(User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))
