"""Tariffs as versioned data: drafts are submitted, approved by someone else, then take effect."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridvend.org.models import OrgUnit

if TYPE_CHECKING:
    from gridvend.audit.changes import AuditedFields


class Tariff(models.Model):
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    org_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="tariffs")
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(default=timezone.now)

    audited_fields: ClassVar[AuditedFields] = ("code", "name", "org_unit", "currency")

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    @property
    def audit_org_path(self) -> str:
        return self.org_unit.path


class VersionStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    PUBLISHED = "published", _("Published")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class TariffVersion(models.Model):
    tariff = models.ForeignKey(Tariff, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(
        max_length=12, choices=VersionStatus.choices, default=VersionStatus.DRAFT
    )
    # The kernel's TariffSpec.to_dict(); pricing reads it back with TariffSpec.from_dict().
    spec = models.JSONField()
    effective_from = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    # The checker's reason, kept on the row because the maker who must fix the draft cannot read
    # the audit log; cleared when the version is submitted again.
    rejection_reason = models.TextField(blank=True)

    # submitted_at and approved_at stay out: the log has always shown who decided, not when
    # (the event's own time says that).
    audited_fields: ClassVar[AuditedFields] = (
        "tariff",
        "number",
        "status",
        "spec",
        "effective_from",
        "notes",
        "created_by",
        "submitted_by",
        "approved_by",
        "rejection_reason",
    )

    class Meta:
        ordering = ["tariff", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["tariff", "number"], name="tariff_version_number"),
        ]
        indexes = [models.Index(fields=["tariff", "status", "effective_from"])]

    def __str__(self) -> str:
        return f"{self.tariff.code} v{self.number} ({self.status})"

    @property
    def audit_org_path(self) -> str:
        return self.tariff.org_unit.path
