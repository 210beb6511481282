"""Who configures providers, who works the suspense queue, who approves refunds, who reads the
raw callbacks."""

from __future__ import annotations

from gridvend.identity import permissions as identity_permissions
from gridvend.identity.models import User
from gridvend.identity.roles import Capability


def _holds(actor: User, capability: str) -> bool:
    return actor.is_active and capability in actor.capability_set()


def can_manage_providers(actor: User) -> bool:
    """A provider is part of its aggregator partner's set-up: those who manage vending points."""
    return identity_permissions.can_manage_vending_points(actor)


def can_view_payments(actor: User) -> bool:
    return (
        can_manage_providers(actor)
        or _holds(actor, Capability.FINANCE)
        or _holds(actor, Capability.AUDITOR)
        or _holds(actor, Capability.CUSTOMER_CARE)
    )


def can_resolve_suspense(actor: User) -> bool:
    """Sell a suspense payment to the right meter, or ask for its refund: customer care."""
    return _holds(actor, Capability.CUSTOMER_CARE)


def can_approve_refund(actor: User) -> bool:
    """The second look at a refund: finance (never the person who asked)."""
    return _holds(actor, Capability.FINANCE)


def can_reconcile(actor: User) -> bool:
    return _holds(actor, Capability.FINANCE)


def can_read_raw_callbacks(actor: User) -> bool:
    """What the provider sent, byte for byte: the auditor only."""
    return _holds(actor, Capability.AUDITOR)
