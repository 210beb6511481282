"""Who sets up bank links, who reconciles bank days, and who reads the raw messages."""

from __future__ import annotations

from gridvend.identity import permissions as identity_permissions
from gridvend.identity.models import User
from gridvend.identity.roles import Capability


def _holds(actor: User, capability: str) -> bool:
    return actor.is_active and capability in actor.capability_set()


def can_manage_links(actor: User) -> bool:
    """A bank's link is part of its partner set-up: those who manage vending points."""
    return identity_permissions.can_manage_vending_points(actor)


def can_view_links(actor: User) -> bool:
    """The status screen: link managers, finance and auditors."""
    return (
        can_manage_links(actor)
        or _holds(actor, Capability.FINANCE)
        or _holds(actor, Capability.AUDITOR)
    )


def can_reconcile(actor: User) -> bool:
    """Upload a bank's day, resolve its discrepancies and close it: finance."""
    return _holds(actor, Capability.FINANCE)


def can_read_raw_messages(actor: User) -> bool:
    """The bytes the banks sent and were sent: the auditor role only."""
    return _holds(actor, Capability.AUDITOR)
