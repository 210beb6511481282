"""Who may read the figure reports: as a shift's Z report (``vending.permissions``), finance,
auditors and managers, each only for their own subtree; a cashier reads their own shift only."""

from __future__ import annotations

from gridvend.identity import permissions
from gridvend.identity.models import User
from gridvend.identity.roles import Capability
from gridvend.vending.permissions import SUPERVISOR_RANK


def can_read_reports(actor: User) -> bool:
    return actor.is_active and (
        actor.has_capability(Capability.FINANCE)
        or actor.has_capability(Capability.AUDITOR)
        or actor.rank >= SUPERVISOR_RANK
    )


def require_report_reader(actor: User) -> None:
    if not can_read_reports(actor):
        permissions.require_rank(actor, SUPERVISOR_RANK)
