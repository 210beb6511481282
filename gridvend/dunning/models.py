"""Dunning: rules that pick overdue postpaid accounts, the tasks they open per route, the voice
reminders made for them, and disconnection and reconnection orders with their pre-checks.

Arrears are never stored as the truth here: a task keeps the figures it was opened on, and every
decision that matters (issuing or executing a disconnection) reads them live from billing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridvend.customers.models import Customer, CustomerCategory
from gridvend.org.models import OrgUnit
from gridvend.readings.models import ReadingBook

if TYPE_CHECKING:
    from gridvend.audit.changes import AuditedFields

MAX_DAYS_OVERDUE = 3650


class Stage(models.TextChoices):
    """The stages a customer in arrears moves through, in order."""

    REMINDER = "reminder", _("Reminder")
    NOTICE = "notice", _("Notice")
    DISCONNECTION = "disconnection", _("Disconnection order")


class DunningRule(models.Model):
    """Which overdue accounts of a unit's subtree reach a stage: at least ``days_overdue`` days
    past the oldest unpaid bill's due date and at least ``minimum_arrears_minor`` in arrears,
    optionally only one customer category or tariff. Run with the scope of ``owner``."""

    org_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=120)
    stage = models.CharField(max_length=16, choices=Stage.choices)
    days_overdue = models.PositiveIntegerField()
    minimum_arrears_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    category = models.CharField(max_length=20, choices=CustomerCategory.choices, blank=True)
    tariff = models.ForeignKey(
        "tariffs.Tariff", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    send_sms = models.BooleanField(default=True)
    send_voice = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    audited_fields: ClassVar[AuditedFields] = (
        "name",
        "org_unit",
        "stage",
        "days_overdue",
        "minimum_arrears_minor",
        "currency",
        "category",
        ("tariff", lambda rule: rule.tariff.code if rule.tariff else None),
        "send_sms",
        "send_voice",
        "is_active",
    )

    class Meta:
        ordering = ["org_unit__path", "stage", "days_overdue", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(minimum_arrears_minor__gte=0)
                & models.Q(days_overdue__lte=MAX_DAYS_OVERDUE),
                name="dunning_rule_bounds",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.stage})"

    @property
    def audit_org_path(self) -> str:
        return self.org_unit.path


class TaskStatus(models.TextChoices):
    OPEN = "open", _("Open")
    # Arrears paid (or below the rule's minimum) when the run looked again.
    PAID = "paid", _("Paid")
    DONE = "done", _("Done")


class DunningTask(models.Model):
    """One customer at one stage, opened by a run; one open task per customer and stage. The
    book and position put it on a field agent's route in reading order."""

    rule = models.ForeignKey(DunningRule, on_delete=models.PROTECT, related_name="tasks")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    stage = models.CharField(max_length=16, choices=Stage.choices)
    status = models.CharField(max_length=8, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    book = models.ForeignKey(
        ReadingBook, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    position = models.PositiveIntegerField(null=True, blank=True)
    # As read from billing when the task was opened.
    arrears_minor = models.BigIntegerField()
    total_due_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    oldest_due_date = models.DateField()
    business_date = models.DateField()
    sms_queued = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["book", "position", "id"], name="dunning_task_route"),
            models.Index(fields=["created_at", "id"], name="dunning_task_list_order"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "stage"],
                condition=models.Q(status="open"),
                name="one_open_dunning_task_per_stage",
            ),
        ]

    def __str__(self) -> str:
        return f"dunning task {self.pk} {self.stage}"

    @property
    def audit_org_path(self) -> str:
        return self.customer.org_unit.path


class VoiceReminder(models.Model):
    """A spoken reminder made for a task: a WAV file under the voice directory, on the call
    list of its business day."""

    task = models.OneToOneField(DunningTask, on_delete=models.PROTECT, related_name="voice")
    phone = models.CharField(max_length=32)
    language = models.CharField(max_length=10)
    file_name = models.CharField(max_length=120, unique=True)
    duration_ms = models.PositiveIntegerField()
    business_date = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["business_date", "id"]
        indexes = [models.Index(fields=["business_date", "id"], name="voice_call_list")]

    def __str__(self) -> str:
        return self.file_name

    @property
    def audit_org_path(self) -> str:
        return self.task.customer.org_unit.path


class OrderKind(models.TextChoices):
    DISCONNECTION = "disconnection", _("Disconnection")
    RECONNECTION = "reconnection", _("Reconnection")


class OrderStatus(models.TextChoices):
    ISSUED = "issued", _("Issued")
    # The pre-check found the customer no longer in arrears: no disconnection.
    REFUSED = "refused", _("Refused by the pre-check")
    EXECUTED = "executed", _("Executed")


class FieldOrder(models.Model):
    """A disconnection order (issued from a disconnection task after a live pre-check, checked
    again when the field agent executes it) or the reconnection order opened when an executed
    disconnection's arrears are paid. ``prechecks`` keeps each check's answer."""

    kind = models.CharField(max_length=14, choices=OrderKind.choices)
    status = models.CharField(max_length=10, choices=OrderStatus.choices)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    task = models.ForeignKey(
        DunningTask, null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    # A reconnection points at the disconnection it undoes.
    disconnection = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reconnection"
    )
    # [{"at", "when": "issue"|"execute", "arrears_minor", "total_due_minor", "currency",
    #   "result": "in_arrears"|"paid"}]
    prechecks = models.JSONField(default=list)
    refusal_code = models.CharField(max_length=40, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    executed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    executed_at = models.DateTimeField(null=True, blank=True)

    audited_fields: ClassVar[AuditedFields] = ("kind", "status", "refusal_code", "prechecks")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["created_at", "id"], name="field_order_list_order")]
        constraints = [
            # One live disconnection order per task: issuing twice returns the first.
            models.UniqueConstraint(
                fields=["task"],
                condition=models.Q(kind="disconnection", status__in=["issued", "executed"]),
                name="one_disconnection_order_per_task",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} order {self.pk}"

    @property
    def audit_org_path(self) -> str:
        return self.customer.org_unit.path


class VisitOutcome(models.TextChoices):
    """What a field agent found at a dunning visit."""

    NOTICE_DELIVERED = "notice_delivered", _("Notice delivered")
    DISCONNECTED = "disconnected", _("Disconnected")
    NO_ACCESS = "no_access", _("No access to the meter")
    CUSTOMER_ABSENT = "customer_absent", _("Customer absent")
    SHOWED_RECEIPT = "showed_receipt", _("Customer showed a payment receipt")


class DunningVisit(models.Model):
    """A field agent's visit for a task, as reported from the handheld (``client_reference``
    makes a repeat of the report return the first). A disconnection is reported by executing
    the task's order in the same transaction (``order``)."""

    task = models.ForeignKey(DunningTask, on_delete=models.PROTECT, related_name="visits")
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=20, choices=VisitOutcome.choices)
    note = models.CharField(max_length=200, blank=True)
    order = models.ForeignKey(
        FieldOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="visits"
    )
    client_reference = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"visit {self.pk} {self.outcome}"

    @property
    def audit_org_path(self) -> str:
        return self.task.customer.org_unit.path
