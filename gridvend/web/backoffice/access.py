"""Who may open which back-office screen; every write is checked again by its service."""

from __future__ import annotations

from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role, rank
from gridvend.tariffs.permissions import can_draft_tariffs, can_review_tariffs

MANAGER = rank(Role.VENDING_POINT_MANAGER)

# Customer care keeps the records, field agents install, finance and auditors read them; managers
# read what happens in their branch. A cashier-only operator uses the cashier screen instead.
_MASTER_DATA_READERS = (
    Capability.CUSTOMER_CARE,
    Capability.FIELD_AGENT,
    Capability.FINANCE,
    Capability.AUDITOR,
)


def _any(actor: User, *capabilities: str) -> bool:
    held = actor.capability_set()
    return any(c in held for c in capabilities)


def can_view_master_data(actor: User) -> bool:
    return actor.is_active and (actor.rank >= MANAGER or _any(actor, *_MASTER_DATA_READERS))


def can_edit_customers(actor: User) -> bool:
    return actor.is_active and _any(actor, Capability.CUSTOMER_CARE)


def can_edit_meters(actor: User) -> bool:
    return actor.is_active and _any(actor, Capability.CUSTOMER_CARE, Capability.FIELD_AGENT)


def can_manage_meter_status(actor: User) -> bool:
    """Block, mark faulty, clear faulty and retire: customer care at manager rank."""
    return actor.is_active and actor.rank >= MANAGER and _any(actor, Capability.CUSTOMER_CARE)


def can_view_tariffs(actor: User) -> bool:
    return actor.is_active and _any(actor, Capability.FINANCE, Capability.AUDITOR)


def can_view_debts(actor: User) -> bool:
    return actor.is_active and _any(
        actor, Capability.FINANCE, Capability.CUSTOMER_CARE, Capability.AUDITOR
    )


def can_open_debts(actor: User) -> bool:
    return actor.is_active and _any(actor, Capability.FINANCE)


def can_import(actor: User) -> bool:
    # Customer care may create customers and premises and register and install meters.
    return can_edit_customers(actor)


def can_export_org(actor: User) -> bool:
    """Vending points and users leave the system as files only for managers and auditors."""
    return actor.is_active and (actor.rank >= MANAGER or _any(actor, Capability.AUDITOR))


def can_view_partners(actor: User) -> bool:
    """Partners and their floats: managers (who set them up), finance and auditors."""
    return actor.is_active and (
        actor.rank >= MANAGER or _any(actor, Capability.FINANCE, Capability.AUDITOR)
    )


def can_manage_partners(actor: User) -> bool:
    return actor.is_active and actor.rank >= MANAGER


def can_top_up_partners(actor: User) -> bool:
    """Ask for and decide float top-ups: finance (a second finance person approves)."""
    return actor.is_active and _any(actor, Capability.FINANCE)


def can_view_settlement(actor: User) -> bool:
    """Partners' settlement files and their reconciliation: finance and auditors read them."""
    return actor.is_active and _any(actor, Capability.FINANCE, Capability.AUDITOR)


def can_settle(actor: User) -> bool:
    """Upload files, resolve items and decide resolutions: finance (each checked again)."""
    return actor.is_active and _any(actor, Capability.FINANCE)


def require(allowed: bool) -> None:
    if not allowed:
        raise AccessDenied()


__all__ = [
    "can_draft_tariffs",
    "can_edit_customers",
    "can_edit_meters",
    "can_export_org",
    "can_import",
    "can_manage_meter_status",
    "can_manage_partners",
    "can_open_debts",
    "can_review_tariffs",
    "can_settle",
    "can_top_up_partners",
    "can_view_debts",
    "can_view_master_data",
    "can_view_partners",
    "can_view_settlement",
    "can_view_tariffs",
    "require",
]
