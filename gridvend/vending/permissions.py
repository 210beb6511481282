"""The vending permission predicates: who may see and supervise shifts and read their reports."""

from __future__ import annotations

from django.conf import settings

from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role, rank
from gridvend.vending.models import Shift, ShiftStatus

# Signing off and force-closing shifts: a vending-point manager or above, in the point's subtree.
SUPERVISOR_RANK = rank(Role.VENDING_POINT_MANAGER)


def can_view_shifts(actor: User) -> bool:
    """The supervisors' shift list and banking slips: managers and people with finance."""
    return actor.is_active and (
        actor.rank >= SUPERVISOR_RANK or actor.has_capability(Capability.FINANCE)
    )


def can_supervise_shifts(actor: User) -> bool:
    """Sign-off and force-close (each also needs the shift's point in the actor's subtree)."""
    return actor.is_active and actor.rank >= SUPERVISOR_RANK


def can_read_report(actor: User, shift: Shift) -> bool:
    """A Z report is read by its cashier, by finance and auditors, and by managers (in scope)."""
    return actor.is_active and (
        shift.operator_id == actor.pk
        or actor.has_capability(Capability.FINANCE)
        or actor.has_capability(Capability.AUDITOR)
        or actor.rank >= SUPERVISOR_RANK
    )


def expected_hidden(actor: User, shift: Shift) -> bool:
    """Blind counting: the cashier of an open shift never sees what the drawer should hold."""
    return (
        settings.BLIND_CASH_COUNT
        and shift.status == ShiftStatus.OPEN
        and shift.operator_id == actor.pk
    )
