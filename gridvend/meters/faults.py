"""Fault reports on meters: registered from a call with a category, assigned to a field agent,
resolved with a solution, each against its category's service-level target; each step one audited
transaction, each read scoped to the actor's subtree."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy

from gridvend.audit.services import record
from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.identity.models import User
from gridvend.identity.permissions import require_rank
from gridvend.identity.roles import Capability, Role, rank
from gridvend.identity.scoping import get_scoped, require_unit_in_scope, scoped, unit_in_scope
from gridvend.kernel.errors import MeterRetired
from gridvend.kernel.phones import parse_phone
from gridvend.meters.errors import (
    AssigneeNotFieldAgent,
    AssigneeOutOfArea,
    CategoryInvalid,
    DescriptionRequired,
    FaultStateInvalid,
    ReportedViaInvalid,
    SolutionRequired,
)
from gridvend.meters.models import FaultCategory, FaultReport, FaultStatus, Meter, MeterStatus
from gridvend.org.models import PATH_SEGMENT_WIDTH

ASSIGN_FAULTS = rank(Role.VENDING_POINT_MANAGER)
# How a fault reached the utility; "call" is the maintenance hotline.
REPORTED_VIA = {
    "call": gettext_lazy("Phone call"),
    "walk_in": gettext_lazy("Walk-in"),
    "field": gettext_lazy("Field visit"),
    "message": gettext_lazy("Message"),
}


def _required(value: str, refusal: type[DescriptionRequired | SolutionRequired]) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise refusal()
    return cleaned


# Who may do what ------------------------------------------------------------------------------


def can_register_faults(actor: User) -> bool:
    return actor.is_active and (
        actor.has_capability(Capability.CUSTOMER_CARE)
        or actor.has_capability(Capability.FIELD_AGENT)
    )


def can_assign_faults(actor: User) -> bool:
    return actor.is_active and actor.rank >= ASSIGN_FAULTS


def can_resolve_faults(actor: User) -> bool:
    """The field agents who attend, or their supervisors (managers), close a fault."""
    return actor.is_active and (
        actor.rank >= ASSIGN_FAULTS or actor.has_capability(Capability.FIELD_AGENT)
    )


def can_view_faults(actor: User) -> bool:
    return can_register_faults(actor) or can_assign_faults(actor)


# Service-level targets -------------------------------------------------------------------------


def sla_hours(category: str) -> int:
    """Hours a fault of ``category`` may take from the call to its solution."""
    targets: dict[str, int] = settings.FAULT_SLA_HOURS
    return targets.get(category, targets[FaultCategory.OTHER])


def due_at(fault: FaultReport) -> datetime:
    return fault.registered_at + timedelta(hours=sla_hours(fault.category))


def age(fault: FaultReport, now: datetime | None = None) -> timedelta:
    """How long the fault has been open, or took until it was resolved."""
    end = fault.resolved_at or now or timezone.now()
    return max(end - fault.registered_at, timedelta(0))


def is_breached(fault: FaultReport, now: datetime | None = None) -> bool:
    """Resolved after its target, or still open past it."""
    end = fault.resolved_at or now or timezone.now()
    return end > due_at(fault)


def _breached(now: datetime) -> Q:
    """The SQL form of :func:`is_breached`, one branch per category."""
    condition = Q(pk__in=[])
    for category in FaultCategory.values:
        target = timedelta(hours=sla_hours(category))
        late = Q(resolved_at__isnull=True, registered_at__lt=now - target) | Q(
            resolved_at__gt=F("registered_at") + target
        )
        condition |= Q(category=category) & late
    return condition


def follow_up_time(fault: FaultReport) -> timedelta | None:
    """How long the fault took from the call to its solution (None while it is open)."""
    if fault.resolved_at is None:
        return None
    return fault.resolved_at - fault.registered_at


def _lock(fault: FaultReport) -> FaultReport:
    return (
        FaultReport.objects.select_for_update(of=("self",))
        .select_related("meter", "meter__org_unit")
        .get(pk=fault.pk)
    )


def _snapshot(fault: FaultReport) -> dict[str, Any]:
    return {
        "status": fault.status,
        "category": fault.category,
        "assignee": fault.assignee.username if fault.assignee is not None else None,
        "engineer": fault.engineer,
    }


def _clean_category(category: str) -> str:
    if category not in FaultCategory.values:
        raise CategoryInvalid(category=category)
    return category


def _ancestor_paths(path: str) -> list[str]:
    step = PATH_SEGMENT_WIDTH + 1
    return [path[:end] for end in range(step, len(path) + 1, step)]


def unit_path_in_scope(actor: User, path: str) -> bool:
    return actor.is_active and path.startswith(actor.org_unit.path)


def assignable_users(actor: User, meter: Meter) -> QuerySet[User]:
    """Field agents the actor may send to the meter: active, with the field agent capability,
    in the actor's subtree, and able to see the meter (its unit lies in their subtree)."""
    paths = [p for p in _ancestor_paths(meter.org_unit.path) if unit_path_in_scope(actor, p)]
    return (
        User.objects.filter(
            is_active=True,
            org_unit__path__in=paths,
            capabilities__capability=Capability.FIELD_AGENT,
        )
        .select_related("org_unit")
        .distinct()
        .order_by("full_name", "username")
    )


