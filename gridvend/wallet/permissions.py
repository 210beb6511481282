"""Who takes cash into a wallet, who imports and reviews bank transfers, who reads wallets."""

from __future__ import annotations

from gridvend.identity.models import User
from gridvend.identity.roles import Capability


def _holds(actor: User, capability: str) -> bool:
    return actor.is_active and capability in actor.capability_set()


def can_take_cash(actor: User) -> bool:
    """A cashier, in their own open shift (checked by the service)."""
    return _holds(actor, Capability.CASHIER)


def can_view_wallets(actor: User) -> bool:
    """The back office's wallet screens (a cashier reads a wallet at the till instead)."""
    return (
        _holds(actor, Capability.FINANCE)
        or _holds(actor, Capability.AUDITOR)
        or _holds(actor, Capability.CUSTOMER_CARE)
    )


def can_read_receipts(actor: User) -> bool:
    return _holds(actor, Capability.CASHIER) or can_view_wallets(actor)


def can_import_transfers(actor: User) -> bool:
    """Bank statements and the review of transfers no wallet was found for: finance."""
    return _holds(actor, Capability.FINANCE)
