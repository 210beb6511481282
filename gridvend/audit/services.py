"""Writing audit events: every service calls `record` inside its own transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.utils import timezone

from gridvend.audit import context
from gridvend.audit.chain import GENESIS_HASH, compute_hash, normalise
from gridvend.audit.models import AuditEvent, AuditHead

if TYPE_CHECKING:
    from gridvend.identity.models import User


_REHEARSING: ContextVar[bool] = ContextVar("gridvend_audit_rehearsal", default=False)


@contextmanager
def rehearsal() -> Iterator[None]:
    """A run of services that will be rolled back whatever happens (an import's dry run).

    Its events would be rolled back too, so they are not chained: the rehearsal never takes
    the chain's head, which every audited write in the system waits for, and a dry run of a
    5,000-row file no longer stops every sale while it runs. The enclosing transaction is
    marked for rollback on the way out, so nothing a rehearsal did can be committed.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("a rehearsal must run inside the transaction it rolls back")
    token = _REHEARSING.set(True)
    try:
        yield
    finally:
        _REHEARSING.reset(token)
        transaction.set_rollback(True)


def _lock_head() -> AuditHead:
    found = list(AuditHead.objects.select_for_update().filter(pk=1).order_by()[:1])
    head = found[0] if found else None
    if head is None:
        AuditHead.objects.get_or_create(pk=1, defaults={"seq": 0, "hash": GENESIS_HASH})
        head = AuditHead.objects.select_for_update().get(pk=1)
    return head


def record(
    *,
    actor: User | None,
    event_type: str,
    target: Any = None,
    target_type: str = "",
    target_id: str = "",
    target_label: str = "",
    org_path: str = "",
    before: Any = None,
    after: Any = None,
) -> AuditEvent:
    """Append one event to the chain; must run inside the transaction of the change it records."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit.record must be called inside the change's transaction")
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or str(target.pk)
        target_label = target_label or str(target)[:200]
        org_path = org_path or getattr(target, "audit_org_path", "") or ""
    ctx = context.current()
    before_n = normalise(before)
    after_n = normalise(after)
    # Microseconds survive both databases, so the hash can be recomputed from the stored row.
    occurred_at = timezone.now()
    fields: dict[str, Any] = {
        "occurred_at": occurred_at,
        "actor_id": actor.pk if actor is not None else None,
        "actor_label": actor.get_username() if actor is not None else "system",
        "ip": ctx.ip,
        "request_id": ctx.request_id,
        "event_type": event_type,
        "target_type": target_type,
        "target_id": target_id,
        "target_label": target_label,
        "org_path": org_path,
        "before": before_n,
        "after": after_n,
    }
    if _REHEARSING.get():
        # Never saved: the rehearsal's transaction is rolled back (see rehearsal()).
        return AuditEvent(**fields)
    # No savepoint: the event belongs to the caller's transaction (checked above).
    with transaction.atomic(savepoint=False):
        head = _lock_head()
        seq = head.seq + 1
        digest = compute_hash(seq=seq, prev_hash=head.hash, **fields)
        event = AuditEvent.objects.create(seq=seq, prev_hash=head.hash, hash=digest, **fields)
        AuditHead.objects.filter(pk=1).update(seq=seq, hash=digest)
    return event
