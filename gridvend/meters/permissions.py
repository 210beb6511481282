"""The meter permission predicates: who may register, assign, resolve and see fault reports."""

from __future__ import annotations

from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role, rank

ASSIGN_FAULTS = rank(Role.VENDING_POINT_MANAGER)


def can_register_faults(actor: User) -> bool:
    # A partner's service account passes on what its customer reports (Electrum fault reports).
    return actor.is_active and (
        actor.has_capability(Capability.CUSTOMER_CARE)
        or actor.has_capability(Capability.FIELD_AGENT)
        or actor.is_service_account
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


def can_triage_faults(actor: User) -> bool:
    """Acknowledge, reject, close as a duplicate and close a resolved fault: customer care and
    field agents (who take the reports) and their managers."""
    return actor.is_active and not actor.is_service_account and can_view_faults(actor)


def can_note_faults(actor: User) -> bool:
    """Write an engineer's note on a fault: the staff who follow faults up."""
    return can_triage_faults(actor)
