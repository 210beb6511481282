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
