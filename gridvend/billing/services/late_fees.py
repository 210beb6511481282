"""Late-payment charges: the tariff's late fee on a bill still owing past its due date and grace
days, once per bill, and the daily job that charges every such bill."""

from __future__ import annotations

from datetime import date, timedelta

from django.utils import timezone

from gridvend.audit.services import record
from gridvend.billing.events import BillingEvent
from gridvend.billing.models import (
    Bill,
    BillStatus,
)
from gridvend.billing.permissions import (
    can_run_billing,
)
from gridvend.billing.services.common import (
    _require,
    _spec,
    _today,
    receivable_code,
)
from gridvend.customers.locks import lock_customer
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.ledger import Posting, journal
from gridvend.kernel.money import Money
from gridvend.kernel.pricing import late_fee
from gridvend.ledger import services as ledger
from gridvend.transactions import use_case


@use_case
def charge_late_fee(*, actor: User | None, bill: Bill, today: date | None = None) -> int:
    """Charge the tariff's late fee on one bill unpaid past its due date and grace days, once:
    a bill that has had its fee is left alone, so the job may run any number of times.
    ``actor`` None: the scheduled job."""
    if actor is not None:
        _require(can_run_billing(actor))
        require_unit_in_scope(actor, bill.customer.org_unit)
    day = today or _today()
    lock_customer(bill.customer)
    locked = (
        Bill.objects.select_for_update(of=("self",))
        .select_related("customer", "tariff_version")
        .get(pk=bill.pk)
    )
    if locked.status != BillStatus.OPEN or locked.late_fee_at is not None:
        return 0
    spec = _spec(locked.tariff_version_id)
    rule = spec.late_payment
    if rule is None or day <= locked.due_date + timedelta(days=rule.grace_days):
        return 0
    fee = late_fee(spec, Money(locked.owed_minor, locked.currency))
    now = timezone.now()
    if fee.minor == 0:
        Bill.objects.filter(pk=locked.pk).update(late_fee_at=now)
        return 0
    entry = ledger.post_journal_entry(
        journal(
            [
                Posting(receivable_code(locked.customer), fee),
                Posting(ledger.LATE_FEE_REVENUE, -fee),
            ],
            memo=f"late fee bill {locked.number}",
        ),
        kind="bill.late_fee",
        business_date=day,
        actor=actor,
    )
    Bill.objects.filter(pk=locked.pk, late_fee_at__isnull=True).update(
        late_fee_minor=fee.minor, late_fee_at=now, late_fee_entry=entry
    )
    record(
        actor=actor,
        event_type=BillingEvent.LATE_FEE_CHARGED,
        target=locked,
        after={"fee": fee.to_dict(), "owed_minor": locked.owed_minor, "journal_entry": entry.pk},
    )
    return fee.minor


def charge_late_fees(*, actor: User | None, today: date | None = None) -> int:
    """Charge every overdue bill in the actor's scope (all, for the job) its late fee, each in
    its own transaction; returns how many bills were charged."""
    day = today or _today()
    charged = 0
    candidates = (
        Bill.objects.filter(status=BillStatus.OPEN, late_fee_at__isnull=True, due_date__lt=day)
        .select_related("customer__org_unit")
        .order_by("id")
    )
    if actor is not None:
        candidates = candidates.filter(customer__org_unit__path__startswith=actor.org_unit.path)
    for bill in candidates.iterator(chunk_size=500):
        if charge_late_fee(actor=actor, bill=bill, today=day):
            charged += 1
    return charged


def late_fees_job() -> int:
    """The daily job (``billing.apps``)."""
    return charge_late_fees(actor=None)
