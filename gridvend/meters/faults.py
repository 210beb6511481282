"""Fault reports on meters: registered from a call (or sent by the customer from the portal) with
a category, acknowledged, assigned to a field agent, worked on, resolved with a solution and
closed (or rejected, or closed as a duplicate), with engineers' notes, each against its category's
service-level target; each step one audited transaction, each read scoped to the actor's subtree.
A customer who reported from the portal is told of each change of status and each note meant
for them, by SMS or e-mail queued in the same transaction."""

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
from gridvend.kernel.inputs import InvalidInput, clean_text
from gridvend.kernel.phones import parse_phone
from gridvend.meters.errors import (
    AssigneeNotFieldAgent,
    AssigneeOutOfArea,
    CategoryInvalid,
    DescriptionRequired,
    FaultNoteInvalid,
    FaultStateInvalid,
    FaultTransitionInvalid,
    ReportedViaInvalid,
    SolutionRequired,
)
from gridvend.meters.events import FaultEvent
from gridvend.meters.locks import lock_fault, lock_meter
from gridvend.meters.models import (
    FaultCategory,
    FaultNote,
    FaultReport,
    FaultStatus,
    Meter,
    MeterStatus,
)
from gridvend.meters.permissions import (
    ASSIGN_FAULTS,
    can_note_faults,
    can_register_faults,
    can_resolve_faults,
    can_triage_faults,
)
from gridvend.meters.selectors import follow_up_time
from gridvend.notifications.rendering import isolate, language_code
from gridvend.notifications.services import queue_email, queue_sms

# How a fault reached the utility; "call" is the maintenance hotline.
REPORTED_VIA = {
    "call": gettext_lazy("Phone call"),
    "walk_in": gettext_lazy("Walk-in"),
    "field": gettext_lazy("Field visit"),
    "partner": gettext_lazy("Partner (bank, agent or aggregator)"),
    "message": gettext_lazy("Message"),
    "portal": gettext_lazy("Customer portal"),
}
# What a customer may write, and what an engineer's note may hold.
MAX_DESCRIPTION = 2000
MAX_NOTE = 2000

