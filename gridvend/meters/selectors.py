"""Scoped reads of meters, their installation history and pending key changes."""

from __future__ import annotations

from typing import cast

from django.db.models import Q, QuerySet

from gridvend.identity.models import User
from gridvend.identity.scoping import get_scoped, require_unit_in_scope, scoped
from gridvend.kernel.errors import MeterNotFound
from gridvend.kernel.tokens import EncryptionAlgorithm, KeyDerivation, MeterKeyRef
from gridvend.meters.models import Installation, KeyChange, KeyChangeStatus, Meter
from gridvend.org.models import OrgUnit


def normalise_meter_number(text: str) -> str:
    """Meter numbers are printed in groups; people type them with spaces or dashes."""
    return "".join(text.split()).replace("-", "")


def _meters(actor: User) -> QuerySet[Meter]:
    return scoped(Meter.objects.all(), actor).select_related(
        "customer", "customer__tariff", "premise", "org_unit"
    )


def find_meter(actor: User, number: str) -> Meter:
    """The meter a cashier typed, or METER_NOT_FOUND (unknown and out-of-scope look the same).

    Blocked and retired meters are returned: the sale refuses them with their own codes.
    """
    digits = normalise_meter_number(number)
    if len(digits) not in (11, 13) or not digits.isascii() or not digits.isdigit():
        raise MeterNotFound(meter_number=digits or number.strip())
    # Meter numbers are unique: no ordering, so the hot path compiles the simplest query.
    found = list(_meters(actor).filter(number=digits).order_by()[:1])
    if not found:
        raise MeterNotFound(meter_number=digits)
    return found[0]


def list_meters(
    actor: User, *, search: str = "", status: str = "", unit: OrgUnit | None = None
) -> QuerySet[Meter]:
    """Meters in scope; ``search`` matches a meter number prefix, account number or name."""
    queryset = _meters(actor)
    if unit is not None:
        require_unit_in_scope(actor, unit)
        queryset = queryset.filter(org_unit__path__startswith=unit.path)
    if status:
        queryset = queryset.filter(status=status)
    text = search.strip()
    if text:
        condition = Q(customer__account_number__startswith=text.upper()) | Q(
            customer__name__icontains=text
        )
        digits = normalise_meter_number(text)
        if digits.isdigit():
            condition |= Q(number__startswith=digits)
        queryset = queryset.filter(condition)
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
