"""Fault reports on meters: registered from a call, assigned to an engineer, resolved with a
solution; each step one audited transaction, each read scoped to the actor's subtree."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridvend.audit.services import record
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.permissions import require_rank
from gridvend.identity.roles import Capability, Role, rank
from gridvend.identity.scoping import get_scoped, require_unit_in_scope, scoped
from gridvend.kernel.errors import DomainError, MeterRetired
from gridvend.meters.models import FaultReport, FaultStatus, Meter, MeterStatus

ASSIGN_FAULTS = rank(Role.VENDING_POINT_MANAGER)
# How a fault reached the utility; "call" is the maintenance hotline.
REPORTED_VIA = {
    "call": gettext_lazy("Phone call"),
    "walk_in": gettext_lazy("Walk-in"),
    "field": gettext_lazy("Field visit"),
    "message": gettext_lazy("Message"),
}


class FaultRefused(DomainError):
    """A fault step refused with a stable code and a plain message; nothing was written."""


def _required(value: str, code: str, message: str) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise FaultRefused(code, message)
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
    """Engineers are named, not users: their supervisors (managers) or a field agent close it."""
    return actor.is_active and (
        actor.rank >= ASSIGN_FAULTS or actor.has_capability(Capability.FIELD_AGENT)
    )


def can_view_faults(actor: User) -> bool:
    return can_register_faults(actor) or can_assign_faults(actor)


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
    return {"status": fault.status, "engineer": fault.engineer}


# Services -------------------------------------------------------------------------------------


def register_fault(
    *,
    actor: User,
    meter: Meter,
    description: str,
    reported_via: str = "call",
    reporter_name: str = "",
    reporter_phone: str = "",
) -> FaultReport:
    """Write down a fault as the caller describes it; it waits for an engineer."""
    if not can_register_faults(actor):
        raise AccessDenied(capability=Capability.CUSTOMER_CARE)
    require_unit_in_scope(actor, meter.org_unit)
    text = _required(
        description, "DESCRIPTION_REQUIRED", _("Describe the fault the caller reports.")
    )
    if reported_via not in REPORTED_VIA:
        raise FaultRefused(
            "REPORTED_VIA_INVALID",
            _("Unknown way of reporting a fault."),
            reported_via=reported_via,
        )
    with transaction.atomic():
        locked = Meter.objects.select_for_update().select_related("org_unit").get(pk=meter.pk)
        if locked.status == MeterStatus.RETIRED:
            raise MeterRetired(meter_number=locked.number)
        fault = FaultReport.objects.create(
            meter=locked,
            reported_via=reported_via,
            reporter_name=reporter_name.strip()[:150],
            reporter_phone=reporter_phone.strip()[:32],
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
                "reported_via": reported_via,
                "reporter_name": fault.reporter_name,
                "description": text,
            },
        )
    return fault


def assign_fault(*, actor: User, fault: FaultReport, engineer: str) -> FaultReport:
    """Send an engineer to an open fault, or hand an assigned one to another engineer."""
    require_rank(actor, ASSIGN_FAULTS)
    require_unit_in_scope(actor, fault.meter.org_unit)
    name = _required(engineer, "ENGINEER_REQUIRED", _("Name the engineer who will attend."))[:150]
    with transaction.atomic():
        locked = _lock(fault)
        if locked.status == FaultStatus.RESOLVED:
            raise FaultRefused(
                "FAULT_STATE_INVALID",
                _("This fault is already resolved."),
                status=locked.status,
            )
        before = _snapshot(locked)
        locked.status = FaultStatus.ASSIGNED
        locked.engineer = name
        locked.assigned_at = timezone.now()
        locked.save(update_fields=["status", "engineer", "assigned_at"])
        record(
            actor=actor,
            event_type="fault.assigned",
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
    text = _required(solution, "SOLUTION_REQUIRED", _("Say how the fault was solved."))
    with transaction.atomic():
        locked = _lock(fault)
        if locked.status != FaultStatus.ASSIGNED:
            message = (
                _("This fault is already resolved.")
                if locked.status == FaultStatus.RESOLVED
                else _("Assign the fault to an engineer before resolving it.")
            )
            raise FaultRefused("FAULT_STATE_INVALID", message, status=locked.status)
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
        "meter", "meter__org_unit", "registered_by", "resolved_by"
    )


def list_faults(
    actor: User, *, status: str = "", meter: Meter | None = None
) -> QuerySet[FaultReport]:
    """Faults in scope, newest first; an unknown status filter matches nothing."""
    queryset = scoped(_faults(), actor, path="meter__org_unit__path")
    if status:
        queryset = queryset.filter(status=status)
    if meter is not None:
        queryset = queryset.filter(meter=meter)
    return queryset.order_by("-registered_at", "-id")


def get_fault(actor: User, pk: int) -> FaultReport:
    return get_scoped(_faults(), actor, path="meter__org_unit__path", pk=pk)
