"""Row locks for meter and fault writes, each set taken in one fixed, documented order.

The order across apps is the sale's: the customer first, then meters by id, then a meter's
installation, then the audit head (taken last by every audited write). A fault is locked on its
own; a fault's registration locks its meter.
"""

from __future__ import annotations

from gridvend.customers.models import Customer
from gridvend.meters.models import FaultReport, Installation, Meter


def lock_meter(meter: Meter) -> Meter:
    """The meter's row, fresh, with its unit read along."""
    return Meter.objects.select_for_update().select_related("org_unit").get(pk=meter.pk)


def lock_open_installation(meter: Meter) -> Installation | None:
    """The meter's current installation, if it has one; call with the meter locked."""
    return (
        Installation.objects.select_for_update().filter(meter=meter, ended_at__isnull=True).first()
    )


def lock_replacement(old: Meter, new: Meter) -> tuple[Meter, Meter]:
    """The old meter's customer, then both meters in id order: the order sales lock in, so a
    sale on the old meter and its replacement cannot deadlock."""
    owner_id = Meter.objects.filter(pk=old.pk).values_list("customer_id", flat=True)
    list(Customer.objects.select_for_update().filter(pk__in=list(owner_id)).only("pk"))
    locked = {
        m.pk: m
        for m in Meter.objects.select_for_update()
        .select_related("org_unit")
        .filter(pk__in=[old.pk, new.pk])
        .order_by("pk")
    }
    return locked[old.pk], locked[new.pk]


def lock_fault(fault: FaultReport) -> FaultReport:
    """The fault's row, fresh, with its meter and the meter's unit read along (not locked)."""
    return (
        FaultReport.objects.select_for_update(of=("self",))
        .select_related("meter", "meter__org_unit")
        .get(pk=fault.pk)
    )
