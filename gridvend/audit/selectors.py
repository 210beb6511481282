"""Reading the operation log: Administrators only, searchable by actor, type, target and date."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from gridvend.audit import events
from gridvend.audit.models import AuditEvent
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.permissions import can_read_audit_log


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def list_events(
    actor: User,
    *,
    actor_name: str = "",
    event_type: str = "",
    target: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[AuditEvent]:
    if not can_read_audit_log(actor):
        raise AccessDenied()
    qs = AuditEvent.objects.filter(
        org_path__startswith=actor.org_unit.path
    ) | AuditEvent.objects.filter(org_path="")
    if actor_name:
        qs = qs.filter(actor_label__icontains=actor_name)
    if event_type:
        qs = qs.filter(event_type__startswith=event_type)
    if target:
        qs = qs.filter(
            Q(target_label__icontains=target) | Q(target_id=target) | Q(target_type=target)
        )
    if date_from:
        qs = qs.filter(occurred_at__gte=_day_start(date_from))
    if date_to:
        qs = qs.filter(occurred_at__lt=_day_start(date_to + timedelta(days=1)))
    # The trail's streams have no order between them; the id is the order events were written in.
    return qs.order_by("-id")


def event_types() -> list[str]:
    """Every event type the apps declare, whether or not one has been written yet."""
    return events.event_types()


def event_type_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """The operation log's type filter: per area, the whole area (``sale.``, matched as a prefix
    by :func:`list_events`) and then each of its types."""
    areas: dict[str, list[tuple[str, str]]] = {}
    for event_type in events.event_types():
        area = event_type.split(".", 1)[0]
        areas.setdefault(area, [(f"{area}.", f"{area}.*")]).append((event_type, event_type))
    return list(areas.items())
