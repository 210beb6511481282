"""STS meters with their key parameters, installation history and pending key changes."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridvend.customers.models import Customer, Premise
from gridvend.org.models import OrgUnit

if TYPE_CHECKING:
    from gridvend.audit.changes import AuditedFields


class TokenCarrier(models.TextChoices):
    KEYPAD = "keypad", _("Keypad")
    MAGNETIC_CARD = "magnetic_card", _("Magnetic card")
    IC_CARD = "ic_card", _("IC card")


class MeterStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    BLOCKED = "blocked", _("Blocked")
    FAULTY = "faulty", _("Faulty")
    RETIRED = "retired", _("Retired")


# Digits of a meter's cumulative kWh register before the point: it rolls over from 99..9 to 0.
REGISTER_DIGITS_DEFAULT = 6
REGISTER_DIGITS_RANGE = (4, 9)


class Meter(models.Model):
    number = models.CharField(max_length=13, unique=True)
    org_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="meters")
    make = models.CharField(max_length=60, blank=True)
    model = models.CharField(max_length=60, blank=True)
    phases = models.PositiveSmallIntegerField(default=1)
    carrier = models.CharField(
        max_length=20, choices=TokenCarrier.choices, default=TokenCarrier.KEYPAD
    )
    # STS key parameters the meter holds now (a pending key change moves them on).
    sgc = models.CharField(max_length=6)
    ti = models.PositiveSmallIntegerField()
    krn = models.PositiveSmallIntegerField()
    kt = models.PositiveSmallIntegerField(default=2)
    ken = models.PositiveSmallIntegerField(default=255)
    ea = models.CharField(max_length=2, default="07")
    dkga = models.CharField(max_length=2, default="02")
    base_date_year = models.PositiveSmallIntegerField(default=2014)
    key_ref = models.CharField(max_length=60)
    status = models.CharField(
        max_length=10, choices=MeterStatus.choices, default=MeterStatus.ACTIVE
    )
    block_reason = models.CharField(max_length=255, blank=True)
    # Highest TID issued to this meter; only ever raised, under the meter's row lock.
    last_tid = models.BigIntegerField(null=True, blank=True)
    # Whole kWh digits of the cumulative register that readings are taken from (prepaid meters
    # have one too): a reading lower than the last is a roll-over only within this width.
    register_digits = models.PositiveSmallIntegerField(default=REGISTER_DIGITS_DEFAULT)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="meters"
    )
    premise = models.ForeignKey(
        Premise, null=True, blank=True, on_delete=models.PROTECT, related_name="meters"
    )
    created_at = models.DateTimeField(default=timezone.now)

    audited_fields: ClassVar[AuditedFields] = (
        "number",
        "org_unit",
        "make",
        "model",
        "phases",
        "carrier",
        "register_digits",
        "status",
        "customer",
        "premise",
        ("key", lambda meter: _key_params(meter)),
    )

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return self.number

    @property
    def audit_org_path(self) -> str:
        return self.org_unit.path


class Installation(models.Model):
    """Which meter served which customer at which premise, over time."""

    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="installations")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="installations")
    premise = models.ForeignKey(Premise, on_delete=models.PROTECT, related_name="installations")
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["meter"],
                condition=models.Q(ended_at__isnull=True),
                name="one_open_installation_per_meter",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.meter} at {self.premise} for {self.customer}"


class KeyChangeStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    ISSUED = "issued", _("Issued")
    CANCELLED = "cancelled", _("Cancelled")


class KeyChange(models.Model):
    """New key parameters for a meter; the tokens are issued with its next sale."""

    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="key_changes")
    status = models.CharField(
        max_length=10, choices=KeyChangeStatus.choices, default=KeyChangeStatus.PENDING
    )
    reason = models.CharField(max_length=255)
    old_params = models.JSONField()
    new_params = models.JSONField()
    roll_over = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    issued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["meter"],
                condition=models.Q(status="pending"),
                name="one_pending_key_change_per_meter",
            ),
        ]

    def __str__(self) -> str:
        return f"key change {self.meter} ({self.status})"

    @property
    def audit_org_path(self) -> str:
        return self.meter.org_unit.path


class FaultStatus(models.TextChoices):
    """Reported (open) → acknowledged → assigned → in progress → resolved or closed; rejected
    and duplicate end a report that needs no visit. Resolved, closed, rejected and duplicate are
    final."""

    OPEN = "open", _("Reported")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    ASSIGNED = "assigned", _("Assigned")
    IN_PROGRESS = "in_progress", _("In progress")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")
    REJECTED = "rejected", _("Rejected")
    DUPLICATE = "duplicate", _("Duplicate")


FINAL_FAULT_STATUSES = frozenset(
    {FaultStatus.RESOLVED, FaultStatus.CLOSED, FaultStatus.REJECTED, FaultStatus.DUPLICATE}
)


class FaultCategory(models.TextChoices):
    """What kind of fault: a fixed list, so that service-level targets and reports can rely on
    it. Each category's hours to resolve are a setting (GRIDVEND_FAULT_SLA_HOURS)."""

    NO_SUPPLY = "no_supply", _("No supply")
    METER_TAMPER = "meter_tamper", _("Meter tamper")
    TOKEN_REJECTED = "token_rejected", _("Token rejected")
    DISPLAY_FAULT = "display_fault", _("Display fault")
    KEYPAD_FAULT = "keypad_fault", _("Keypad fault")
    METER_DAMAGED = "meter_damaged", _("Meter damaged")
    WIRES_DOWN = "wires_down", _("Wires down or dangerous")
    BILLING_QUERY = "billing_query", _("Billing query")
    OTHER = "other", _("Other")


