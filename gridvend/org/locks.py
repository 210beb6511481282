"""Row locks for organisation writes: a vending point's row on its own.

``of=("self",)`` keeps PostgreSQL from also locking the organisation unit read along.
"""

from __future__ import annotations

from gridvend.org.models import VendingPoint


def lock_vending_point(point: VendingPoint) -> VendingPoint:
    """The vending point's row, fresh, with its unit read along."""
    return (
        VendingPoint.objects.select_for_update(of=("self",))
        .select_related("org_unit")
        .get(pk=point.pk)
    )
