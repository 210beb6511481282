"""The daily dunning run as a scheduled job: each active rule runs with the scope of its owner
(whoever last saved it), read at run time; a rule whose owner may no longer keep rules is
skipped and logged, never run with more scope than a person holds."""

from __future__ import annotations

import logging
from collections import defaultdict

from gridvend.dunning import permissions, services
from gridvend.dunning.models import DunningRule

logger = logging.getLogger("gridvend.dunning")

RUN_JOB = "gridvend.dunning.tasks.run_daily"
RUN_SCHEDULE = "gridvend.dunning.daily"
# Reconnection is looked for more often than the daily run: a customer who paid is not left
# disconnected until tomorrow's run.
RECONNECT_JOB = "gridvend.dunning.tasks.reconnect_due"
RECONNECT_SCHEDULE = "gridvend.dunning.reconnect"
RECONNECT_CRON = "*/15 * * * *"


def run_daily() -> dict[str, int]:
    """Run every active rule, grouped by owner; returns the totals."""
    by_owner: dict[int, list[DunningRule]] = defaultdict(list)
    for rule in DunningRule.objects.filter(is_active=True).select_related(
        "owner", "owner__org_unit", "org_unit", "tariff"
    ):
        by_owner[rule.owner_id].append(rule)
    totals: dict[str, int] = defaultdict(int)
    today = services.business_day()
    for rules in by_owner.values():
        owner = rules[0].owner
        if not permissions.can_manage_dunning(owner):
            logger.warning("dunning rules of %s skipped: the owner may not run them", owner)
            totals["skipped_rules"] += len(rules)
            continue
        result = services.run_dunning(actor=owner, today=today, rules=rules)
        for name in ("checked", "opened", "closed", "sms", "voice", "reconnections"):
            totals[name] += getattr(result, name)
    return dict(totals)


def reconnect_due() -> int:
    """Reconnection orders for executed disconnections whose arrears are paid, read with the
    scope of each active rule's owner (as the daily run); returns how many were created."""
    owners = {
        rule.owner_id: rule.owner
        for rule in DunningRule.objects.filter(is_active=True).select_related(
            "owner", "owner__org_unit"
        )
    }
    created = 0
    for owner in owners.values():
        if permissions.can_manage_dunning(owner):
            created += services.reconnect_paid(actor=owner)
    return created
