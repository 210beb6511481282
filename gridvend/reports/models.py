"""The sales roll-up: one row per local business date and every dimension a report filters or
groups by, so that a month's or a year's figures are read from a few thousand rows, not from
every sale.

A row's sale figures count the sales made on its date (``Sale.business_date``); its reversed
figures count the reversals made on its date (the reversal's own local date) of sales with those
dimensions, so a period's net is ``tender - reversed_tender`` and a closed day never changes when
a sale of it is reversed later. The raw calculation for the rows past the watermark counts the
same way (``gridvend.reports.rollup``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SalesDay(models.Model):
    business_date = models.DateField()
    # The sale's meter's unit: sales are scoped by it everywhere (``vending.selectors``).
    org_unit = models.ForeignKey("org.OrgUnit", on_delete=models.PROTECT, related_name="+")
    # Null for back-office operations (a credit transfer at a meter replacement).
    vending_point = models.ForeignKey(
        "org.VendingPoint", null=True, on_delete=models.PROTECT, related_name="+"
    )
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    channel = models.CharField(max_length=20)
    partner = models.ForeignKey(
        "partners.Partner", null=True, on_delete=models.PROTECT, related_name="+"
    )
    tariff = models.ForeignKey(
        "tariffs.Tariff", null=True, on_delete=models.PROTECT, related_name="+"
    )
    sgc = models.CharField(max_length=6)
    ti = models.PositiveSmallIntegerField(null=True)
    kind = models.CharField(max_length=20)
    currency = models.CharField(max_length=3)
    # Every dimension above in one string: the fold finds a row by it (NULLs in a unique
    # constraint never collide, and ``nulls_distinct`` is PostgreSQL's alone).
    grain = models.CharField(max_length=200, unique=True)

    sale_count = models.BigIntegerField(default=0)
    tender_minor = models.BigIntegerField(default=0)
    energy_minor = models.BigIntegerField(default=0)
    kwh = models.DecimalField(max_digits=20, decimal_places=3, default=0)
    tax_minor = models.BigIntegerField(default=0)
    fixed_charges_minor = models.BigIntegerField(default=0)
    debt_recovered_minor = models.BigIntegerField(default=0)
    fbe_kwh = models.DecimalField(max_digits=18, decimal_places=1, default=0)

    reversed_count = models.BigIntegerField(default=0)
    reversed_tender_minor = models.BigIntegerField(default=0)
    reversed_energy_minor = models.BigIntegerField(default=0)
    reversed_kwh = models.DecimalField(max_digits=20, decimal_places=3, default=0)
    reversed_tax_minor = models.BigIntegerField(default=0)
    reversed_fixed_charges_minor = models.BigIntegerField(default=0)
    reversed_debt_recovered_minor = models.BigIntegerField(default=0)
    reversed_fbe_kwh = models.DecimalField(max_digits=18, decimal_places=1, default=0)

    class Meta:
        ordering = ["business_date", "id"]
        indexes = [models.Index(fields=["business_date", "org_unit"], name="salesday_date_unit")]

    def __str__(self) -> str:
        return f"{self.business_date} {self.grain}"


class RollupWatermark(models.Model):
    """How far the roll-up has folded: every sale and reversal with an id up to these is in it.
    The fold locks this row, so two runs (a retried job, the command) fold one after the other."""

    name = models.CharField(max_length=40, unique=True)
    last_sale_id = models.BigIntegerField(default=0)
    last_reversal_id = models.BigIntegerField(default=0)
    folded_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name}: sale {self.last_sale_id}, reversal {self.last_reversal_id}"


class SubscriptionFormat(models.TextChoices):
    PDF = "pdf", "PDF"
    XLSX = "xlsx", "XLSX"
    CSV = "csv", "CSV"


class SubscriptionFrequency(models.TextChoices):
    # Each covers the period before the send date: the day, the seven days, the month.
    DAILY = "daily", "daily"
    WEEKLY = "weekly", "weekly"
    MONTHLY = "monthly", "monthly"


class ReportSubscription(models.Model):
    """A user's standing order for a report by e-mail (``gridvend.reports.subscriptions``)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="report_subscriptions"
    )
    slug = models.CharField(max_length=60)
    # The report's filters as the screen's query string (the period is the send's, not these).
    query = models.CharField(max_length=1000, blank=True)
    format = models.CharField(max_length=4, choices=SubscriptionFormat.choices)
    frequency = models.CharField(max_length=8, choices=SubscriptionFrequency.choices)
    # Monday 0 to Sunday 6, for a weekly subscription; null otherwise.
    weekday = models.PositiveSmallIntegerField(null=True, blank=True)
    active = models.BooleanField(default=True)
    # Why the system suspended it (a stable error code), empty when the user paused it.
    suspended_code = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField()
    # When it last became active (created or resumed): sends a stopped worker missed are made up
    # back to this moment, never for a time it was paused or suspended.
    active_since = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["active"], name="report_sub_active")]

    def __str__(self) -> str:
        return f"{self.slug} {self.frequency} for {self.user_id}"


