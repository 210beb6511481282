"""Fault reports on meters: registered from a call with a category, assigned to a field agent,
resolved with a solution, each against its category's service-level target; each step one audited
transaction, each read scoped to the actor's subtree."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from gridvend.audit.changes import audited_change
from gridvend.audit.services import record
from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.identity.models import User
from gridvend.identity.permissions import require_rank
from gridvend.identity.roles import Capability
from gridvend.identity.scoping import require_unit_in_scope, unit_in_scope
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
from gridvend.meters.events import FaultEvent
from gridvend.meters.locks import lock_fault, lock_meter
from gridvend.meters.models import FaultCategory, FaultReport, FaultStatus, Meter, MeterStatus
from gridvend.meters.permissions import ASSIGN_FAULTS, can_register_faults, can_resolve_faults
from gridvend.meters.selectors import follow_up_time

# How a fault reached the utility; "call" is the maintenance hotline.
REPORTED_VIA = {
    "call": gettext_lazy("Phone call"),
    "walk_in": gettext_lazy("Walk-in"),
    "field": gettext_lazy("Field visit"),
    "partner": gettext_lazy("Partner (bank, agent or aggregator)"),
    "message": gettext_lazy("Message"),
}


def _required(value: str, refusal: type[DescriptionRequired | SolutionRequired]) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise refusal()
    return cleaned


def _clean_category(category: str) -> str:
    if category not in FaultCategory.values:
        raise CategoryInvalid(category=category)
    return category


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


def _seconds(taken: timedelta | None) -> int | None:
    return int(taken.total_seconds()) if taken is not None else None


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
    with transaction.atomic(durable=True):
        locked = lock_meter(meter)
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
            event_type=FaultEvent.REGISTERED,
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
    with transaction.atomic(durable=True):
        locked = lock_fault(fault)
        if locked.status == FaultStatus.RESOLVED:
            raise FaultStateInvalid(status=locked.status)
        _check_assignee(actor, locked.meter, assignee)
        with audited_change(actor=actor, instance=locked, event=FaultEvent.ASSIGNED):
            locked.status = FaultStatus.ASSIGNED
            locked.assignee = assignee
            locked.assigned_at = timezone.now()
    return locked


def categorise_fault(*, actor: User, fault: FaultReport, category: str) -> FaultReport:
    """Correct the category a fault was registered with (its target follows the category)."""
    require_rank(actor, ASSIGN_FAULTS)
    require_unit_in_scope(actor, fault.meter.org_unit)
    category = _clean_category(category)
    with transaction.atomic(durable=True):
        locked = lock_fault(fault)
        if locked.category == category:
            return locked
        with audited_change(actor=actor, instance=locked, event=FaultEvent.RECATEGORISED):
            locked.category = category
    return locked


def resolve_fault(*, actor: User, fault: FaultReport, solution: str) -> FaultReport:
    """Close an assigned fault with what was done; the follow-up time is fixed from here."""
    if not can_resolve_faults(actor):
        raise AccessDenied(capability=Capability.FIELD_AGENT)
    require_unit_in_scope(actor, fault.meter.org_unit)
    text = _required(solution, SolutionRequired)
    with transaction.atomic(durable=True):
        locked = lock_fault(fault)
        if locked.status != FaultStatus.ASSIGNED:
            raise FaultStateInvalid(status=locked.status)
        with audited_change(
            actor=actor,
            instance=locked,
            event=FaultEvent.RESOLVED,
            after_extra=lambda resolved: {
                "solution": text,
                "follow_up_seconds": _seconds(follow_up_time(resolved)),
            },
        ):
            locked.status = FaultStatus.RESOLVED
            locked.solution = text
            locked.resolved_at = timezone.now()
            locked.resolved_by = actor
    return locked
