"""Who registers and manages the terminals, who sees them, and who reads their raw messages."""

from __future__ import annotations

from gridvend.identity import permissions as identity_permissions
from gridvend.identity.models import User
from gridvend.identity.roles import Capability


def _holds(actor: User, capability: str) -> bool:
    return actor.is_active and capability in actor.capability_set()


def can_manage_terminals(actor: User) -> bool:
    """A terminal is a vending point in an agent's hand: those who manage vending points."""
    return identity_permissions.can_manage_vending_points(actor)


def can_view_terminals(actor: User) -> bool:
    """The list and a terminal's page: its managers, finance and auditors."""
    return (
        can_manage_terminals(actor)
        or _holds(actor, Capability.FINANCE)
        or _holds(actor, Capability.AUDITOR)
    )


def can_read_raw_messages(actor: User) -> bool:
    """The bytes the terminals sent and were sent, and the same decrypted: the auditor only."""
    return _holds(actor, Capability.AUDITOR)


def can_work_in_field(agent: User) -> bool:
    """The person a terminal is assigned to: an active user with the field-agent capability."""
    return _holds(agent, Capability.FIELD_AGENT)


def can_handle_agent_cash(actor: User) -> bool:
    """The office that counts a field agent's cash and takes it in: the terminals' managers
    and finance (the limit itself is the managers' alone)."""
    return can_manage_terminals(actor) or _holds(actor, Capability.FINANCE)


def can_view_agent_cash(actor: User) -> bool:
    """The agents' cash in transit and the reconciliation results: the office, and auditors."""
    return can_handle_agent_cash(actor) or _holds(actor, Capability.AUDITOR)


def can_reconcile_agent_cash(actor: User) -> bool:
    return can_handle_agent_cash(actor)
