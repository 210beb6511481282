"""Outbound messages waiting for delivery: one row per message, written in the transaction of
the change that calls for it, so a rolled-back change sends nothing and a committed one is
never lost."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OutboxStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    SENDING = "sending", _("Being sent")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class OutboxMessage(models.Model):
    """A message to deliver: ``kind`` names its handler, ``key`` makes it once-only.

    While pending, ``next_attempt_at`` is when it is next due; while being sent it is when the
    sender's lease runs out (a worker that died mid-delivery leaves it to be taken again); once
    sent or failed it is empty. ``attempts`` counts deliveries started.
    """

    kind = models.CharField(max_length=64)
    key = models.CharField(max_length=200, unique=True)
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=8, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # What the receiving end answered for a delivered message (a gateway's message id).
    receipt = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The drain's scan: only unfinished rows, oldest due first.
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=models.Q(status__in=["pending", "sending"]),
                name="outbox_due",
            ),
            models.Index(
                fields=["status", "kind", "-created_at"],
                name="outbox_status_kind",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "sending", "sent", "failed"]),
                name="outbox_status_known",
            ),
            models.CheckConstraint(
                condition=~models.Q(status__in=["pending", "sending"])
                | models.Q(next_attempt_at__isnull=False),
                name="outbox_unfinished_has_due_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} ({self.status})"


class WorkerHeartbeat(models.Model):
    """A running `gridvend worker`, as it last said it was alive: one row per worker process
    (``name`` is host:pid), written every few seconds by the worker's main loop and removed when
    it stops. The cluster's own status lives in the worker's memory; this row is what the web
    processes, ``/readyz`` and ``gridvend check --deploy`` can see of it."""

    name = models.CharField(max_length=200, unique=True)
    started_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"worker {self.name} (seen {self.seen_at:%Y-%m-%d %H:%M:%S})"
