"""An export: who asked for which source with which filters, and the file a job wrote for it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Ready")
    FAILED = "failed", _("Failed")
    EXPIRED = "expired", _("Expired")


# Statuses that count against a person's limit of exports in progress.
ACTIVE_STATUSES = (ExportStatus.QUEUED, ExportStatus.RUNNING)


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "XLSX"


class Export(models.Model):
    """One requested export. ``filters`` are the source's query-string filters as the request
    gave them after they were validated; the job validates them again, as the owner, when it runs.
    ``rows_expected`` is counted by the job when it starts; ``rows_written`` moves as it writes.

    ``run_token`` names the job run that holds the export: a run taking it over (its worker was
    thought dead) sets a new one, and the steps of an older run still writing then change
    nothing. ``scope_path`` is the owner's organisation unit when the rows were read: the file
    holds that subtree's rows, so only an owner who still reaches it may download the file."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=64)
    filters = models.JSONField(default=dict, blank=True)
    format = models.CharField(max_length=4, choices=ExportFormat.choices)
    status = models.CharField(
        max_length=8, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    rows_expected = models.BigIntegerField(null=True, blank=True)
    rows_written = models.BigIntegerField(default=0)
    file_name = models.CharField(max_length=200, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    run_token = models.UUIDField(null=True, blank=True)
    scope_path = models.CharField(max_length=255, blank=True)
    # The language the file is written in (the requester's when they asked); blank: the owner's.
    language = models.CharField(max_length=10, blank=True)

    class Meta:
        indexes = [
            # "My exports" and the running limit: one person's exports, newest first.
            models.Index(fields=["owner", "-created_at"], name="export_owner_created"),
            # The expiry sweep: finished files by age.
            models.Index(fields=["status", "finished_at"], name="export_status_finished"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=ExportStatus.values), name="export_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(format__in=ExportFormat.values), name="export_format_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(rows_written__gte=0), name="export_rows_written_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.source}.{self.format})"

    @property
    def audit_org_path(self) -> str:
        return str(self.owner.org_unit.path)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def progress_percent(self) -> int:
        """0-100; a finished export is 100 whatever was expected."""
        if self.status == ExportStatus.DONE:
            return 100
        if not self.rows_expected:
            return 0
        return min(99, self.rows_written * 100 // self.rows_expected)
