"""Operators' actions on the outbox (send a failed message again, `gridvend jobs retry`) and the
worker's heartbeat."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from gridvend.jobs import outbox
from gridvend.jobs.errors import OutboxMessageNotFailed, OutboxMessageNotFound
from gridvend.jobs.models import OutboxMessage, OutboxStatus, WorkerHeartbeat

logger = logging.getLogger("gridvend.outbox")


def retry_outbox_message(*, message_id: int, by: str) -> OutboxMessage:
    """Make a failed message due now with a fresh set of attempts; ``by`` names who asked (for
    the log). A message that has not failed is refused: a sent one is never sent again."""
    with transaction.atomic(durable=True):
        row = OutboxMessage.objects.select_for_update().filter(pk=message_id).first()
        if row is None:
            raise OutboxMessageNotFound(message=str(message_id))
        if row.status != OutboxStatus.FAILED:
            raise OutboxMessageNotFailed(message=str(message_id), status=row.status)
        _make_due(row)
        outbox.enqueue_after_commit(outbox.DRAIN_JOB, key=outbox.DRAIN_KEY)
    logger.info("outbox %s %s retried by %s", row.kind, row.key, by)
    return row


def retry_failed_outbox_messages(*, kind: str | None = None, by: str) -> int:
    """Make every failed message (of ``kind``) due again; returns how many."""
    with transaction.atomic(durable=True):
        rows = OutboxMessage.objects.select_for_update().filter(status=OutboxStatus.FAILED)
        if kind:
            rows = rows.filter(kind=kind)
        count = 0
        for row in rows.order_by("id"):
            _make_due(row)
            count += 1
        if count:
            outbox.enqueue_after_commit(outbox.DRAIN_JOB, key=outbox.DRAIN_KEY)
    logger.info("%s failed outbox messages (%s) retried by %s", count, kind or "all kinds", by)
    return count


def _make_due(row: OutboxMessage) -> None:
    # The last error stays, for whoever looks at the row before the next attempt.
    row.status = OutboxStatus.PENDING
    row.attempts = 0
    row.next_attempt_at = timezone.now()
    row.save(update_fields=["status", "attempts", "next_attempt_at"])


# A heartbeat row not renewed for this long belongs to a worker that died without removing it.
HEARTBEAT_FORGET_AFTER = timedelta(days=1)


def beat(*, name: str) -> None:
    """Record that the worker ``name`` (host:pid) is alive now; forget workers silent for a day."""
    now = timezone.now()
    with transaction.atomic():
        updated = WorkerHeartbeat.objects.filter(name=name).update(seen_at=now)
        if not updated:
            WorkerHeartbeat.objects.create(name=name, started_at=now, seen_at=now)
        WorkerHeartbeat.objects.filter(seen_at__lt=now - HEARTBEAT_FORGET_AFTER).delete()


def stop_beating(*, name: str) -> None:
    """The worker ``name`` stopped cleanly: it is no longer counted as running."""
    WorkerHeartbeat.objects.filter(name=name).delete()
