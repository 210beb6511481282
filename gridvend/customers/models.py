"""Customers (accounts), the premises they are supplied at, and their arrears."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from django.conf import settings
from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridvend.org.models import OrgUnit

if TYPE_CHECKING:
    from gridvend.audit.changes import AuditedFields


class CustomerCategory(models.TextChoices):
    RESIDENTIAL = "residential", _("Residential")
    COMMERCIAL = "commercial", _("Commercial")
    INDUSTRIAL = "industrial", _("Industrial")
    GOVERNMENT = "government", _("Government")


class CustomerStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    CLOSED = "closed", _("Closed")


class AccountKind(models.TextChoices):
    """How the customer pays: ahead for tokens, after a meter reading for a bill, or both (a
    prepaid meter with a postpaid debt being billed and paid off beside it)."""

    PREPAID = "prepaid", _("Prepaid")
    POSTPAID = "postpaid", _("Postpaid")
    BOTH = "both", _("Prepaid and postpaid")


class Customer(models.Model):
    account_number = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=150, db_index=True)
    # The name as search reads it (gridvend.kernel.names.normalise_name), written by the
    # customer services with the name; on PostgreSQL a trigram index serves "contains".
    name_search = models.TextField(blank=True, default="", editable=False)
    national_id = models.CharField(max_length=40, blank=True)
    phone = models.CharField(max_length=32, blank=True, db_index=True)
    email = models.EmailField(blank=True)
    category = models.CharField(
        max_length=20, choices=CustomerCategory.choices, default=CustomerCategory.RESIDENTIAL
    )
    status = models.CharField(
        max_length=12, choices=CustomerStatus.choices, default=CustomerStatus.ACTIVE
    )
    account_kind = models.CharField(
        max_length=10, choices=AccountKind.choices, default=AccountKind.PREPAID
    )
    # The language the customer is written to and spoken to in (SMS, notices, voice reminders);
    # empty: the utility's default (GRIDVEND_LANGUAGE).
    language = models.CharField(max_length=10, blank=True, default="")
    org_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="customers")
    tariff = models.ForeignKey("tariffs.Tariff", on_delete=models.PROTECT, related_name="customers")
    created_at = models.DateTimeField(default=timezone.now)

    # What the audit log records of a customer, before and after each change.
    audited_fields: ClassVar[AuditedFields] = (
        "account_number",
        "name",
        "national_id",
        "phone",
        "email",
        "category",
        "status",
        "account_kind",
        "language",
        "org_unit",
        "tariff",
    )

    class Meta:
        ordering = ["account_number"]
        # A national id is searched as stored without regard to case (customers.search).
        indexes = [models.Index(Upper("national_id"), name="customer_national_id_upper")]

    def __str__(self) -> str:
        return f"{self.account_number} {self.name}"

    @property
    def audit_org_path(self) -> str:
        return self.org_unit.path


class Premise(models.Model):
    """A service point: where a meter is installed, under a service centre."""

    org_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="premises")
    address = models.CharField(max_length=255)
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    feeder = models.CharField(max_length=60, blank=True)
    transformer = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    audited_fields: ClassVar[AuditedFields] = (
        "address",
        "latitude",
        "longitude",
        "feeder",
        "transformer",
        "org_unit",
    )

    class Meta:
        ordering = ["address"]
        # The premises list's order, walked by keyset (address is not unique, so id breaks ties).
        indexes = [models.Index(fields=["address", "id"], name="premise_list_order")]

    def __str__(self) -> str:
        return self.address

    @property
    def audit_org_path(self) -> str:
        return self.org_unit.path


class Debt(models.Model):
    """An arrears item owed by a customer, recovered a little at each sale (oldest first)."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="debts")
    reason = models.CharField(max_length=255)
    currency = models.CharField(max_length=3)
    original_minor = models.BigIntegerField()
    balance_minor = models.BigIntegerField()
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    opened_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=40, default="manual")
    # Of the original, what was paid off outside the prepaid sales (a postpaid arrears debt
    # whose bills were paid directly): the balance is the original less the sales' recoveries
    # less this.
    settled_minor = models.BigIntegerField(default=0)
    # The entry that booked the debt: every journal entry belongs to one sale, reversal, debt or
    # float top-up, and `gridvend verify` reports any that belongs to none.
    journal_entry = models.OneToOneField(
        "ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="debt"
    )

    class Meta:
        ordering = ["opened_at", "id"]
        # The debts list's order (newest first, walked backwards), and the same order for its
        # common "only with a balance left" filter.
        indexes = [
            models.Index(fields=["opened_at", "id"], name="debt_list_order"),
            models.Index(
                fields=["opened_at", "id"],
                condition=models.Q(balance_minor__gt=0),
                name="debt_list_open_order",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(balance_minor__gte=0)
                & models.Q(balance_minor__lte=models.F("original_minor")),
                name="debt_balance_within_original",
            ),
            models.CheckConstraint(
                condition=models.Q(settled_minor__gte=0)
                & models.Q(settled_minor__lte=models.F("original_minor")),
                name="debt_settled_within_original",
            ),
            models.CheckConstraint(
                condition=models.Q(original_minor__gt=0), name="debt_original_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer.account_number}: {self.reason}"

    @property
    def audit_org_path(self) -> str:
        return self.customer.org_unit.path
