"""What every integrity check shares: reading rows in batches from one snapshot, finding the
audit events that record them, and spotting recorded rows that are gone."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import connection, models, transaction

from gridvend.audit.models import AuditEvent

M = TypeVar("M", bound=models.Model)


@dataclass
class Report:
    checked: int = 0
    # Rows written before their events carried digests: only the event's own fields compared.
    unbound: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@contextmanager
def one_snapshot() -> Iterator[None]:
    """Read a batch from one snapshot of the database, so that a sale reversed, a shift closed
    or a debt recovered while `gridvend verify` reads it is seen whole or not at all, never as
    a row that disagrees with its event. PostgreSQL: a read-only repeatable-read transaction
    (no locks); SQLite: its transaction already reads one snapshot."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def batches(queryset: models.QuerySet[M], size: int) -> Iterator[list[M]]:
    """The rows in primary-key order, ``size`` at a time, each batch read in one snapshot; the
    caller's checks of a batch run inside that snapshot too."""
    last: Any = 0
    while True:
        with one_snapshot():
            chunk = list(queryset.filter(pk__gt=last).order_by("pk")[:size])
            if not chunk:
                return
            yield chunk
        last = chunk[-1].pk


def events_for(
    target_type: str, ids: Iterable[int], event_types: Iterable[str]
) -> dict[int, list[AuditEvent]]:
    """The events of these types about these rows, oldest first, by row id."""
    found: dict[int, list[AuditEvent]] = defaultdict(list)
    events = AuditEvent.objects.filter(
        target_type=target_type,
        target_id__in=[str(i) for i in ids],
        event_type__in=list(event_types),
    ).order_by("id")
    for event in events:
        found[int(event.target_id)].append(event)
    return found


def after(event: AuditEvent) -> dict[str, Any]:
    return event.after if isinstance(event.after, dict) else {}


def recorded_digests(event: AuditEvent) -> dict[str, Any] | None:
    """The digests an event carries, or None for an event written before digests."""
    digests = after(event).get("digests")
    return digests if isinstance(digests, dict) else None


def report_missing(
    problems: list[str],
    *,
    model: type[models.Model],
    target_type: str,
    event_types: Iterable[str],
    prefix: str,
    batch: int,
) -> None:
    """Rows whose creation event is in the trail but which are gone from their table."""
    types = list(event_types)
    last = 0
    while True:
        chunk = list(
            AuditEvent.objects.filter(id__gt=last, target_type=target_type, event_type__in=types)
            .order_by("id")
            .values_list("id", "target_id", "target_label")[:batch]
        )
        if not chunk:
            return
        ids = {int(target_id) for _pk, target_id, _label in chunk}
        present = set(model._default_manager.filter(pk__in=ids).values_list("pk", flat=True))
        for event_id, target_id, target_label in chunk:
            if int(target_id) not in present:
                problems.append(
                    f"{prefix}{target_label} (id {target_id}), recorded by audit event "
                    f"#{event_id}, is missing (deleted)"
                )
        last = chunk[-1][0]
