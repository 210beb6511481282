"""Postpaid billing: runs over a reading book's period, the bills they make and their lines, the
payments customers make against bills and how each payment was allocated.

Money moves in the ledger only when a run is posted (a bill: receivable against revenue and
tax), when a payment is taken (cash, bank or till against the receivable) and when either is
cancelled (reversal entries). A previewed run is computed and kept, but posts nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridvend.approvals.models import DecisionRequest
from gridvend.customers.models import Customer
from gridvend.org.models import OrgUnit

# The source of a customer debt that holds a "both" account's postpaid arrears for its token
# purchases to recover (``customers.Debt.source``).
ARREARS_DEBT_SOURCE = "billing"
# An over-estimate credit larger than its bill, carried as the account's credit: a payment of
# no money received (adjustment revenue against the receivable), never "the last payment".
CREDIT_NOTE_CHANNEL = "credit_note"


class RunStatus(models.TextChoices):
    PREVIEWED = "previewed", _("Previewed")
    AWAITING_APPROVAL = "awaiting", _("Awaiting approval")
    POSTED = "posted", _("Posted")
    CANCELLED = "cancelled", _("Cancelled")
    DISCARDED = "discarded", _("Discarded")


# Runs that hold their book's period: a second run of the same period waits until this one is
# discarded or cancelled (then the next run rebills).
HOLDING_STATUSES = (RunStatus.PREVIEWED, RunStatus.AWAITING_APPROVAL, RunStatus.POSTED)


class BillingRun(models.Model):
    """One book's billing for one period: previewed, approved by a second person, posted."""

    org_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="billing_runs")
    book = models.ForeignKey(
        "readings.ReadingBook", on_delete=models.PROTECT, related_name="billing_runs"
    )
    period_start = models.DateField()
    period_end = models.DateField()  # inclusive
    issue_date = models.DateField()
    due_date = models.DateField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.PREVIEWED)
    bill_count = models.PositiveIntegerField(default=0)
    total_minor = models.BigIntegerField(default=0)
    # [{"meter", "customer", "problem"}]: meters of the book that got no bill, and why.
    exceptions = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    posted_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period_start", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["book", "period_start"],
                condition=models.Q(status__in=[s.value for s in HOLDING_STATUSES]),
                name="one_live_run_per_book_period",
            ),
            models.CheckConstraint(
                condition=models.Q(period_end__gte=models.F("period_start")),
                name="billing_run_period_in_order",
            ),
        ]

    def __str__(self) -> str:
        return f"billing run {self.pk} {self.book_id} {self.period_start}..{self.period_end}"

    @property
    def audit_org_path(self) -> str:
        return self.org_unit.path


class RunAction(models.TextChoices):
    POST = "post", _("Post the run")
    CANCEL = "cancel", _("Cancel the posted run")


class RunDecision(DecisionRequest):
    """A run's posting, or a posted run's cancellation, waiting for a second person."""

    run = models.ForeignKey(BillingRun, on_delete=models.PROTECT, related_name="decisions")
    action = models.CharField(max_length=10, choices=RunAction.choices)
    reason = models.CharField(max_length=255, blank=True)

    class Meta(DecisionRequest.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["run", "action"],
                condition=models.Q(status="pending"),
                name="one_pending_decision_per_run_action",
            )
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} {self.action} ({self.status})"

    @property
    def audit_org_path(self) -> str:
        return self.run.org_unit.path


class BillStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    OPEN = "open", _("Open")
    PAID = "paid", _("Paid")
    CANCELLED = "cancelled", _("Cancelled")
    DISCARDED = "discarded", _("Discarded")