class FaultReport(models.Model):
    """A maintenance call about a meter, followed up to its solution."""

    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="faults")
    category = models.CharField(
        max_length=20, choices=FaultCategory.choices, default=FaultCategory.OTHER
    )
    reported_via = models.CharField(max_length=20, default="call")
    reporter_name = models.CharField(max_length=150, blank=True)
    reporter_phone = models.CharField(max_length=32, blank=True)
    # A customer who reported from the portal is told of each change of status: by SMS to
    # ``reporter_phone``, else by e-mail here, in ``reporter_language``.
    reporter_email = models.EmailField(blank=True)
    reporter_language = models.CharField(max_length=10, blank=True)
    description = models.TextField()
    status = models.CharField(max_length=20, choices=FaultStatus.choices, default=FaultStatus.OPEN)
    # None for a report the customer sent from the portal (no staff user wrote it down).
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    registered_at = models.DateTimeField(default=timezone.now)
    # The field agent sent to the fault. Faults assigned before assignment went to users carry
    # the engineer's name as it was typed in ``engineer``, kept for the record.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    engineer = models.CharField(max_length=150, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    solution = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    audited_fields: ClassVar[AuditedFields] = (
        "status",
        "category",
        ("assignee", lambda fault: fault.assignee.username if fault.assignee else None),
        "engineer",
    )

    class Meta:
        ordering = ["-registered_at", "-id"]
        indexes = [models.Index(fields=["status", "registered_at"])]

    def __str__(self) -> str:
        return f"fault {self.pk} on {self.meter}"

    @property
    def audit_org_path(self) -> str:
        return self.meter.org_unit.path

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_FAULT_STATUSES


class FaultNote(models.Model):
    """An engineer's note on a fault: shown to the customer who reported it when
    ``is_public``, otherwise read by staff only. Notes are never edited; a correction is
    another note."""

    fault = models.ForeignKey(FaultReport, on_delete=models.PROTECT, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    is_public = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"note {self.pk} on fault {self.fault_id}"

    @property
    def audit_org_path(self) -> str:
        return self.fault.meter.org_unit.path


def _key_params(meter: Meter) -> dict[str, object]:
    """The meter's key parameters as the audit log and key changes store them."""
    # Imported here: the selectors build on these models.
    from gridvend.meters.selectors import meter_key_ref

    return asdict(meter_key_ref(meter))
