"""Scoped reads the receipt screens need that the vending app does not offer."""

from __future__ import annotations

from gridvend.identity.models import User
from gridvend.identity.scoping import get_scoped
from gridvend.vending.models import Shift


def get_shift(actor: User, pk: int) -> Shift:
    """A shift at a vending point in the actor's subtree, or NotFound (404) whatever the reason."""
    return get_scoped(
        Shift.objects.select_related("vending_point", "vending_point__org_unit", "operator"),
        actor,
        path="vending_point__org_unit__path",
        pk=pk,
    )
