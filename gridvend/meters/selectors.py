"""Scoped reads of meters, their installation history, pending key changes and fault reports
(with their service-level targets)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import cast

from django.conf import settings
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from gridvend.customers.search import SearchKind, ascii_digits, customer_condition, read_search
from gridvend.identity.models import User
from gridvend.identity.roles import Capability
from gridvend.identity.scoping import get_scoped, require_unit_in_scope, scoped
from gridvend.kernel.errors import MeterNotFound
from gridvend.kernel.tokens import EncryptionAlgorithm, KeyDerivation, MeterKeyRef
from gridvend.meters.models import (
    FaultCategory,
    FaultNote,
    FaultReport,
    FaultStatus,
    Installation,
    KeyChange,
    KeyChangeStatus,
    Meter,
)
from gridvend.org.models import PATH_SEGMENT_WIDTH, OrgUnit


def normalise_meter_number(text: str) -> str:
    """Meter numbers are printed in groups; people type them with spaces or dashes."""
    return "".join(text.split()).replace("-", "")


def _meters(actor: User) -> QuerySet[Meter]:
    return scoped(Meter.objects.all(), actor).select_related(
        "customer", "customer__tariff", "premise", "org_unit"
    )


def meter_digits(number: str) -> str:
    """A typed meter number as stored (11 or 13 digits), or METER_NOT_FOUND: nothing else can
    name a meter, so nothing else is looked up."""
    digits = normalise_meter_number(number)
    if len(digits) not in (11, 13) or not digits.isascii() or not digits.isdigit():
        raise MeterNotFound(meter_number=digits or number.strip())
    return digits


def find_meter(actor: User, number: str) -> Meter:
    """The meter a cashier typed, or METER_NOT_FOUND (unknown and out-of-scope look the same).

    Blocked and retired meters are returned: the sale refuses them with their own codes.
    """
    digits = meter_digits(number)
    # Meter numbers are unique: no ordering, so the hot path compiles the simplest query.
    found = list(_meters(actor).filter(number=digits).order_by()[:1])
    if not found:
        raise MeterNotFound(meter_number=digits)
    return found[0]


def list_meters(
    actor: User, *, search: str = "", status: str = "", unit: OrgUnit | None = None
) -> QuerySet[Meter]:
    """Meters in scope; ``search`` matches a meter number prefix or finds their customers as
    :func:`gridvend.customers.selectors.list_customers` does."""
    queryset = _meters(actor)
    if unit is not None:
        require_unit_in_scope(actor, unit)
        queryset = queryset.filter(org_unit__path__startswith=unit.path)
    if status:
        queryset = queryset.filter(status=status)
    text = search.strip()
    if text:
        found = read_search(text)
        digits = ascii_digits(normalise_meter_number(text))
        # A meter's number (whole or its first digits) is a prefix of the unique index; the
        # customer whose meter it is would bring all their meters, so that kind is left out
        # (the same digits may still be the customer's account or phone).
        condition = customer_condition(
            dataclasses.replace(
                found, kinds=tuple(kind for kind in found.kinds if kind is not SearchKind.METER)
            ),
            prefix="customer__",
        )
        if digits.isascii() and digits.isdigit():
            prefix = Q(number__startswith=digits)
            condition = prefix if condition is None else condition | prefix
        queryset = queryset.none() if condition is None else queryset.filter(condition)
    return queryset.order_by("number")


def get_meter(actor: User, pk: int) -> Meter:
    return get_scoped(_meters(actor), actor, pk=pk)


def installation_history(actor: User, meter: Meter) -> QuerySet[Installation]:
    """Every installation of the meter, newest first."""
    require_unit_in_scope(actor, meter.org_unit)
    return (
        Installation.objects.filter(meter=meter)
        .select_related("customer", "premise")
        .order_by("-started_at", "-id")
    )


def pending_key_change(meter: Meter) -> KeyChange | None:
    return KeyChange.objects.filter(meter=meter, status=KeyChangeStatus.PENDING).first()


def meter_key_ref(meter: Meter) -> MeterKeyRef:
    """The kernel's view of the meter's current key; the token engine takes nothing else."""
    return MeterKeyRef(
        meter_number=meter.number,
        sgc=meter.sgc,
        ti=meter.ti,
        krn=meter.krn,
        kt=meter.kt,
        ken=meter.ken,
        # The columns are free text; MeterKeyRef refuses any value outside the literals.
        ea=cast(EncryptionAlgorithm, meter.ea),
        dkga=cast(KeyDerivation, meter.dkga),
        base_date_year=meter.base_date_year,
        key_ref=meter.key_ref,
    )


# --- fault reports: their service-level targets and scoped lists --------------------------------


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


def breached_condition(now: datetime) -> Q:
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
    reported_via: str = "",
    now: datetime | None = None,
) -> QuerySet[FaultReport]:
    """Faults in scope: reported ones first, then acknowledged, assigned, in progress, then the
    finished; oldest first within each.


    ``assignee`` is a user id or ``"none"`` (unassigned); ``age`` one of :data:`AGE_BUCKETS`
    (older than); ``breached`` keeps faults past their category's target; ``reported_via`` how
    the fault reached the utility ("portal": sent by the customer). Unknown values of a
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
    if reported_via:
        queryset = queryset.filter(reported_via=reported_via)
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
        queryset = queryset.filter(breached_condition(now))
    order = Case(
        When(status=FaultStatus.OPEN, then=Value(0)),
        When(status=FaultStatus.ACKNOWLEDGED, then=Value(1)),
        When(status=FaultStatus.ASSIGNED, then=Value(2)),
        When(status=FaultStatus.IN_PROGRESS, then=Value(3)),
        default=Value(4),
        output_field=IntegerField(),
    )
    return queryset.annotate(status_order=order).order_by("status_order", "registered_at", "id")


def get_fault(actor: User, pk: int) -> FaultReport:
    return get_scoped(_faults(), actor, path="meter__org_unit__path", pk=pk)


def fault_notes(actor: User, fault: FaultReport) -> QuerySet[FaultNote]:
    """Every note on a fault the actor may see (staff read the internal ones too)."""
    get_fault(actor, fault.pk)
    return (
        FaultNote.objects.filter(fault=fault).select_related("author").order_by("created_at", "id")
    )