class DeliveryStatus(models.TextChoices):
    SENT = "sent", "sent"  # the file was queued as an attachment
    TOO_LARGE = "too_large", "too large"  # a short e-mail with a link was queued instead
    FAILED = "failed", "failed"  # nothing sent: ``code`` says why


class ReportDelivery(models.Model):
    """One send of a subscription for one period: the unique key makes it once-only."""

    subscription = models.ForeignKey(
        ReportSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    period_start = models.DateField()
    period_end = models.DateField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices)
    code = models.CharField(max_length=60, blank=True)
    size_bytes = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period_start"], name="report_delivery_once_per_period"
            )
        ]

    def __str__(self) -> str:
        return f"{self.subscription_id} {self.period_start} {self.status}"


class AbnormalSnapshot(models.Model):
    """The sales-based findings of the abnormal-customers report for the whole tree as of the
    close of one business date (``gridvend.reports.abnormal_snapshot``): the report reads them
    instead of the sales when they answer its filters exactly."""

    as_of = models.DateField(unique=True)
    # The first day of the period "far above the norm" was measured over (it ends at as_of).
    norm_from = models.DateField()
    computed_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    finding_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-as_of"]

    def __str__(self) -> str:
        return f"abnormal findings as of {self.as_of}"


class AbnormalRule(models.TextChoices):
    # Every active customer silent since at least SNAPSHOT_MIN_DAYS before as_of (the report
    # narrows them to its own ``days``).
    NO_PURCHASE = "no_purchase", "no purchase"
    SUDDEN_DROP = "sudden_drop", "sudden drop"
    ABOVE_NORM = "above_norm", "above the norm"


class AbnormalFinding(models.Model):
    """One customer found by one rule in a snapshot, with what the report shows of it: where
    the customer was and on which tariff at the snapshot, and the rule's figures."""

    snapshot = models.ForeignKey(AbnormalSnapshot, on_delete=models.CASCADE, related_name="+")
    rule = models.CharField(max_length=12, choices=AbnormalRule.choices)
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    # The customer's unit's path and tariff at the snapshot: the report's scope and filter.
    unit_path = models.CharField(max_length=255)
    tariff = models.ForeignKey("tariffs.Tariff", on_delete=models.CASCADE, related_name="+")
    # The customer's own created_at: a customer younger than ``days`` is not "not buying".
    customer_since = models.DateTimeField()
    # The last completed credit purchase up to the end of as_of (none: never bought).
    last_purchase = models.DateTimeField(null=True)
    # Sudden drop: tender of the last 30 days and of the 90 before, and the rule's ordering
    # (recent x 3 - before: the biggest fall first).
    recent_minor = models.BigIntegerField(default=0)
    before_minor = models.BigIntegerField(default=0)
    drop_order = models.BigIntegerField(default=0)
    # Above the norm: kWh bought in [norm_from, as_of] and the median of the tariff's buyers.
    kwh = models.DecimalField(max_digits=20, decimal_places=3, default=0)
    median_kwh = models.DecimalField(max_digits=21, decimal_places=4, default=0)

    class Meta:
        ordering = ["id"]
        indexes = [
            # A subtree's findings of one rule: a prefix range of the path (the pattern
            # operator class lets PostgreSQL serve LIKE 'prefix%' whatever the collation).
            models.Index(
                fields=["snapshot", "rule", "unit_path", "tariff"],
                name="abnormal_finding_scope",
                opclasses=["", "", "varchar_pattern_ops", ""],
            ),
            # The rules' orders, so the root's first page is read in order, not sorted.
            models.Index(
                fields=["snapshot", "rule", "last_purchase", "customer"],
                name="abnormal_finding_silent",
            ),
            models.Index(
                fields=["snapshot", "rule", "drop_order", "customer"],
                name="abnormal_finding_drop",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule} {self.customer_id} in {self.snapshot_id}"
