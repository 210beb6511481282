"""Who registers and controls the stations (master side), and who sees them.

Stations are vending points that sell on their own: those who manage vending points of a unit
(vending-point managers and above, in their subtree) register them, top up their allowances and
suspend, reinstate or revoke them. Finance and auditors see them."""

from __future__ import annotations

from gridvend.identity import permissions as identity_permissions
from gridvend.identity.models import User
from gridvend.identity.roles import Capability


def _holds(actor: User, capability: str) -> bool:
    return actor.is_active and capability in actor.capability_set()


def can_manage_stations(actor: User) -> bool:
    return identity_permissions.can_manage_vending_points(actor)


def can_view_stations(actor: User) -> bool:
    return (
        can_manage_stations(actor)
        or _holds(actor, Capability.FINANCE)
        or _holds(actor, Capability.AUDITOR)
    )
