"""The role ladder and capability groups, as plain data every permission check reads."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ADMINISTRATOR = "administrator", _("Administrator")
    MASTER_STATION_MANAGER = "ms_manager", _("Master-station manager")
    VENDING_POINT_MANAGER = "vp_manager", _("Vending-point manager")
    OPERATOR = "operator", _("Operator")


RANK: dict[str, int] = {
    Role.ADMINISTRATOR: 4,
    Role.MASTER_STATION_MANAGER: 3,
    Role.VENDING_POINT_MANAGER: 2,
    Role.OPERATOR: 1,
}


def rank(role: str) -> int:
    return RANK[role]


class Capability(models.TextChoices):
    CASHIER = "cashier", _("Cashier")
    FINANCE = "finance", _("Finance")
    AUDITOR = "auditor", _("Auditor")
    CUSTOMER_CARE = "customer_care", _("Customer care")
    FIELD_AGENT = "field_agent", _("Field agent")
    VIEW_TOKENS = "view_tokens", _("View tokens")
    # Enter and import meter readings (a field agent enters them too).
    METER_READER = "meter_reader", _("Meter reader")
    # Keep the reading books and decide reading exceptions (accept, re-read, estimate).
    READING_SUPERVISOR = "reading_supervisor", _("Reading supervisor")
    # Hold and enter a component of a vending key at a key ceremony (docs/key-management.md).
    KEY_CUSTODIAN = "key_custodian", _("Key custodian")


ALL_CAPABILITIES: frozenset[str] = frozenset(c.value for c in Capability)

# Live token digits of sales someone did not make themselves (a seller always sees their own):
# customer care re-displays a lost token to its customer and supervisors (vending-point manager
# and above, the ladder's supervising rungs) settle disputes at the counter, so they hold this by
# default; anyone else needs the view_tokens capability granted. Everyone else in scope (auditors,
# finance, field agents, other cashiers) sees a token masked to its last four digits.
TOKEN_VIEWING_CAPABILITIES: frozenset[str] = frozenset(
    {Capability.VIEW_TOKENS, Capability.CUSTOMER_CARE}
)
TOKEN_VIEWING_RANK = RANK[Role.VENDING_POINT_MANAGER]