def field_agents(actor: User) -> QuerySet[User]:
    """Every active field agent in the actor's subtree (for filtering lists by assignee)."""
    return (
        scoped(User.objects.all(), actor)
        .filter(is_active=True, capabilities__capability=Capability.FIELD_AGENT)
        .distinct()
        .order_by("full_name", "username")
    )


def _check_assignee(actor: User, meter: Meter, assignee: User) -> None:
    if not unit_in_scope(actor, assignee.org_unit):
        raise NotFound()
    if not assignee.is_active or not assignee.has_capability(Capability.FIELD_AGENT):
        raise AssigneeNotFieldAgent(assignee=assignee.username, name=assignee.full_name)
    if not unit_in_scope(assignee, meter.org_unit):
        raise AssigneeOutOfArea(
            assignee=assignee.username, name=assignee.full_name, meter_number=meter.number
        )


# Services -------------------------------------------------------------------------------------


def register_fault(
    *,
    actor: User,
    meter: Meter,
    description: str,
    category: str = FaultCategory.OTHER,
    reported_via: str = "call",
    reporter_name: str = "",
    reporter_phone: str = "",
) -> FaultReport:
    """Write down a fault as the caller describes it; it waits for a field agent."""
    if not can_register_faults(actor):
        raise AccessDenied(capability=Capability.CUSTOMER_CARE)
    require_unit_in_scope(actor, meter.org_unit)
    text = _required(description, DescriptionRequired)
    if reported_via not in REPORTED_VIA:
        raise ReportedViaInvalid(reported_via=reported_via)
    category = _clean_category(category)
    phone = parse_phone(reporter_phone, region=settings.DEFAULT_COUNTRY, field="reporter_phone")
    with transaction.atomic():
        locked = Meter.objects.select_for_update().select_related("org_unit").get(pk=meter.pk)
        if locked.status == MeterStatus.RETIRED:
            raise MeterRetired(meter_number=locked.number)
        fault = FaultReport.objects.create(
            meter=locked,
            category=category,
            reported_via=reported_via,
            reporter_name=reporter_name.strip()[:150],
            reporter_phone=phone,
            description=text,
            registered_by=actor,
            registered_at=timezone.now(),
        )
        record(
            actor=actor,
            event_type="fault.registered",
            target=fault,
            after={
                "meter": locked.number,
                "category": category,
                "reported_via": reported_via,
                "reporter_name": fault.reporter_name,
                "description": text,
            },
        )
    return fault


def assign_fault(*, actor: User, fault: FaultReport, assignee: User) -> FaultReport:
    """Send a field agent to an open fault, or hand an assigned one to another field agent.

    The agent must be active, hold the field agent capability, be in the actor's subtree and be
    able to see the meter. An engineer's name typed before assignment went to users stays on the
    fault for the record.
    """
    require_rank(actor, ASSIGN_FAULTS)
    require_unit_in_scope(actor, fault.meter.org_unit)
    with transaction.atomic():
        locked = _lock(fault)
        if locked.status == FaultStatus.RESOLVED:
            raise FaultStateInvalid(status=locked.status)
        _check_assignee(actor, locked.meter, assignee)
        before = _snapshot(locked)
        locked.status = FaultStatus.ASSIGNED
        locked.assignee = assignee
        locked.assigned_at = timezone.now()
        locked.save(update_fields=["status", "assignee", "assigned_at"])
        record(
            actor=actor,
            event_type="fault.assigned",
            target=locked,
            before=before,
            after=_snapshot(locked),
        )
    return locked


