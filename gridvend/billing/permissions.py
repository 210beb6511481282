"""Who may run billing, take bill payments, cancel them and read bills."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridvend.identity.roles import Capability, Role, rank

if TYPE_CHECKING:
    from gridvend.identity.models import User

SUPERVISOR = rank(Role.VENDING_POINT_MANAGER)


def _any(actor: User, *capabilities: str) -> bool:
    held = actor.capability_set()
    return any(c in held for c in capabilities)


def can_view_billing(actor: User) -> bool:
    """Bills, runs, payments and arrears: finance, customer care, auditors, cashiers (who take
    bill payments) and supervisors."""
    return actor.is_active and (
        actor.rank >= SUPERVISOR
        or _any(
            actor,
            Capability.FINANCE,
            Capability.CUSTOMER_CARE,
            Capability.AUDITOR,
            Capability.CASHIER,
        )
    )


def can_run_billing(actor: User) -> bool:
    """Preview, send for approval, approve and cancel billing runs, charge late fees: finance."""
    return actor.is_active and _any(actor, Capability.FINANCE)


def can_take_payment(actor: User, *, is_partner_service: bool) -> bool:
    """Cashiers at the counter, finance in the back office, a partner's own service account."""
    return actor.is_active and (
        is_partner_service or _any(actor, Capability.CASHIER, Capability.FINANCE)
    )


def can_cancel_payment(actor: User, *, is_partner_service: bool) -> bool:
    """A supervisor holding cash or finance duties, or the partner that took the payment (its
    bank's own same-day cancel)."""
    return actor.is_active and (
        is_partner_service
        or (actor.rank >= SUPERVISOR and _any(actor, Capability.CASHIER, Capability.FINANCE))
    )


def can_bill_on_site(actor: User) -> bool:
    """Compute a bill on site from a reading just taken: those who read meters in the field, and
    whoever sees billing."""
    return can_view_billing(actor) or (
        actor.is_active and _any(actor, Capability.FIELD_AGENT, Capability.METER_READER)
    )