class Bill(models.Model):
    run = models.ForeignKey(BillingRun, on_delete=models.PROTECT, related_name="bills")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="bills")
    meter = models.ForeignKey("meters.Meter", on_delete=models.PROTECT, related_name="bills")
    # Unique per utility once posted; a draft has none yet, so no number is ever skipped.
    number = models.CharField(max_length=20, blank=True, default="")
    status = models.CharField(max_length=10, choices=BillStatus.choices, default=BillStatus.DRAFT)
    currency = models.CharField(max_length=3)
    period_start = models.DateField()
    period_end = models.DateField()
    issue_date = models.DateField()
    due_date = models.DateField()
    previous_reading = models.ForeignKey(
        "readings.MeterReading", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    current_reading = models.ForeignKey(
        "readings.MeterReading", on_delete=models.PROTECT, related_name="+"
    )
    previous_register_kwh = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    current_register_kwh = models.DecimalField(max_digits=12, decimal_places=2)
    consumption_kwh = models.DecimalField(max_digits=12, decimal_places=2)
    is_estimated = models.BooleanField(default=False)
    tariff_version = models.ForeignKey(
        "tariffs.TariffVersion", on_delete=models.PROTECT, related_name="+"
    )
    # What this bill charges (energy, fixed charges, taxes, adjustments).
    amount_minor = models.BigIntegerField()
    # What the account owed before this bill (shown, not charged again).
    previous_balance_minor = models.BigIntegerField(default=0)
    paid_minor = models.BigIntegerField(default=0)
    late_fee_minor = models.BigIntegerField(default=0)
    late_fee_at = models.DateTimeField(null=True, blank=True)
    late_fee_entry = models.OneToOneField(
        "ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    journal_entry = models.OneToOneField(
        "ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="bill"
    )
    cancel_entry = models.OneToOneField(
        "ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    late_fee_cancel_entry = models.OneToOneField(
        "ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A "both" account's arrears debt released when this bill's run was cancelled (the debt
    # may not hold more than the bills still owe): one entry per customer, on their first bill.
    debt_release_entry = models.OneToOneField(
        "ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # An over-estimate credit larger than this bill: carried as the account's credit (a
    # credit-note payment) when the run is posted, taken back if the bill is cancelled.
    credit_carried_minor = models.BigIntegerField(default=0)
    posted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-issue_date", "-id"]
        indexes = [
            models.Index(fields=["customer", "status", "due_date"], name="bill_customer_open"),
            # The bills list's order, walked by keyset.
            models.Index(fields=["issue_date", "id"], name="bill_list_order"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["number"], condition=~models.Q(number=""), name="bill_number_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(amount_minor__gte=0), name="bill_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(paid_minor__gte=0)
                & models.Q(paid_minor__lte=models.F("amount_minor") + models.F("late_fee_minor")),
                name="bill_paid_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return self.number or f"draft bill {self.pk}"

    @property
    def audit_org_path(self) -> str:
        return self.customer.org_unit.path

    @property
    def owed_minor(self) -> int:
        return self.amount_minor + self.late_fee_minor - self.paid_minor


class LineKind(models.TextChoices):
    ENERGY = "energy", _("Energy")
    FIXED = "fixed", _("Fixed charge")
    TAX = "tax", _("Tax")
    ADJUSTMENT = "adjustment", _("Adjustment")


class BillLine(models.Model):
    bill = models.ForeignKey(Bill, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=12, choices=LineKind.choices)
    label = models.CharField(max_length=80)
    kwh = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    rate = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    amount_minor = models.BigIntegerField()

    class Meta:
        ordering = ["bill", "position"]

    def __str__(self) -> str:
        return f"{self.label} {self.amount_minor}"


class PaymentStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    CANCELLED = "cancelled", _("Cancelled")


class BillPayment(models.Model):
    """Money a postpaid customer paid: allocated to their open bills, the rest kept as credit
    that the next bill uses."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="bill_payments")
    currency = models.CharField(max_length=3)
    amount_minor = models.BigIntegerField()
    # Of the amount, how much bills have taken; the rest is the account's credit.
    allocated_minor = models.BigIntegerField(default=0)
    # Of the amount, what paid arrears that a "both" account's debt held for token purchases
    # to recover: that debt was lowered by it in the same entry (given back on a cancel).
    debt_settled_minor = models.BigIntegerField(default=0)
    channel = models.CharField(max_length=20)
    partner = models.ForeignKey(
        "partners.Partner", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    vending_point = models.ForeignKey(
        "org.VendingPoint", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    shift = models.ForeignKey(
        "vending.Shift",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="bill_payments",
    )
    source_reference = models.CharField(max_length=64)
    bank_facts = models.JSONField(default=dict, blank=True)
    paid_at = models.DateTimeField()
    business_date = models.DateField()
    # None: a job applied what prepaid sales recovered of the arrears.
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.RECEIVED
    )
    journal_entry = models.OneToOneField(
        "ledger.JournalEntry", on_delete=models.PROTECT, related_name="bill_payment"
    )
    cancel_entry = models.OneToOneField(
        "ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cancel_reason = models.CharField(max_length=255, blank=True)
    # Arrears debt released because this payment's cancel (or a credit note's allocation) left
    # the debts holding more than the bills still owe.
    debt_release_entry = models.OneToOneField(
        "ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The reversal of ``debt_release_entry`` when a credit note is taken back with its bill's
    # run (the arrears debts hold again what the note had released).
    debt_release_cancel_entry = models.OneToOneField(
        "ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Set by the bank link's daily reconciliation; a reconciled payment is no longer cancelled.
    reconciled_at = models.DateTimeField(null=True, blank=True)
    reconciliation_ref = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-paid_at", "-id"]
        indexes = [
            models.Index(fields=["paid_at", "id"], name="bill_payment_list_order"),
            models.Index(fields=["customer", "status"], name="bill_payment_customer"),
        ]
        constraints = [
            # Idempotency: one payment per (channel, partner, reference); a NULL partner would
            # make every row distinct in a plain unique index, hence two partial ones.
            models.UniqueConstraint(
                fields=["channel", "partner", "source_reference"],
                condition=models.Q(partner__isnull=False),
                name="bill_payment_reference_per_partner",
            ),
            models.UniqueConstraint(
                fields=["channel", "source_reference"],
                condition=models.Q(partner__isnull=True),
                name="bill_payment_reference_per_channel",
            ),
            models.CheckConstraint(
                condition=models.Q(amount_minor__gt=0), name="bill_payment_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(allocated_minor__gte=0)
                & models.Q(allocated_minor__lte=models.F("amount_minor")),
                name="bill_payment_allocated_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"payment {self.pk} {self.source_reference}"

    @property
    def audit_org_path(self) -> str:
        return self.customer.org_unit.path

    @property
    def credit_minor(self) -> int:
        return self.amount_minor - self.allocated_minor


class PaymentAllocation(models.Model):
    """Part of a payment applied to one bill. Kept when undone (a cancelled payment, a cancelled
    bill), marked so: the trail shows what was paid and what was taken back."""

    payment = models.ForeignKey(BillPayment, on_delete=models.PROTECT, related_name="allocations")
    bill = models.ForeignKey(Bill, on_delete=models.PROTECT, related_name="allocations")
    amount_minor = models.BigIntegerField()
    allocated_at = models.DateTimeField(default=timezone.now)
    is_undone = models.BooleanField(default=False)

    class Meta:
        ordering = ["allocated_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount_minor__gt=0), name="allocation_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount_minor} of payment {self.payment_id} to bill {self.bill_id}"