def categorise_fault(*, actor: User, fault: FaultReport, category: str) -> FaultReport:
    """Correct the category a fault was registered with (its target follows the category)."""
    require_rank(actor, ASSIGN_FAULTS)
    require_unit_in_scope(actor, fault.meter.org_unit)
    category = _clean_category(category)
    with transaction.atomic():
        locked = _lock(fault)
        if locked.category == category:
            return locked
        before = _snapshot(locked)
        locked.category = category
        locked.save(update_fields=["category"])
        record(
            actor=actor,
            event_type="fault.recategorised",
            target=locked,
            before=before,
            after=_snapshot(locked),
        )
    return locked


def resolve_fault(*, actor: User, fault: FaultReport, solution: str) -> FaultReport:
    """Close an assigned fault with what was done; the follow-up time is fixed from here."""
    if not can_resolve_faults(actor):
        raise AccessDenied(capability=Capability.FIELD_AGENT)
    require_unit_in_scope(actor, fault.meter.org_unit)
    text = _required(solution, SolutionRequired)
    with transaction.atomic():
        locked = _lock(fault)
        if locked.status != FaultStatus.ASSIGNED:
            raise FaultStateInvalid(status=locked.status)
        before = _snapshot(locked)
        locked.status = FaultStatus.RESOLVED
        locked.solution = text
        locked.resolved_at = timezone.now()
        locked.resolved_by = actor
        locked.save(update_fields=["status", "solution", "resolved_at", "resolved_by"])
        taken = follow_up_time(locked)
        record(
            actor=actor,
            event_type="fault.resolved",
            target=locked,
            before=before,
            after={
                **_snapshot(locked),
                "solution": text,
                "follow_up_seconds": int(taken.total_seconds()) if taken is not None else None,
            },
        )
    return locked


# Selectors ------------------------------------------------------------------------------------


def _faults() -> QuerySet[FaultReport]:
    return FaultReport.objects.select_related(
        "meter", "meter__org_unit", "registered_by", "resolved_by", "assignee"
    )


# How old a fault is, for the list's filter: more than this many hours since the call.
AGE_BUCKETS = {"1d": 24, "3d": 72, "7d": 168, "30d": 720}
UNASSIGNED = "none"


def list_faults(
    actor: User,
    *,
    status: str = "",
    meter: Meter | None = None,
    category: str = "",
    assignee: str = "",
    age: str = "",
    breached: bool = False,
    now: datetime | None = None,
) -> QuerySet[FaultReport]:
    """Faults in scope: open ones first, then assigned, then resolved; oldest first within each.

    ``assignee`` is a user id or ``"none"`` (unassigned); ``age`` one of :data:`AGE_BUCKETS`
    (older than); ``breached`` keeps faults past their category's target. Unknown values of a
    filter match nothing.
    """
    now = now or timezone.now()
    queryset = scoped(_faults(), actor, path="meter__org_unit__path")
    if status:
        queryset = queryset.filter(status=status)
    if meter is not None:
        queryset = queryset.filter(meter=meter)
    if category:
        queryset = queryset.filter(category=category)
    if assignee == UNASSIGNED:
        queryset = queryset.filter(assignee__isnull=True)
    elif assignee:
        queryset = (
            queryset.filter(assignee_id=int(assignee))
            if assignee.isascii() and assignee.isdigit() and len(assignee) < 19
            else queryset.none()
        )
    if age:
        hours = AGE_BUCKETS.get(age)
        if hours is None:
            return queryset.none()
        queryset = queryset.filter(registered_at__lt=now - timedelta(hours=hours))
    if breached:
        queryset = queryset.filter(_breached(now))
    order = Case(
        When(status=FaultStatus.OPEN, then=Value(0)),
        When(status=FaultStatus.ASSIGNED, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return queryset.annotate(status_order=order).order_by("status_order", "registered_at", "id")


def get_fault(actor: User, pk: int) -> FaultReport:
    return get_scoped(_faults(), actor, path="meter__org_unit__path", pk=pk)