# The changes of status made by hand, and where each may start. Assignment and resolution
# have their own services (they need an agent and a solution).
TRANSITIONS: dict[str, frozenset[str]] = {
    FaultStatus.ACKNOWLEDGED: frozenset({FaultStatus.OPEN}),
    FaultStatus.IN_PROGRESS: frozenset({FaultStatus.ASSIGNED}),
    FaultStatus.CLOSED: frozenset({FaultStatus.RESOLVED}),
    FaultStatus.REJECTED: frozenset({FaultStatus.OPEN, FaultStatus.ACKNOWLEDGED}),
    FaultStatus.DUPLICATE: frozenset(
        {FaultStatus.OPEN, FaultStatus.ACKNOWLEDGED, FaultStatus.ASSIGNED}
    ),
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
        if locked.is_final:
            raise FaultStateInvalid(status=locked.status)
        _check_assignee(actor, locked.meter, assignee)
        was = locked.status
        with audited_change(actor=actor, instance=locked, event=FaultEvent.ASSIGNED):
            locked.status = FaultStatus.ASSIGNED
            locked.assignee = assignee
            locked.assigned_at = timezone.now()
        if was != FaultStatus.ASSIGNED:
            _notify_reporter(locked)
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
        if locked.status not in (FaultStatus.ASSIGNED, FaultStatus.IN_PROGRESS):
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
        _notify_reporter(locked)
    return locked


def report_customer_fault(
    *,
    meter: Meter,
    category: str,
    description: object,
    phone: object = "",
    email: str = "",
    language: str = "",
) -> FaultReport:
    """A fault the customer sends from the portal, written inside the caller's transaction (the
    caller has proved the meter is the customer's and keeps the report once-only). No staff user
    registered it; the reporter is told of its progress at ``phone``, else ``email``."""
    category = _clean_category(category)
    text = clean_text(description, max_length=MAX_DESCRIPTION, field="description", multiline=True)
    if not text:
        raise DescriptionRequired()
    number = parse_phone(phone, region=settings.DEFAULT_COUNTRY, field="phone")
    locked = lock_meter(meter)
    if locked.status == MeterStatus.RETIRED:
        raise MeterRetired(meter_number=locked.number)
    fault = FaultReport.objects.create(
        meter=locked,
        category=category,
        reported_via="portal",
        reporter_phone=number,
        reporter_email=email[:254],
        reporter_language=language[:10],
        description=text,
        registered_by=None,
        registered_at=timezone.now(),
    )
    record(
        actor=None,
        event_type=FaultEvent.REPORTED,
        target=fault,
        after={"meter": locked.number, "category": category, "description": text},
    )
    _notify_reporter(fault)
    return fault


def change_fault_status(*, actor: User, fault: FaultReport, status: str) -> FaultReport:
    """Acknowledge a report, start the work, close a resolved fault, reject a report or close it
    as a duplicate. Asking for the status the fault already has changes nothing (a second click
    of the same button)."""
    if status not in TRANSITIONS:
        raise FaultTransitionInvalid(status=fault.status, target=str(status)[:20])
    allowed = (
        can_resolve_faults(actor) if status == FaultStatus.IN_PROGRESS else can_triage_faults(actor)
    )
    if not allowed:
        raise AccessDenied(capability=Capability.FIELD_AGENT)
    require_unit_in_scope(actor, fault.meter.org_unit)
    with transaction.atomic(durable=True):
        locked = lock_fault(fault)
        if locked.status == status:
            return locked
        if locked.status not in TRANSITIONS[status]:
            raise FaultTransitionInvalid(status=locked.status, target=status)
        with audited_change(actor=actor, instance=locked, event=FaultEvent.STATUS_CHANGED):
            locked.status = status
        _notify_reporter(locked)
    return locked


def add_fault_note(*, actor: User, fault: FaultReport, text: object, is_public: bool) -> FaultNote:
    """An engineer's note: for staff only, or (``is_public``) shown to the customer who reported
    the fault and sent to them."""
    if not can_note_faults(actor):
        raise AccessDenied(capability=Capability.FIELD_AGENT)
    require_unit_in_scope(actor, fault.meter.org_unit)
    try:
        cleaned = clean_text(text, max_length=MAX_NOTE, field="text", multiline=True)
    except InvalidInput as exc:
        if exc.params.get("reason") == "too_long":
            raise FaultNoteInvalid(maximum=MAX_NOTE) from exc
        raise
    if not cleaned:
        raise FaultNoteInvalid(maximum=MAX_NOTE)
    with transaction.atomic(durable=True):
        locked = lock_fault(fault)
        note = FaultNote.objects.create(
            fault=locked, author=actor, text=cleaned, is_public=bool(is_public)
        )
        record(
            actor=actor,
            event_type=FaultEvent.NOTE_ADDED,
            target=locked,
            after={"note": note.pk, "is_public": note.is_public, "text": cleaned},
        )
        if note.is_public:
            _notify_reporter(locked, note=note)
    return note


def _notify_reporter(fault: FaultReport, *, note: FaultNote | None = None) -> None:
    """Inside the change's transaction: tell a portal reporter the fault's status (and the note
    meant for them), once per status or note, by SMS if they gave a phone, else by e-mail."""
    if fault.reported_via != "portal":
        return
    language = fault.reporter_language or None
    code = language_code(language)
    context = {
        "utility": settings.UTILITY_NAME,
        "fault": isolate(fault.pk, code),
        "meter": isolate(fault.meter.number, code),
        # Lazy: rendered in the reporter's language.
        "status": FaultStatus(fault.status).label,
        "note": note.text if note is not None else "",
    }
    key = f"fault:{fault.pk}:" + (f"note:{note.pk}" if note is not None else fault.status)
    if fault.reporter_phone:
        queue_sms(
            to=fault.reporter_phone,
            template="fault_status",
            context=context,
            key=key,
            language=language,
        )
    elif fault.reporter_email:
        queue_email(
            to=fault.reporter_email,
            template="fault_status",
            context=context,
            key=key,
            language=language,
        )
