"""The abstract decision request that every two-person decision's model inherits (no table)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RequestStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class DecisionRequest(models.Model):
    """Who asked, when, and who decided what. A concrete request adds what is asked for (the sale
    to reverse, the kWh to give) and keeps its own table; the column names here are the ones the
    reversal and free-issue requests have always had, so inheriting changes no schema."""

    status = models.CharField(
        max_length=10, choices=RequestStatus.choices, default=RequestStatus.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=255, blank=True)

    class Meta:
        abstract = True
        ordering = ["-requested_at", "-id"]

    @property
    def is_pending(self) -> bool:
        return self.status == RequestStatus.PENDING
