"""The audit trail: hash-chained, append-only rows written in the transaction of each change.

The trail is ``AUDIT_STREAMS`` chains (gridvend.audit.streams); an event's place is its stream and
its ``seq`` in that stream. Across streams events have no chained order: lists order by ``id``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from gridvend.audit.chain import SCHEMES
from gridvend.audit.streams import AUDIT_STREAMS


class AuditEvent(models.Model):
    stream = models.PositiveSmallIntegerField()
    # Position in the stream, from 1 without gaps.
    seq = models.BigIntegerField()
    # How ``hash`` is computed (gridvend.audit.chain): 1 = the whole row, 2 = content + link.
    scheme = models.PositiveSmallIntegerField()
    occurred_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    event_type = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    org_path = models.CharField(max_length=255, blank=True, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["target_type", "target_id"])]
        constraints = [
            # Also the index each stream is walked by.
            models.UniqueConstraint(fields=["stream", "seq"], name="audit_event_stream_seq"),
            models.CheckConstraint(
                condition=models.Q(stream__lt=AUDIT_STREAMS), name="audit_event_stream_range"
            ),
            models.CheckConstraint(
                condition=models.Q(scheme__in=SCHEMES), name="audit_event_scheme_known"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.event_type} {self.target_type}:{self.target_id}"


class AuditHead(models.Model):
    """The end of one stream (its number is the primary key). Appending updates it in the same
    statement as the insert, under its row lock, so a stream never forks; appends to other
    streams never wait for it."""

    id = models.PositiveSmallIntegerField(primary_key=True)
    seq = models.BigIntegerField(default=0)
    # The hash of the event before the last one (the last one's prev_hash).
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(id__lt=AUDIT_STREAMS), name="audit_head_stream_range"
            ),
        ]

    def __str__(self) -> str:
        return f"audit stream {self.pk} head #{self.seq}"
