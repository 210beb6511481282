"""Who keeps dunning rules, runs dunning, issues and executes field orders, and who reads them."""

from __future__ import annotations

from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role, rank

MANAGER = rank(Role.VENDING_POINT_MANAGER)

_VIEWERS = (
    Capability.FINANCE,
    Capability.CUSTOMER_CARE,
    Capability.FIELD_AGENT,
    Capability.AUDITOR,
)


def _any(actor: User, *capabilities: str) -> bool:
    held = actor.capability_set()
    return any(c in held for c in capabilities)


def can_view_dunning(actor: User) -> bool:
    return actor.is_active and (actor.rank >= MANAGER or _any(actor, *_VIEWERS))


def can_manage_dunning(actor: User) -> bool:
    """Keep rules, run dunning, issue disconnection orders: finance."""
    return actor.is_active and _any(actor, Capability.FINANCE)


def can_execute_orders(actor: User) -> bool:
    """Disconnect and reconnect in the field: field agents."""
    return actor.is_active and _any(actor, Capability.FIELD_AGENT)
