"""A supervisor closes a conflict found when a station's journal was applied, with a note
(audited); the sale itself stays as applied."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from gridvend.audit.services import record
from gridvend.customers.services import require_reason
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.stations.conflicts import can_resolve_station_conflicts
from gridvend.stations.errors import StationConflictResolved
from gridvend.stations.events import StationEvent
from gridvend.stations.models import ConflictStatus, StationConflict


def resolve_conflict(*, actor: User, conflict: StationConflict, note: str) -> StationConflict:
    """Mark ``conflict`` resolved with ``note`` (what was done: a replacement token issued, a
    refund, nothing needed); refused when it is resolved already."""
    if not can_resolve_station_conflicts(actor):
        raise AccessDenied()
    require_unit_in_scope(actor, conflict.station.org_unit)
    cleaned = require_reason(note)
    with transaction.atomic(durable=True):
        locked = StationConflict.objects.select_for_update().get(pk=conflict.pk)
        if locked.status != ConflictStatus.OPEN:
            raise StationConflictResolved()
        locked.status = ConflictStatus.RESOLVED
        locked.resolved_by = actor
        locked.resolved_at = timezone.now()
        locked.resolution_note = cleaned[:255]
        locked.save(update_fields=["status", "resolved_by", "resolved_at", "resolution_note"])
        record(
            actor=actor,
            event_type=StationEvent.CONFLICT_RESOLVED,
            target=conflict.station,
            before={"conflict": locked.pk, "status": ConflictStatus.OPEN.value},
            after={
                "conflict": locked.pk,
                "kind": locked.kind,
                "status": locked.status,
                "note": locked.resolution_note,
            },
        )
    return locked
