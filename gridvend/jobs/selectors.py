"""Reads of the outbox for operators (`gridvend jobs`); outbox rows belong to no organisation
unit, so these are not scoped: only the command line, run by whoever runs the server, reads
them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, Min

from gridvend.jobs.models import OutboxMessage, OutboxStatus, WorkerHeartbeat


@dataclass(frozen=True)
class OutboxSummary:
    """Messages per (kind, status), and the oldest message still waiting and when it was due."""

    counts: dict[tuple[str, str], int]
    oldest_due_at: datetime | None

    def total(self, status: str) -> int:
        return sum(n for (_kind, st), n in self.counts.items() if st == status)


def outbox_summary() -> OutboxSummary:
    counts: Counter[tuple[str, str]] = Counter()
    for row in OutboxMessage.objects.values("kind", "status").annotate(n=Count("id")):
        counts[(row["kind"], row["status"])] = row["n"]
    oldest = OutboxMessage.objects.filter(
        status__in=[OutboxStatus.PENDING, OutboxStatus.SENDING]
    ).aggregate(oldest=Min("next_attempt_at"))["oldest"]
    return OutboxSummary(counts=dict(counts), oldest_due_at=oldest)


def list_outbox_messages(
    *, status: str | None = None, kind: str | None = None, limit: int = 50
) -> list[OutboxMessage]:
    rows = OutboxMessage.objects.all()
    if status:
        rows = rows.filter(status=status)
    if kind:
        rows = rows.filter(kind=kind)
    return list(rows.order_by("-created_at", "-id")[: max(1, min(limit, 1000))])


def get_outbox_message(message_id: int) -> OutboxMessage | None:
    return OutboxMessage.objects.filter(pk=message_id).first()


def last_worker_heartbeat() -> datetime | None:
    """When a `gridvend worker` last said it was alive (any worker on this database), or None
    when none has since the last one stopped."""
    seen: datetime | None = WorkerHeartbeat.objects.aggregate(seen=Max("seen_at"))["seen"]
    return seen


# Queue depth and waiting messages are read at every metrics scrape: counted up to this many, so
# a queue that has run away costs no more to count than a full one.
COUNT_CAP = 100_000


def queued_job_count() -> int:
    """Jobs waiting in the queue (or taken and not yet acknowledged), at most COUNT_CAP."""
    from django_q.conf import Conf
    from django_q.models import OrmQ

    return OrmQ.objects.filter(key=Conf.CLUSTER_NAME).values("id")[:COUNT_CAP].count()


def waiting_outbox_count() -> int:
    """Outbox messages waiting for delivery or being sent, at most COUNT_CAP."""
    rows = OutboxMessage.objects.filter(status__in=[OutboxStatus.PENDING, OutboxStatus.SENDING])
    return rows.values("id")[:COUNT_CAP].count()
