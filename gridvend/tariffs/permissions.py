"""The tariff permission predicates: who may draft and submit versions, and who may review them."""

from __future__ import annotations

from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role, rank

# Makers draft and submit; checkers publish and reject. Both need the finance capability.
MAKE_TARIFFS = rank(Role.VENDING_POINT_MANAGER)
CHECK_TARIFFS = rank(Role.MASTER_STATION_MANAGER)


def can_draft_tariffs(actor: User) -> bool:
    return (
        actor.is_active and actor.rank >= MAKE_TARIFFS and actor.has_capability(Capability.FINANCE)
    )


def can_review_tariffs(actor: User) -> bool:
    return (
        actor.is_active and actor.rank >= CHECK_TARIFFS and actor.has_capability(Capability.FINANCE)
    )
