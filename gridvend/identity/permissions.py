"""Who may do what: role thresholds and capabilities, checked by services before any write."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridvend.identity.errors import AccessDenied
from gridvend.identity.roles import (
    TOKEN_VIEWING_CAPABILITIES,
    TOKEN_VIEWING_RANK,
    Role,
    rank,
)

if TYPE_CHECKING:
    from gridvend.identity.models import User

MANAGE_TREE = rank(Role.MASTER_STATION_MANAGER)
MANAGE_VENDING_POINTS = rank(Role.VENDING_POINT_MANAGER)
MANAGE_USERS = rank(Role.VENDING_POINT_MANAGER)


def require_rank(actor: User, minimum: int) -> None:
    if not actor.is_active or actor.rank < minimum:
        raise AccessDenied()


def require_capability(actor: User, capability: str) -> None:
    if not actor.is_active or not actor.has_capability(capability):
        raise AccessDenied(capability=capability)


def can_view_tokens(actor: User) -> bool:
    """May read the live digits of any token in scope, not only of the sales they made."""
    if not actor.is_active:
        return False
    return actor.rank >= TOKEN_VIEWING_RANK or bool(
        TOKEN_VIEWING_CAPABILITIES & actor.capability_set()
    )


def can_read_audit_log(actor: User) -> bool:
    return actor.is_active and actor.is_administrator


def can_manage_tree(actor: User) -> bool:
    return actor.is_active and actor.rank >= MANAGE_TREE


def can_manage_users(actor: User) -> bool:
    return actor.is_active and actor.rank >= MANAGE_USERS


def can_manage_vending_points(actor: User) -> bool:
    return actor.is_active and actor.rank >= MANAGE_VENDING_POINTS
